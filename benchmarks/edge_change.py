"""Time and extra disk to add documents to a big edge index in place, through `apply_change` (the CLI's path).

The base index is built cheaply, as `scale_edge.py` builds its shards: a real 1,000-document edge build of the
recipe (hashing, truncated to 384 dimensions, int8 with rescoring, HNSW m 16) gives the manifest and collection plan;
a shard of that plan is then filled with N synthetic unit vectors (clustered: 256 random centres plus noise, so the
graph is not built over pure noise) and optimised, and docs.jsonl gets N short synthetic documents. The change is
real: 1,000 new documents, encoded by the hashing model, added by `apply_change` (journal of point ids, upsert,
flush, commit, optimise). The extra disk at the peak is also split by part (write-ahead log, old and new segments,
journal, document files), to show where it goes.

Measured: the change's wall time; the index folder's disk use before, at its peak during the change (sampled every
20 ms by a thread) and after, both as allocated blocks and as apparent size; and, apart, what one more `optimize()`
takes after the change (the change ends with one, so this shows what it left undone). "Added data" is what the change
adds by definition: the new points' float32 vectors (1,000 × 384 × 4 B), their payloads ({"id": ...} as JSON) and
the new docs segment's bytes; the target is extra disk ≤ 2× that and ≤ 30 s at 1M. The 1-minute load average is
recorded beside every figure (other work shares the cores).

    python benchmarks/edge_change.py --sizes 100000 1000000 --added 1000
    python benchmarks/edge_change.py --sizes 10000 100000 --bm25     # the O(N) BM25 rewrite, measured
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np

from embedproof.files import disk_bytes

WORK = Path(os.environ.get("EDGE_CHANGE_WORK", "/tmp/edge_change"))
DIM = 384
ENGINE = {"quantization": "int8", "m": 16, "ef_construct": 100}
TEMPLATE_DOCS = 1000
WORDS = [f"w{i}" for i in range(5000)]


def load() -> float:
    return round(os.getloadavg()[0], 2)


def recipe(bm25: bool = False):
    """Hashing truncated to 384 dimensions, int8; with `bm25`, fused with BM25 (whose rows every change rewrites)."""
    from embedproof.search.recipe import Recipe

    if bm25:
        return Recipe("edge-change-bm25", ["hashing", "bm25"], "rrf", {"k": 60}, dim=DIM, engine=ENGINE)
    return Recipe("edge-change", ["hashing"], dim=DIM, engine=ENGINE)


def synthetic_docs(first: int, count: int, seed: int) -> dict:
    from embedproof.types import Document

    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(WORDS), (count, 12))
    return {
        f"d{first + i:08d}": Document(f"d{first + i:08d}", " ".join(WORDS[w] for w in row))
        for i, row in enumerate(picks)
    }


def unit_vectors(count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(256, DIM)).astype(np.float32)
    v = centres[rng.integers(0, 256, count)] + 0.6 * rng.normal(size=(count, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def build_base(size: int, folder: Path, bm25: bool = False) -> dict:
    """An edge index of `size` documents: a real small build's manifest and plan, a shard of synthetic vectors
    (and, with `bm25`, the documents' real BM25 rows)."""
    from embedproof.index.access import build_index
    from embedproof.index.edge.build import chunk_rows
    from embedproof.index.edge.engine import EdgeShardHandle
    from embedproof.index.manifest import Manifest, ids_digest
    from embedproof.index.qdrant.bm25 import corpus_statistics, document_vectors
    from embedproof.models.factory import get_encoder

    shutil.rmtree(folder, ignore_errors=True)
    start = time.perf_counter()
    build_index(recipe(bm25), synthetic_docs(0, min(size, TEMPLATE_DOCS), 1), folder, chunk_size=512)
    manifest = Manifest.read(folder)
    shutil.rmtree(folder / manifest["store"]["path"])
    docs = synthetic_docs(0, size, 1)
    shard = EdgeShardHandle.create(str(folder / manifest["store"]["path"]), manifest["store"]["collection"])
    vector = next(c["vector"] for c in manifest["components"].values() if "bm25" not in c)
    sparse = next((c for c in manifest["components"].values() if "bm25" in c), None)
    ids = list(docs)
    texts = [d.full_text for d in docs.values()]
    if sparse is not None:
        tokeniser = get_encoder("bm25")
        sparse["bm25"] = corpus_statistics(tokeniser, texts)
    for s in range(0, size, 10_000):
        rows = unit_vectors(min(10_000, size - s), seed=s)
        points = [(s + i, {vector: row}, {"id": ids[s + i]}) for i, row in enumerate(rows)]
        if sparse is not None:
            terms = document_vectors(tokeniser, texts[s : s + len(rows)], sparse["bm25"]["avgdl"])
            for point, row in zip(points, chunk_rows("first", None, terms, None)):
                point[1][sparse["vector"]] = row
        shard.upsert(points)
    upserted = time.perf_counter()
    shard.optimize()
    shard.flush()
    stats = shard.stats()
    shard.close()
    optimised = time.perf_counter()
    manifest.files.pop("docs.jsonl")
    manifest.data["docs"] = []
    manifest.write_docs("docs.jsonl", docs.values())
    manifest["documents"] = size
    manifest["ids_sha256"] = ids_digest(ids)
    manifest["store"]["shard"] = stats
    manifest.save()
    return {
        "base_build_s": round(time.perf_counter() - start, 1),
        "base_upsert_s": round(upserted - start, 1),
        "base_optimize_s": round(optimised - upserted, 1),
    }


def breakdown(folder: Path, segments_before: set[str]) -> dict[str, int]:
    """Allocated bytes by part: the shard's write-ahead log, its segments that existed before the change, segments
    the change created, the change journal, the document files, and the rest."""
    parts: dict[str, int] = {}
    for path in folder.rglob("*"):
        try:
            if not path.is_file():
                continue
            size = path.stat().st_blocks * 512
        except FileNotFoundError:  # renamed or deleted while listed
            continue
        rel = path.relative_to(folder).parts
        if "wal" in rel:
            part = "wal"
        elif "segments" in rel:
            segment = rel[rel.index("segments") + 1] if len(rel) > rel.index("segments") + 1 else ""
            part = "old segments" if segment in segments_before else "new segments"
        elif rel[-1].startswith("change-journal") or ".change-journal" in rel[-1]:
            part = "journal"
        elif rel[-1].startswith("docs") or rel[-1].startswith(".docs"):
            part = "docs"
        else:
            part = "other"
        parts[part] = parts.get(part, 0) + size
    return parts


def segment_names(folder: Path) -> set[str]:
    return {p.name for p in folder.rglob("segments/*")}


class DiskWatch:
    """The folder's disk use (allocated blocks and apparent bytes), at its largest while the watch runs, and the
    allocated bytes by part (`breakdown`) at the allocated peak."""

    def __init__(self, folder: Path, every_s: float = 0.02) -> None:
        self.folder, self.every_s = folder, every_s
        self.peak_allocated = self.peak_apparent = 0
        self.segments_before = segment_names(folder)
        self.base_parts = breakdown(folder, self.segments_before)
        self.peak_parts: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        try:
            allocated, apparent = disk_bytes(self.folder, allocated=True), disk_bytes(self.folder)
        except FileNotFoundError:  # a file vanished between listing and stat (a rename or delete under way)
            return
        if allocated > self.peak_allocated:
            self.peak_parts = breakdown(self.folder, self.segments_before)
        self.peak_allocated = max(self.peak_allocated, allocated)
        self.peak_apparent = max(self.peak_apparent, apparent)

    def extra_at_peak(self) -> dict[str, int]:
        """Allocated bytes by part at the peak, less the same part before the change."""
        keys = set(self.base_parts) | set(self.peak_parts)
        return {k: self.peak_parts.get(k, 0) - self.base_parts.get(k, 0) for k in sorted(keys)}

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.every_s)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def change(size: int, added: int, bm25: bool = False) -> dict:
    """Build the base of `size`, add `added` documents through apply_change; returns one result row."""
    from embedproof.index.change import apply_change
    from embedproof.index.edge.engine import EdgeShardHandle
    from embedproof.index.manifest import Manifest

    folder = WORK / f"edge-{size}{'-bm25' if bm25 else ''}"
    base = build_base(size, folder, bm25)
    new = synthetic_docs(size, added, 2)
    before_allocated, before_apparent = disk_bytes(folder, allocated=True), disk_bytes(folder)
    load_before = load()
    with DiskWatch(folder) as watch:
        start = time.perf_counter()
        result = apply_change(folder, new, source="benchmark")
        seconds = time.perf_counter() - start
    load_after = load()
    manifest = Manifest.read(folder)
    segment = folder / manifest.docs[-1]
    payload = sum(len(json.dumps({"id": d})) for d in new)
    added_bytes = added * DIM * 4 + payload + segment.stat().st_size
    after_allocated, after_apparent = disk_bytes(folder, allocated=True), disk_bytes(folder)
    after_parts = {k: v - watch.base_parts.get(k, 0) for k, v in breakdown(folder, watch.segments_before).items()}
    shard = EdgeShardHandle.load(str(folder / manifest["store"]["path"]))
    segments_after_change = shard.stats()["segments"]
    start = time.perf_counter()
    shard.optimize()
    shard.flush()
    optimize_s = time.perf_counter() - start
    shard.close()
    return {
        "size": size,
        "added": added,
        "recipe": recipe(bm25).name,
        **base,
        "generation": result.generation,
        "documents": result.documents,
        "change_s": round(seconds, 2),
        "added_data_bytes": added_bytes,
        "base_allocated_bytes": before_allocated,
        "peak_extra_allocated_bytes": watch.peak_allocated - before_allocated,
        "after_extra_allocated_bytes": after_allocated - before_allocated,
        "peak_extra_apparent_bytes": watch.peak_apparent - before_apparent,
        "after_extra_apparent_bytes": after_apparent - before_apparent,
        "peak_extra_allocated_by_part": watch.extra_at_peak(),
        "after_extra_allocated_by_part": after_parts,
        "segments_after_change": segments_after_change,
        "optimize_after_s": round(optimize_s, 1),
        "load_change": [load_before, load_after],
    }


