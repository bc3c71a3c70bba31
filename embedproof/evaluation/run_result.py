"""The shape of results.json: one `ResultsFile` per bench, one `RunResult` per measured set-up.

The bench writes these and report, pick, compare, the tables and the Pareto frontier read them, so the fields are
named here once. Files written by earlier releases lack the newer fields (`intervals`, `vs_best`, latency
intervals, `load`; `embedpick_version` instead of `embedproof_version`); every reader treats a missing field as
"not measured", which is why every field is optional (`total=False`).
"""

from __future__ import annotations

from typing import Any, TypedDict

from embedproof.models.remote_providers import display_name

# What a reader shows where a run carries no interval (older or hand-made files): a point value, no claim.
NO_INTERVAL = "no interval"


class RunResult(TypedDict, total=False):
    """One measured set-up, always a recipe: a model run is a one-model recipe at a dim/precision/backend/chunking
    (with the sweep's fields: retention, bytes per vector); a composed recipe's run has `stages`."""

    name: str  # the recipe's name: the run's identity in tables, pick, compare and `index build --run`
    recipe: dict[str, Any]  # Recipe.to_dict(): what `index build` builds
    model: str  # the recipe's first first-pass model (without `maxsim:`)
    models: list[str]  # every model the recipe loads
    card: str | None
    mode: str  # how the first pass retrieves: dense, sparse, multivector, or hybrid (several fused)
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
    chunking: dict[str, Any]  # a chunked run: window and overlap tokens, chunks, chunks per document
    truncation: dict[str, Any]  # token-length profile against the model's window
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


def is_model_run(run: RunResult) -> bool:
    """A model run (one model's sweep variant: retention, bytes per vector), not a composed recipe's (stages)."""
    return "stages" not in run


def variant_name(
    label: str, mode: str, dim: int | None, precision: str, chunking: tuple[int, int] | None = None
) -> str:
    """A model run's name, as tables show it: `all-MiniLM-L6-v2 dense d256 int8`, `bm25 sparse float32`, and
    `… dense chunks 254/32 d384 float32` for a chunked one."""
    chunks = f" chunks {chunking[0]}/{chunking[1]}" if chunking else ""
    return f"{label} {mode}{chunks}{f' d{dim}' if dim else ''} {precision}"


def legacy_name(run: RunResult) -> str:
    """The name of a run written before every run was named: a recipe's name, or the model run's label."""
    if "stages" in run or "recipe" in run:  # a recipe's run (before names, only recipes carried one)
        return run["mode"]
    backend = run.get("encoder_backend", "torch")
    label = display_name(run["model"]) + ("" if backend == "torch" else f" [{backend}]")
    chunking, mode, window = run.get("chunking"), run["mode"], None
    if mode == "dense-chunked" and chunking:
        mode, window = "dense", (chunking["window_tokens"], chunking["overlap_tokens"])
    return variant_name(label, mode, run.get("dim"), run["precision"], window)
