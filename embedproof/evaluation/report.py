"""`embedproof report`: one self-contained HTML page (no network needed) plus PNG files of its plots.

The page leads with the decision and how sure it is: the evidence pick, the statistics behind it (settings,
power, warnings) and whether the machine was quiet. Then the sortable results table with every number's
interval, the test against the best run and frontier membership; quality against p99 and against bytes with
error bars and tied runs marked; retention per precision; per-stage latency; truncation; cost assumptions and
the machine. Files written before intervals existed still render, showing "no interval".
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable
from pathlib import Path

from embedproof.errors import EmbedproofError, require
from embedproof.evaluation import report_plots as plots
from embedproof.evaluation import report_profiles as profiles
from embedproof.evaluation.evidence import annotate, p99_interval, tie_status
from embedproof.evaluation.pareto import run_name, run_p99, run_size
from embedproof.evaluation.report_plots import METRIC, quality_interval
from embedproof.evaluation.report_sections import (
    cost_html,
    decision_html,
    esc,
    fmt,
    load_html,
    machine_html,
    statistics_html,
    warnings_html,
)
from embedproof.evaluation.run_result import NO_INTERVAL, RunResult
from embedproof.files import write_bytes_atomic, write_text_atomic


def _figure_png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=plots.DPI, bbox_inches="tight")
    return buffer.getvalue()


def _with_interval(value: float | None, interval: list[float] | None, spec: str, bound_spec: str) -> str:
    """'0.6451 [0.612, 0.678]', or the value and 'no interval' where the file carries none."""
    if value is None:
        return "–"
    if not interval:
        return f"{format(value, spec)} ({NO_INTERVAL})"
    return f"{format(value, spec)} [{format(interval[0], bound_spec)}, {format(interval[1], bound_spec)}]"


def _p_text(p: float | None) -> str:
    return "–" if p is None else "< 0.001" if p < 0.001 else f"{p:.3f}"


def vs_best_text(run: RunResult) -> str:
    """'best', 'tied Δ … [CI] p …', 'Δ … [CI] p …' (Holm-adjusted p), or 'no interval'."""
    vs = run.get("vs_best")
    status = tie_status(run)
    if status == "unknown":
        return NO_INTERVAL
    if status == "best":
        return "best"
    ci = vs.get("ci") or [None, None]
    bounds = f" [{fmt(ci[0], '+.3f')}, {fmt(ci[1], '+.3f')}]" if ci[0] is not None else ""
    text = f"Δ {fmt(vs.get('diff'), '+.4f')}{bounds} p {_p_text(vs.get('p_holm', vs.get('p_value')))}"
    return f"tied {text}" if status == "tied" else text


def _latency_flag(run: RunResult) -> str | None:
    """Why this run's latency is not to be taken as fact (unstable rounds, busy machine), or None."""
    latency = run.get("latency") or {}
    notes = []
    if latency.get("stable") is False:
        notes.append(latency.get("stability_note") or "rounds disagree")
    if latency.get("busy"):
        notes.append(f"busy machine: {latency['busy']}")
    return "; ".join(notes) or None


HEAD = [
    "#",
    "run",
    "mode",
    "dim",
    "precision",
    "nDCG@10 [95% CI]",
    "vs best: Δ nDCG@10 [95% CI] Holm p",
    "MRR@10",
    "R@100",
    "retention",
    "bytes",
    "p50 ms",
    "p99 ms [95% CI]",
    "q/s (batch)",
    "$ / 1M queries",
    "storage $/mo per 1M",
    "frontier",
]


def _cell(text: str, key=None, title: str | None = None, interval: bool = False) -> str:
    """One table cell; with `interval`, the bracketed part goes on its own small line (the text stays one string)."""
    attrs = (f' data-key="{esc(key)}"' if key is not None else "") + (f' title="{esc(title)}"' if title else "")
    body = esc(text)
    if interval:
        body = re.sub(r" ([\[(].*)$", r' <span class="ci">\1</span>', body)
    return f"<td{attrs}>{body}</td>"


