"""On-disk embedding cache: re-running a bench never re-encodes a text it has already seen.

Keyed by everything that changes a vector (model, revision, prefix, max length, settings) plus a hash of the
text. Each batch of new vectors is one `.npz` chunk written atomically, so an interrupted encode resumes from
its last committed chunk and a crash never leaves a half-written file that loads.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from typing import Callable, Sequence

import numpy as np
import scipy.sparse as sp

from embedpick.atomic import atomic_open, write_json_atomic
from embedpick.errors import EmbedpickError
from embedpick.paths import cache_root


def text_hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


class EmbeddingCache:
    """Vectors for one key (model+revision+prefix+max length+settings), in append-only chunks.

    A row is one dense vector, one (tokens × dim) matrix for multi-vector models (chunks then also store
    each text's token count and the matrices concatenated), or one sparse row (chunks store CSR arrays).
    """

    def __init__(self, key: dict, root: str | os.PathLike | None = None):
        self.key = key
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
        self.folder = cache_root(root) / "embeddings" / digest
        self._rows: dict[str, np.ndarray] | None = None

    def _load(self) -> dict[str, np.ndarray]:
        if self._rows is not None:
            return self._rows
        rows: dict[str, np.ndarray] = {}
        for chunk in sorted(self.folder.glob("chunk-*.npz")):
            try:
                with np.load(chunk, allow_pickle=False) as data:
                    hashes = data["hashes"]
                    if "indptr" in data.files:  # sparse rows
                        vectors = sp.csr_matrix((data["data"], data["indices"], data["indptr"]), shape=tuple(data["shape"]))
                        vectors = [vectors.getrow(i) for i in range(vectors.shape[0])]
                        lengths = None
                    else:
                        vectors = data["vectors"]
                        lengths = data["lengths"] if "lengths" in data.files else None
            except Exception as exc:  # a foreign or damaged file: say which, do not guess
                raise EmbedpickError(f"{chunk}: unreadable embedding-cache chunk ({exc}); delete it to re-encode") from exc
            if lengths is not None:
                vectors = np.split(vectors, np.cumsum(lengths)[:-1]) if len(lengths) else []
            rows.update(zip(hashes.tolist(), vectors))
        self._rows = rows
        return rows

    def __len__(self) -> int:
        return len(self._load())

    def put(self, texts: Sequence[str], vectors: np.ndarray | list[np.ndarray]) -> None:
        """Commit one chunk: a 2-D array (one vector per text) or a list of 2-D arrays (tokens per text)."""
        rows = self._load()
        hashes = np.array([text_hash(t) for t in texts], dtype="<U32")
        arrays = {"hashes": hashes}
        if sp.issparse(vectors):
            matrix = sp.csr_matrix(vectors, dtype=np.float32)
            arrays.update(data=matrix.data, indices=matrix.indices, indptr=matrix.indptr, shape=np.array(matrix.shape))
            stored = [matrix.getrow(i) for i in range(matrix.shape[0])]
        elif isinstance(vectors, list):
            arrays["lengths"] = np.array([len(v) for v in vectors], dtype=np.int64)
            arrays["vectors"] = np.concatenate(vectors) if vectors else np.zeros((0, 0), np.float16)
            stored = vectors
        else:
            arrays["vectors"] = stored = np.ascontiguousarray(vectors, dtype=np.float32)
        self.folder.mkdir(parents=True, exist_ok=True)
        meta = self.folder / "key.json"
        if not meta.exists():
            write_json_atomic(meta, self.key)
        name = f"chunk-{len(list(self.folder.glob('chunk-*.npz'))):06d}-{hashes[0] if len(hashes) else 'empty'}.npz"
        with atomic_open(self.folder / name, "wb") as handle:
            np.savez(handle, **arrays)
        rows.update(zip(hashes.tolist(), stored))

    def encode(
        self,
        texts: Sequence[str],
        encode_fn: Callable[[list[str]], np.ndarray | list[np.ndarray]],
        chunk_size: int = 512,
        on_progress: Callable[[int], None] | None = None,
    ) -> tuple[np.ndarray | list[np.ndarray], int]:
        """Vectors for `texts` in order, encoding only cache misses, committing every `chunk_size` texts.

        Returns the matrix (or, for multi-vector rows, the list of matrices) and the number of texts served
        from the cache.
        """
        rows = self._load()
        hashes = [text_hash(t) for t in texts]
        counts = Counter(hashes)
        missing = {h: t for h, t in zip(hashes, texts) if h not in rows}
        hits = sum(n for h, n in counts.items() if h not in missing)
        if on_progress and hits:
            on_progress(hits)
        todo = list(missing.items())
        for start in range(0, len(todo), chunk_size):
            batch = todo[start : start + chunk_size]
            self.put([t for _, t in batch], encode_fn([t for _, t in batch]))
            if on_progress:
                on_progress(sum(counts[h] for h, _ in batch))
        rows = self._load()
        if not texts:
            return np.zeros((0, 0), dtype=np.float32), 0
        found = [rows[h] for h in hashes]
        if sp.issparse(found[0]):
            return sp.vstack(found).tocsr(), hits
        return (found if found[0].ndim == 2 else np.stack(found)), hits
