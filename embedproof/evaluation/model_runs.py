"""Model runs: one model encoded once, every requested variant derived from that encode, each a one-model recipe.

Dense models are swept over Matryoshka dims × precisions from a single encode (see sweep.py), plus a chunked variant
with `chunk_tokens`; sparse models give one run. Each run carries its recipe and name, so any of them can be picked
and built.
"""

from __future__ import annotations

import time

import numpy as np

from embedproof.datasets.loading import Dataset
from embedproof.errors import EmbedproofError
from embedproof.evaluation.bench_options import (
    BenchOptions,
    ProgressFactory,
    encoder_options,
    latency_plan,
    measure_plan,
)
from embedproof.evaluation.cost import (
    storage_usd_month,
)
from embedproof.evaluation.latency import LatencyPlan
from embedproof.evaluation.metrics import evaluate_run, judged_warning, write_trec_run
from embedproof.evaluation.run_result import variant_name
from embedproof.evaluation.sweep import SweepOptions, sweep_variants
from embedproof.evaluation.truncation import encoder_truncation, truncation_warning
from embedproof.files import safe_name
from embedproof.models.card import get_card
from embedproof.models.remote_providers import display_name
from embedproof.search.dense import run_from_indices
from embedproof.search.pipeline import Workspace, run_recipe
from embedproof.search.recipe import Recipe
from embedproof.search.retrieve import search
from embedproof.search.sparse import sparse_search
from embedproof.vectors.matryoshka import truncate_matryoshka


def _sparse_bytes(matrix) -> int:
    return int(matrix.data.nbytes + matrix.indices.nbytes + matrix.indptr.nbytes)


def bench_workspace(dataset: Dataset, options: BenchOptions, backend: str, progress=None) -> Workspace:
    """The corpus with one encoder backend: model runs and recipes of one bench share it, so each model encodes
    the corpus once."""
    doc_ids = list(dataset.corpus)
    return Workspace(
        doc_ids,
        [dataset.corpus[d].full_text for d in doc_ids],
        lambda m: encoder_options(m, options, backend),
        progress,
    )


