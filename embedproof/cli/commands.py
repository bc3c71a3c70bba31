"""The `embedproof` command line (typer + rich): the root app and its small commands (cost, report, profile, pick,
models, dataset); bench, index/search/serve and compare live in their own modules.

Commands raise and never print their own errors: the root group (`cli/common.py`) prints one line and exits 2.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from embedproof.cli import combinations
from embedproof.cli.bench import bench
from embedproof.cli.common import (
    ErrorHandlingGroup,
    console,
    in_range,
    non_empty,
    precision_list,
    print_dataset,
    str_list,
    writable_file,
)
from embedproof.cli.compare import compare
from embedproof.cli.index import index_app
from embedproof.cli.judge import judge
from embedproof.cli.models import models_app
from embedproof.cli.search_serve import search, serve
from embedproof.defaults import USD_PER_GB_MONTH, VERSION
from embedproof.errors import InvalidInputError

app = typer.Typer(
    help="Pick an embedding set-up on evidence from your own corpus.",
    no_args_is_help=True,
    add_completion=False,
    cls=ErrorHandlingGroup,
    rich_markup_mode=None,
)
dataset_app = typer.Typer(help="Load and validate retrieval collections.", no_args_is_help=True)


def _version(value: bool) -> None:
    if value:
        console.print(f"embedproof {VERSION}", highlight=False)
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    """Pick an embedding set-up on evidence from your own corpus."""


app.add_typer(models_app, name="models")
app.add_typer(dataset_app, name="dataset")
app.add_typer(index_app, name="index")
app.command()(bench)


def _print_markdown(text: str, raw: bool) -> None:
    """Markdown rendered for a terminal (rich); JSON, or output to a file or pipe, stays plain text."""
    if raw or not sys.stdout.isatty():
        typer.echo(text)
    else:
        from rich.markdown import Markdown

        console.print(Markdown(text))


@app.command()
def cost(
    dim: Annotated[int, typer.Option(min=1, help="vector dimension")],
    precision: Annotated[
        str, typer.Option(help="float32, float16, int8, binary (comma-separated for several)")
    ] = "float32",
    vectors: Annotated[str, typer.Option(help="number of vectors: 1000000, 250k, 100M, 1B")] = "1M",
    usd_per_gb_month: Annotated[
        float, typer.Option(help="price per GiB-month (default: the HF quantisation study's memory price)")
    ] = USD_PER_GB_MONTH,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON instead of tables")] = False,
) -> None:
    """Bytes per vector, total size and storage $/month, plus a 1M / 100M / 1B projection."""
    from embedproof.evaluation.cost import cost_row, parse_count, projection_table

    in_range(usd_per_gb_month, "--usd-per-gb-month", low=0)
    count = parse_count(vectors)
    precisions = precision_list(precision, "--precision")
    rows = [cost_row(dim, p, count, usd_per_gb_month) for p in precisions]
    projection = projection_table(dim, usd_per_gb_month=usd_per_gb_month)
    if json_out:
        console.print_json(json.dumps({"requested": rows, "projection": projection}))
        return
    table = Table(title=f"{count:,} vectors of {dim} dimensions at ${usd_per_gb_month}/GiB-month")
    for column in ["precision", "bytes/vector", "total GiB", "$/month"]:
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            row["precision"],
            f"{row['bytes_per_vector']:,.0f}",
            f"{row['total_gib']:,.2f}",
            f"{row['usd_per_month']:,.2f}",
        )
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
    latency_ms: Annotated[float | None, typer.Option(help="p99 latency budget per query, as `pick` takes it")] = None,
    storage_gb: Annotated[float | None, typer.Option(help="vector storage budget in GiB, as `pick` takes it")] = None,
    vectors: Annotated[
        int | None, typer.Option(min=1, help="vectors to store for the storage budget (default: the bench's documents)")
    ] = None,
) -> None:
    """A self-contained HTML report (decision under your budgets, table, frontier plots, latency, truncation, machine)
    plus PNG plots."""
    from embedproof.evaluation.report import write_report
    from embedproof.pick.decision import decision_markdown

    in_range(latency_ms, "--latency-ms", low=0, low_open=True)
    in_range(storage_gb, "--storage-gb", low=0, low_open=True)
    writable_file(output, "--output")
    written = write_report(
        results, output, lambda data: decision_markdown(data, latency_ms, storage_gb, vectors)
    )  # the Decision section picks under `pick`'s budgets and states them
    console.print(
        f"wrote {written['html']} and {len(written['plots'])} plots in {Path(written['plots'][0]).parent}",
        highlight=False,
    )


@app.command()
def profile(
    source: Annotated[
        str, typer.Argument(help="BEIR folder, .jsonl corpus, folder of .txt/.md files, 'demo', or a BEIR name")
    ],
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the profile as JSON here")] = None,
) -> None:
    """Corpus facts that decide the set-up: size, languages, token lengths, duplicates, keyword-heaviness."""
    from embedproof.datasets.loading import load_dataset
    from embedproof.files import write_json_atomic
    from embedproof.pick.profile import profile_corpus

    non_empty(source, "SOURCE")
    writable_file(json_out, "--json")
    facts = profile_corpus(load_dataset(source))
    table = Table(title=escape(f"profile of {facts['corpus']}"))
    table.add_column("fact", overflow="fold")
    table.add_column("value", justify="right", overflow="fold")
    labels = {
        "documents": "documents",
        "characters": "characters",
        "duplicate_rate": "exact duplicates",
        "rare_term_share": "words found in one document only",
        "identifier_share": "identifier-like words",
        "empty_documents": "empty documents",
    }
    for key, label in labels.items():
        value = facts[key]
        table.add_row(label, f"{value:.2%}" if isinstance(value, float) else f"{value:,}")
    heavy = facts["keyword_heavy"]
    table.add_row("keyword-heavy", ("yes: " + "; ".join(facts.get("keyword_heavy_because", []))) if heavy else "no")
    table.add_row("languages", ", ".join(f"{k} {v:.0%}" for k, v in facts["languages"].items()))
    console.print(table)
    console.print(_tokens_table(facts))
    if json_out:
        write_json_atomic(json_out, facts)
        console.print(f"wrote {json_out}")


def _tokens_table(facts: dict) -> Table:
    """Tokens per document, a column per tokenizer and one number per cell (the figures `bench` reports)."""
    sampled = facts.get("sampled", facts["documents"])
    title = "tokens per document" + (f" (a sample of {sampled:,})" if sampled < facts["documents"] else "")
    table = Table(title=title)
    table.add_column("")
    for name in facts["tokens"]:
        short = "words × 1.3 (estimate)" if name.startswith("words") else name.split("/")[-1]
        table.add_column(escape(short), justify="right", overflow="fold")
    columns = list(facts["tokens"].values())
    for key in ("mean", "p50", "p99", "max"):
        table.add_row(key, *[f"{stats[key]:,.0f}" for stats in columns])
    for key in (k for k in columns[0] if k.startswith("share_over_")):
        table.add_row(f"over {int(key.rsplit('_', 1)[1]):,} tokens", *[f"{stats[key]:.1%}" for stats in columns])
    return table


def _read_profile(path: Path) -> dict:
    """The JSON `embedproof profile --json` wrote (read bounded, as every user file); anything else is refused
    naming --profile and the field."""
    from embedproof.errors import DatasetError
    from embedproof.files import read_json_file

    try:
        facts = read_json_file(path, "profile")
    except DatasetError as exc:
        raise InvalidInputError(f"--profile: {exc}") from None
    if not isinstance(facts, dict):
        raise InvalidInputError(
            f"--profile: {path} holds {type(facts).__name__}, not the object `embedproof profile --json` writes"
        )
    checks = {  # what pick reads, and the type it reads it as
        "documents": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
        "avg_tokens": lambda v: _positive(v),
        "p99_tokens": lambda v: v is None or _positive(v),
        "keyword_heavy": lambda v: isinstance(v, bool),
        "languages": lambda v: isinstance(v, dict) and all(isinstance(x, str) and _share(y) for x, y in v.items()),
    }
    for key, ok in checks.items():
        if key in facts and not ok(facts[key]):
            raise InvalidInputError(f"--profile: {path}, field {key!r}: not what `embedproof profile --json` writes")
    return facts


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def _share(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1


@app.command()
def pick(
    profile_file: Annotated[
        Path | None, typer.Option("--profile", help="JSON written by `embedproof profile --json`")
    ] = None,
    docs: Annotated[int | None, typer.Option(min=1, help="number of passages (overrides the profile)")] = None,
    languages: Annotated[str | None, typer.Option(help="comma-separated language codes, e.g. en,de")] = None,
    domain: Annotated[
        str, typer.Option(help="general, scientific, biomedical, medical, finance, legal, code, argument, qa")
    ] = "general",
    avg_tokens: Annotated[float | None, typer.Option(help="average tokens per document")] = None,
    p99_tokens: Annotated[float | None, typer.Option(help="99th-percentile tokens per document")] = None,
    keyword_heavy: Annotated[bool | None, typer.Option("--keyword-heavy/--not-keyword-heavy")] = None,
    target: Annotated[str, typer.Option(help="cloud, edge, on-prem or cpu-only")] = "cloud",
    latency_ms: Annotated[float | None, typer.Option(help="p99 latency budget per query")] = None,
    storage_gb: Annotated[float | None, typer.Option(help="vector storage budget in GiB")] = None,
    open_weights_only: Annotated[bool, typer.Option("--open-weights-only")] = False,
    model: Annotated[str | None, typer.Option(help="your current model (checked for window and prefix)")] = None,
    query_prefix: Annotated[str | None, typer.Option(help="the query prefix your set-up uses")] = None,
    dim: Annotated[int | None, typer.Option(min=1, help="a Matryoshka dimension you intend to use")] = None,
    validated: Annotated[bool, typer.Option("--validated", help="that dimension was validated on your data")] = False,
    mode: Annotated[str | None, typer.Option(help="a mode you intend to use (e.g. colbert)")] = None,
    domain_model: Annotated[str | None, typer.Option(help="a domain model you measured")] = None,
    domain_gain: Annotated[float | None, typer.Option(help="its nDCG@10 gain over the default, in points")] = None,
    results: Annotated[
        Path | None, typer.Option(help="evidence mode: pick among the runs of this results.json")
    ] = None,
    vectors: Annotated[
        int | None, typer.Option(min=1, help="evidence mode: vectors to store (default: the bench's documents)")
    ] = None,
    recipe_out: Annotated[
        Path | None,
        typer.Option(help="evidence mode: write the picked run's recipe here (engine settings included), to build it"),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON instead of Markdown")] = False,
) -> None:
    """Recommend model, dimension, mode, prefix and an evaluation plan (rules), or pick among measured runs."""
    from embedproof.pick.evidence import evidence_markdown, pick_from_results
    from embedproof.pick.rules import DOMAINS, TARGETS, Needs, recommend, to_markdown

    combinations.pick(locals())  # rules-mode options with --results, or evidence-mode ones without, are refused
    for value, option in (
        (avg_tokens, "--avg-tokens"),
        (p99_tokens, "--p99-tokens"),
        (latency_ms, "--latency-ms"),
        (storage_gb, "--storage-gb"),
    ):
        in_range(value, option, low=0, low_open=True)
    in_range(domain_gain, "--domain-gain")
    for value, option in ((model, "--model"), (mode, "--mode"), (domain_model, "--domain-model")):
        non_empty(value, option)
    if domain not in DOMAINS:
        raise InvalidInputError(f"--domain: unknown domain {domain!r} (known: {', '.join(DOMAINS)})")
    if target not in TARGETS:
        raise InvalidInputError(f"--target: unknown target {target!r} (known: {', '.join(TARGETS)})")
    if languages is not None and not str_list(languages):
        raise InvalidInputError(f"--languages: expected comma-separated language codes, e.g. en,de; got {languages!r}")
    if recipe_out is not None and results is None:
        raise InvalidInputError("--recipe-out: only with --results (it writes the recipe of a measured run)")
    writable_file(recipe_out, "--recipe-out")
    if results is not None:
        from embedproof.evaluation.results_file import load_results
        from embedproof.pick.evidence import write_recipe

        data = load_results(results)
        chosen = pick_from_results(data, latency_ms, storage_gb, vectors or data.get("dataset", {}).get("documents", 1))
        if recipe_out is not None:
            write_recipe(chosen, recipe_out)
        _print_markdown(json.dumps(chosen, indent=2) if json_out else evidence_markdown(chosen), json_out)
        return
    facts = _read_profile(profile_file) if profile_file else {}
    if docs is None and "documents" not in facts:
        raise InvalidInputError("pick needs --docs or --profile (from `embedproof profile --json`)")
    langs = (
        str_list(languages) if languages else [k for k, v in facts.get("languages", {"en": 1.0}).items() if v >= 0.05]
    )
    needs = Needs(
        docs=docs if docs is not None else facts["documents"],
        languages=langs,
        domain=domain,
        avg_tokens=avg_tokens if avg_tokens is not None else facts.get("avg_tokens", 300.0),
        p99_tokens=p99_tokens if p99_tokens is not None else facts.get("p99_tokens"),
        keyword_heavy=keyword_heavy if keyword_heavy is not None else facts.get("keyword_heavy", False),
        target=target,
        latency_ms=latency_ms,
        storage_gb=storage_gb,
        open_weights_only=open_weights_only,
        model=model,
        query_prefix=query_prefix,
        dim=dim,
        validated_dim=validated,
        mode=mode,
        domain_model=domain_model,
        domain_gain_points=domain_gain,
    )
    rec = recommend(needs)
    _print_markdown(json.dumps(rec, indent=2) if json_out else to_markdown(rec), json_out)


@dataset_app.command("check")
def dataset_check(
    source: Annotated[str, typer.Argument(help="BEIR folder, .jsonl corpus, 'demo', or a BEIR name")],
    split: Annotated[str, typer.Option(help="qrels split")] = "test",
) -> None:
    """Load a collection, validate every line, and print counts and warnings."""
    from embedproof.datasets.loading import load_dataset

    non_empty(source, "SOURCE")
    non_empty(split, "--split")
    print_dataset(load_dataset(source, split=split))


# after the commands above, so `--help` lists bench and the evaluation commands first
app.command()(search)
app.command()(serve)
app.command()(compare)
app.command()(judge)


def main() -> None:
    """The console script and `python -m embedproof`."""
    app()
