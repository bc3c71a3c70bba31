"""The report's profile figures: retention per dimension and precision, latency per stage, document lengths."""

from __future__ import annotations

from itertools import pairwise

from embedproof.evaluation.pareto import run_name
from embedproof.evaluation.report_plots import DPI, METRIC, WIDTH_IN, plain_log_ticks
from embedproof.evaluation.run_result import RunResult
from embedproof.models.remote_providers import display_name

__all__ = ["retention", "stages", "truncation"]


def retention(plt, runs: list[RunResult]):
    """Retention against dimension, one line per model and precision; None when no model was measured at 2+ dims."""
    series: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for r in runs:
        if "retention" in r and r.get("dim") and r["mode"] == "dense":
            series.setdefault((display_name(r["model"]), r["precision"]), []).append((r["dim"], r["retention"][METRIC]))
    if not any(len({dim for dim, _ in pts}) > 1 for pts in series.values()):
        return None  # native dimension only: every point would sit at 1.0 and say nothing
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 4.2), dpi=DPI)
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


def _stage_parts(online: dict) -> list[tuple[str, str, float]]:
    """(colour key, short label, p50 ms) per stage, in measured order."""
    parts = []
    for stage, summary in online.items():
        if stage == "total" or not isinstance(summary, dict) or summary.get("p50") is None:
            continue
        pieces = stage.split(":")
        detail = display_name(pieces[-1]) if len(pieces) > 1 else ""
        parts.append((pieces[0], pieces[0] + (f" {detail}" if detail else ""), float(summary["p50"])))
    return parts


def _end_label(run: RunResult, parts: list[tuple[str, str, float]], shown: set[int]) -> str:
    """'total ms (stages too narrow to carry their number)' after a bar, ⚠ when its rounds disagreed."""
    latency = run.get("latency") or {}
    total = ((latency.get("online_ms") or {}).get("total") or {}).get("p50")
    if not parts and total is None:
        return "not measured"
    hidden = [
        f"{label if sum(k == key for k, _, _ in parts) > 1 else key} {p50:.2f}"
        for i, (key, label, p50) in enumerate(parts)
        if i not in shown
    ]
    text = f"{total:.2f} ms" if total is not None else ""
    text += f" ({', '.join(hidden)})" if hidden else ""
    return text + (" ⚠" if latency.get("stable") is False else "")


def stages(plt, runs: list[RunResult], busy: str | None = None):
    """Stacked p50 per stage with each stage's number on its segment (or after the bar when it does not fit)."""
    height = 0.3 * max(len(runs), 4) + 1.4
    fig, ax = plt.subplots(figsize=(WIDTH_IN, height), dpi=DPI)
    rows = [(i, r, _stage_parts((r.get("latency") or {}).get("online_ms") or {})) for i, r in enumerate(runs, 1)]
    widest = max((sum(p for _, _, p in parts) for _, _, parts in rows), default=0.0) or 1.0
    fig.subplots_adjust(left=0.3, right=0.98)
    axes_px = ax.get_window_extent().width
    char_px = 0.6 * 6 * fig.dpi / 72
    value_px = len(f"{widest:.2f}") * char_px + 4
    # Room after the longest bar for its end label, so every number sits inside the axes.
    xmax = widest
    for _ in range(3):
        px_per_ms = axes_px / xmax
        shown = [{i for i, (_, _, p50) in enumerate(parts) if p50 * px_per_ms > value_px} for _, _, parts in rows]
        need = max(
            sum(p for _, _, p in parts) * px_per_ms + (len(_end_label(r, parts, s)) + 2) * char_px
            for (_, r, parts), s in zip(rows, shown)
        )
        xmax = xmax * max(need / axes_px, 1.0) * 1.02
    ax.set_xlim(0, xmax)
    px_per_ms = axes_px / xmax
    colours: dict[str, str] = {}
    labelled: set[str] = set()
    for row, (number, r, parts) in enumerate(rows):
        left = 0.0
        for key, _, p50 in parts:
            colour = colours.setdefault(key, f"C{len(colours)}")
            ax.barh(row, p50, left=left, color=colour, height=0.7, label=None if key in labelled else key)
            labelled.add(key)
            if p50 * px_per_ms > len(f"{p50:.2f}") * char_px + 4:
                ax.text(left + p50 / 2, row, f"{p50:.2f}", ha="center", va="center", fontsize=6, color="white")
            left += p50
        shown = {i for i, (_, _, p50) in enumerate(parts) if p50 * px_per_ms > len(f"{p50:.2f}") * char_px + 4}
        ax.text(
            left + 2 * char_px / px_per_ms,
            row,
            _end_label(r, parts, shown),
            ha="left",
            va="center",
            fontsize=6,
            color="black" if parts else "0.4",
        )
    ax.set_yticks(range(len(rows)), [f"{n}  {run_name(r)}" for n, r, _ in rows], fontsize=6.5)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlabel(
        "p50 ms per query: segments per stage; after the bar: p50 of the total (stages too narrow to label)", fontsize=7
    )
    ax.tick_params(axis="x", labelsize=7)
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(
            handles,
            labels,
            fontsize=7,
            ncol=len(handles),
            loc="upper center",
            bbox_to_anchor=(0.5, -0.6 / height),
            frameon=False,
        )
    title = "per-stage latency (one query at a time); ⚠ = rounds disagreed"
    ax.set_title(
        title + (f"\n⚠ busy machine: {busy}" if busy else ""), fontsize=8.5, color="#a04000" if busy else "black"
    )
    return fig


def truncation(plt, runs: list[RunResult]):
    """Token-length histogram per model against its window, or None when no run measured one."""
    profiles = {}
    for r in runs:
        if r.get("truncation") and r["truncation"].get("histogram"):
            profiles.setdefault(display_name(r["model"]), r["truncation"])
    if not profiles:
        return None
    fig, axes = plt.subplots(len(profiles), 1, figsize=(WIDTH_IN, 2.4 * len(profiles)), squeeze=False, dpi=DPI)
    for ax, (model, p) in zip(axes[:, 0], profiles.items()):
        edges, counts = p["histogram"]["edges"], p["histogram"]["counts"]
        widths = [b - a for a, b in pairwise(edges)]
        ax.bar(edges[:-1], counts, width=widths, align="edge", color="tab:blue", alpha=0.7)
        ax.axvline(p["window"], color="tab:red", label=f"window {p['window']}")
        ax.axvline(0.7 * p["window"], color="tab:orange", linestyle="--", label="70% of window")
        ax.set_title(f"{model}: {p['share_over_window']:.1%} of documents over the window", fontsize=9)
        # log-spaced bins (older files: linear) on a log axis: a long outlier leaves the rest readable
        ax.set_xscale("log")
        plain_log_ticks(ax)
        ax.set_xlabel("tokens per document (log scale)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
