"""The quality / tail latency / storage Pareto frontier over bench runs.

A run is dominated when another run is better beyond the noise on one axis (nDCG@10 ↑, p99 latency ↓, bytes per
vector ↓) and not worse beyond the noise on any other: a difference the measurement cannot tell from chance
decides nothing. Dominated runs name the best run that dominates them. evidence.py supplies the noise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from embedproof.evaluation.run_result import RunResult, legacy_name


@dataclass(frozen=True)
class Point:
    name: str
    quality: float  # higher is better
    p99_ms: float  # lower is better
    bytes_per_vector: float  # lower is better
    p99_ci: tuple[float, float] | None = None  # the p99's interval, when it was measured with one


QualityCompare = Callable[[str, str], int]  # +1: first better beyond the noise, -1: worse, 0: tied


def _latency_sign(a: Point, b: Point) -> int:
    """+1 when a's p99 is lower beyond the noise (intervals apart), −1 when higher, 0 when the intervals overlap."""
    if a.p99_ci is None or b.p99_ci is None:
        return (a.p99_ms < b.p99_ms) - (a.p99_ms > b.p99_ms)
    return 1 if a.p99_ci[1] < b.p99_ci[0] else -1 if a.p99_ci[0] > b.p99_ci[1] else 0


def dominates(a: Point, b: Point, quality: QualityCompare | None = None) -> bool:
    """a is better than b beyond the noise on one axis and not worse beyond the noise on any other.

    Bytes are exact; p99 uses the intervals when both points have one; quality uses `quality(a, b)` (a paired test
    over queries) when given, else the point estimates.
    """
    signs = [
        quality(a.name, b.name) if quality else (a.quality > b.quality) - (a.quality < b.quality),
        _latency_sign(a, b),
        (a.bytes_per_vector < b.bytes_per_vector) - (a.bytes_per_vector > b.bytes_per_vector),
    ]
    return min(signs) >= 0 and max(signs) > 0


def frontier(points: list[Point], quality: QualityCompare | None = None) -> dict[str, str | None]:
    """For each point: None if it is on the frontier, else the name of the highest-quality point dominating it."""
    result: dict[str, str | None] = {}
    for p in points:
        dominators = [q for q in points if q is not p and dominates(q, p, quality)]
        result[p.name] = (
            max(dominators, key=lambda q: (q.quality, -q.p99_ms, -q.bytes_per_vector)).name if dominators else None
        )
    return result


def run_name(run: RunResult) -> str:
    """A results.json run's identity: its recipe's name (with `[edge]` when measured through the engine)."""
    store = (run.get("store") or {}).get("backend")
    return (run.get("name") or legacy_name(run)) + (f" [{store}]" if store else "")


def run_p99(run: RunResult) -> float | None:
    """A results.json run's total online p99 in ms (None when latency was not measured)."""
    return (run.get("latency") or {}).get("online_ms", {}).get("total", {}).get("p99")


def run_size(run: RunResult) -> float | None:
    """Bytes per vector, or per passage for recipes (whose index may hold several representations)."""
    return run.get("bytes_per_vector", run.get("bytes_per_passage"))
