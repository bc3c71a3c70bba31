"""What one bench run is asked to do (`BenchOptions`) and the per-model and per-plan set-up every bench part shares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from embedproof.datasets.loading import Dataset
from embedproof.errors import InvalidInputError
from embedproof.evaluation.cost import (
    DEFAULT_INSTANCE_USD_PER_HOUR,
    DEFAULT_USD_PER_GB_MONTH,
    DEFAULT_UTILISATION,
    serving_costs,
)
from embedproof.evaluation.latency import DEFAULT_ROUNDS, LatencyPlan
from embedproof.evaluation.statistics import StatsSettings

# what a bench runs when no model is named: built in, small, and the usual first dense baseline
DEFAULT_MODELS = ["bm25", "hashing", "sentence-transformers/all-MiniLM-L6-v2"]

# progress(description, total) -> advance(n)
ProgressFactory = Callable[[str, int], Callable[[int], None]]


@dataclass
class BenchOptions:
    top_k: int = 100
    batch_size: int = 32
    max_tokens: int | None = None
    query_prefix: str | None = None
    document_prefix: str | None = None
    cache_dir: str | None = None
    use_cache: bool = True
    run_dir: str | None = None
    dims: list[int] | None = None
    precisions: list[str] = field(default_factory=lambda: ["float32"])
    rescore_multiplier: int = 4
    allow_unvalidated_dims: bool = False
    usd_per_gb_month: float = DEFAULT_USD_PER_GB_MONTH
    latency: bool = True
    latency_queries: int | None = None  # None: every judged query
    latency_rounds: int = DEFAULT_ROUNDS
    statistics: StatsSettings = field(default_factory=StatsSettings)
    instance_usd_per_hour: float = DEFAULT_INSTANCE_USD_PER_HOUR
    utilisation: float = DEFAULT_UTILISATION
    chunk_tokens: int | None = None  # also bench the dense model on token windows, max-pooled back to documents
    chunk_overlap: int = 32
    # Encoder backends to bench each dense model with (torch, onnx, onnx-int8, openvino-int8); see backends.py.
    backends: list[str] = field(default_factory=lambda: ["torch"])
    # where recipes with engine settings keep their measured edge indexes (None: a temporary folder, removed after)
    engine_dir: str | None = None
    # score condensed lists: unjudged documents removed before scoring (trec_eval -J; pooled judgments only)
    condensed: bool = False


@dataclass
class EncodingOptions:
    """How models encode: batch, window, prefixes, the embedding cache and the encoder backends."""

    batch_size: int = 32
    max_tokens: int | None = None
    query_prefix: str | None = None
    document_prefix: str | None = None
    cache_dir: str | None = None
    use_cache: bool = True
    backends: list[str] = field(default_factory=lambda: ["torch"])


@dataclass
class CostOptions:
    """The prices and the utilisation that turn bytes and throughput into dollars."""

    usd_per_gb_month: float = DEFAULT_USD_PER_GB_MONTH
    instance_usd_per_hour: float = DEFAULT_INSTANCE_USD_PER_HOUR
    utilisation: float = DEFAULT_UTILISATION


@dataclass
class LatencyOptions:
    """Whether and how latency is measured: the queries timed one by one and the rounds."""

    measure: bool = True
    queries: int | None = None  # None: every judged query
    rounds: int = DEFAULT_ROUNDS


def options_from_groups(
    encoding: EncodingOptions,
    cost: CostOptions,
    latency: LatencyOptions,
    statistics: StatsSettings,
    **fields,
) -> BenchOptions:
    """BenchOptions from its typed groups (as the bench command builds them) and the remaining fields (top_k,
    dims, precisions, chunking, run and engine folders)."""
    return BenchOptions(
        **vars(encoding),
        **vars(cost),
        latency=latency.measure,
        latency_queries=latency.queries,
        latency_rounds=latency.rounds,
        statistics=statistics,
        **fields,
    )


def encoder_options(name: str, options: BenchOptions, backend: str = "torch") -> dict:
    if builtin_model(name):
        return {}
    extra = {"backend": backend} if backend != "torch" else {}  # torch stays implicit: every encoder accepts it
    return {
        **extra,
        "query_prefix": options.query_prefix,
        "document_prefix": options.document_prefix,
        "max_tokens": options.max_tokens,
        "batch_size": options.batch_size,
        "cache_dir": options.cache_dir,
        "use_cache": options.use_cache,
    }


def recipe_backend(options: BenchOptions) -> str:
    """The one encoder backend recipes are measured with (an index has one: its queries must match its documents)."""
    backends = list(dict.fromkeys(options.backends or ["torch"]))
    if len(backends) > 1:
        raise InvalidInputError(
            f"--backend: recipes are measured with one encoder backend, got {', '.join(backends)}; "
            "compare backends on model runs (--model without --mode/--recipe)"
        )
    return backends[0]


def builtin_model(name: str) -> bool:
    return name.lower() == "bm25" or name.lower().startswith("hashing")


def latency_plan(dataset: Dataset, options: BenchOptions) -> LatencyPlan:
    """The plan every run of one bench registers its query-time work with (the first `latency_queries` queries)."""
    n = len(dataset.judged_queries)
    return LatencyPlan(min(options.latency_queries or n, n) if options.latency else 0)


def measure_plan(plan: LatencyPlan, options: BenchOptions, progress: ProgressFactory | None = None) -> dict | None:
    """Time every run of the plan together, then price each run's queries from its batch throughput."""
    load = plan.measure(options.latency_rounds, options.statistics, progress)
    for run in plan.runs.values():
        if "latency" in run:
            latency = run["latency"]
            run["cost"] = serving_costs(
                latency["batch"]["queries_per_s"],
                latency["online_ms"]["total"]["mean"],
                options.instance_usd_per_hour,
                options.utilisation,
            )
            if "storage_usd_month_per_1m" in run:
                run["cost"]["storage_usd_month_per_1m_vectors"] = run["storage_usd_month_per_1m"]
    return load
