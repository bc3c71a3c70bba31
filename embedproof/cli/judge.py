"""`embedproof judge`: a local page for relevance judgments on your own questions, written as a BEIR folder."""

from __future__ import annotations

import errno
import socket
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from embedproof.cli.common import build_recipes, console, err, in_range, non_empty, writable_folder
from embedproof.errors import InvalidInputError

__all__ = ["judge"]


def _listen(host: str, port: int) -> socket.socket:
    """The page's socket, bound here so a port in use is one clear line (and no other process can take it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a port in TIME_WAIT is free
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise InvalidInputError(f"--port: {port} is in use on {host}; choose another port") from None
        raise InvalidInputError(f"--host/--port: cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _chunk_window(results: dict) -> int | None:
    """The chunk size (tokens, read as words) a results file's chunked runs used, if any."""
    sizes = [(r.get("chunking") or {}).get("window_tokens") for r in results.get("runs", [])]
    return next((s for s in sizes if isinstance(s, int) and s > 0), None)


def judge(
    corpus: Annotated[
        str, typer.Argument(help="the documents: a folder of .txt/.md files, a .jsonl corpus, a BEIR folder, or 'demo'")
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="judging folder: the log, the pool and the BEIR collection written")
    ],
    questions: Annotated[
        Path | None,
        typer.Option(help="questions, one per line, or a query log of COUNT<TAB>QUESTION lines (or type them in)"),
    ] = None,
    results: Annotated[
        Path | None, typer.Option(help="results.json of a bench on this corpus: pool the top k of each of its runs")
    ] = None,
    model: Annotated[
        list[str] | None, typer.Option("--model", "-m", help="as in bench: one set-up per model (repeatable)")
    ] = None,
    mode: Annotated[
        list[str] | None, typer.Option("--mode", help="as in bench: recipe modes built from the --model list")
    ] = None,
    recipe: Annotated[list[Path] | None, typer.Option("--recipe", help="recipe file (.json/.yaml), repeatable")] = None,
    reranker: Annotated[str | None, typer.Option(help="for hybrid+rerank, as in bench")] = None,
    rerank_top: Annotated[int, typer.Option(min=1, help="documents reranked per query")] = 50,
    top_k: Annotated[int, typer.Option(min=1, max=100, help="documents pooled from each set-up per question")] = 5,
    target_mde: Annotated[
        float, typer.Option(help="the minimum detectable difference (nDCG@10) to judge down to")
    ] = 0.05,
    judge_model: Annotated[
        str | None,
        typer.Option(help="also grade every pair with a chat model: openai-compatible:MODEL@http://HOST:PORT/v1"),
    ] = None,
    judge_name: Annotated[str | None, typer.Option("--judge", help="your name in judge.json (default: login)")] = None,
    host: Annotated[str, typer.Option(help="address to listen on (loopback by default)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port of the page")] = 8765,
    seed: Annotated[int, typer.Option(min=0, help="seed of the shuffled order")] = 0,
) -> None:
    """Judge pooled candidates for your questions in a local page (keys 0/1/2, s, u); writes a BEIR folder."""
    from embedproof.datasets.loading import load_dataset
    from embedproof.judge.log import FolderLock
    from embedproof.judge.pool import Pooler, setups_from_recipes, setups_from_results
    from embedproof.judge.questions import read_questions

    non_empty(corpus, "CORPUS")
    non_empty(judge_name, "--judge")
    in_range(target_mde, "--target-mde", low=0, high=1, low_open=True)
    if results is not None and (mode or recipe or model):
        raise InvalidInputError("--results: give either a results file or --mode/--recipe/--model, not both")
    writable_folder(out, "--out")
    if Path(corpus).expanduser().resolve() == out.expanduser().resolve():
        raise InvalidInputError(
            "--out: the corpus folder itself; judge into a folder of its own (corpus.jsonl there "
            "would turn the corpus into another collection)"
        )
    asked = read_questions(questions) if questions is not None else []
    dataset = load_dataset(corpus)
    if not dataset.corpus:
        raise InvalidInputError(f"CORPUS: {corpus} holds no documents")
    window, notes = 80, []
    if results is not None:
        from embedproof.evaluation.results_file import load_results

        data = load_results(results)
        setups, notes = setups_from_results(data, dataset)
        window = _chunk_window(data) or window
    else:
        setups = setups_from_recipes(build_recipes(mode, recipe, model, reranker, rerank_top), model)
    model_judge = None
    if judge_model is not None:
        from embedproof.judge.model_judge import ModelJudge

        model_judge = ModelJudge(judge_model)
    try:
        with FolderLock(out):
            sock = _listen(host, port)
            try:
                for note in notes:
                    err.print(f"note: {escape(note)}", highlight=False)
                pooler = Pooler(dataset, setups, top_k, seed, window)
                _serve(out, dataset, pooler, asked, target_mde, judge_name, model_judge, sock, host, port)
            finally:
                sock.close()
    finally:
        if model_judge is not None:
            model_judge.close()


def _serve(out, dataset, pooler, asked, target, judge_name, model_judge, sock, host, port) -> None:
    from embedproof.errors import require
    from embedproof.judge.app import create_judge_app
    from embedproof.judge.session import JudgeSession

    uvicorn = require("uvicorn", "serve")
    names = ", ".join(s.name for s in pooler.setups)
    console.print(f"pooling the top {pooler.depth} of {len(pooler.setups)} set-ups ({names}) …", highlight=False)
    session = JudgeSession(out, dataset, pooler, asked, target, judge_name, model_judge)
    for notice in session.notices:
        err.print(f"[yellow]note:[/] {escape(notice)}", highlight=False)
    p = session.progress()
    console.print(
        f"{p['questions']} questions, {p['pooled']} pooled documents, {p['judged']} judged; "
        f"judge at http://{host}:{port}/ (Ctrl-C to stop; every judgment is saved as it is made)",
        highlight=False,
    )
    server = uvicorn.Server(uvicorn.Config(create_judge_app(session), log_level="warning"))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it shut down on: stopping is how judging ends
        pass
    _summary(session)


def _summary(session) -> None:
    p, power, agreement = session.progress(), session.power(), session.agreement()
    console.print(
        f"judged {p['judged']} of {p['pooled']} pooled documents ({p['finished_questions']} of {p['questions']} "
        f"questions finished); BEIR folder: {session.folder} (embedproof bench --dataset {session.folder})",
        highlight=False,
    )
    leading = f" (leading: {' vs '.join(power['leading'])})" if power.get("leading") else ""
    console.print(f"how much to judge{leading}: {power['verdict']}", highlight=False)
    if agreement:
        kappa = "–" if agreement["kappa"] is None else f"{agreement['kappa']:.2f}"
        console.print(f"model judge: Cohen's kappa {kappa} on {agreement['pairs']} pairs", highlight=False)
        if agreement["warning"]:
            err.print(f"[yellow]warning:[/] {escape(agreement['warning'])}", highlight=False)
