"""`embedpick report`: one self-contained HTML page (no network needed) plus PNG files of its plots.

The page shows what a reader needs to pick: the sortable results table with frontier membership, quality
against p99 latency and against bytes per vector with the Pareto frontier drawn, retention against dimension
per precision, per-stage latency, truncation histograms, and the machine the numbers came from.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

from embedpick.atomic import write_bytes_atomic, write_text_atomic
from embedpick.errors import EmbedpickError, require
from embedpick.evaluation.evidence import annotate
from embedpick.evaluation.pareto import Point, frontier, run_name, run_p99, run_size
from embedpick.models.remote_providers import display_name

METRIC = "ndcg@10"


def _figure_png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def _scatter(plt, runs: list[dict], x_of, x_label: str, log_x: bool):
    """Quality against one cost axis; the 2-D frontier of that projection is drawn as a staircase."""
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    points = [(x_of(r), r["metrics"][METRIC], r) for r in runs if x_of(r) is not None]
    for x, y, r in points:
        on = (r.get("pareto") or {}).get("on_frontier")
        ax.scatter(x, y, s=46, marker="o" if on else "x", color="tab:blue" if on else "tab:gray", zorder=3)
        ax.annotate(run_name(r), (x, y), fontsize=6.5, xytext=(4, 3), textcoords="offset points")
    marks = frontier([Point(run_name(r), y, x, 0.0) for x, y, r in points])
    line = sorted((x, y) for x, y, r in points if marks[run_name(r)] is None)
    if line:
        xs, ys = zip(*line)
        ax.step(xs, ys, where="post", color="tab:red", linewidth=1.2, label="frontier of this view")
        ax.legend(fontsize=7, loc="lower right")
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(x_label)
    ax.set_ylabel(METRIC)
    ax.grid(alpha=0.3)
    ax.set_title(f"{METRIC} vs {x_label} (o: on the 3-axis frontier, x: dominated)", fontsize=9)
    return fig


def _retention(plt, runs: list[dict]):
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    series: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for r in runs:
        if "retention" in r and r.get("dim") and r["mode"] == "dense":
            series.setdefault((display_name(r["model"]), r["precision"]), []).append((r["dim"], r["retention"][METRIC]))
    for (model, precision), pts in sorted(series.items()):
        xs, ys = zip(*sorted(pts))
        ax.plot(xs, ys, marker="o", label=f"{model} {precision}")
    ax.set_xlabel("dimension")
    ax.set_ylabel(f"retention of {METRIC}")
    ax.grid(alpha=0.3)
    if series:
        ax.legend(fontsize=7)
    ax.set_title("retention vs dimension per precision", fontsize=9)
    return fig


def _stages(plt, runs: list[dict]):
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * max(len(runs), 4) + 1.2))
    names, labelled = [], set()
    colours = {}
    for row, r in enumerate(runs):
        online = (r.get("latency") or {}).get("online_ms", {})
        left = 0.0
        for stage, summary in online.items():
            if stage == "total" or summary.get("p50") is None:
                continue
            key = stage.split(":")[0]
            colour = colours.setdefault(key, f"C{len(colours)}")
            ax.barh(row, summary["p50"], left=left, color=colour, label=None if key in labelled else key)
            labelled.add(key)
            left += summary["p50"]
        names.append(run_name(r))
    ax.set_yticks(range(len(names)), names, fontsize=6.5)
    ax.invert_yaxis()
    ax.set_xlabel("p50 milliseconds per query, by stage")
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, fontsize=7)
    ax.set_title("per-stage latency (one query at a time)", fontsize=9)
    return fig


def _truncation(plt, runs: list[dict]):
    profiles = {}
    for r in runs:
        if r.get("truncation") and r["truncation"].get("histogram"):
            profiles.setdefault(display_name(r["model"]), r["truncation"])
    if not profiles:
        return None
    fig, axes = plt.subplots(len(profiles), 1, figsize=(7.5, 2.4 * len(profiles)), squeeze=False)
    for ax, (model, p) in zip(axes[:, 0], profiles.items()):
        edges, counts = p["histogram"]["edges"], p["histogram"]["counts"]
        ax.bar(edges[:-1], counts, width=[b - a for a, b in zip(edges[:-1], edges[1:])], align="edge", color="tab:blue", alpha=0.7)
        ax.axvline(p["window"], color="tab:red", label=f"window {p['window']}")
        ax.axvline(0.7 * p["window"], color="tab:orange", linestyle="--", label="70% of window")
        ax.set_title(f"{model}: {p['share_over_window']:.1%} of documents over the window", fontsize=9)
        ax.set_xlabel("tokens per document")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _fmt(value, spec: str = ".4f") -> str:
    return "–" if value is None else format(value, spec)


def _table(runs: list[dict]) -> str:
    head = ["run", "mode", "dim", "precision", "nDCG@10", "MRR@10", "R@100", "retention", "bytes", "p50 ms", "p99 ms", "q/s (batch)",
            "$ / 1M queries", "storage $/mo per 1M", "frontier"]
    rows = []
    for r in runs:
        lat = r.get("latency") or {}
        total = lat.get("online_ms", {}).get("total", {})
        pareto = r.get("pareto")
        front = "–" if pareto is None else ("on" if pareto["on_frontier"] else f"dominated by {pareto['dominated_by']}")
        cells = [run_name(r), r["mode"], r.get("dim") or "–", r.get("precision", "–"), _fmt(r["metrics"][METRIC]), _fmt(r["metrics"]["mrr@10"]),
                 _fmt(r["metrics"]["recall@100"]), _fmt((r.get("retention") or {}).get(METRIC), ".1%"), _fmt(run_size(r), ",.0f"),
                 _fmt(total.get("p50"), ".2f"), _fmt(total.get("p99"), ".2f"), _fmt(lat.get("batch", {}).get("queries_per_s"), ",.0f"),
                 _fmt((r.get("cost") or {}).get("usd_per_1m_queries"), ".4f"), _fmt(r.get("storage_usd_month_per_1m"), ".4f"), front]
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    header = "".join(f'<th onclick="sortTable({i})">{html.escape(h)}</th>' for i, h in enumerate(head))
    return f'<table id="results"><thead><tr>{header}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


SCRIPT = """
function sortTable(col) {
  const table = document.getElementById('results'), body = table.tBodies[0];
  const rows = Array.from(body.rows), asc = table.dataset.col == col && table.dataset.dir != 'asc';
  const key = r => { const t = r.cells[col].innerText.replace(/[,%$]/g, ''); const n = parseFloat(t); return isNaN(n) ? t : n; };
  rows.sort((a, b) => { const x = key(a), y = key(b); return (x > y ? 1 : x < y ? -1 : 0) * (asc ? 1 : -1); });
  rows.forEach(r => body.appendChild(r)); table.dataset.col = col; table.dataset.dir = asc ? 'asc' : 'desc';
}
// how many plots decoded: lets a headless browser check the page rendered (data-loaded-images on <body>)
window.addEventListener('load', () => {
  document.body.dataset.loadedImages = Array.from(document.images).filter(i => i.complete && i.naturalWidth > 0).length;
});
"""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; }
table { border-collapse: collapse; font-size: 12px; margin: 12px 0; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; }
th { background: #f0f0f0; cursor: pointer; } td:first-child, td:nth-child(2) { text-align: left; }
img { max-width: 100%; border: 1px solid #eee; margin: 8px 0; } .plots { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
code, pre { background: #f6f6f6; padding: 2px 4px; font-size: 12px; }
"""


