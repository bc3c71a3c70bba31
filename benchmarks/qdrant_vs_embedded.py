"""Search latency and top-10 agreement: the embedded default store vs the Qdrant store (qdrant-client local mode).

Run:  HF_HUB_OFFLINE=1 python benchmarks/qdrant_vs_embedded.py [--dataset ../shared/datasets/scifact] [--limit 1000]
For each recipe (MiniLM dense; MiniLM + BM25 RRF hybrid) it builds both indexes from the same embedproof cache (the
corpus is encoded once, the second build reads the cache), then asks every judged query of both, one query at a
time, interleaved (embedded, Qdrant, embedded, ...), and prints p50/p99 of the end-to-end `search()` call (query
encoding included, the same in both), the part spent inside Qdrant, nDCG@10 of each, and how often the top 10
agree: identical lists, identical up to score ties, and the mean overlap. Local mode is qdrant-client's Python/numpy
re-implementation, not the Qdrant server engine: its latencies say nothing about a Qdrant server's.
`--limit N` keeps the judged-relevant documents plus the first others up to N documents (a quick check).
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path

from embedproof.datasets.loading import load_dataset
from embedproof.evaluation.engine_parity import agree_up_to_ties, judged_subset, positive
from embedproof.evaluation.latency import machine_info, summarise
from embedproof.evaluation.metrics import evaluate_run
from embedproof.index.access import build_index, open_index
from embedproof.search.recipe import standard_recipe

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
HERE = Path(__file__).resolve().parent


class PrecomputedQueries:
    """An encoder whose query vectors (and BM25 query tokens) are computed once per text, then reused.

    Timing search() through it leaves the store's own work (search, fusion, rerank): the query encoding that
    both stores share is out of the measurement.
    """

    def __init__(self, encoder):
        self.encoder, self.vectors, self.tokens = encoder, {}, {}

    def encode_queries(self, texts, ids=None, on_progress=None):
        key = tuple(texts)
        if key not in self.vectors:
            self.vectors[key] = self.encoder.encode_queries(texts, ids)
        return self.vectors[key]

    def _tokens(self, texts):
        key = tuple(texts)
        if key not in self.tokens:
            self.tokens[key] = self.encoder._tokens(texts)
        return self.tokens[key]

    def __getattr__(self, name):
        return getattr(self.encoder, name)


def time_searches(indexes: dict, data, query_ids: list[str]) -> tuple[dict, list, dict]:
    """Per-query wall milliseconds of each index's search(), interleaved; Qdrant's in-store part; the answers."""
    wall = {s: [] for s in indexes}
    inside, answers = [], {s: {} for s in indexes}
    gc.disable()  # a collection in the middle of one backend's query would be charged to that backend
    try:
        for qid in query_ids:
            for store, index in indexes.items():
                start = time.perf_counter()
                answer = index.search(data.queries[qid], 10)
                wall[store].append(1000 * (time.perf_counter() - start))
                answers[store][qid] = [(r["id"], r["score"]) for r in answer["results"]]
                if store == "qdrant":
                    inside.append(answer["timings_ms"]["qdrant"])
            gc.collect()
    finally:
        gc.enable()
    return wall, inside, answers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=str(HERE.parents[1] / "shared" / "datasets" / "scifact"))
    parser.add_argument("--limit", type=int, default=None, help="documents (judged-relevant ones first); default all")
    parser.add_argument("--queries", type=int, default=None, help="at most this many judged queries")
    parser.add_argument("--model", default=MINILM)
    parser.add_argument(
        "--recipes", default="dense,hybrid", help="comma-separated standard modes (dense, sparse, hybrid)"
    )
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--work", type=Path, default=None, help="folder for the indexes (default: a temporary one)")
    args = parser.parse_args(argv)

    data = load_dataset(args.dataset)
    corpus, query_ids = judged_subset(data.corpus, data.qrels, args.limit)
    query_ids = query_ids[: args.queries] if args.queries else query_ids
    work = args.work or Path(tempfile.mkdtemp(prefix="qdrant-vs-embedded-"))
    print(f"{data.name}: {len(corpus):,} documents, {len(query_ids)} judged queries; indexes in {work}", flush=True)
    info = machine_info()
    print(f"machine: {info['cpu']}, {info['affinity']} cores, torch threads {info['torch_threads']}", flush=True)
    rows = []
    for mode in args.recipes.split(","):
        recipe = standard_recipe(mode.strip(), args.model, "bm25")
        timings = {}
        for store in ("embedded", "qdrant"):
            start = time.perf_counter()
            build_index(
                recipe,
                corpus,
                work / f"{recipe.name}-{store}",
                store_backend=store,
                store_options={"path": str(work / f"qdrant-{recipe.name}")} if store == "qdrant" else None,
            )
            timings[store] = time.perf_counter() - start
        print(
            f"{recipe.name}: built embedded in {timings['embedded']:.1f} s, qdrant in {timings['qdrant']:.1f} s",
            flush=True,
        )
        indexes = {store: open_index(work / f"{recipe.name}-{store}") for store in ("embedded", "qdrant")}
        for store, index in indexes.items():
            for qid in query_ids[: args.warmup]:
                index.search(data.queries[qid], 10)
        wall, _, answers = time_searches(indexes, data, query_ids)
        for index in indexes.values():
            for key, encoder in list(index.workspace._encoders.items()):
                index.workspace._encoders[key] = PrecomputedQueries(encoder)
            for qid in query_ids:
                index.search(data.queries[qid], 10)  # fills the precomputed query vectors
        bare, _, _ = time_searches(indexes, data, query_ids)
        indexes["qdrant"].close()
        e, q = answers["embedded"], answers["qdrant"]
        sparse_only = mode.strip() == "sparse"
        identical = sum([d for d, _ in e[x]] == [d for d, _ in q[x]] for x in query_ids)
        tol = 1e-9 if len(recipe.first_pass) > 1 else 1e-5
        tied = sum(agree_up_to_ties(positive(e[x]) if sparse_only else e[x], q[x], tol) for x in query_ids)
        overlap = sum(len({d for d, _ in e[x]} & {d for d, _ in q[x]}) for x in query_ids) / len(query_ids)
        ndcg = {
            s: evaluate_run({x: data.qrels[x] for x in query_ids}, {x: dict(a[x]) for x in query_ids}, ["ndcg@10"])[0][
                "ndcg@10"
            ]
            for s, a in answers.items()
        }
        for store in indexes:
            full, store_only = summarise(wall[store]), summarise(bare[store])
            rows.append(
                (recipe.name, store, full["p50"], full["p99"], store_only["p50"], store_only["p99"], ndcg[store])
            )
        print(
            f"{recipe.name}: top 10 ids identical for {identical}/{len(query_ids)} queries; "
            f"same ids and scores up to score ties for {tied}/{len(query_ids)}; mean overlap {overlap:.2f}/10",
            flush=True,
        )
    print(
        f"\n{'recipe':<10} {'store':<9} {'p50 ms':>8} {'p99 ms':>8} {'store p50':>10} {'store p99':>10} {'nDCG@10':>8}"
    )
    for name, store, p50, p99, s50, s99, ndcg in rows:
        print(f"{name:<10} {store:<9} {p50:>8.2f} {p99:>8.2f} {s50:>10.2f} {s99:>10.2f} {ndcg:>8.4f}")
    print(
        "p50/p99: end-to-end search() per query, query encoding included; store: the same with the query vectors\n"
        "precomputed (search, fusion, rerank only). "
        "Qdrant = qdrant-client local mode (Python/numpy), not a Qdrant server."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
