"""`embedproof bench`: encode, retrieve and score models and recipes on a collection, with the evidence behind each
number."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from embedproof.cli import bench_groups, combinations
from embedproof.cli import edge_options as edge
from embedproof.cli.common import (
    DropCode,
    console,
    err,
    int_list,
    precision_list,
    print_dataset,
    writable_folder,
)
from embedproof.cli.conclusion import print_conclusion
from embedproof.cli.notes import auto_backend_note
from embedproof.cli.progress import progress_factory
from embedproof.cli.tables import backends_table, engine_table, recipes_table, results_table, summary_table
from embedproof.errors import InvalidInputError
from embedproof.evaluation.bench_options import DEFAULT_MODELS

__all__ = ["bench", "DEFAULT_MODELS"]


def _print_evidence(results: dict, out: Console = console) -> None:
    """What the table's intervals rest on, and every reason not to trust a number yet."""
    from embedproof.evaluation.pareto import run_name

    power, load = results.get("power"), results.get("load") or {}
    if power and power.get("median_mdd") is not None:
        out.print(
            f"{power['queries']} queries: differences in nDCG@10 below about {power['median_mdd']:.4f} "
            f"(median minimum detectable difference, {power['power']:.0%} power, α = {power['alpha']}) "
            "cannot be told from chance.",
            highlight=False,
        )
    for warning in results.get("statistics_warnings", []):
        err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    if load.get("busy"):
        err.print(
            f"[yellow]warning:[/] latency measured on a busy machine: {load['reason']}; re-run on a quiet one",
            highlight=False,
        )
    unstable = [r for r in results["runs"] if (r.get("latency") or {}).get("stable") is False]
    for run in unstable:
        err.print(
            f"[yellow]warning:[/] latency rounds disagree for {escape(run_name(run))}: "
            f"{escape(run['latency']['stability_note'])}",
            highlight=False,
        )


def _check_names(names: list[str]) -> None:
    """Every model named must exist and be runnable here before the first one starts (offline: no download)."""
    import os

    from embedproof.models.availability import check_models

    check_models(
        list(dict.fromkeys(names)), offline=os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes", "on"}
    )


def _interrupted(output: Path) -> None:
    """Ctrl-C: say what was kept and how to resume, then exit 130 (the shell's code for SIGINT)."""
    kept = (
        f"the runs finished so far are in {output} (quality only: latency is measured at the end)"
        if output.exists()
        else "no run had finished"
    )
    err.print(
        f"[bold yellow]interrupted:[/] {kept}; every encoding finished so far is in the embedding cache. "
        "Run the same command again to resume: cached encodings are reused, not recomputed.",
        highlight=False,
    )
    raise typer.Exit(130)


