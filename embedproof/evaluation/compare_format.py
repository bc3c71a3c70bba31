"""The regression gate's report as text: the comparison table's cells, a one-line summary and Markdown."""

from __future__ import annotations

from embedproof.evaluation.compare import LATENCY_METRIC
from embedproof.evaluation.run_result import NO_INTERVAL

__all__ = [
    "TABLE_COLUMNS",
    "TERMINAL_COLUMNS",
    "pair_label",
    "summary_line",
    "table_rows",
    "terminal_rows",
    "to_markdown",
]


def _fmt(value: float | None, metric: str, signed: bool = False) -> str:
    if value is None:
        return "-"
    digits = 2 if metric == LATENCY_METRIC else 4
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def format_value(row: dict, side: str) -> str:
    """`0.8546 [0.7770, 0.9171]`, or the point value alone when there is no interval."""
    value, ci = row[side], row[f"{side}_ci"]
    text = _fmt(value, row["metric"])
    return f"{text} [{_fmt(ci[0], row['metric'])}, {_fmt(ci[1], row['metric'])}]" if ci and value is not None else text


def format_diff(row: dict) -> str:
    """`−0.1393 [−0.2188, −0.0689]`, or the point difference followed by "no interval"."""
    if row["diff"] is None:
        return "-"
    text = _fmt(row["diff"], row["metric"], signed=True)
    if row["ci"] is None:
        return f"{text} ({NO_INTERVAL})"
    return f"{text} [{_fmt(row['ci'][0], row['metric'], True)}, {_fmt(row['ci'][1], row['metric'], True)}]"


def format_p(p: float | None) -> str:
    if p is None:
        return "-"
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def pair_label(pair: dict) -> str:
    """`BASE → NEW`, or the one name when both runs share it."""
    return pair["base_run"] if pair["base_run"] == pair["new_run"] else f"{pair['base_run']} → {pair['new_run']}"


def table_rows(report: dict) -> list[list[str]]:
    """Cells of the comparison table: pair, metric, base, new, Δ with CI, p, p (Holm), verdict."""
    rows = []
    for pair in report["pairs"]:
        label = pair_label(pair)
        for metric, row in pair["metrics"].items():
            name = "p99 ms" if metric == LATENCY_METRIC else metric
            rows.append(
                [
                    label,
                    name,
                    format_value(row, "base"),
                    format_value(row, "new"),
                    format_diff(row),
                    format_p(row["p_value"]),
                    format_p(row["p_holm"]),
                    row["verdict"],
                ]
            )
            label = ""
    return rows


TABLE_COLUMNS = ["run (base → new)", "metric", "base", "new", "Δ new − base [CI]", "p", "p (Holm)", "verdict"]

# A terminal gets one table per pair (the pair in its title) and each value above its interval, so that the
# difference, its interval, p and the verdict fit 80 columns.
TERMINAL_COLUMNS = ["metric", "base", "new", "Δ new − base", "p (Holm)", "verdict"]


def _over_interval(text: str) -> str:
    """`0.8546 [0.7770, 0.9171]` → the value above its interval (or above "(no interval)")."""
    for mark in (" [", " ("):
        value, found, rest = text.partition(mark)
        if found:
            return f"{value}\n{mark.strip()}{rest}"
    return text


def terminal_rows(pair: dict) -> list[list[str]]:
    """Cells of one pair's terminal table: metric, base, new, Δ (each above its interval), p (Holm), verdict."""
    rows = []
    for metric, row in pair["metrics"].items():
        p = "-" if row["p_value"] is None else f"{format_p(row['p_value'])}\n({format_p(row['p_holm'])})"
        rows.append(
            [
                "p99 ms" if metric == LATENCY_METRIC else metric,
                _over_interval(format_value(row, "base")),
                _over_interval(format_value(row, "new")),
                _over_interval(format_diff(row)),
                p,
                row["verdict"],
            ]
        )
    return rows


def summary_line(report: dict) -> str:
    """One sentence for CI logs: regression or not, and which pairs are worse."""
    worse = [p for p in report["pairs"] if p["verdict"] == "worse"]
    if not worse:
        return f"no regression: {len(report['pairs'])} pair(s) compared, none significantly worse or over budget"
    names = "; ".join(pair_label(p) for p in worse)
    return f"REGRESSION: {len(worse)} of {len(report['pairs'])} pair(s) worse: {names}"


def to_markdown(report: dict) -> str:
    """The report as Markdown for a pull-request comment or a CI job summary."""
    s = report["statistics"]
    lines = ["## embedproof compare", "", f"**{summary_line(report)}**", ""]
    lines.append("| " + " | ".join(TABLE_COLUMNS) + " |")
    lines.append("|" + "|".join(["---"] * 2 + ["---:"] * 5 + ["---"]) + "|")
    for cells in table_rows(report):
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines.append("")
    budget = report["latency_budget_ms"]
    lines.append(
        f"Quality: paired difference over matched queries, {s['confidence']:.0%} {s['bootstrap']} "
        f"({s['bootstrap_resamples']:,} resamples, seed {s['seed']}); p from a {s['test']} "
        f"({s['permutation_resamples']:,} resamples), Holm-corrected over {report['quality_tests']} test(s), "
        f"α = {s['alpha']:g}. p99: unpaired bootstrap over each file's rounds and queries"
        + (f"; budget {budget:g} ms checked against the new p99's upper bound." if budget is not None else ".")
    )
    notes = report["notes"] + [f"{pair_label(p)}: {n}" for p in report["pairs"] for n in p["notes"]]
    notes = list(dict.fromkeys(notes))
    if notes:
        lines += ["", *[f"- {n}" for n in notes]]
    return "\n".join(lines) + "\n"