def results_table(runs: list[RunResult]) -> str:
    """The sortable table: one row per run, numbered as the plots number their points."""
    numbers = {run_name(r): i for i, r in enumerate(runs, 1)}
    rows = []
    for number, r in enumerate(runs, 1):
        lat = r.get("latency") or {}
        total = (lat.get("online_ms") or {}).get("total") or {}
        pareto = r.get("pareto")
        front = (
            "–"
            if pareto is None
            else "on"
            if pareto["on_frontier"]
            else (f"dominated by #{numbers.get(pareto['dominated_by'], '?')} {pareto['dominated_by']}")
        )
        status = tie_status(r)
        vs = r.get("vs_best") or {}
        flag = _latency_flag(r)
        p99 = _with_interval(total.get("p99"), p99_interval(r), ".2f", ".1f") + (" ⚠" if flag else "")
        cells = [
            _cell(str(number), number),
            _cell(run_name(r)),
            _cell(r["mode"]),
            _cell(str(r.get("dim") or "–")),
            _cell(r.get("precision", "–")),
            _cell(
                _with_interval(r["metrics"][METRIC], quality_interval(r), ".4f", ".3f"),
                r["metrics"][METRIC],
                interval=True,
            ),
            _cell(vs_best_text(r), 0.0 if status == "best" else vs.get("diff"), vs.get("note"), interval=True),
            _cell(fmt(r["metrics"].get("mrr@10"))),
            _cell(fmt(r["metrics"].get("recall@100"))),
            _cell(fmt((r.get("retention") or {}).get(METRIC), ".1%")),
            _cell(fmt(run_size(r), ",.0f"), run_size(r)),
            _cell(fmt(total.get("p50"), ".2f")),
            _cell(p99, total.get("p99"), flag, interval=True),
            _cell(fmt((lat.get("batch") or {}).get("queries_per_s"), ",.0f")),
            _cell(fmt((r.get("cost") or {}).get("usd_per_1m_queries"), ".4f")),
            _cell(fmt(r.get("storage_usd_month_per_1m"), ".4f")),
            _cell(front),
        ]
        rows.append(f'<tr class="run {status}">' + "".join(cells) + "</tr>")
    header = "".join(f'<th onclick="sortTable({i})">{esc(h)}</th>' for i, h in enumerate(HEAD))
    return (
        f'<div class="scroll"><table id="results"><thead><tr>{header}</tr></thead><tbody>{"".join(rows)}'
        "</tbody></table></div>"
    )


