"""The report page's sections that are not the results table or a plot: the decision, the statistics, the
machine's load, warnings, cost assumptions and the machine, each as an HTML fragment."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable

from embedproof.defaults import USD_PER_GB_MONTH
from embedproof.evaluation.pareto import run_name
from embedproof.evaluation.report_plots import METRIC, quality_interval
from embedproof.evaluation.run_result import NO_INTERVAL, RunResult


def fmt(value, spec: str = ".4f") -> str:
    """A number in `spec`, or a dash where it is missing."""
    return "–" if value is None else format(value, spec)


def esc(value) -> str:
    """Any value as HTML-escaped text."""
    return html.escape(str(value))


def markdown_html(text: str) -> str:
    """The picker's Markdown as HTML: escaped, **bold**, `code`, '- ' lists, '#' headings; nothing else."""

    def inline(line: str) -> str:
        line = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html.escape(line))
        return re.sub(r"`([^`]+)`", r"<code>\1</code>", line)

    out, items = [], []
    for line in text.splitlines() + [""]:
        stripped = line.strip()
        if stripped.startswith(("- ", "* ")):
            items.append(f"<li>{inline(stripped[2:])}</li>")
            continue
        if items:
            out.append("<ul>" + "".join(items) + "</ul>")
            items = []
        if stripped.startswith("#"):
            out.append(f"<h3>{inline(stripped.lstrip('#').strip())}</h3>")
        elif stripped:
            out.append(f"<p>{inline(stripped)}</p>")
    return "\n".join(out)


def decision_html(results: dict, decide: Callable[[dict], str] | None) -> str:
    """`decide`'s Markdown (`embedproof.pick.decision.decision_markdown`: the evidence pick under the command's
    budgets) as HTML; its error text if it fails. The picker is passed in: it builds on this package, so this
    package cannot import it.
    """
    if decide is None:
        return '<p class="note">No decision: <code>embedproof report</code> adds the evidence pick.</p>'
    try:
        return markdown_html(decide(results))
    except Exception as exc:  # noqa: BLE001 - the page still renders; the reader sees why there is no pick
        return f'<p class="error">No pick: {esc(type(exc).__name__)}: {esc(exc)}</p>'


def key_value_table(rows: list[tuple[str, object]], table_id: str) -> str:
    body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    return f'<table class="kv" id="{table_id}"><tbody>{body}</tbody></table>'


