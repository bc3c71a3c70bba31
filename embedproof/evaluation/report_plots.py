"""The report's quality-against-cost figures, with error bars and tie marks (`report_profiles`: the others).

Points carry numbers, not names: runs of one model cluster (dimension and precision barely move quality or
latency), and thirty names in a cluster are unreadable. A key under each plot maps numbers to runs, with the
same numbers as the table's "#" column, and a greedy placement keeps the numbers off each other.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from embedproof.evaluation.evidence import tie_status
from embedproof.evaluation.pareto import Point, frontier, run_name
from embedproof.evaluation.run_result import RunResult

__all__ = ["DPI", "METRIC", "WIDTH_IN", "plain_log_ticks", "quality_interval", "scatter"]

METRIC = "ndcg@10"
DPI = 110
WIDTH_IN = 7.5
# status -> (marker, colour, legend text); "unknown" is a run without per-query scores (no test against the best)
STATUS_STYLE = {
    "best": ("*", "#c0392b", "best nDCG@10"),
    "tied": ("D", "#1e8449", "tied with best (not significantly worse)"),
    "worse": ("o", "#2e6fb7", "significantly worse than best"),
    "unknown": ("s", "#7f8c8d", "no interval (no per-query scores)"),
}
STATUS_SYMBOL = {"best": "★", "tied": "◆", "worse": "●", "unknown": "■"}


def quality_interval(run: RunResult, metric: str = METRIC) -> list[float] | None:
    interval = (run.get("intervals") or {}).get(metric)
    return interval if isinstance(interval, (list, tuple)) and len(interval) == 2 else None


def _limits(values: list[float], log: bool, margin: float = 0.1) -> tuple[float, float]:
    """Axis limits holding every value (points and bar ends) with a margin, so nothing touches the frame."""
    if log:
        values = [v for v in values if v > 0]
        lo, hi = math.log10(min(values)), math.log10(max(values))
        pad = max(hi - lo, 0.2) * margin
        return 10 ** (lo - pad), 10 ** (hi + pad)
    lo, hi = min(values), max(values)
    pad = max(hi - lo, 0.02) * margin
    return lo - pad, hi + pad


def _compact(numbers: list[int]) -> str:
    """'3,4,5,9' -> '3–5,9': a merged label stays short."""
    numbers, parts, start = sorted(numbers), [], None
    for i, n in enumerate(numbers):
        start = n if start is None else start
        if i + 1 == len(numbers) or numbers[i + 1] != n + 1:
            parts.append(str(n) if n == start else f"{start}{'–' if n > start + 1 else ','}{n}")
            start = None
    return ",".join(parts)


def _overlaps(a: tuple, b: tuple) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place_numbers(ax, points: list[tuple[float, float, int]], fontsize: float = 7.5) -> list[tuple[str, tuple]]:
    """Label each point with its number at the first nearby spot that hits no other label, marker or frame.

    Points closer than a marker merge into one label ("3–5"). Crowded points are placed first, so they get the
    near spots; labels pushed further out get a thin leader line. Returns (text, box in pixels) per label.
    """
    fig = ax.figure
    scale = fig.dpi / 72
    frame = ax.get_window_extent()
    pixels = [tuple(ax.transData.transform((x, y))) for x, y, _ in points]
    groups: list[tuple[tuple, tuple, list[int]]] = []  # (pixel, data point, numbers)
    for (x, y, number), p in zip(points, pixels):
        near = next((g for g in groups if math.dist(g[0], p) < 4 * scale), None)
        if near:
            near[2].append(number)
        else:
            groups.append((p, (x, y), [number]))
    groups.sort(key=lambda g: -sum(math.dist(g[0], o) < 40 * scale for o in pixels))
    marker = 3.5 * scale
    taken = [(p[0] - marker, p[1] - marker, p[0] + marker, p[1] + marker) for p in pixels]
    from matplotlib.font_manager import FontProperties

    renderer, font = fig.canvas.get_renderer(), FontProperties(size=fontsize)
    pad = 1.0 * scale  # a point of air around each label: touching labels read as one ("2" and "3" as "23")
    angles = [45, 135, -45, -135, 0, 180, 90, -90, 20, 160, -20, -160]
    placed = []
    for p, xy, numbers in groups:
        text = _compact(numbers)
        # the label's size as the renderer draws it (not a per-character estimate), so boxes that miss really miss
        w, h, _ = renderer.get_text_width_height_descent(text, font, ismath=False)
        w, h = w + 2 * pad, h + 2 * pad
        choice = None
        for radius in (5, 10, 16, 24, 34, 46, 60, 80, 105):
            for angle in angles:
                dx, dy = radius * math.cos(math.radians(angle)), radius * math.sin(math.radians(angle))
                ha = "left" if dx > 1 else "right" if dx < -1 else "center"
                va = "bottom" if dy > 1 else "top" if dy < -1 else "center"
                x0 = p[0] + dx * scale - {"left": 0, "right": w, "center": w / 2}[ha]
                y0 = p[1] + dy * scale - {"bottom": 0, "top": h, "center": h / 2}[va]
                box = (x0, y0, x0 + w, y0 + h)
                inside = frame.x0 <= box[0] and box[2] <= frame.x1 and frame.y0 <= box[1] and box[3] <= frame.y1
                if inside and not any(_overlaps(box, t) for t in taken):
                    choice = (radius, dx, dy, ha, va, box)
                    break
            if choice:
                break
        if choice is None:  # nowhere free: nearest spot up-right, overlapping rather than lost
            x0, y0 = p[0] + 5 * scale, p[1] + 5 * scale
            choice = (5, 5 * 0.7, 5 * 0.7, "left", "bottom", (x0, y0, x0 + w, y0 + h))
        radius, dx, dy, ha, va, box = choice
        leader = {"arrowstyle": "-", "color": "0.45", "lw": 0.5, "shrinkA": 0, "shrinkB": 2} if radius > 10 else None
        ax.annotate(
            text,
            xy,
            xytext=(dx, dy),
            textcoords="offset points",
            ha=ha,
            va=va,
            fontsize=fontsize,
            arrowprops=leader,
            zorder=5,
        )
        taken.append(box)
        placed.append((text, box))
    return placed


LEGEND_IN, KEY_ROW_IN = 0.6, 0.17


def _key_layout(entries: list[str]) -> tuple[int, int]:
    """(columns, rows) of the number key: as many columns as the longest entry allows across the figure."""
    longest = max((len(e) for e in entries), default=10) + 4
    columns = max(1, min(4, int(108 / longest)))
    return columns, math.ceil(len(entries) / columns)


def _figure_with_key(plt, plot_height: float, rows: int):
    """A figure with the plot on top and, below it, room for the legend and `rows` lines of number key."""
    key_h = LEGEND_IN + KEY_ROW_IN * rows + 0.05
    height = plot_height + key_h + 0.45
    fig = plt.figure(figsize=(WIDTH_IN, height), dpi=DPI)
    ax = fig.add_axes((0.1, (key_h + 0.45) / height, 0.86, (plot_height - 0.35) / height))
    key = fig.add_axes((0.02, 0.0, 0.96, key_h / height))
    key.set_axis_off()
    return fig, ax, key


def _draw_key(key, entries: list[tuple[int, str, str]], legend_handles: list) -> None:
    """Legend on top, then 'number symbol run' entries in columns, coloured by tie status."""
    key.legend(handles=legend_handles, loc="upper center", ncol=3, fontsize=7, frameon=False, handlelength=1.2)
    texts = [f"{n:>2} {STATUS_SYMBOL[status]} {name}" for n, name, status in entries]
    columns, rows = _key_layout(texts)
    height = LEGEND_IN + KEY_ROW_IN * rows + 0.05
    for i, (text, (_, _, status)) in enumerate(zip(texts, entries)):
        column, row = divmod(i, rows)
        y = 1 - (LEGEND_IN + KEY_ROW_IN * (row + 0.5)) / height
        key.text(
            column / columns,
            y,
            text,
            fontsize=7.2,
            color=STATUS_STYLE[status][1],
            va="center",
            ha="left",
            transform=key.transAxes,
        )


def plain_log_ticks(ax) -> None:
    """Log-axis ticks as plain numbers ('3', '40', '1000'); 2 and 5 between decades when under two decades show."""
    from matplotlib.ticker import FuncFormatter

    lo, hi = ax.get_xlim()
    few = math.log10(hi / lo) < 2

    def minor(value: float, _pos) -> str:
        mantissa = round(value / 10 ** math.floor(math.log10(value) + 1e-9), 6)
        return f"{value:g}" if few and mantissa in (2.0, 5.0) else ""

    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
    ax.xaxis.set_minor_formatter(FuncFormatter(minor))
    ax.tick_params(axis="x", which="minor", labelsize=6.5)


def scatter(
    plt,
    runs: list[RunResult],
    x_of: Callable[[dict], float | None],
    x_label: str,
    x_interval=None,
    busy: str | None = None,
):
    """Quality against one cost axis with interval bars, tie marks and the 2-D frontier of this projection."""
    from matplotlib.lines import Line2D

    numbered = [(i, r) for i, r in enumerate(runs, 1) if x_of(r) is not None]
    entries = [(n, run_name(r), tie_status(r)) for n, r in numbered]
    fig, ax, key = _figure_with_key(plt, 4.4, _key_layout([f"{n:>2} * {name}" for n, name, _ in entries])[1])
    xs_all, ys_all, labels = [], [], []
    for number, r in numbered:
        x, y = x_of(r), r["metrics"][METRIC]
        status = tie_status(r)
        marker, colour, _ = STATUS_STYLE[status]
        on = (r.get("pareto") or {}).get("on_frontier")
        y_ci, x_ci = quality_interval(r), x_interval(r) if x_interval else None
        if y_ci or x_ci:
            yerr = [[max(y - y_ci[0], 0)], [max(y_ci[1] - y, 0)]] if y_ci else None
            xerr = [[max(x - x_ci[0], 0)], [max(x_ci[1] - x, 0)]] if x_ci else None
            ax.errorbar(
                [x],
                [y],
                yerr=yerr,
                xerr=xerr,
                fmt="none",
                ecolor=colour,
                alpha=0.45,
                elinewidth=0.9,
                capsize=2,
                zorder=2,
            )
        size, z = (170, 6) if status == "best" else (42, 4)
        ax.scatter(
            [x],
            [y],
            s=size,
            marker=marker,
            zorder=z,
            linewidths=1.1,
            edgecolors=colour,
            facecolors=colour if on else "white",
        )
        xs_all += [x, *(x_ci or [])]
        ys_all += [y, *(y_ci or [])]
        labels.append((x, y, number))
    points = [(x_of(r), r["metrics"][METRIC], r) for _, r in numbered]
    marks = frontier([Point(run_name(r), y, x, 0.0) for x, y, r in points])
    line = sorted((x, y) for x, y, r in points if marks[run_name(r)] is None)
    if line:
        xs, ys = zip(*line)
        ax.step(xs, ys, where="post", color="#d68910", linewidth=1.0, linestyle="--", zorder=1)
    ax.set_xscale("log")
    if xs_all:
        ax.set_xlim(*_limits(xs_all, log=True))
        ax.set_ylim(*_limits(ys_all, log=False))
    plain_log_ticks(ax)
    ax.set_xlabel(x_label, fontsize=8)
    ax.set_ylabel(f"{METRIC} (bars: 95% interval)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3, which="both")
    title = f"{METRIC} vs {x_label}"
    ax.set_title(
        title + (f"\n⚠ latency measured on a busy machine: {busy}" if busy else ""),
        fontsize=8.5,
        color="#a04000" if busy else "black",
    )
    place_numbers(ax, labels)
    shown = [s for s in STATUS_STYLE if any(tie_status(r) == s for _, r in numbered)]
    handles = [
        Line2D(
            [],
            [],
            marker=STATUS_STYLE[s][0],
            color=STATUS_STYLE[s][1],
            linestyle="",
            markersize=7 if s == "best" else 5,
            label=STATUS_STYLE[s][2],
        )
        for s in shown
    ]
    handles += [
        Line2D(
            [],
            [],
            marker="o",
            color="0.3",
            markerfacecolor="0.3",
            linestyle="",
            markersize=5,
            label="filled: on the 3-axis frontier",
        ),
        Line2D(
            [],
            [],
            marker="o",
            color="0.3",
            markerfacecolor="white",
            linestyle="",
            markersize=5,
            label="hollow: dominated",
        ),
        Line2D([], [], color="#d68910", linestyle="--", label="frontier of this view"),
    ]
    _draw_key(key, entries, handles)
    return fig
