"""What an edge shard keeps resident while it answers queries, measured in a fresh process.

A process that has already worked reuses the memory it freed, so the growth of its resident size understates what
a shard needs (docs/edge.md). Here a new Python process
imports the engine, notes its resident memory, loads the shard, answers the given requests, and reports the growth:
anonymous pages (the engine's heap: HNSW links, quantised codes, its base) and file-backed pages (the mmapped vector
and index files the queries touched, which the kernel may evict under pressure). No model is loaded.

    python -m embedproof.index.edge.resident < {"shard": PATH, "requests": [[plan, vectors], ...]}
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from embedproof.errors import EmbedproofError

TIMEOUT_S = 600


def _portable(vectors: dict) -> dict:
    """Query vectors as JSON: a sparse (indices, values) pair is marked, dense and token rows become lists."""
    out = {}
    for key, value in vectors.items():
        if isinstance(value, tuple):
            out[key] = {"sparse": [np.asarray(value[0]).tolist(), np.asarray(value[1], dtype=float).tolist()]}
        else:
            out[key] = np.asarray(value, dtype=np.float32).tolist()
    return out


def _restored(vectors: dict) -> dict:
    return {k: tuple(v["sparse"]) if isinstance(v, dict) else v for k, v in vectors.items()}


def measure_resident(shard: str, plans: list[dict], vectors: list[dict]) -> dict:
    """{"anon_mb", "file_mb", "total_mb"} gained by loading `shard` and answering the requests, in a fresh process."""
    payload = json.dumps({"shard": shard, "requests": [[p, _portable(v)] for p, v in zip(plans, vectors)]})
    done = subprocess.run(
        [sys.executable, "-m", "embedproof.index.edge.resident"],
        input=payload,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    if done.returncode != 0:
        raise EmbedproofError(f"{shard}: measuring its resident memory failed: {done.stderr.strip()[-300:]}")
    return json.loads(done.stdout)


def main() -> None:
    from embedproof.index.edge.engine import EdgeShardHandle, import_engine
    from embedproof.memory import resident_mb

    request = json.loads(sys.stdin.read())
    import_engine()  # the engine's own import is part of the baseline, not of the shard
    before = resident_mb()
    shard = EdgeShardHandle.load(request["shard"])
    for plan, vectors in request["requests"]:
        shard.query(plan, _restored(vectors))
    after = resident_mb()
    shard.close()
    if before is None or after is None:
        print(json.dumps({"anon_mb": None, "file_mb": None, "total_mb": None}))
        return
    print(json.dumps({f"{k}_mb": round(after[k] - before[k], 1) for k in ("anon", "file", "total")}))


if __name__ == "__main__":
    main()
