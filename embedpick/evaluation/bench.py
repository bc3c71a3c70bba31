"""`embedpick bench`: encode a collection with each model, search, score, and write results.json.

Each model encodes the corpus once (through the embedding cache) and is scored with pytrec_eval on the
judged queries of one split. The JSON keeps the field names later issues extend.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from embedpick import __version__
from embedpick.errors import EmbedpickError, ModelNotAvailableError
from embedpick.evaluation.datasets import Dataset
from embedpick.evaluation.metrics import evaluate_run, run_from_indices, write_trec_run
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


def bench_model(dataset: Dataset, name: str, options: BenchOptions, progress: ProgressFactory | None = None) -> dict:
    """Encode, search and score one model on `dataset`; returns one entry of results.json's `runs`."""
    from embedpick.models.factory import get_encoder

    if not dataset.qrels:
        raise EmbedpickError(f"dataset {dataset.name!r} has no judged queries: bench needs queries and qrels")
    encoder = get_encoder(name, **_encoder_options(name, options))
    doc_ids = list(dataset.corpus)
    doc_texts = [dataset.corpus[d].full_text for d in doc_ids]
    queries = dataset.judged_queries
    query_ids = list(queries)

    advance = progress(f"{name}: documents", len(doc_texts)) if progress else None
    start = time.perf_counter()
    doc_emb = encoder.encode_documents(doc_texts, doc_ids, on_progress=advance)
    encode_docs_s = time.perf_counter() - start

    start = time.perf_counter()
    query_emb = encoder.encode_queries([queries[q] for q in query_ids], query_ids)
    encode_queries_s = time.perf_counter() - start

    start = time.perf_counter()
    indices, scores = search(query_emb, doc_emb, options.top_k)
    search_s = time.perf_counter() - start

    run = run_from_indices(query_ids, doc_ids, indices, scores)
    means, per_query = evaluate_run(dataset.qrels, run)
    card = get_card(name)
    doc_cache_hits = doc_emb.info.get("cache_hits", 0)
    entry = {
        "model": name,
        "card": card.name if card.known else None,
        "mode": doc_emb.mode,
        "dim": doc_emb.dim if doc_emb.mode == "dense" else None,
        "precision": "float32",
        "query_prefix": getattr(encoder, "query_prefix", ""),
        "document_prefix": getattr(encoder, "document_prefix", ""),
        "max_tokens": getattr(encoder, "max_tokens", None),
        "revision": doc_emb.info.get("revision"),
        "top_k": options.top_k,
        "metrics": means,
        "per_query": per_query,
        "timings": {
            "encode_documents_s": round(encode_docs_s, 4),
            "encode_queries_s": round(encode_queries_s, 4),
            "search_s": round(search_s, 4),
            # Throughput is only meaningful when the documents were actually encoded, not read from the cache.
            "documents_per_s": round(len(doc_texts) / encode_docs_s, 2) if encode_docs_s > 0 and not doc_cache_hits else None,
        },
        "cache_hits": {"documents": doc_cache_hits, "queries": query_emb.info.get("cache_hits", 0)},
        "warnings": list(getattr(encoder, "warnings", [])),
    }
    if doc_emb.mode == "sparse":
        entry["vocabulary_size"] = doc_emb.dim
    if options.run_dir:
        path = write_trec_run(run, f"{options.run_dir}/{dataset.name}.{_safe(name)}.trec", tag=name)
        entry["run_file"] = str(path)
    return entry


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def machine_info() -> dict:
    import os

    return {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(), "processor": platform.processor()}


def run_bench(
    dataset: Dataset,
    models: list[str],
    options: BenchOptions | None = None,
    progress: ProgressFactory | None = None,
    on_run: Callable[[dict], None] | None = None,
    on_skip: Callable[[str, Exception], None] | None = None,
) -> dict:
    """Bench every model on one dataset; returns the results.json document.

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
        "settings": {"top_k": options.top_k, "batch_size": options.batch_size, "max_tokens": options.max_tokens},
        "runs": [],
    }
    for name in models:
        try:
            entry = bench_model(dataset, name, options, progress)
        except ModelNotAvailableError as exc:
            if on_skip is None:
                raise
            on_skip(name, exc)
            continue
        results["runs"].append(entry)
        if on_run:
            on_run(results)
    return results
