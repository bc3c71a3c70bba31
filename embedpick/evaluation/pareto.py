"""The quality / tail latency / storage Pareto frontier over bench runs.

A run is dominated when another is at least as good on every axis (nDCG@10 higher or equal, p99 latency and
bytes per vector lower or equal) and strictly better on one. Dominated runs name the best run that dominates them.
"""

from __future__ import annotations

from dataclasses import dataclass

from embedpick.models.remote_providers import display_name


@dataclass(frozen=True)
class Point:
    name: str
    quality: float  # higher is better
    p99_ms: float  # lower is better
    bytes_per_vector: float  # lower is better


def dominates(a: Point, b: Point) -> bool:
    no_worse = a.quality >= b.quality and a.p99_ms <= b.p99_ms and a.bytes_per_vector <= b.bytes_per_vector
    better = a.quality > b.quality or a.p99_ms < b.p99_ms or a.bytes_per_vector < b.bytes_per_vector
    return no_worse and better


def frontier(points: list[Point]) -> dict[str, str | None]:
    """For each point: None if it is on the frontier, else the name of the highest-quality point dominating it."""
    result: dict[str, str | None] = {}
    for p in points:
        dominators = [q for q in points if q is not p and dominates(q, p)]
        result[p.name] = max(dominators, key=lambda q: (q.quality, -q.p99_ms, -q.bytes_per_vector)).name if dominators else None
    return result


def run_name(run: dict) -> str:
    """A readable, unique-enough identity for a results.json run."""
    model = display_name(run["model"]) if "recipe" not in run else run["mode"]
    if "recipe" in run:
        return model
    dim = f" d{run['dim']}" if run.get("dim") else ""
    return f"{model} {run['mode']}{dim} {run['precision']}"


def run_p99(run: dict) -> float | None:
    """A results.json run's total online p99 in ms (None when latency was not measured)."""
    return (run.get("latency") or {}).get("online_ms", {}).get("total", {}).get("p99")


def run_size(run: dict) -> float | None:
    """Bytes per vector, or per passage for recipes (whose index may hold several representations)."""
    return run.get("bytes_per_vector", run.get("bytes_per_passage"))


def mark_frontier(runs: list[dict], metric: str = "ndcg@10") -> None:
    """Add `pareto: {on_frontier, dominated_by}` to every run that has quality, p99 and bytes."""
    points = []
    for run in runs:
        p99, size = run_p99(run), run_size(run)
        if p99 is None or size is None:
            continue
        points.append(Point(run_name(run), run["metrics"][metric], p99, size))
    marks = frontier(points)
    for run in runs:
        name = run_name(run)
        if name in marks:
            run["pareto"] = {"axes": [metric, "p99_ms", "bytes"], "on_frontier": marks[name] is None, "dominated_by": marks[name]}