def bench(
    dataset: Annotated[
        str,
        typer.Option(
            "--dataset",
            "-d",
            help=(
                "BEIR folder, .jsonl corpus, folder of .txt/.md files, 'demo', or a BEIR name (downloaded when online)"
            ),
        ),
    ] = "demo",
    model: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", help="model name or folder; 'bm25' and 'hashing' are built in (repeatable)"),
    ] = None,
    split: Annotated[str, typer.Option(help="qrels split to score")] = "test",
    output: Annotated[Path, typer.Option("--output", "-o", help="results JSON")] = Path("results.json"),
    top_k: Annotated[int, typer.Option(min=1, help="documents retrieved per query")] = 100,
    batch_size: Annotated[int, typer.Option(min=1, help="encoding batch size")] = 32,
    max_tokens: Annotated[int | None, typer.Option(min=1, help="override the model's max sequence length")] = None,
    query_prefix: Annotated[str | None, typer.Option(help="override the card's query prefix (warned)")] = None,
    document_prefix: Annotated[str | None, typer.Option(help="override the card's document prefix (warned)")] = None,
    cache_dir: Annotated[
        str | None, typer.Option(help="cache folder (default $EMBEDPROOF_CACHE or ~/.cache/embedproof)")
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="encode everything afresh")] = False,
    run_dir: Annotated[str | None, typer.Option(help="also write TREC run files here")] = None,
    dims: Annotated[
        str | None, typer.Option(help="Matryoshka dims to derive, e.g. 384,256,128,64 (default: native)")
    ] = None,
    precision: Annotated[str, typer.Option(help="precisions to derive: float32,float16,int8,binary")] = "float32",
    rescore_multiplier: Annotated[
        int,
        typer.Option(
            min=0, help="int8/binary: shortlist = multiplier × top-k, rescored with the float query (0 = no rescoring)"
        ),
    ] = 4,
    allow_unvalidated_dims: Annotated[
        bool, typer.Option("--allow-unvalidated-dims", help="permit dims below 64 (labelled unvalidated)")
    ] = False,
    usd_per_gb_month: Annotated[float, typer.Option(help="storage price per GiB-month")] = 3.8,
    mode: Annotated[
        list[str] | None,
        typer.Option("--mode", help="recipe modes: dense, sparse, multivector, hybrid, hybrid+rerank (repeatable)"),
    ] = None,
    recipe: Annotated[list[Path] | None, typer.Option("--recipe", help="recipe file (.json/.yaml), repeatable")] = None,
    reranker: Annotated[
        str | None,
        typer.Option(help="for hybrid+rerank: maxsim:MODEL or cross-encoder:MODEL (default maxsim of the dense model)"),
    ] = None,
    rerank_top: Annotated[int, typer.Option(min=1, help="documents reranked per query")] = 50,
    tune_on: Annotated[
        str | None,
        typer.Option(help="tune fusion weights on this split (e.g. train) and report the tuned recipe too"),
    ] = None,
    latency: Annotated[
        bool, typer.Option("--latency/--no-latency", help="measure per-query (online) and 100-query batch latency")
    ] = True,
    latency_queries: Annotated[
        int | None, typer.Option(min=1, help="queries timed one by one (default: all judged queries)")
    ] = None,
    latency_rounds: Annotated[
        int, typer.Option(min=1, help="rounds of latency measurement, runs interleaved in each (intervals need ≥ 2)")
    ] = 3,
    bootstrap_resamples: Annotated[
        int, typer.Option(min=1000, help="bootstrap resamples for every interval (≥ 1000)")
    ] = 2000,
    permutation_resamples: Annotated[
        int, typer.Option(min=1000, help="sign-flip resamples for every paired test (≥ 1000)")
    ] = 10_000,
    seed: Annotated[int, typer.Option(min=0, help="seed of the bootstrap and permutation draws")] = 0,
    alpha: Annotated[float, typer.Option(help="significance level of the paired tests (Holm-corrected)")] = 0.05,
    instance_usd_per_hour: Annotated[
        float, typer.Option(help="instance price for $/1M queries (default: a 2-vCPU c7i.large list price)")
    ] = 0.0893,
    utilisation: Annotated[float, typer.Option(help="share of instance time spent serving, for $/1M queries")] = 0.5,
    chunk_tokens: Annotated[
        int | None,
        typer.Option(min=1, help="also bench dense models on token windows of this size, max-pooled to documents"),
    ] = None,
    chunk_overlap: Annotated[int, typer.Option(min=0, help="token overlap between chunks")] = 32,
    model_runs: Annotated[
        bool | None,
        typer.Option(
            "--model-runs/--no-model-runs",
            help="also bench each --model on its own (default: only when no --mode/--recipe is given)",
        ),
    ] = None,
    corpus: Annotated[
        str | None,
        typer.Option(
            "--corpus",
            help=(
                "an unlabeled corpus (.jsonl, BEIR folder or folder of .txt/.md files): "
                "bench on inverse-cloze pseudo-queries instead of --dataset"
            ),
        ),
    ] = None,
    pseudo_queries: Annotated[
        int, typer.Option(min=1, help="how many inverse-cloze pseudo-queries to build with --corpus")
    ] = 300,
    show_queries: Annotated[
        int, typer.Option(min=0, help="print this many of the queries measured (spread over the set), e.g. 10")
    ] = 0,
    drop_code: DropCode = False,
    condensed: Annotated[
        bool,
        typer.Option(
            "--condensed",
            help="pooled judgments: score condensed lists (unjudged documents removed first, as trec_eval -J)",
        ),
    ] = False,
    backend: Annotated[
        list[str] | None,
        typer.Option(
            "--backend",
            help=(
                "encoder backend: torch, onnx, onnx-int8, openvino-int8, openvino-int8-streams, "
                "or auto (the fastest that keeps ≥ 99% cosine, calibrated on this CPU); "
                "repeatable: docs/s and nDCG@10 retention vs torch per backend; "
                "edge: measure every recipe through the Qdrant engine (--edge-* settings)"
            ),
        ),
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option(
            "--baseline",
            help=(
                "regression gate: compare with this results.json afterwards; "
                "exit 1 when significantly worse (see `compare`)"
            ),
        ),
    ] = None,
    pair: Annotated[
        list[str] | None,
        typer.Option("--pair", help="with --baseline: BASE_RUN=NEW_RUN, repeatable (default: runs with the same name)"),
    ] = None,
    latency_budget: Annotated[
        float | None,
        typer.Option(
            "--latency-budget", help="with --baseline: p99 budget in ms, checked against the new p99's upper bound"
        ),
    ] = None,
    engine_dir: Annotated[
        Path | None,
        typer.Option(
            help="keep the edge indexes of engine recipes here, to serve what was measured (default: a temporary one)"
        ),
    ] = None,
    edge_m: edge.EdgeM = None,
    edge_ef_construct: edge.EdgeEfConstruct = None,
    edge_ef: edge.EdgeEf = None,
    edge_quantization: edge.EdgeQuantization = None,
    edge_oversampling: edge.EdgeOversampling = None,
    edge_rescore: edge.EdgeRescore = None,
    edge_exact: edge.EdgeExact = False,
    edge_vectors_on_disk: edge.EdgeVectorsOnDisk = False,
    wide: Annotated[bool, typer.Option("--wide", help="print every metric, interval, latency and cost column")] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="print the results document as JSON instead of tables")
    ] = False,
) -> None:
    """Encode, retrieve and score each model on a collection; write results.json and print a table."""
    from embedproof.datasets.loading import load_dataset
    from embedproof.evaluation.bench import run_bench
    from embedproof.evaluation.bench_options import LatencyOptions, options_from_groups, recipe_backend
    from embedproof.evaluation.run_result import is_model_run
    from embedproof.files import write_json_atomic
    from embedproof.flow import bench_plan

    o = locals()
    bench_groups.check_bench_options(o)
    writable_folder(engine_dir, "--engine-dir")
    on_engine = any(value.strip().lower() == "edge" for value in backend or [])
    engine_options = edge.edge_options(o)
    options = options_from_groups(
        bench_groups.encoding(o),
        bench_groups.cost(o),
        LatencyOptions(latency, latency_queries, latency_rounds),
        bench_groups.statistics(o),
        top_k=top_k,
        run_dir=run_dir,
        dims=int_list(dims, "--dims"),
        precisions=precision_list(precision, "--precision"),
        rescore_multiplier=rescore_multiplier,
        allow_unvalidated_dims=allow_unvalidated_dims,
        chunk_tokens=chunk_tokens,
        chunk_overlap=chunk_overlap,
        engine_dir=str(engine_dir) if engine_dir else None,
        condensed=condensed,
    )
    encoders = [value for value in backend or [] if value.strip().lower() != "edge"]
    names, recipes = bench_plan(model, mode, recipe, model_runs, reranker, rerank_top)
    combinations.bench(locals())  # options that would do nothing here are refused
    if on_engine:
        from embedproof.search.engine import with_engine

        if not recipes:
            raise InvalidInputError("--backend edge: measures recipes; give --mode or --recipe")
        recipes = [with_engine(r, engine_options) for r in recipes]
    elif edge.given(engine_options):
        raise InvalidInputError("--edge-* options: only with --backend edge")
    if recipes:
        from embedproof.search.recipe import check_unique_names

        check_unique_names(recipes)
        recipe_backend(options)  # one encoder backend for recipes, refused before any work
    _check_names(list(model or []) + [m for r in recipes or [] for m in r.models()])
    if baseline is not None:  # a bad baseline is found before the bench, not after it
        from embedproof.cli.compare import parse_pairs
        from embedproof.evaluation.results_file import load_results

        load_results(baseline)
        parse_pairs(pair)
    if corpus is not None:
        from embedproof.datasets.pseudo import PSEUDO_NOTE, inverse_cloze

        unlabeled = load_dataset(corpus, split=split, cache_dir=cache_dir, drop_code=drop_code)
        data = inverse_cloze(unlabeled, pseudo_queries)
        err.print(f"[bold yellow]{PSEUDO_NOTE}[/]", highlight=False)
    else:
        data = load_dataset(dataset, split=split, cache_dir=cache_dir, drop_code=drop_code)
    print_dataset(data, err if json_out else console)
    if condensed:
        from embedproof.evaluation.metrics import evaluate_run

        evaluate_run(data.qrels, {}, ["ndcg@10"], condensed=True)  # refuses judgments that are not a pool, up front
    if show_queries:
        from embedproof.datasets.pseudo import query_sample

        for qid, text, relevant in query_sample(data, show_queries):
            line = f"{qid} → {', '.join(relevant)}: {text}"
            (err if json_out else console).print(line, markup=False, highlight=False)
    if not encoders and options.backends == ["auto"]:  # after every check: never a note before an error
        named = list(model or ([] if recipes else DEFAULT_MODELS))
        auto_backend_note(named + [m for r in recipes or [] for m in r.models()], err)
    shown: set[str] = set()

    def saved(results: dict) -> None:
        for run in results["runs"]:
            for warning in run["warnings"]:
                if warning not in shown:
                    shown.add(warning)
                    err.print(f"[yellow]warning ({escape(run['model'])}):[/] {escape(warning)}", highlight=False)
        write_json_atomic(output, results)

    def skipped(name: str, exc: Exception) -> None:
        err.print(f"[yellow]skipped {escape(name)}:[/] {escape(str(exc))}", highlight=False)

    with progress_factory(err) as progress:
        # Models named by the user must run; the default list skips one whose weights are not installed.
        try:
            results = run_bench(
                data, names, options, progress, saved, None if model else skipped, recipes or None, tune_on
            )
        except KeyboardInterrupt:
            _interrupted(output)
    write_json_atomic(output, results)
    if json_out:
        typer.echo(json.dumps(results, indent=2))
    elif wide:
        if any(is_model_run(r) for r in results["runs"]):
            console.print(results_table(results["runs"]))
        if not all(is_model_run(r) for r in results["runs"]):
            console.print(recipes_table(results["runs"]))
    else:
        console.print(summary_table(results["runs"]))
    if not json_out and any((r.get("store") or {}).get("backend") == "edge" for r in results["runs"]):
        console.print(engine_table(results["runs"]))
    if not json_out and (len(options.backends) > 1 or options.backends != ["torch"]):
        console.print(backends_table(results["runs"]))
    _print_evidence(results, err if json_out else console)
    print_conclusion(results, output, err if json_out else console)
    err.print(f"wrote {output}")
    if baseline is not None:
        from embedproof.cli.compare import gate, print_report

        report, code = gate(baseline, results, pair, latency_budget, alpha)
        print_report(report, console)
        if code:
            raise typer.Exit(code)