def plain_text(value) -> str:
    """A machine or settings value as a reader writes it: lists joined, dicts as 'key value' pairs."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {plain_text(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        numbers = all(isinstance(v, (int, float)) for v in value)
        return (" → " if numbers else ", ").join(plain_text(v) for v in value)
    if isinstance(value, float):
        return f"{value:.3g}"
    return "–" if value is None else str(value)


def statistics_html(results: dict, runs: list[RunResult]) -> str:
    """Settings and power of the intervals and tests, and every statistics warning; a plain note for old files."""
    if not any(quality_interval(r) for r in runs):
        return (
            f'<p class="note" id="statistics">{NO_INTERVAL}: the runs in this file carry no per-query scores '
            "(written before intervals existed, or by hand), so the numbers below are point estimates "
            "and no run is tested against another.</p>"
        )
    s = results.get("statistics") or {}
    settings = key_value_table(
        [
            ("bootstrap", f"{s.get('bootstrap', '–')}, {fmt(s.get('bootstrap_resamples'), ',')} resamples"),
            ("test", f"{s.get('test', '–')}, {fmt(s.get('permutation_resamples'), ',')} resamples"),
            ("latency intervals", s.get("latency_bootstrap", "–")),
            ("seed", s.get("seed", "–")),
            ("confidence", fmt(s.get("confidence"), ".0%")),
            ("α", s.get("alpha", "–")),
            ("multiple comparisons", s.get("correction", "–")),
            ("power for the MDD", fmt(s.get("power"), ".0%")),
        ],
        "statistics",
    )
    p = results.get("power") or {}
    mdd = p.get("median_mdd")
    power = key_value_table(
        [
            ("queries (shared by all runs)", p.get("queries", "–")),
            ("metric", p.get("metric", METRIC)),
            ("reference (best run)", p.get("reference", "–")),
            ("median minimum detectable difference", "–" if mdd is None else f"{mdd:.4f} ({100 * mdd:.2f} points)"),
        ],
        "power",
    )
    warnings = results.get("statistics_warnings") or []
    listed = (
        "<ul id='statistics-warnings'>" + "".join(f"<li>{esc(w)}</li>" for w in warnings) + "</ul>"
        if warnings
        else "<p>No statistics warnings: the query set can separate the runs compared.</p>"
    )
    return (
        f'<div class="side"><div><h3>Settings</h3>{settings}</div><div><h3>Power</h3>{power}</div></div>'
        f"<h3>Statistics warnings ({len(warnings)})</h3>{listed}"
    )


def load_html(results: dict) -> str:
    """The machine-load verdict during latency measurement, as a table."""
    load = results.get("load")
    if not load:
        return '<p id="load">Machine load was not recorded (no latency measured, or an older results file).</p>'
    verdict = {
        True: "busy: latency numbers describe the neighbours as much as the set-up",
        False: "quiet",
        None: "unknown",
    }[load.get("busy")]
    return key_value_table(
        [
            ("verdict", verdict),
            ("reason", load.get("reason") or "–"),
            ("wall time (s)", load.get("wall_s", "–")),
            ("this process's CPU time (s)", load.get("process_cpu_s", "–")),
            ("this process's CPU per wall second", load.get("process_cpu_per_wall", "–")),
            ("load average, 1 min (start → end)", plain_text(load.get("loadavg_1m"))),
            ("CPUs", load.get("cpus", "–")),
            ("CPU share used by other processes", fmt(load.get("other_cpu_share"), ".0%")),
            ("steal share (hypervisor)", fmt(load.get("steal_share"), ".0%")),
        ],
        "load",
    )


def warnings_html(results: dict, runs: list[RunResult]) -> str:
    """Every dataset and run warning, and every run whose latency is flagged, as tables."""
    rows = [("dataset", w) for w in (results.get("dataset") or {}).get("warnings") or []]
    rows += [(f"{i} {run_name(r)}", w) for i, r in enumerate(runs, 1) for w in r.get("warnings") or []]
    body = "".join(f"<tr><td>{esc(a)}</td><td>{esc(b)}</td></tr>" for a, b in rows)
    run_warnings = (
        f'<table class="list" id="run-warnings"><thead><tr><th>run</th><th>warning</th></tr></thead>'
        f"<tbody>{body}</tbody></table>"
        if rows
        else "<p>No run warnings.</p>"
    )
    # as `bench` warns: one line per run whose rounds disagree; a busy machine is said once, above (not per run)
    flagged = [
        (f"{i} {run_name(r)}", (r.get("latency") or {}).get("stability_note") or "rounds disagree")
        for i, r in enumerate(runs, 1)
        if (r.get("latency") or {}).get("stable") is False
    ]
    body = "".join(f"<tr><td>{esc(a)}</td><td>{esc(b)}</td></tr>" for a, b in flagged)
    measured = [r for r in runs if r.get("latency")]
    stability = (
        f'<table class="list" id="latency-stability"><thead><tr><th>run</th><th>why its p99 is not repeatable'
        f"</th></tr></thead><tbody>{body}</tbody></table>"
        if flagged
        else f"<p>Every measured run's latency rounds agreed ({len(measured)} runs).</p>"
    )
    return (
        f"<h3>Run warnings ({len(rows)})</h3>{run_warnings}"
        f"<h3>Latency stability ({len(flagged)} of {len(measured)} runs flagged)</h3>{stability}"
    )


def cost_html(results: dict, runs: list[RunResult]) -> str:
    """Each distinct set of cost assumptions and the runs it applies to."""
    groups: dict[str, list[str]] = {}
    for r in runs:
        if (r.get("cost") or {}).get("assumptions"):
            groups.setdefault(json.dumps(r["cost"]["assumptions"], sort_keys=True), []).append(run_name(r))
    usd = (results.get("settings") or {}).get("usd_per_gb_month", USD_PER_GB_MONTH)
    parts = [f"<p>Storage at ${esc(usd)}/GiB-month.</p>"]
    if not groups:
        parts.append("<p>No query cost: latency was not measured.</p>")
    for i, (assumptions, names) in enumerate(groups.items()):
        applies = f"all {len(names)} runs" if len(names) == len(runs) else ", ".join(names)
        rows = [(k.replace("_", " "), plain_text(v)) for k, v in json.loads(assumptions).items()]
        rows.append(("applies to", applies))
        parts.append(key_value_table(rows, f"cost-{i}"))
    return "".join(parts)


def machine_html(machine: dict) -> str:
    rows = [(k.replace("_", " "), plain_text(v)) for k, v in machine.items() if k != "libraries"]
    rows += [(f"library {name}", version) for name, version in (machine.get("libraries") or {}).items()]
    return key_value_table(rows, "machine") if rows else "<p>Machine not recorded.</p>"
