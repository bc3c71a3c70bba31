"""`embedproof search` and `embedproof serve`: query an index folder once, or serve it over HTTP."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from embedproof.cli.common import console, non_empty
from embedproof.errors import InvalidInputError


def search(
    folder: Annotated[Path, typer.Argument(help="index folder")],
    query: Annotated[str, typer.Argument(help="the query")],
    top_k: Annotated[int, typer.Option(min=1, help="results to show")] = 10,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Search an index with its recipe: ranked results with per-stage scores and timings."""
    from embedproof.index.access import live_queries, open_index

    if not query.strip():  # as `POST /search` refuses it: an empty query ranks nothing
        raise InvalidInputError("query: empty; give the text to search for")
    index = open_index(folder)
    live_queries(index)  # as the server does: a query is not a corpus, so it is never written to the embedding cache
    answer = index.search(query, top_k)
    if json_out:
        typer.echo(json.dumps(answer, indent=2))
        return
    table = Table(title=escape(f"{answer['recipe']}: {query}"))
    # a column per stage that scored documents (query-encoding stages have a time but no scores); the id is never
    # cut (two ids that share a prefix must stay apart), so it wraps, and the passage's start sits under it
    results = answer["results"]
    stages = [
        s
        for s in (results[0]["stage_scores"] if results else {})
        if any(r["stage_scores"].get(s) is not None for r in results)
    ]
    if stages and all(r["stage_scores"].get(stages[-1]) == r["score"] for r in results):
        stages = stages[:-1]  # the last stage's score is the score
    # a chunked recipe: each document's best chunk (its span in the document), as bench scored it
    chunked = any("chunk" in r for r in results)
    table.add_column("rank", justify="right", no_wrap=True)
    table.add_column(escape("id · best chunk [start:end]") if chunked else "id · text", overflow="fold")
    table.add_column("score", justify="right", no_wrap=True)
    for s in stages:
        table.add_column(escape(s.split(":", 1)[-1].split("/")[-1]), justify="right", no_wrap=True)
    for r in results:
        cells = [f"{r['stage_scores'][s]:.4f}" if r["stage_scores"].get(s) is not None else "-" for s in stages]
        chunk = r.get("chunk")
        text = f"[{chunk['start']}:{chunk['end']}] {chunk['text']}" if chunk else f"{r['title']} {r['text']}"
        snippet = textwrap.shorten(text.strip(), 100, placeholder=" [...]")
        shown = f"[bold]{escape(r['id'])}[/]\n[dim]{escape(snippet)}[/]"
        table.add_row(str(r["rank"]), shown, f"{r['score']:.4f}", *cells)
    console.print(table)
    console.print(", ".join(f"{k} {v:.1f} ms" for k, v in answer["timings_ms"].items()), highlight=False)


def serve(
    folder: Annotated[Path, typer.Argument(help="index folder built by `embedproof index build`")],
    host: Annotated[str, typer.Option(help="bind address (loopback by default)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port")] = 8000,
    api_key: Annotated[
        str | None, typer.Option(help="require this key on every data endpoint (default: $EMBEDPROOF_API_KEY)")
    ] = None,
    max_batch: Annotated[
        int | None, typer.Option(help="texts per model call; one larger request still runs, alone (default 128)")
    ] = None,
    max_tokens: Annotated[
        int | None, typer.Option(help="whitespace-separated words per model call (default 16384)")
    ] = None,
    max_wait_ms: Annotated[
        float | None,
        typer.Option(help="how long a batch may wait to fill, while requests come together (default 2.0)"),
    ] = None,
    max_queue: Annotated[
        int | None, typer.Option(help="queued requests; past it a request gets 503 + Retry-After (default 256)")
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(help="torch and BLAS threads of the inference thread (default: usable cores - 1, at least 1)"),
    ] = None,
    writable: Annotated[
        bool,
        typer.Option(help="accept changes over HTTP: POST /documents and DELETE /documents/{id} (needs an API key)"),
    ] = False,
) -> None:
    """Serve an index: POST /search, POST /v1/embeddings and GET /v1/models (OpenAI-compatible), GET /health, and a
    page at /. It follows the index: a change committed by `index add`/`remove` is served without a restart."""
    from embedproof.server.app import serve as run_server
    from embedproof.server.batching import BatchOptions, InvalidBatchOption

    non_empty(host, "--host")
    non_empty(api_key, "--api-key")  # an empty key would serve every endpoint without one
    given = {
        "max_batch": max_batch,
        "max_tokens": max_tokens,
        "max_wait_ms": max_wait_ms,
        "max_queue": max_queue,
        "threads": threads,
    }
    try:  # BatchOptions holds the defaults and the checks; the message names the flag the user typed
        batching = BatchOptions(**{name: value for name, value in given.items() if value is not None})
    except InvalidBatchOption as exc:
        raise InvalidInputError(f"--{exc.field.replace('_', '-')}: {exc.problem}") from None
    run_server(folder, host, port, api_key, batching=batching, writable=writable)
