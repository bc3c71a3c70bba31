"""Uncertainty of retrieval metrics and latencies: bootstrap intervals, paired randomisation tests, Holm, power.

IR convention (trec_eval, ranx): runs are compared over the same queries, so every test here is paired by query.
- A metric's interval is a percentile bootstrap of its mean over queries.
- A difference between two runs is tested by a paired randomisation (sign-flip permutation) test on the
  per-query differences, with a percentile bootstrap interval of the mean difference.
- A family of tests (every run against the best) is corrected by Holm's step-down method.
- The minimum detectable difference (MDD) is the smallest true mean difference a paired test at `alpha`
  detects with probability `power` on this many queries (normal approximation: (z₁₋α/₂ + z_power)·sd/√n).
- A latency percentile's interval is a bootstrap over queries and measurement rounds together.

Every draw comes from one seeded generator per call, so the same inputs give the same numbers. Resampling is
written out in numpy rather than calling `scipy.stats.bootstrap`/`permutation_test` per run: the bench compares
every run with every other on one shared draw (the same resampled query sets for all runs, so intervals of
differences are paired) and that is one array operation here; tests check the numbers against scipy's.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

__all__ = [
    "StatsSettings",
    "PairedTest",
    "bootstrap_means",
    "mean_interval",
    "paired_test",
    "holm",
    "minimum_detectable_difference",
    "queries_needed",
    "percentile_interval",
    "percentile_intervals",
]

_BLOCK = 1000  # resamples drawn per block: bounds memory at _BLOCK × queries values


@dataclass(frozen=True)
class StatsSettings:
    """How intervals and tests are computed; stored in results.json so every number can be recomputed."""

    bootstrap_resamples: int = 2000
    permutation_resamples: int = 10_000
    seed: int = 0
    alpha: float = 0.05
    confidence: float = 0.95
    correction: str = "holm"
    power: float = 0.8
    bootstrap: str = "percentile bootstrap over queries"
    latency_bootstrap: str = "percentile bootstrap over queries and rounds"
    test: str = "paired randomisation (sign-flip permutation) test, two-sided"

    def __post_init__(self) -> None:
        from embedproof.errors import InvalidInputError

        if self.bootstrap_resamples < 1000 or self.permutation_resamples < 1000:
            raise InvalidInputError("statistics: at least 1,000 bootstrap and permutation resamples are needed")
        if not 0 < self.alpha < 1 or not 0 < self.confidence < 1 or not 0 < self.power < 1:
            raise InvalidInputError("statistics: alpha, confidence and power must lie strictly between 0 and 1")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> StatsSettings:
        known = {k: v for k, v in (data or {}).items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass(frozen=True)
class PairedTest:
    """`a` minus `b` over the same queries."""

    n: int
    diff: float
    ci: tuple[float, float]
    p_value: float
    wins: int
    losses: int
    ties: int
    sd: float
    mdd: float

    def to_dict(self) -> dict:
        out = asdict(self)
        out["ci"] = list(self.ci)
        return out


def _resample_indices(rng: np.random.Generator, resamples: int, n: int):
    """Blocks of bootstrap index rows (resamples × n), drawn in order so the draw does not depend on the block size."""
    done = 0
    while done < resamples:
        size = min(_BLOCK, resamples - done)
        yield rng.integers(0, n, size=(size, n))
        done += size


def bootstrap_means(matrix: np.ndarray, settings: StatsSettings) -> np.ndarray:
    """Bootstrap means of each row of `matrix` (runs × queries) on ONE shared draw of query sets.

    Returns (runs × resamples). Because every run is resampled on the same query sets, the difference of two
    rows is the paired bootstrap distribution of their mean difference.
    """
    matrix = np.atleast_2d(np.asarray(matrix, dtype=np.float64))
    rng = np.random.default_rng(settings.seed)
    out = np.empty((matrix.shape[0], settings.bootstrap_resamples))
    done = 0
    for idx in _resample_indices(rng, settings.bootstrap_resamples, matrix.shape[1]):
        out[:, done : done + len(idx)] = matrix[:, idx].mean(axis=2)
        done += len(idx)
    return out


def percentile_interval(distribution: np.ndarray, confidence: float) -> tuple[float, float]:
    """The central `confidence` share of a bootstrap distribution (the percentile interval)."""
    tail = 100 * (1 - confidence) / 2
    lo, hi = np.percentile(distribution, [tail, 100 - tail])
    return float(lo), float(hi)


def mean_interval(values, settings: StatsSettings = StatsSettings()) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of per-query `values`."""
    return percentile_interval(bootstrap_means(np.asarray(values)[None, :], settings)[0], settings.confidence)


