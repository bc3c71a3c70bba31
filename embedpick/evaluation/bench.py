"""`embedpick bench`: encode a collection with each model once, derive every requested variant, score each.

Dense models are swept over Matryoshka dims × precisions from a single encode (see sweep.py); sparse models
give one run. Results keep the field names later issues extend.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from embedpick import __version__
from embedpick.errors import EmbedpickError, ModelNotAvailableError
from embedpick.evaluation.cost import DEFAULT_USD_PER_GB_MONTH, storage_usd_month
from embedpick.evaluation.datasets import Dataset
from embedpick.evaluation.metrics import evaluate_run, run_from_indices, write_trec_run
from embedpick.evaluation.sweep import SweepOptions, sweep_variants
from embedpick.models.card import get_card
from embedpick.retrieve import search

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


def _encoder_options(name: str, options: BenchOptions) -> dict:
    if name.lower() in {"bm25"} or name.lower().startswith("hashing"):
        return {}
    return {
        "query_prefix": options.query_prefix,
        "document_prefix": options.document_prefix,
        "max_tokens": options.max_tokens,
        "batch_size": options.batch_size,
        "cache_dir": options.cache_dir,
        "use_cache": options.use_cache,
    }


def _sparse_bytes(matrix) -> int:
    return int(matrix.data.nbytes + matrix.indices.nbytes + matrix.indptr.nbytes)


def bench_model(dataset: Dataset, name: str, options: BenchOptions, progress: ProgressFactory | None = None) -> list[dict]:
    """Encode, search and score one model on `dataset`; one results.json run per (dim, precision) variant."""
    from embedpick.models.factory import get_encoder

    if not dataset.qrels:
        raise EmbedpickError(f"dataset {dataset.name!r} has no judged queries: bench needs queries and qrels")
    encoder = get_encoder(name, **_encoder_options(name, options))
    card = get_card(name)
    doc_ids = list(dataset.corpus)
    queries = dataset.judged_queries
    query_ids = list(queries)

    advance = progress(f"{name}: documents", len(doc_ids)) if progress else None
    start = time.perf_counter()
    doc_emb = encoder.encode_documents([dataset.corpus[d].full_text for d in doc_ids], doc_ids, on_progress=advance)
    encode_docs_s = time.perf_counter() - start
    start = time.perf_counter()
    query_emb = encoder.encode_queries([queries[q] for q in query_ids], query_ids)
    encode_queries_s = time.perf_counter() - start

    doc_cache_hits = doc_emb.info.get("cache_hits", 0)
    common = {
        "model": name,
        "card": card.name if card.known else None,
        "query_prefix": getattr(encoder, "query_prefix", ""),
        "document_prefix": getattr(encoder, "document_prefix", ""),
        "max_tokens": getattr(encoder, "max_tokens", None),
        "revision": doc_emb.info.get("revision"),
        "top_k": options.top_k,
    }
    encode_timings = {
        "encode_documents_s": round(encode_docs_s, 4),
        "encode_queries_s": round(encode_queries_s, 4),
        # Throughput is only meaningful when the documents were actually encoded, not read from the cache.
        "documents_per_s": round(len(doc_ids) / encode_docs_s, 2) if encode_docs_s > 0 and not doc_cache_hits else None,
    }
    cache_hits = {"documents": doc_cache_hits, "queries": query_emb.info.get("cache_hits", 0)}

    def score(indices, scores):
        run = run_from_indices(query_ids, doc_ids, indices, scores)
        return run, *evaluate_run(dataset.qrels, run)

    def entry(mode, dim, precision, run, means, per_query, search_s, bytes_each, index_bytes, extra=None) -> dict:
        result = {
            **common, "mode": mode, "dim": dim, "precision": precision, "metrics": means, "per_query": per_query,
            "bytes_per_vector": bytes_each, "index_bytes": index_bytes,
            "storage_usd_month_per_1m": round(storage_usd_month(1_000_000, bytes_each, options.usd_per_gb_month), 6),
            "timings": {**encode_timings, "search_s": round(search_s, 4)}, "cache_hits": cache_hits,
            "warnings": list(getattr(encoder, "warnings", [])), **(extra or {}),
        }
        if options.run_dir:
            tag = f"{name}.d{dim}.{precision}" if dim else name
            result["run_file"] = str(write_trec_run(run, f"{options.run_dir}/{dataset.name}.{_safe(tag)}.trec", tag=tag))
        return result

    if doc_emb.mode == "sparse":
        start = time.perf_counter()
        indices, scores = search(query_emb, doc_emb, options.top_k)
        search_s = time.perf_counter() - start
        run, means, per_query = score(indices, scores)
        index_bytes = _sparse_bytes(doc_emb.sparse)
        return [entry("sparse", None, "float32", run, means, per_query, search_s, index_bytes / max(len(doc_ids), 1),
                      index_bytes, {"vocabulary_size": doc_emb.dim})]

    sweep = SweepOptions(
        dims=options.dims, precisions=tuple(options.precisions), rescore_multiplier=options.rescore_multiplier,
        allow_unvalidated_dims=options.allow_unvalidated_dims, calibration_dir=doc_emb.info.get("cache_folder"),
    )
    variants = sweep_variants(card, doc_emb.dense, query_emb.dense, options.top_k, sweep)
    scored = [(v, *score(v.indices, v.scores)) for v in variants]
    base = next((means for v, _, means, _ in scored if v.dim == doc_emb.dim and v.precision == "float32"), None)
    if base is None:  # retention needs the full-dim float32 reference even when it was not asked for
        base = score(*search(query_emb, doc_emb, options.top_k))[1]
    runs = []
    for v, run, means, per_query in scored:
        extra = {
            "validated": v.validated,
            "retention": {m: (means[m] / base[m] if base[m] else None) for m in means},
        }
        if v.first_pass is not None:
            extra["rescore_multiplier"] = options.rescore_multiplier
            extra["metrics_without_rescoring"] = score(*v.first_pass)[1]
        if v.calibration_file:
            extra["calibration_file"] = v.calibration_file
        result = entry("dense", v.dim, v.precision, run, means, per_query, v.search_s, v.bytes_per_vector, v.index_bytes, extra)
        result["warnings"] += v.warnings
        runs.append(result)
    return runs


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def machine_info() -> dict:
    return {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(), "processor": platform.processor()}


def run_bench(
    dataset: Dataset,
    models: list[str],
    options: BenchOptions | None = None,
    progress: ProgressFactory | None = None,
    on_run: Callable[[dict], None] | None = None,
    on_skip: Callable[[str, Exception], None] | None = None,
    recipes: list | None = None,
    tune_split: str | None = None,
) -> dict:
    """Bench every model (and every recipe) on one dataset; returns the results.json document.

    `on_run(results)` is called after each model with the document so far (the CLI saves it, so an
    interrupted bench keeps finished runs). With `on_skip`, a model whose weights are missing is reported
    there and skipped instead of stopping the bench.
    """
    options = options or BenchOptions()
    results = {
        "embedpick_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "dataset": dataset.summary(),
        "settings": {
            "top_k": options.top_k, "batch_size": options.batch_size, "max_tokens": options.max_tokens,
            "dims": options.dims, "precisions": options.precisions, "rescore_multiplier": options.rescore_multiplier,
            "usd_per_gb_month": options.usd_per_gb_month,
        },
        "runs": [],
    }
    for name in models:
        try:
            entries = bench_model(dataset, name, options, progress)
        except ModelNotAvailableError as exc:
            if on_skip is None:
                raise
            on_skip(name, exc)
            continue
        results["runs"].extend(entries)
        if on_run:
            on_run(results)
    if recipes:
        from embedpick.evaluation.bench_recipes import bench_recipes

        results["runs"].extend(bench_recipes(dataset, recipes, options, progress, tune_split))
        if on_run:
            on_run(results)
    return results
