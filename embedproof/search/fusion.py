"""Score fusion of any number of ranked runs: reciprocal rank fusion and normalised weighted sums.

Runs are {query id: {doc id: score}}. A document missing from a run contributes nothing from that run.
RRF (Cormack et al. 2009) here uses k = 60 and 1-based ranks, the paper's convention. Qdrant's built-in RRF
uses k = 2 with 0-based ranks by default, so its k = 61 equals the classic k = 60.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable, Mapping, Sequence

from embedproof.errors import InvalidInputError
from embedproof.types import Run

NORMALISERS = ("minmax", "zscore", "none")


def ranks(scores: Mapping[str, float], base: int = 1) -> dict[str, int]:
    """Rank of each document, best first; ties are broken by document id so fusion is deterministic."""
    ordered = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    return {doc: position for position, (doc, _) in enumerate(ordered, start=base)}


def reciprocal_rank_fusion(
    runs: Sequence[Run], k: float = 60.0, weights: Sequence[float] | None = None, rank_base: int = 1
) -> dict[str, dict[str, float]]:
    """Σ_i w_i / (k + rank_i(d)) over the runs that retrieved d."""
    return _accumulate(
        runs, weights, lambda scores: {doc: 1.0 / (k + r) for doc, r in ranks(scores, rank_base).items()}
    )


def normalise(scores: Mapping[str, float], method: str = "minmax") -> dict[str, float]:
    """Per-query score normalisation so runs on different scales can be added.

    minmax maps to [0, 1]; a constant list maps to 1.0 (every retrieved document is as good as the best).
    zscore subtracts the mean and divides by the standard deviation; a constant list maps to 0.0.
    """
    if method == "none" or not scores:
        return dict(scores)
    values = list(scores.values())
    if method == "minmax":
        low, high = min(values), max(values)
        if high == low:
            return {doc: 1.0 for doc in scores}
        return {doc: (s - low) / (high - low) for doc, s in scores.items()}
    if method == "zscore":
        mean = statistics.fmean(values)
        std = statistics.pstdev(values)
        if std == 0:
            return {doc: 0.0 for doc in scores}
        return {doc: (s - mean) / std for doc, s in scores.items()}
    raise InvalidInputError(f"unknown normalisation {method!r} (known: {', '.join(NORMALISERS)})")


def weighted_sum(
    runs: Sequence[Run], weights: Sequence[float] | None = None, normalisation: str = "minmax"
) -> dict[str, dict[str, float]]:
    """Σ_i w_i · normalise(score_i(d)); documents missing from a run get 0 from it."""
    return _accumulate(runs, weights, lambda scores: normalise(scores, normalisation))


def _accumulate(
    runs: Sequence[Run], weights: Sequence[float] | None, transform: Callable[[Mapping[str, float]], dict[str, float]]
) -> dict[str, dict[str, float]]:
    """Σ over runs of weight × transform(that run's scores for the query), per query and document."""
    fused: dict[str, dict[str, float]] = {}
    for run, weight in zip(runs, _weights(runs, weights)):
        for qid, scores in run.items():
            target = fused.setdefault(qid, {})
            for doc, value in transform(scores).items():
                target[doc] = target.get(doc, 0.0) + weight * value
    return fused


def fuse(
    runs: Sequence[Run], method: str = "rrf", weights: Sequence[float] | None = None, **params
) -> dict[str, dict[str, float]]:
    """Fuse runs by name: `rrf` (params k, rank_base) or `wsum` (param normalisation)."""
    if method == "rrf":
        return reciprocal_rank_fusion(runs, weights=weights, **params)
    if method in {"wsum", "weighted_sum"}:
        return weighted_sum(runs, weights=weights, **params)
    raise InvalidInputError(f"unknown fusion method {method!r} (known: rrf, wsum)")


def top(run: Run, k: int) -> dict[str, dict[str, float]]:
    """Keep each query's k best documents."""
    return {qid: dict(sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:k]) for qid, scores in run.items()}


def tune_fusion(
    runs: Sequence[Run],
    objective: Callable[[dict], float],
    method: str = "rrf",
    weight_grid: Sequence[float] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
    k_grid: Sequence[float] = (10, 30, 60, 100),
    normalisations: Sequence[str] = ("minmax", "zscore"),
) -> tuple[dict, float]:
    """Grid search fusion parameters that maximise `objective(fused run)` (e.g. nDCG@10 on a *tuning* split).

    Weights are searched on the simplex (they sum to 1); returns (best parameters, best objective).
    """
    weight_sets = [w for w in itertools.product(weight_grid, repeat=len(runs)) if abs(sum(w) - 1.0) < 1e-9]
    if not weight_sets:
        raise ValueError("weight grid has no combination that sums to 1")
    options = [{"k": k} for k in k_grid] if method == "rrf" else [{"normalisation": n} for n in normalisations]
    best, best_value = None, float("-inf")
    for weights in weight_sets:
        for params in options:
            value = objective(fuse(runs, method, list(weights), **params))
            if value > best_value + 1e-12:
                best, best_value = {"method": method, "weights": list(weights), **params}, value
    return best, best_value


def _weights(runs: Sequence[Run], weights: Sequence[float] | None) -> list[float]:
    if weights is None:
        return [1.0] * len(runs)
    if len(weights) != len(runs):
        raise ValueError(f"{len(weights)} weights for {len(runs)} runs")
    return list(weights)