def table(rows: list[dict]) -> str:
    mb = 1 / 1e6
    lines = [
        "| recipe | vectors | added | change s | added data MB | extra disk peak MB (× added) "
        "| extra disk after MB (× added) | optimize() after s | load (1 min) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        added = r["added_data_bytes"]
        lines.append(
            f"| {r['recipe']} | {r['size']:,} | {r['added']:,} | {r['change_s']:.1f} | {added * mb:.2f} "
            f"| {r['peak_extra_allocated_bytes'] * mb:.1f} ({r['peak_extra_allocated_bytes'] / added:.2f}×) "
            f"| {r['after_extra_allocated_bytes'] * mb:.1f} ({r['after_extra_allocated_bytes'] / added:.2f}×) "
            f"| {r['optimize_after_s']:.1f} | {r['load_change'][0]}–{r['load_change'][1]} |"
        )
    return "\n".join(lines)


def run(sizes: list[int], added: int, bm25: bool = False) -> list[dict]:
    WORK.mkdir(parents=True, exist_ok=True)
    rows = []
    for size in sizes:
        row = change(size, added, bm25)
        rows.append(row)
        (WORK / f"result-{row['recipe']}-{size}.json").write_text(json.dumps(row, indent=2))
        print(json.dumps(row), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--added", type=int, default=1000)
    parser.add_argument("--bm25", action="store_true", help="hashing fused with BM25 (every change rewrites BM25 rows)")
    parser.add_argument("--keep", action="store_true", help="keep the built indexes in the work folder")
    args = parser.parse_args()
    rows = run(args.sizes, args.added, args.bm25)
    print(table(rows))
    if not args.keep:
        for size in args.sizes:
            shutil.rmtree(WORK / f"edge-{size}{'-bm25' if args.bm25 else ''}", ignore_errors=True)


if __name__ == "__main__":
    main()