def write_report(results_path: str | Path, output: str | Path) -> dict:
    """Render `results.json` into `output` (HTML) and `<output stem>_plots/*.png`; returns the files written."""
    from embedpick.evaluation.results_file import load_results

    path = Path(results_path)
    results = load_results(path)  # a truncated or foreign file is a DatasetError naming it and the field
    runs = results["runs"]
    if not runs:
        raise EmbedpickError(f"{path}: has no runs to report")
    matplotlib = require("matplotlib", "report")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    annotate(results)
    output = Path(output)
    plot_dir = output.with_name(output.stem + "_plots")
    plot_dir.mkdir(parents=True, exist_ok=True)
    figures = {
        "quality_vs_p99": _scatter(plt, runs, run_p99, "p99 latency per query (ms)", log_x=True),
        "quality_vs_bytes": _scatter(plt, runs, run_size, "bytes per vector (per passage for recipes)", log_x=True),
        "retention_vs_dim": _retention(plt, runs),
        "stage_latency": _stages(plt, runs),
        "truncation": _truncation(plt, runs),
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
    img = lambda n: f'<img alt="{n}" id="plot-{n}" src="data:image/png;base64,{images[n]}">' if n in images else ""  # noqa: E731
    cost = next((r["cost"]["assumptions"] for r in runs if r.get("cost")), None)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>embedpick report: {html.escape(str(dataset.get('name', '')))}</title>
<style>{STYLE}</style><script>{SCRIPT}</script></head><body>
<h1>embedpick report: {html.escape(str(dataset.get('name', '')))}</h1>
<p>{dataset.get('documents', '?'):,} documents, {dataset.get('judged_queries', '?')} judged queries (split {html.escape(str(dataset.get('split')))}),
created {html.escape(str(results.get('created', '')))}. Quality is {METRIC}; latency is per query, one at a time after warm-up
(query encoding + search + fusion + rerank); the frontier is over ({METRIC} ↑, p99 ↓, bytes ↓). Click a column to sort.</p>
{_table(runs)}
<p>Cost assumptions: {html.escape(json.dumps(cost)) if cost else 'no latency measured'}; storage at ${results.get('settings', {}).get('usd_per_gb_month', 3.8)}/GiB-month.</p>
<div class="plots">{img('quality_vs_p99')}{img('quality_vs_bytes')}{img('retention_vs_dim')}{img('stage_latency')}</div>
{img('truncation')}
<h2>Machine</h2><pre id="machine">{html.escape(json.dumps(results.get('machine', {}), indent=2))}</pre>
</body></html>"""
    write_text_atomic(output, page)
    return {"html": str(output), "plots": sorted(str(p) for p in plot_dir.glob("*.png"))}
