"""The shape of results.json: one `ResultsFile` per bench, one `RunResult` per measured set-up.

The bench writes these and report, pick, compare, the tables and the Pareto frontier read them, so the fields are
named here once. Files written by earlier releases lack the newer fields (`intervals`, `vs_best`, latency
intervals, `load`; `embedpick_version` instead of `embedproof_version`); every reader treats a missing field as
"not measured", which is why every field is optional (`total=False`).
"""

from __future__ import annotations

from typing import Any, TypedDict

# What a reader shows where a run carries no interval (older or hand-made files): a point value, no claim.
NO_INTERVAL = "no interval"


class RunResult(TypedDict, total=False):
    """One measured set-up: a model at a dim/precision/backend, or a recipe (then `recipe` and `stages` are set)."""

    model: str  # the model, or "dense + sparse → rerank" for a recipe
    card: str | None
    mode: str  # dense, sparse, multivector, or the recipe's name
    recipe: dict[str, Any]  # Recipe.to_dict() of a recipe run
    dim: int | None
    precision: str
    encoder_backend: str
    query_prefix: str
    document_prefix: str
    max_tokens: int | None
    revision: str | None
    top_k: int
    rescore_multiplier: int
    validated: bool
    metrics: dict[str, float]  # mean over judged queries: ndcg@10, mrr@10, recall@10, recall@100, map@100
    metrics_without_rescoring: dict[str, float]
    per_query: dict[str, dict[str, float]]  # query id → metric → value (paired statistics need it)
    intervals: dict[str, list[float]]  # metric → [low, high] percentile bootstrap interval
    vs_best: dict[str, Any]  # paired difference to the best run, its interval, p-value and tie status
    bytes_per_vector: float
    bytes_per_passage: float
    index_bytes: int
    storage_usd_month_per_1m: float
    stages: list[dict[str, Any]]  # a recipe's stages: name, candidates, seconds, ms_per_query, metrics
    timings: dict[str, float]
    latency: dict[str, Any]  # online_ms (per stage and total: p50/p95/p99 with ci), batch throughput, samples
    cost: dict[str, float]  # $ per 1M queries (bench and serving bases), storage $ per month
    pareto: dict[str, Any]  # on_frontier and what dominates it
    retention: dict[str, float]
    backend_vs_torch: dict[str, Any]
    cache_hits: dict[str, int]
    vocabulary_size: int
    warnings: list[str]


class ResultsFile(TypedDict, total=False):
    """The whole results.json document that `embedproof bench` writes and `load_results` reads back."""

    embedproof_version: str
    embedpick_version: str  # files written before the rename
    created: str
    machine: dict[str, Any]
    dataset: dict[str, Any]
    settings: dict[str, Any]
    statistics: dict[str, Any]
    runs: list[RunResult]
    load: dict[str, Any]  # other processes' CPU share while latency was measured
    power: dict[str, Any]
    statistics_warnings: list[str]
    queries: dict[str, str]  # pseudo-query datasets: query id → the text measured (real queries are in their file)
