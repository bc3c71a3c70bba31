"""`embedproof bench`: encode a collection with each model once, derive every requested variant, score each.

Dense models are swept over Matryoshka dims × precisions from a single encode (see sweep.py); sparse models
give one run. results.json fields are listed in `evaluation/run_result.py`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np

from embedproof import __version__
from embedproof.backends import UnsupportedBackendError
from embedproof.datasets.loading import Dataset
from embedproof.errors import EmbedproofError, ModelNotAvailableError
from embedproof.evaluation.bench_options import (
    BenchOptions,
    ProgressFactory,
    builtin_model,
    encoder_options,
    latency_plan,
    measure_plan,
)
from embedproof.evaluation.cost import (
    storage_usd_month,
)
from embedproof.evaluation.evidence import annotate
from embedproof.evaluation.latency import LatencyPlan, machine_info
from embedproof.evaluation.metrics import evaluate_run, judged_warning, write_trec_run
from embedproof.evaluation.run_result import ResultsFile, RunResult
from embedproof.evaluation.sweep import SweepOptions, sweep_variants
from embedproof.evaluation.truncation import (
    chunk_texts,
    max_pool_scores,
    token_lengths,
    truncation_profile,
    truncation_warning,
)
from embedproof.files import safe_name
from embedproof.models.card import get_card
from embedproof.search.dense import dense_scores, run_from_indices, top_k
from embedproof.search.retrieve import search
from embedproof.vectors.matryoshka import truncate_matryoshka


def _sparse_bytes(matrix) -> int:
    return int(matrix.data.nbytes + matrix.indices.nbytes + matrix.indptr.nbytes)


def bench_model(
    dataset: Dataset,
    name: str,
    options: BenchOptions,
    progress: ProgressFactory | None = None,
    backend: str = "torch",
    plan: LatencyPlan | None = None,
) -> list[dict]:
    """Encode, search and score one model on `dataset`; one results.json run per (dim, precision) variant.

    Latency is registered with `plan` (measured later, together with the bench's other runs); without a plan the
    model's runs are timed here, among themselves.
    """
    if plan is None:
        plan = latency_plan(dataset, options)
        runs = bench_model(dataset, name, options, progress, backend, plan)
        measure_plan(plan, options)
        return runs
    from embedproof.models.factory import get_encoder

    if not dataset.qrels:
        raise EmbedproofError(f"dataset {dataset.name!r} has no judged queries: bench needs queries and qrels")
    encoder = get_encoder(name, **encoder_options(name, options, backend))
    card = get_card(name)
    doc_ids = list(dataset.corpus)
    queries = dataset.judged_queries
    query_ids = list(queries)

    doc_texts = [dataset.corpus[d].full_text for d in doc_ids]
    truncation = _truncation(encoder, doc_texts)
    label = name if backend == "torch" else f"{name} [{backend}]"
    advance = progress(f"{label}: documents", len(doc_ids)) if progress else None
    start = time.perf_counter()
    doc_emb = encoder.encode_documents(doc_texts, doc_ids, on_progress=advance)
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
        "encoder_backend": getattr(encoder, "backend", "torch"),
    }
    if truncation is not None:
        common["truncation"] = truncation
    if getattr(encoder, "auto_backend", None):  # --backend auto: what it resolved to and the measurement behind it
        common["auto_backend"] = encoder.auto_backend
    encode_timings = {
        "encode_documents_s": round(encode_docs_s, 4),
        "encode_queries_s": round(encode_queries_s, 4),
        # Throughput is only meaningful when the documents were actually encoded, not read from the cache.
        "documents_per_s": round(len(doc_ids) / encode_docs_s, 2) if encode_docs_s > 0 and not doc_cache_hits else None,
    }
    cache_hits = {"documents": doc_cache_hits, "queries": query_emb.info.get("cache_hits", 0)}

    def score(indices, scores):
        run = run_from_indices(query_ids, doc_ids, indices, scores)
        return run, *evaluate_run(dataset.qrels, run, condensed=options.condensed)

    query_texts = [queries[q] for q in query_ids]
    encoder_key = plan.encoder(
        f"first:{name}" + ("" if backend == "torch" else f"@{backend}"),
        encoder,
        lambda rows: encoder.encode_queries(query_texts[rows]),
    )

    def with_latency(result: dict, represent, search_fn) -> dict:
        """Register this run's search (after the shared query encoder) for the bench's latency pass."""

        def stages(encoded: dict, rows: slice) -> list[tuple[str, float]]:
            query = represent(encoded[encoder_key])
            start = time.perf_counter()
            search_fn(query)
            return [("search", time.perf_counter() - start)]

        plan.add(result, [encoder_key], stages)
        return result

    def entry(mode, dim, precision, run, means, per_query, search_s, bytes_each, index_bytes, extra=None) -> dict:
        result = {
            **common,
            "mode": mode,
            "dim": dim,
            "precision": precision,
            "metrics": means,
            "per_query": per_query,
            "bytes_per_vector": bytes_each,
            "index_bytes": index_bytes,
            "storage_usd_month_per_1m": round(storage_usd_month(1_000_000, bytes_each, options.usd_per_gb_month), 6),
            "timings": {**encode_timings, "search_s": round(search_s, 4)},
            "cache_hits": cache_hits,
            "warnings": list(getattr(encoder, "warnings", []))
            + ([w] if (w := truncation and truncation_warning(name, truncation)) else [])
            + judged_warning(means, options.condensed),
            **(extra or {}),
        }
        if options.run_dir:
            tag = f"{name}.d{dim}.{precision}" if dim else name
            result["run_file"] = str(
                write_trec_run(run, f"{options.run_dir}/{dataset.name}.{safe_name(tag)}.trec", tag=tag)
            )
        return result

    if doc_emb.mode == "sparse":
        start = time.perf_counter()
        indices, scores = search(query_emb, doc_emb, options.top_k)
        search_s = time.perf_counter() - start
        run, means, per_query = score(indices, scores)
        index_bytes = _sparse_bytes(doc_emb.sparse)
        result = entry(
            "sparse",
            None,
            "float32",
            run,
            means,
            per_query,
            search_s,
            index_bytes / max(len(doc_ids), 1),
            index_bytes,
            {"vocabulary_size": doc_emb.dim},
        )
        from embedproof.search.sparse import inverted_index, sparse_search

        # the corpus's inverted index once, as an index or the server keeps it, so a timed query pays only its own terms
        inverted = inverted_index(doc_emb.sparse)
        return [
            with_latency(result, lambda e: e.sparse, lambda q: sparse_search(q, None, options.top_k, inverted=inverted))
        ]

    sweep = SweepOptions(
        dims=options.dims,
        precisions=tuple(options.precisions),
        rescore_multiplier=options.rescore_multiplier,
        allow_unvalidated_dims=options.allow_unvalidated_dims,
        calibration_dir=doc_emb.info.get("cache_folder"),
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
        result = entry(
            "dense", v.dim, v.precision, run, means, per_query, v.search_s, v.bytes_per_vector, v.index_bytes, extra
        )
        result["warnings"] += v.warnings
        prepare = (lambda q, dim=v.dim: truncate_matryoshka(q, dim)) if v.dim != doc_emb.dim else (lambda q: q)
        runs.append(
            with_latency(
                result,
                lambda e: np.asarray(e.dense, dtype=np.float32),
                lambda q, v=v, prepare=prepare: v.search_fn(prepare(q)),
            )
        )
    if options.chunk_tokens and hasattr(encoder, "model"):
        chunks, owners = chunk_texts(encoder.model.tokenizer, doc_texts, options.chunk_tokens, options.chunk_overlap)
        described = f"{label}: chunks of {options.chunk_tokens} tokens"
        advance_chunks = progress(described, len(chunks)) if progress else None
        chunk_vectors = encoder.encode_documents(chunks, on_progress=advance_chunks).dense
        q = query_emb.dense

        def chunked_search(queries):
            return top_k(max_pool_scores(dense_scores(queries, chunk_vectors), owners, len(doc_ids)), options.top_k)

        start = time.perf_counter()
        run, means, per_query = score(*chunked_search(q))
        per_doc = len(chunks) / max(len(doc_ids), 1)
        extra = {
            "chunking": {
                "window_tokens": options.chunk_tokens,
                "overlap_tokens": options.chunk_overlap,
                "chunks": len(chunks),
                "chunks_per_document": per_doc,
            },
            "retention": {m: (means[m] / base[m] if base[m] else None) for m in means},
            "validated": True,
        }
        result = entry(
            "dense-chunked",
            doc_emb.dim,
            "float32",
            run,
            means,
            per_query,
            time.perf_counter() - start,
            doc_emb.dim * 4 * per_doc,
            int(chunk_vectors.nbytes),
            extra,
        )
        runs.append(with_latency(result, lambda e: np.asarray(e.dense, dtype=np.float32), chunked_search))
    return runs


def _truncation(encoder, texts: list[str]) -> dict | None:
    """Token-length profile of the corpus under the model's own tokenizer and window (None without a window)."""
    tokenizer = getattr(getattr(encoder, "model", None), "tokenizer", None)
    window = getattr(encoder, "max_tokens", None)
    if tokenizer is None or not window:
        return None
    return truncation_profile(token_lengths(tokenizer, texts), window)


def run_bench(
    dataset: Dataset,
    models: list[str],
    options: BenchOptions | None = None,
    progress: ProgressFactory | None = None,
    on_run: Callable[[dict], None] | None = None,
    on_skip: Callable[[str, Exception], None] | None = None,
    recipes: list | None = None,
    tune_split: str | None = None,
) -> ResultsFile:
    """Bench every model (and every recipe) on one dataset; returns the results.json document.

    `on_run(results)` is called after each model with the document so far (the CLI saves it, so an
    interrupted bench keeps finished runs). With `on_skip`, a model whose weights are missing is reported
    there and skipped instead of stopping the bench.
    """
    options = options or BenchOptions()
    results = {
        "embedproof_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "dataset": dataset.summary(),
        "settings": {
            "top_k": options.top_k,
            "batch_size": options.batch_size,
            "max_tokens": options.max_tokens,
            "dims": options.dims,
            "precisions": options.precisions,
            "rescore_multiplier": options.rescore_multiplier,
            "usd_per_gb_month": options.usd_per_gb_month,
            "instance_usd_per_hour": options.instance_usd_per_hour,
            "utilisation": options.utilisation,
            "latency_queries": options.latency_queries,
            "latency_rounds": options.latency_rounds,
            "encoder_backends": list(options.backends),
            "condensed": options.condensed,
        },
        "statistics": options.statistics.to_dict(),
        "runs": [],
    }
    if dataset.split == "pseudo":  # built here, seen nowhere else: the file shows what was measured
        results["queries"] = dict(dataset.queries)
    plan = latency_plan(dataset, options)
    try:
        _bench_all(dataset, models, options, progress, on_run, on_skip, recipes, tune_split, plan, results)
    finally:
        plan.close()
    annotate(results)
    return results


def _bench_all(dataset, models, options, progress, on_run, on_skip, recipes, tune_split, plan, results) -> None:
    """Every model's and recipe's runs into `results`, then the latency of all of them, timed together."""
    for name in models:
        for backend in ["torch"] if builtin_model(name) else list(dict.fromkeys(options.backends or ["torch"])):
            try:
                entries = bench_model(dataset, name, options, progress, backend, plan)
            except (ModelNotAvailableError, UnsupportedBackendError) as exc:
                # A torch-only family (SPLADE, BGE-M3) in a bench that includes torch still runs there: skip the rest.
                torch_only = isinstance(exc, UnsupportedBackendError) and "torch" in options.backends
                if on_skip is None and not torch_only:
                    raise
                if on_skip is not None:
                    on_skip(name if backend == "torch" else f"{name} [{backend}]", exc)
                continue
            results["runs"].extend(entries)
            if on_run:
                on_run(results)
    backend_retention(results["runs"])
    if recipes:
        from embedproof.evaluation.bench_recipes import bench_recipes

        results["runs"].extend(bench_recipes(dataset, recipes, options, progress, tune_split, plan))
        if on_run:
            on_run(results)
    load = measure_plan(plan, options, progress)
    if load is not None:
        results["load"] = load


def backend_retention(runs: list[RunResult]) -> None:
    """Compare each non-torch run with the torch fp32 run of the same model and variant in the same bench.

    Adds `backend_vs_torch`: nDCG@10 retention and the documents/s ratio (None when either encode was cached).
    """

    def key(r):
        return (
            r.get("model"),
            r.get("mode"),
            r.get("dim"),
            r.get("precision"),
            json.dumps(r.get("chunking"), sort_keys=True),
        )

    torch_runs = {key(r): r for r in runs if r.get("encoder_backend") == "torch" and "recipe" not in r}
    for run in runs:
        ref = torch_runs.get(key(run))
        if run.get("encoder_backend", "torch") == "torch" or ref is None:
            continue
        ours, theirs = run["timings"].get("documents_per_s"), ref["timings"].get("documents_per_s")
        base = ref["metrics"].get("ndcg@10")
        run["backend_vs_torch"] = {
            "ndcg@10_retention": run["metrics"]["ndcg@10"] / base if base else None,
            "documents_per_s_ratio": ours / theirs if ours and theirs else None,
        }
