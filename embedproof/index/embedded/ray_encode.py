"""Encode an index's chunks on a Ray cluster: a Ray Data actor pool, one model loaded per actor.

Each actor turns a chunk (texts and ids) into the bytes of its chunk file with the same `chunk_bytes` the
in-process build uses; the driver writes and commits every chunk as it comes back (in any order), so the index
is the same as a single-process build, and a killed run resumes the same way (only uncommitted chunks are sent).
`address="local"` starts Ray on this machine, on loopback only; any other address joins that cluster.
On one small machine it is not faster than one process (each actor loads its own model); it is for clusters.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import numpy as np

from embedproof.errors import EmbedproofError
from embedproof.index.embedded.chunks import ChunkJob, EncodeChunks, chunk_bytes


def _ray():
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise EmbedproofError("--ray needs Ray Data: pip install 'embedproof[ray]'") from exc
    return ray


def connect(address: str) -> bool:
    """Join the cluster at `address`, or start a private one on loopback for "local" (no dashboard, nothing exposed).

    Returns whether this call connected (False: Ray was already initialised by the caller, who also shuts it down).
    """
    ray = _ray()
    if ray.is_initialized():
        return False
    try:
        if address == "local":
            ray.init(
                num_cpus=os.cpu_count() or 1, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False
            )
        else:
            ray.init(address=address, log_to_driver=False)
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError… for a bad or unreachable address
        raise EmbedproofError(f"--ray {address}: cannot start or join Ray ({exc})") from exc
    return True


class ChunkEncoderActor:
    """One per pool slot: loads the model once, then encodes whole chunks (one chunk per batch)."""

    def __init__(self, model: str, kind: str, encoder_options: Callable[[str], dict]):
        from embedproof.search.pipeline import Workspace

        self.kind = kind
        self.encoder = Workspace([], [], encoder_options).encoder(model, kind)

    def __call__(self, batch: dict) -> dict:
        payloads = [
            chunk_bytes(self.encoder.encode_documents([str(t) for t in texts], [str(i) for i in ids]), self.kind)
            for texts, ids in zip(batch["texts"], batch["ids"])
        ]
        return {"number": np.asarray(batch["number"]), "payload": np.array(payloads, dtype=object)}


def ray_chunk_encoder(address: str, encoder_options: Callable[[str], dict], actors: int | None = None) -> EncodeChunks:
    """An `encode_chunks` for `build_index` that runs on Ray: `actors` models in parallel (default: one per CPU).

    Its `close()` disconnects (and stops a "local" Ray) if this call connected, so no actor outlives the build.
    """
    ray = _ray()
    connected = connect(address)
    size = actors or max(1, int(ray.cluster_resources().get("CPU", 1)))

    def encode(model: str, kind: str, jobs: list[ChunkJob]) -> Iterator[tuple[int, bytes]]:
        if not jobs:
            return
        items = [{"number": number, "texts": texts, "ids": ids} for number, texts, ids in jobs]
        encoded = ray.data.from_items(items).map_batches(
            ChunkEncoderActor,
            fn_constructor_kwargs={"model": model, "kind": kind, "encoder_options": encoder_options},
            compute=ray.data.ActorPoolStrategy(size=min(size, len(jobs))),
            batch_size=1,
            batch_format="numpy",
        )
        for row in encoded.iter_rows():
            yield int(row["number"]), bytes(row["payload"])

    encode.close = ray.shutdown if connected else (lambda: None)  # type: ignore[attr-defined]
    return encode
