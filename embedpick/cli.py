"""The `embedpick` command line (typer + rich). Errors embedpick raises on purpose print without a traceback."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from embedpick.errors import EmbedpickError

app = typer.Typer(help="Pick an embedding set-up on evidence from your own corpus.", no_args_is_help=True, add_completion=False)
models_app = typer.Typer(help="Model cards: prefixes, windows, dimensions, licences.", no_args_is_help=True)
dataset_app = typer.Typer(help="Load and validate retrieval collections.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(dataset_app, name="dataset")
# Wide enough for the results table when output goes to a file or a CI log (rich assumes 80 columns there).
console = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, soft_wrap=True)  # never break a file path or message across lines

DEFAULT_MODELS = ["bm25", "hashing", "sentence-transformers/all-MiniLM-L6-v2"]
METRIC_COLUMNS = ["ndcg@10", "mrr@10", "recall@10", "recall@100", "map@100"]


def _fail(exc: Exception) -> None:
    err.print(f"[bold red]error:[/] {exc}", highlight=False)
    raise typer.Exit(2)


def _print_dataset(dataset) -> None:
    s = dataset.summary()
    console.print(
        f"[bold]{s['name']}[/] ({s['path']}): {s['documents']:,} documents, {s['queries']:,} queries, "
        f"{s['judged_queries']:,} judged in split {s['split']!r}, {s['judgments']:,} judgments"
        + (" (graded)" if s["graded"] else ""),
        highlight=False,
    )
    for warning in dataset.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)


def _results_table(runs: list[dict]) -> Table:
    table = Table(title="retrieval quality (mean over judged queries)")
    for column in ["model", "mode", "dim", "nDCG@10", "MRR@10", "R@10", "R@100", "MAP@100", "docs/s", "encode s"]:
        table.add_column(column, justify="left" if column in {"model", "mode"} else "right", no_wrap=True)
    for run in runs:
        m = run["metrics"]
        t = run["timings"]
        table.add_row(
            run["model"], run["mode"], str(run["dim"] or "-"), *[f"{m[c]:.4f}" for c in METRIC_COLUMNS],
            f"{t['documents_per_s']:.1f}" if t["documents_per_s"] else "cached",
            f"{t['encode_documents_s']:.1f}",
        )
    return table


@app.command()
def bench(
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="BEIR folder, .jsonl corpus, 'demo', or a BEIR name (downloaded when online)")] = "demo",
    model: Annotated[Optional[list[str]], typer.Option("--model", "-m", help="model name or folder; 'bm25' and 'hashing' are built in (repeatable)")] = None,
    split: Annotated[str, typer.Option(help="qrels split to score")] = "test",
    output: Annotated[Path, typer.Option("--output", "-o", help="results JSON")] = Path("results.json"),
    top_k: Annotated[int, typer.Option(help="documents retrieved per query")] = 100,
    batch_size: Annotated[int, typer.Option(help="encoding batch size")] = 32,
    max_tokens: Annotated[Optional[int], typer.Option(help="override the model's max sequence length")] = None,
    query_prefix: Annotated[Optional[str], typer.Option(help="override the card's query prefix (warned)")] = None,
    document_prefix: Annotated[Optional[str], typer.Option(help="override the card's document prefix (warned)")] = None,
    cache_dir: Annotated[Optional[str], typer.Option(help="cache folder (default $EMBEDPICK_CACHE or ~/.cache/embedpick)")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="encode everything afresh")] = False,
    run_dir: Annotated[Optional[str], typer.Option(help="also write TREC run files here")] = None,
) -> None:
    """Encode, retrieve and score each model on a collection; write results.json and print a table."""
    from embedpick.atomic import write_json_atomic
    from embedpick.evaluation.bench import BenchOptions, run_bench
    from embedpick.evaluation.datasets import load_dataset

    try:
        data = load_dataset(dataset, split=split, cache_dir=cache_dir)
        _print_dataset(data)
        options = BenchOptions(top_k, batch_size, max_tokens, query_prefix, document_prefix, cache_dir, not no_cache, run_dir)

        def saved(results: dict) -> None:
            for warning in results["runs"][-1]["warnings"]:
                err.print(f"[yellow]warning ({results['runs'][-1]['model']}):[/] {warning}", highlight=False)
            write_json_atomic(output, results)

        def skipped(name: str, exc: Exception) -> None:
            err.print(f"[yellow]skipped {name}:[/] {exc}", highlight=False)

        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True) as bar:

            def progress(description: str, total: int):
                task = bar.add_task(description, total=total)
                return lambda n: bar.advance(task, n)

            # Models named by the user must run; the default list skips one whose weights are not installed.
            results = run_bench(data, list(model) if model else list(DEFAULT_MODELS), options, progress, saved, None if model else skipped)
        write_json_atomic(output, results)
        console.print(_results_table(results["runs"]))
        console.print(f"wrote {output}")
    except EmbedpickError as exc:
        _fail(exc)


@models_app.command("list")
def models_list() -> None:
    """Every model card in the registry."""
    from embedpick.models.card import load_cards

    table = Table(title="model cards")
    for column in ["name", "modes", "dim", "max tokens", "Matryoshka", "query prefix", "licence"]:
        table.add_column(column)
    for card in load_cards():
        table.add_row(
            card.name, "/".join(card.modes), str(card.dim or "-"), str(card.max_tokens or "-"),
            ",".join(map(str, card.matryoshka_dims)) or "-", repr(card.query_prefix) if card.query_prefix else "-", card.license,
        )
    console.print(table)


@models_app.command("show")
def models_show(name: str) -> None:
    """One model card as JSON (unknown models show the assumptions embedpick would make)."""
    from embedpick.models.card import get_card

    card = get_card(name)
    if card.assumption_warning:
        err.print(f"[yellow]warning:[/] {card.assumption_warning}", highlight=False)
    console.print_json(json.dumps(card.to_dict()))


@dataset_app.command("check")
def dataset_check(
    source: Annotated[str, typer.Argument(help="BEIR folder, .jsonl corpus, 'demo', or a BEIR name")],
    split: Annotated[str, typer.Option(help="qrels split")] = "test",
) -> None:
    """Load a collection, validate every line, and print counts and warnings."""
    from embedpick.evaluation.datasets import load_dataset

    try:
        _print_dataset(load_dataset(source, split=split))
    except EmbedpickError as exc:
        _fail(exc)


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())
