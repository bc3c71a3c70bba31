"""On-disk embedding cache: re-running a bench never re-encodes a text it has already seen.

Keyed by everything that changes a vector (model, revision, prefix, max length, settings) plus a hash of the
text. Each batch of new vectors is one `.npz` chunk written atomically, so an interrupted encode resumes from
its last committed chunk and a crash never leaves a half-written file that loads.

Each chunk's sha256 is part of its name (`chunk-000003-sha256-<64 hex>.npz`), so the name and the bytes are
committed by the same rename and no shared manifest has to be updated (two processes can fill one cache). A
chunk whose bytes do not match its checksum, that does not parse, holds non-finite values or rows of another
width, or has a name we did not write is moved aside to `<name>.corrupt` with a warning naming it, and its texts
are simply encoded again: the cache is derived data, so it recovers instead of failing. Chunks written before
checksums existed (`chunk-000003-<text hash>.npz`) are read without one. Nothing is unpickled.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from embedproof.errors import EmbedproofError
from embedproof.files import atomic_open, cache_root, write_json_atomic

CHECKED = re.compile(r"^chunk-\d{6}-sha256-([0-9a-f]{64})\.npz$")
LEGACY = re.compile(r"^chunk-\d{6}-(?:[0-9a-f]{32}|empty)\.npz$")


class CacheCorruptionWarning(UserWarning):
    """A cache chunk was damaged or foreign; it was moved aside and its texts will be encoded again."""


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
        width: int | None = None
        for chunk in sorted(self.folder.glob("chunk-*.npz")):
            try:
                hashes, vectors = _read_chunk(chunk)
                if isinstance(vectors, np.ndarray) and len(vectors):  # dense rows: one width per key
                    width = vectors.shape[1] if width is None else width
                    if vectors.shape[1] != width:
                        raise ValueError(f"rows of width {vectors.shape[1]}, the other chunks have {width}")
            except Exception as exc:  # a foreign or damaged file: set it aside, say which, re-encode its texts
                _quarantine(chunk, exc)
                continue
            rows.update(zip(hashes, vectors))
        self._rows = rows
        return rows

    def __len__(self) -> int:
        return len(self._load())

    def put(self, texts: Sequence[str], vectors: np.ndarray | list[np.ndarray]) -> None:
        """Commit one chunk: a 2-D array (one vector per text) or a list of 2-D arrays (tokens per text)."""
        rows = self._load()
        hashes = np.array([text_hash(t) for t in texts], dtype="<U32")
        arrays = {"hashes": hashes}
        _require_finite(vectors, texts)
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
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        payload = buffer.getvalue()
        name = (
            f"chunk-{len(list(self.folder.glob('chunk-*.npz'))):06d}-sha256-{hashlib.sha256(payload).hexdigest()}.npz"
        )
        with atomic_open(self.folder / name, "wb") as handle:
            handle.write(payload)
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


def _require_finite(vectors, texts: Sequence[str]) -> None:
    """NaN or infinity from a model would poison every later ranking that reads the cache: refuse to store it."""
    if sp.issparse(vectors):
        bad = ~np.isfinite(sp.csr_matrix(vectors).data).all()
        rows = [0] if bad else []
    elif isinstance(vectors, list):
        rows = [i for i, v in enumerate(vectors) if not np.isfinite(np.asarray(v, dtype=np.float32)).all()]
    else:
        matrix = np.asarray(vectors, dtype=np.float32)
        rows = np.flatnonzero(~np.isfinite(matrix).reshape(len(matrix), -1).all(axis=1)).tolist() if matrix.size else []
    if rows:
        example = texts[rows[0]] if rows[0] < len(texts) else ""
        raise EmbedproofError(
            f"the model returned NaN or infinite values for {len(rows)} text(s), e.g. {example[:60]!r}; "
            "nothing was cached"
        )


def _read_chunk(chunk: Path) -> tuple[list[str], list | np.ndarray]:
    """Verify and parse one chunk: (text hashes, rows). Raises ValueError for anything we would not have written."""
    data = chunk.read_bytes()
    checked = CHECKED.match(chunk.name)
    if checked:
        actual = hashlib.sha256(data).hexdigest()
        if actual != checked.group(1):
            raise ValueError(f"checksum mismatch (content sha256 {actual[:12]}…, name says {checked.group(1)[:12]}…)")
    elif not LEGACY.match(chunk.name):
        raise ValueError("not a chunk name embedproof writes")
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        hashes = arrays["hashes"]
        if hashes.ndim != 1 or hashes.dtype.kind != "U":
            raise ValueError("hashes are not a list of strings")
        n = len(hashes)
        if "indptr" in arrays.files:  # sparse rows
            matrix = sp.csr_matrix(
                (arrays["data"], arrays["indices"], arrays["indptr"]), shape=tuple(int(x) for x in arrays["shape"])
            )
            matrix.check_format(full_check=True)
            values, vectors = matrix.data, [matrix.getrow(i) for i in range(matrix.shape[0])]
        elif "lengths" in arrays.files:  # token matrices, concatenated
            lengths, values = arrays["lengths"], arrays["vectors"]
            if lengths.ndim != 1 or (lengths < 0).any() or int(lengths.sum()) != len(values):
                raise ValueError("token counts do not add up to the stored rows")
            vectors = np.split(values, np.cumsum(lengths)[:-1]) if len(lengths) else []
        else:
            values = vectors = arrays["vectors"]
            if vectors.ndim != 2:
                raise ValueError(f"vectors have {vectors.ndim} dimensions, expected 2")
    if len(vectors) != n:
        raise ValueError(f"{n} text hashes but {len(vectors)} rows")
    if values.dtype.kind != "f" or not np.isfinite(values).all():
        raise ValueError("rows hold non-finite or non-float values")
    return hashes.tolist(), vectors


def _quarantine(chunk: Path, reason: Exception) -> None:
    target = chunk.with_name(chunk.name + ".corrupt")
    try:
        os.replace(chunk, target)
        where = f"moved to {target.name}; delete it when you have looked"
    except OSError:
        where = "could not move it aside; delete it"
    warnings.warn(
        f"{chunk}: unusable embedding-cache chunk ({reason}); {where}. Its texts will be encoded again.",
        CacheCorruptionWarning,
        stacklevel=3,
    )
