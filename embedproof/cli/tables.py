"""Rich tables for the CLI: the per-variant results and the per-recipe results of a bench."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from embedproof.evaluation.pareto import run_name
from embedproof.evaluation.run_result import is_model_run
from embedproof.models.remote_providers import display_name

METRIC_COLUMNS = ["ndcg@10", "mrr@10", "recall@10", "recall@100", "map@100"]


def interval_cell(value: float | None, ci: list[float] | None, spec: str = ".4f") -> str:
    """A value with its 95% interval below it (two lines keep the column narrow), or '-'."""
    if value is None:
        return "-"
    return f"{value:{spec}}" + (f"\n[{ci[0]:{spec}}, {ci[1]:{spec}}]" if ci else "\nno interval")


def vs_best_cell(run: dict) -> str:
    """'best', 'tied' (not significantly worse, Holm), the significant loss in points, or '-' without per-query data."""
    from embedproof.evaluation.evidence import tie_status

    status = tie_status(run)
    if status == "worse":
        return f"{100 * run['vs_best']['diff']:+.2f} pts"
    return "-" if status == "unknown" else status


def _half_width(value: float, ci: list[float] | None, spec: str) -> str:
    return f"±{max(value - ci[0], ci[1] - value):{spec}}" if ci else "no CI"


def summary_table(runs: list[dict]) -> Table:
    """The default table: one row per run (models and recipes alike), only measured columns, fits 80-100 columns.

    nDCG@10 shows ± half the width of its 95% interval, p99 its interval's upper bound (what budgets are checked
    against); `--wide` prints every metric and interval in full.
    """
    from embedproof.evaluation.pareto import run_p99, run_size

    timed = any(run_p99(r) is not None for r in runs)
    tested = any(r.get("vs_best") for r in runs)
    table = Table(
        title="quality, p99 and size per run (95% intervals)", caption=_caption(timed, tested), caption_justify="left"
    )
    table.add_column("run", overflow="fold", ratio=1)
    table.add_column("nDCG@10", justify="right", no_wrap=True)
    if timed:
        table.add_column("p99 ms", justify="right", no_wrap=True)
    table.add_column("bytes", justify="right", no_wrap=True)
    if tested:
        table.add_column("vs best", justify="right", no_wrap=True)
    if any(r.get("pareto") for r in runs):
        table.add_column("front", justify="left", no_wrap=True)
    for run in runs:
        ndcg, ci = run["metrics"]["ndcg@10"], (run.get("intervals") or {}).get("ndcg@10")
        cells = [escape(run_name(run)), f"{ndcg:.4f}\n{_half_width(ndcg, ci, '.3f')}"]
        if timed:
            latency = run.get("latency") or {}
            total = latency.get("online_ms", {}).get("total", {})
            p99, upper = run_p99(run), ((total.get("ci") or {}).get("p99") or [None, None])[1]
            flag = " ⚠" if latency.get("busy") or latency.get("stable") is False else ""
            cells.append(
                "-" if p99 is None else f"{p99:.2f}{flag}\n" + (f"≤{upper:.2f}" if upper is not None else "no CI")
            )
        size = run_size(run)
        cells.append(f"{size:,.0f}" if size is not None else "-")
        if tested:
            cells.append(vs_best_cell(run).replace(" pts", ""))
        if any(r.get("pareto") for r in runs):
            pareto = run.get("pareto")
            cells.append("-" if pareto is None else "on" if pareto["on_frontier"] else "dom.")
        table.add_row(*cells)
    return table


def _caption(timed: bool, tested: bool) -> str:
    parts = ["nDCG@10 ± half its 95% interval"]
    if timed:
        parts.append("p99 ≤ its 95% upper bound (⚠ busy machine or rounds disagree)")
    parts.append("bytes per vector (per passage for recipes)")
    if tested:
        parts.append("vs best: points lost when significantly worse (paired test, Holm), else tied")
    parts.append("front: on the Pareto frontier or dominated; --wide for every column")
    return "; ".join(parts) + "."


def results_table(runs: list[dict]) -> Table:
    table = Table(title="retrieval quality (mean over judged queries, 95% intervals; vs best: paired test, Holm)")
    columns = [
        "model",
        "mode",
        "dim",
        "precision",
        "nDCG@10",
        "MRR@10",
        "R@10",
        "R@100",
        "MAP@100",
        "retention",
        "bytes/vec",
        "$/mo per 1M",
        "p50 ms",
        "p99 ms",
        "$/1M q",
        "vs best",
        "frontier",
    ]
    runs = [r for r in runs if is_model_run(r)]
    for column in columns:
        table.add_column(column, justify="left" if column in {"model", "mode", "precision"} else "right", no_wrap=True)
    for run in runs:
        m = run["metrics"]
        retention = run.get("retention", {}).get("ndcg@10")
        backend = run.get("encoder_backend", "torch")
        table.add_row(
            escape(display_name(run["model"]) + ("" if backend == "torch" else f" [{backend}]")),
            run["mode"]
            + (" chunks {window_tokens}/{overlap_tokens}".format(**run["chunking"]) if run.get("chunking") else ""),
            str(run["dim"] or "-"),
            run["precision"] + ("" if run.get("validated", True) else " (unvalidated)"),
            interval_cell(m["ndcg@10"], (run.get("intervals") or {}).get("ndcg@10")),
            *[f"{m[c]:.4f}" for c in METRIC_COLUMNS[1:]],
            f"{retention:.1%}" if retention is not None else "-",
            f"{run['bytes_per_vector']:,.0f}",
            f"{run['storage_usd_month_per_1m']:.4f}",
            *latency_cells(run),
        )
    return table


def latency_cells(run: dict) -> list[str]:
    latency = run.get("latency") or {}
    total = latency.get("online_ms", {}).get("total", {})
    usd = (run.get("cost") or {}).get("usd_per_1m_queries")
    pareto = run.get("pareto")
    front = "-" if pareto is None else ("on" if pareto["on_frontier"] else "dominated")
    p99 = interval_cell(total.get("p99"), (total.get("ci") or {}).get("p99"), ".2f")
    if latency.get("busy") or latency.get("stable") is False:
        p99 += "\n(busy machine)" if latency.get("busy") else "\n(rounds disagree)"
    return [
        f"{total['p50']:.2f}" if total.get("p50") is not None else "-",
        p99,
        f"{usd:.4f}" if usd is not None else "-",
        vs_best_cell(run),
        front,
    ]


def recipes_table(runs: list[dict]) -> Table:
    table = Table(title="recipes (mean over judged queries; stage times per query)")
    for column in [
        "recipe",
        "first pass",
        "rerank",
        "nDCG@10",
        "MRR@10",
        "R@10",
        "R@100",
        "bytes/passage",
        "stages (ms/query)",
        "p50 ms",
        "p99 ms",
        "$/1M q",
        "vs best",
        "frontier",
    ]:
        table.add_column(
            column, justify="left" if column in {"recipe", "first pass", "rerank", "stages (ms/query)"} else "right"
        )
    for run in (r for r in runs if not is_model_run(r)):
        m, rec = run["metrics"], run["recipe"]
        table.add_row(
            escape(run_name(run)),
            " + ".join(x.split("/")[-1] for x in rec["first_pass"]),
            (rec["rerank"] or "-").split("/")[-1],
            interval_cell(m["ndcg@10"], (run.get("intervals") or {}).get("ndcg@10")),
            *[f"{m[c]:.4f}" for c in ["mrr@10", "recall@10", "recall@100"]],
            f"{run['bytes_per_passage']:,.0f}",
            ", ".join(f"{_stage_label(s['stage'])} {s['ms_per_query']:.2f}" for s in run["stages"]),
            *latency_cells(run),
        )
    return table


def engine_setting(engine: dict) -> str:
    """An engine configuration in a few words: quantiser, rescoring, search and graph settings."""
    parts = [engine.get("quantization") or "float32"]
    if engine.get("quantization"):
        parts[0] += f" ×{engine['oversampling']:g} rescored" if engine.get("rescore") else " unrescored"
    parts.append("exact" if engine.get("exact") else f"ef {engine['ef']}")
    parts.append(f"m {engine['m']}/{engine['ef_construct']}")
    if engine.get("vectors_on_disk"):
        parts.append("floats on disk")
    return ", ".join(parts)


def engine_table(runs: list[dict]) -> Table:
    """Recipes measured through the Qdrant engine: what it was set to and what that traded (recall, build, memory)."""
    table = Table(title="through the Qdrant engine: recall@10 against exact search over the same vectors")
    for column in ["run", "engine", "R@10 vs exact", "build s", "disk MiB", "RSS MiB", "p50 ms encode+edge"]:
        table.add_column(column, justify="left" if column in {"run", "engine"} else "right")
    for run in runs:
        store = run.get("store") or {}
        if store.get("backend") != "edge":
            continue
        online = (run.get("latency") or {}).get("online_ms", {})
        stages = " + ".join(
            f"{online[s]['p50']:.2f}" for s in ("encode", "edge") if (online.get(s) or {}).get("p50") is not None
        )
        recall = store.get("recall@10_vs_exact")
        resident = store.get("resident_mb")
        table.add_row(
            escape(run_name(run)),
            engine_setting(store["engine"]),
            "-" if recall is None else f"{recall:.3f}",
            f"{store['build_s']:.1f}",
            f"{store['disk_allocated_bytes'] / 2**20:,.1f}",
            "-"
            if not resident or resident["total_mb"] is None
            else f"{resident['total_mb']:,.0f} ({resident['anon_mb']:,.0f} heap)",
            stages or "-",
        )
    return table


def _stage_label(stage: str) -> str:
    """'encode:first:org/model' → 'encode model'; 'first_pass:bm25' → 'first_pass'."""
    kind, _, rest = stage.partition(":")
    return f"encode {rest.split(':', 1)[-1].split('/')[-1]}" if kind == "encode" else kind


def backends_table(runs: list[dict]) -> Table | Text:
    """Encoding speed per encoder backend, and what each keeps of torch fp32's nDCG@10 (same bench, same machine);
    nothing when no dense model ran on a backend other than torch (bm25 or hashing alone, or torch throughout)."""
    backends = {r.get("encoder_backend", "torch") for r in runs if is_model_run(r) and r.get("mode") == "dense"}
    if backends <= {"torch"}:
        return Text("")
    table = Table(title="encoder backends (documents/s measured only when not read from the cache)")
    for column in ["model", "backend", "docs/s", "× torch", "nDCG@10", "retention vs torch"]:
        # names wrap (never cut: two backends may share a prefix), numbers stay whole on one line
        named = column in {"model", "backend"}
        table.add_column(column, justify="left" if named else "right", no_wrap=not named, overflow="fold")
    seen = set()
    for run in runs:
        if not is_model_run(run) or run.get("mode") != "dense" or run.get("precision") != "float32":
            continue
        key = (run["model"], run.get("encoder_backend", "torch"), run.get("dim"))
        if key in seen:
            continue
        seen.add(key)
        vs = run.get("backend_vs_torch") or {}
        rate, ratio, kept = (
            run["timings"].get("documents_per_s"),
            vs.get("documents_per_s_ratio"),
            vs.get("ndcg@10_retention"),
        )
        table.add_row(
            escape(display_name(run["model"])),
            escape(key[1] + (" (as shipped)" if (run.get("auto_backend") or {}).get("shipped") else "")),
            f"{rate:.1f}" if rate else "-",
            f"{ratio:.2f}×" if ratio else "-",
            f"{run['metrics']['ndcg@10']:.4f}",
            f"{kept:.2%}" if kept is not None else "-",
        )
    return table