SCRIPT = """
function sortTable(col) {
  const table = document.getElementById('results'), body = table.tBodies[0];
  const rows = Array.from(body.rows), asc = table.dataset.col == col && table.dataset.dir != 'asc';
  const key = r => { const c = r.cells[col]; const t = (c.dataset.key ?? c.innerText).replace(/[,%$]/g, '');
                     const n = parseFloat(t); return isNaN(n) ? t : n; };
  rows.sort((a, b) => { const x = key(a), y = key(b); return (x > y ? 1 : x < y ? -1 : 0) * (asc ? 1 : -1); });
  rows.forEach(r => body.appendChild(r)); table.dataset.col = col; table.dataset.dir = asc ? 'asc' : 'desc';
}
// how many plots decoded: lets a headless browser check the page rendered (data-loaded-images on <body>)
window.addEventListener('load', () => {
  document.body.dataset.loadedImages = Array.from(document.images).filter(i => i.complete && i.naturalWidth > 0).length;
});
"""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1600px; }
table { border-collapse: collapse; font-size: 12px; margin: 8px 0; } #results { font-size: 11.5px; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; }
#results th { background: #f0f0f0; cursor: pointer; position: sticky; top: 0; }
#results td { white-space: nowrap; } #results th { min-width: 2em; }
#results td:nth-child(2), #results td:last-child { white-space: normal; min-width: 12em; text-align: left; }
#results td:nth-child(3), #results td:nth-child(7) { text-align: left; }
tr.best td { background: #fdecea; } tr.tied td { background: #e9f7ef; }
tr.best td:nth-child(2)::before { content: "★ "; color: #c0392b; }
tr.tied td:nth-child(2)::before { content: "◆ "; color: #1e8449; }
table.kv th { background: #f6f6f6; text-align: left; font-weight: 600; }
table.kv td, table.list td { text-align: left; }
table.list th { background: #f0f0f0; text-align: left; }
.ci { display: block; color: #666; font-size: 10.5px; } .scroll { overflow-x: auto; } \
.side { display: flex; gap: 32px; flex-wrap: wrap; }
.decision { border-left: 4px solid #c0392b; padding: 4px 16px; background: #fbfbfb; }
.busy { border: 1px solid #e59866; background: #fdf2e9; padding: 8px 12px; }
.error { color: #a93226; } .note { color: #555; }
img { max-width: 100%; border: 1px solid #eee; margin: 8px 0; }
.plots { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
code, pre { background: #f1f1f1; padding: 1px 4px; font-size: 12px; }
"""


def write_report(results_path: str | Path, output: str | Path, decide: Callable[[dict], str] | None = None) -> dict:
    """Render `results.json` into `output` (HTML) and `<output stem>_plots/*.png`; returns the files written.

    `decide(results)` writes the Decision section in Markdown (`embedproof.pick.decision.decision_markdown`).
    """
    from embedproof.evaluation.results_file import load_results

    path = Path(results_path)
    results = load_results(path)  # a truncated or foreign file is a DatasetError naming it and the field
    runs = results["runs"]
    if not runs:
        raise EmbedproofError(f"{path}: has no runs to report")
    matplotlib = require("matplotlib", "report")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    annotate(results)
    load = results.get("load") or {}
    busy = load.get("reason") if load.get("busy") else None
    output = Path(output)
    plot_dir = output.with_name(output.stem + "_plots")
    plot_dir.mkdir(parents=True, exist_ok=True)
    figures = {
        "quality_vs_p99": plots.scatter(plt, runs, run_p99, "p99 latency per query (ms)", p99_interval, busy),
        "quality_vs_bytes": plots.scatter(plt, runs, run_size, "bytes per vector (per passage for recipes)"),
        "retention_vs_dim": profiles.retention(plt, runs),
        "stage_latency": profiles.stages(plt, runs, busy),
        "truncation": profiles.truncation(plt, runs),
    }
    images = {}
    for name, fig in figures.items():
        if fig is None:
            continue
        png = _figure_png(fig)
        plt.close(fig)
        write_bytes_atomic(plot_dir / f"{name}.png", png)
        images[name] = base64.b64encode(png).decode("ascii")
    dataset = results.get("dataset", {})

    def img(n: str) -> str:
        return f'<img alt="{n}" id="plot-{n}" src="data:image/png;base64,{images[n]}">' if n in images else ""

    name = esc(dataset.get("name", ""))
    documents = dataset.get("documents")
    documents = f"{documents:,}" if isinstance(documents, int) else "?"
    banner = (
        f'<p class="busy" id="busy">⚠ Latency was measured on a busy machine: {esc(busy)}. Re-run '
        "<code>bench</code> on a quiet one before trusting p99.</p>"
        if busy
        else ""
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>embedproof report: {name}</title>
<style>{STYLE}</style><script>{SCRIPT}</script></head><body>
<h1>embedproof report: {name}</h1>
<p>{documents} documents, {esc(dataset.get("judged_queries", "?"))} judged
queries (split {esc(dataset.get("split"))}), created {esc(results.get("created", ""))}. Quality is {METRIC};
latency is per query, one at a time after warm-up (query encoding + search + fusion + rerank); \
the frontier is over ({METRIC} ↑,
p99 ↓, bytes ↓), each axis beyond its noise.</p>
{banner}
<h2 id="decision">Decision</h2>
<div class="decision">{decision_html(results, decide)}</div>
<h2>How sure: intervals and tests</h2>
{statistics_html(results, runs)}
<h2>Results</h2>
<p>★ best {METRIC}; ◆ tied with the best (not significantly worse, paired test over queries, Holm-corrected);
⚠ latency not repeatable (hover for why). Intervals are 95%. Click a column to sort. The # numbers the points in the
plots.</p>
{results_table(runs)}
<div class="plots">{img("quality_vs_p99")}{img("quality_vs_bytes")}{img("stage_latency")}{img("retention_vs_dim")}</div>
{img("truncation")}
<h2>Warnings and latency repeatability</h2>
<h3>Machine load during latency measurement</h3>
{load_html(results)}
{warnings_html(results, runs)}
<h2>Cost assumptions</h2>
{cost_html(results, runs)}
<h2>Machine</h2>
{machine_html(results.get("machine") or {})}
</body></html>"""
    write_text_atomic(output, page)
    return {"html": str(output), "plots": sorted(str(p) for p in plot_dir.glob("*.png"))}