def bench_model(
    dataset: Dataset,
    name: str,
    options: BenchOptions,
    progress: ProgressFactory | None = None,
    backend: str = "torch",
    plan: LatencyPlan | None = None,
    workspace: Workspace | None = None,
) -> list[dict]:
    """Encode, search and score one model on `dataset`: one run per (dim, precision) variant, and per chunking.

    Every run is a one-model recipe (`recipe`, `name`), so the pick among them can be built and served. The
    variants are derived from one encode (see sweep.py). Latency is registered with `plan` (measured later,
    together with the bench's other runs); without a plan the model's runs are timed here, among themselves.
    """
    if plan is None:
        plan = latency_plan(dataset, options)
        runs = bench_model(dataset, name, options, progress, backend, plan, workspace)
        measure_plan(plan, options)
        return runs
    if not dataset.qrels:
        raise EmbedproofError(f"dataset {dataset.name!r} has no judged queries: bench needs queries and qrels")
    workspace = workspace or bench_workspace(dataset, options, backend, progress)
    encoder = workspace.encoder(name)
    card = get_card(name)
    doc_ids = workspace.doc_ids
    queries = dataset.judged_queries
    query_ids = list(queries)
    query_texts = [queries[q] for q in query_ids]

    truncation = encoder_truncation(encoder, workspace.doc_texts)
    start = time.perf_counter()
    doc_emb = workspace.documents(name)
    encode_docs_s = time.perf_counter() - start
    start = time.perf_counter()
    query_emb = encoder.encode_queries(query_texts, query_ids)
    encode_queries_s = time.perf_counter() - start

    doc_cache_hits = doc_emb.info.get("cache_hits", 0)
    tag = "" if backend == "torch" else f" [{backend}]"
    common = {
        "model": name,
        "models": [name],
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

    # the key recipes use for the same encoder (search/pipeline.py), so model runs and recipes share its timing
    encoder_key = plan.encoder(
        f"first:{name}" + ("" if backend == "torch" else f"@{backend}"),
        encoder,
        lambda rows: encoder.encode_queries(query_texts[rows]),
    )

    def with_latency(result: dict, search_fn) -> dict:
        """Register this run's search (after the shared query encoder) for the bench's latency pass."""

        def stages(encoded: dict, rows: slice) -> list[tuple[str, float]]:
            query = encoded[encoder_key]
            start = time.perf_counter()
            search_fn(query)
            return [("search", time.perf_counter() - start)]

        plan.add(result, [encoder_key], stages)
        return result

    def entry(recipe, mode, dim, run, means, per_query, search_s, bytes_each, index_bytes, extra=None) -> dict:
        result = {
            **common,
            "name": recipe.name,
            "recipe": recipe.to_dict(),
            "mode": mode,
            "dim": dim,
            "precision": recipe.precision,
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
            result["run_file"] = str(
                write_trec_run(run, f"{options.run_dir}/{dataset.name}.{safe_name(recipe.name)}.trec", tag=recipe.name)
            )
        return result

    def recipe_of(mode: str, dim: int | None, precision: str, chunking: tuple[int, int] | None = None) -> Recipe:
        native = doc_emb.dim if mode == "dense" else None
        return variant_recipe(display_name(name) + tag, name, mode, dim, native, precision, options, chunking)

    if doc_emb.mode == "sparse":
        start = time.perf_counter()
        indices, scores = search(query_emb, doc_emb, options.top_k)
        search_s = time.perf_counter() - start
        run, means, per_query = score(indices, scores)
        index_bytes = _sparse_bytes(doc_emb.sparse)
        result = entry(
            recipe_of("sparse", None, "float32"),
            "sparse",
            None,
            run,
            means,
            per_query,
            search_s,
            index_bytes / max(len(doc_ids), 1),
            index_bytes,
            {"vocabulary_size": doc_emb.dim},
        )
        inverted = workspace.inverted(name)  # as an index or the server keeps it: a query pays only its own terms
        return [with_latency(result, lambda e: sparse_search(e.sparse, None, options.top_k, inverted=inverted))]

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
        recipe = recipe_of("dense", v.dim, v.precision)
        result = entry(
            recipe, "dense", v.dim, run, means, per_query, v.search_s, v.bytes_per_vector, v.index_bytes, extra
        )
        result["warnings"] += v.warnings
        prepare = (lambda q, dim=v.dim: truncate_matryoshka(q, dim)) if v.dim != doc_emb.dim else (lambda q: q)
        runs.append(
            with_latency(
                result, lambda e, v=v, prepare=prepare: v.search_fn(prepare(np.asarray(e.dense, dtype=np.float32)))
            )
        )
    if options.chunk_tokens:
        chunking = (options.chunk_tokens, options.chunk_overlap)
        recipe = recipe_of("dense", doc_emb.dim, "float32", chunking)
        chunks = workspace.chunked(name, chunking)
        chunks.documents(name)  # encoding the chunks is indexing work, not search time

        def chunked_search(encoded, ids=None):
            ids = ids or [str(i) for i in range(len(encoded.dense))]
            return run_recipe(recipe, workspace, ids, [""] * len(ids), encoded={f"first:{name}": encoded})[-1].run

        start = time.perf_counter()
        run = chunked_search(query_emb, query_ids)
        search_s = time.perf_counter() - start
        means, per_query = evaluate_run(dataset.qrels, run, condensed=options.condensed)
        per_doc = len(chunks.doc_ids) / max(len(doc_ids), 1)
        extra = {
            "chunking": {
                "window_tokens": chunking[0],
                "overlap_tokens": chunking[1],
                "chunks": len(chunks.doc_ids),
                "chunks_per_document": per_doc,
            },
            "retention": {m: (means[m] / base[m] if base[m] else None) for m in means},
            "validated": True,
        }
        vectors = chunks.documents(name).dense
        result = entry(
            recipe,
            "dense",
            doc_emb.dim,
            run,
            means,
            per_query,
            search_s,
            doc_emb.dim * 4 * per_doc,
            int(vectors.nbytes),
            extra,
        )
        runs.append(with_latency(result, chunked_search))
    return runs


def variant_recipe(
    label: str,
    model: str,
    mode: str,
    dim: int | None,
    native: int | None,
    precision: str,
    options: BenchOptions,
    chunking: tuple[int, int] | None = None,
) -> Recipe:
    """The one-model recipe of a model run: named as tables show it, with the bench's candidates and rescoring."""
    dim = None if dim == native else dim
    return Recipe(
        variant_name(label, mode, dim or native, precision, chunking),
        [model],
        dim=dim,
        precision=precision,
        rescore_multiplier=options.rescore_multiplier,
        candidates=options.top_k,
        chunk_tokens=chunking[0] if chunking else None,
        chunk_overlap=chunking[1] if chunking else 0,
        allow_unvalidated_dims=dim is not None and options.allow_unvalidated_dims,
    )
