"""The latency half of the regression gate: p99 against p99, and against a budget.

Tail latency is compared without pairing (the two files' measurements share no rounds): the difference of the two
p99s gets an interval from a bootstrap that resamples rounds and queries of each file's samples independently.
"""

from __future__ import annotations

import math

import numpy as np

from embedproof.errors import EmbedproofError
from embedproof.evaluation.evidence import p99_interval
from embedproof.evaluation.pareto import run_name, run_p99
from embedproof.evaluation.run_result import NO_INTERVAL, RunResult
from embedproof.evaluation.statistics import StatsSettings, percentile_interval, percentile_intervals

LATENCY_METRIC = "p99_ms"
_BLOCK_VALUES = 2_000_000  # resampled latency values held at once


def is_number(value) -> bool:
    """A finite int or float (not a bool): what a results file's numeric fields must hold."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def latency_samples(run: RunResult, side: str) -> np.ndarray | None:
    samples = (run.get("latency") or {}).get("samples_ms")
    if samples is None:
        return None
    try:
        matrix = np.asarray(samples, dtype=np.float64)
    except (TypeError, ValueError):
        matrix = None
    if matrix is None or matrix.ndim != 2 or matrix.size == 0 or not np.all(np.isfinite(matrix)):
        raise EmbedproofError(
            f"{side} run {run_name(run)!r}: latency.samples_ms must be a rounds × queries matrix of numbers"
        )
    return matrix


def p99_difference_interval(
    base_samples, new_samples, settings: StatsSettings = StatsSettings(), percentile: float = 99
) -> list[float]:
    """Interval of p(new) − p(base) from two rounds × queries matrices measured apart (an unpaired bootstrap).

    Each resample draws rounds and queries of each matrix independently, as `percentile_intervals` does for one
    run, so the interval covers both files' query spread and round-to-round drift. Seeded from `settings.seed`.
    """
    matrices = [np.atleast_2d(np.asarray(m, dtype=np.float64)) for m in (base_samples, new_samples)]
    rng = np.random.default_rng(settings.seed + 3)
    resamples = settings.bootstrap_resamples
    values = np.empty((2, resamples))
    block = max(1, _BLOCK_VALUES // max(m.size for m in matrices))
    done = 0
    while done < resamples:
        size = min(block, resamples - done)
        for i, data in enumerate(matrices):
            rounds, queries = data.shape
            r = rng.integers(0, rounds, size=(size, rounds))
            q = rng.integers(0, queries, size=(size, queries))
            drawn = data[r[:, :, None], q[:, None, :]].reshape(size, rounds * queries)
            values[i, done : done + size] = np.percentile(drawn, percentile, axis=1)
        done += size
    return list(percentile_interval(values[1] - values[0], settings.confidence))


def _p99_ci(run: RunResult) -> list[float] | None:
    """The stored p99 interval when it is two numbers (hand-made files may hold anything)."""
    try:
        ci = p99_interval(run)
    except AttributeError:
        return None
    return [float(x) for x in ci] if isinstance(ci, list) and len(ci) == 2 and all(map(is_number, ci)) else None


def latency_row(base_run: RunResult, new_run: RunResult, latency_ms: float | None, settings: StatsSettings) -> dict:
    """p99 of each run with its interval, and the difference with an unpaired interval when samples exist."""
    b_p99, n_p99 = run_p99(base_run), run_p99(new_run)
    b_samples, n_samples = latency_samples(base_run, "base"), latency_samples(new_run, "new")
    b_ci, n_ci = _p99_ci(base_run), _p99_ci(new_run)
    if b_ci is None and b_samples is not None and b_p99 is not None:
        b_ci = percentile_intervals(b_samples, settings, (99,))["p99"]
    if n_ci is None and n_samples is not None and n_p99 is not None:
        n_ci = percentile_intervals(n_samples, settings, (99,))["p99"]
    measured = b_p99 is not None and n_p99 is not None
    both = measured and b_samples is not None and n_samples is not None
    ci = p99_difference_interval(b_samples, n_samples, settings) if both else None
    row = {
        "metric": LATENCY_METRIC,
        "base": b_p99,
        "new": n_p99,
        "base_ci": b_ci,
        "new_ci": n_ci,
        "diff": n_p99 - b_p99 if measured else None,
        "ci": ci,
        "p_value": None,
        "p_holm": None,
        "budget_ms": latency_ms,
        "upper_bound": None,
    }
    if n_p99 is None:
        if latency_ms is not None:
            raise EmbedproofError(
                f"a p99 budget was given but new run {run_name(new_run)!r} has no latency measurement "
                "(bench it without --no-latency)"
            )
        row["verdict"] = "not measured"
        return row
    upper = n_ci[1] if n_ci else n_p99
    row["upper_bound"] = upper
    slower, faster = ci is not None and ci[0] > 0, ci is not None and ci[1] < 0
    if latency_ms is not None:
        row["verdict"] = "over budget" if upper > latency_ms else "slower, within budget" if slower else "within budget"
        if upper > latency_ms:
            row["note"] = f"p99 upper bound {upper:.2f} ms breaks the {latency_ms:g} ms budget"
    elif not measured:
        row["verdict"] = "not measured"
    else:
        row["verdict"] = (
            NO_INTERVAL if ci is None else "slower" if slower else "faster" if faster else "no significant change"
        )
    return row


def unstable_notes(run: RunResult, side: str) -> list[str]:
    latency = run.get("latency") or {}
    if latency.get("stable") is False:
        return [f"{side} p99 unstable: {latency.get('stability_note') or 'latency rounds disagree'}"]
    return []


def busy_notes(base: dict, new: dict) -> list[str]:
    """One note per file whose latency was measured while other processes competed for the CPUs."""
    notes = []
    for side, results in (("base", base), ("new", new)) if base is not new else (("the", base),):
        reasons = [(run.get("latency") or {}).get("busy") for run in results.get("runs", [])]
        reason = next((r for r in reasons if r), None)
        if reason:
            notes.append(f"{side} file's p99s were measured on a busy machine ({reason})")
    return notes