def _sign_flip_p(diffs: np.ndarray, settings: StatsSettings) -> float:
    """Two-sided p-value of a paired randomisation test: each query's difference keeps or flips its sign.

    Exact (every sign pattern) when 2ⁿ ≤ the resample count, else Monte Carlo with the +1 correction
    (Phipson & Smyth 2010), as scipy.stats.permutation_test does.
    """
    n = diffs.size
    observed = abs(diffs.mean())
    tolerance = 1e-12 * max(1.0, observed)
    if n <= 20 and 2**n <= settings.permutation_resamples:
        patterns = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1) * 2 - 1
        null = np.abs(patterns @ diffs) / n
        return float(np.mean(null >= observed - tolerance))
    rng = np.random.default_rng(settings.seed + 1)
    extreme, done = 0, 0
    while done < settings.permutation_resamples:
        size = min(_BLOCK, settings.permutation_resamples - done)
        signs = rng.integers(0, 2, size=(size, n), dtype=np.int8) * 2 - 1
        extreme += int(np.count_nonzero(np.abs(signs @ diffs) / n >= observed - tolerance))
        done += size
    return (extreme + 1) / (settings.permutation_resamples + 1)


def minimum_detectable_difference(sd: float, n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest true mean difference a two-sided paired test at `alpha` detects with `power` on `n` queries."""
    from scipy.stats import norm

    if n < 2:
        return math.inf
    return float((norm.ppf(1 - alpha / 2) + norm.ppf(power)) * sd / math.sqrt(n))


def queries_needed(sd: float, difference: float, alpha: float = 0.05, power: float = 0.8) -> int | None:
    """Queries a paired test needs to detect `difference` with `power` (None when the difference is 0)."""
    from scipy.stats import norm

    if difference == 0:
        return None
    return int(math.ceil(((norm.ppf(1 - alpha / 2) + norm.ppf(power)) * sd / abs(difference)) ** 2))


def paired_test(
    a, b, settings: StatsSettings = StatsSettings(), resampled: tuple[np.ndarray, np.ndarray] | None = None
) -> PairedTest:
    """Mean of a − b with its bootstrap interval, the randomisation p-value, wins/losses/ties and the MDD.

    `resampled`, when given, is the pair's rows of a shared `bootstrap_means` draw (so intervals of several
    differences come from the same query sets); otherwise the pair is resampled here.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("paired_test needs two equally long 1-D arrays of per-query values")
    diffs = a - b
    n = diffs.size
    if resampled is None:
        resampled = tuple(bootstrap_means(np.vstack([a, b]), settings))
    ci = percentile_interval(resampled[0] - resampled[1], settings.confidence)
    sd = float(diffs.std(ddof=1)) if n > 1 else 0.0
    close = np.isclose(diffs, 0.0, atol=1e-12)
    return PairedTest(
        n=n,
        diff=float(diffs.mean()),
        ci=ci,
        p_value=_sign_flip_p(diffs, settings),
        wins=int(np.sum((diffs > 0) & ~close)),
        losses=int(np.sum((diffs < 0) & ~close)),
        ties=int(np.sum(close)),
        sd=sd,
        mdd=minimum_detectable_difference(sd, n, settings.alpha, settings.power),
    )


def holm(p_values: list[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (step-down, monotone, capped at 1), in the input order."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def percentile_intervals(
    samples, settings: StatsSettings = StatsSettings(), percentiles=(50, 95, 99)
) -> dict[str, list[float]]:
    """Intervals of latency percentiles from a rounds × queries matrix of milliseconds.

    Rounds and queries are resampled together (a two-way bootstrap): the interval then covers both the
    spread between queries and the drift between rounds.
    """
    data = np.atleast_2d(np.asarray(samples, dtype=np.float64))
    rounds, queries = data.shape
    rng = np.random.default_rng(settings.seed + 2)
    resamples = settings.bootstrap_resamples
    values = np.empty((len(percentiles), resamples))
    done = 0
    while done < resamples:
        size = min(max(1, _BLOCK // rounds), resamples - done)
        r = rng.integers(0, rounds, size=(size, rounds))
        q = rng.integers(0, queries, size=(size, queries))
        drawn = data[r[:, :, None], q[:, None, :]].reshape(size, rounds * queries)
        values[:, done : done + size] = np.percentile(drawn, percentiles, axis=1)
        done += size
    return {f"p{p:g}": list(percentile_interval(values[i], settings.confidence)) for i, p in enumerate(percentiles)}
