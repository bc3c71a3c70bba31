"""MaxSim scoring (ColBERT late interaction), vectorised over padded batches.

score(q, d) = Σ_i max_j q_i · d_j over the query's tokens i and the document's tokens j. For exhaustive search,
documents are padded to a common length per batch and padding is masked to -inf before the max, so one matrix
product scores a whole batch of documents. For a rerank shortlist, `PackedTokens` keeps every document's tokens in
one matrix and scores the shortlist with one product per query.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence

import numpy as np

from embedproof.search.dense import dense_scores, top_k


def pad(matrices: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Stack (tokens × dim) matrices into (n × max tokens × dim) float32 with a boolean mask of real tokens."""
    longest = max((len(m) for m in matrices), default=0)
    dim = matrices[0].shape[1] if matrices else 0
    batch = np.zeros((len(matrices), longest, dim), dtype=np.float32)
    mask = np.zeros((len(matrices), longest), dtype=bool)
    for row, matrix in enumerate(matrices):
        batch[row, : len(matrix)] = matrix
        mask[row, : len(matrix)] = True
    return batch, mask


def maxsim(query: np.ndarray, docs: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """MaxSim of one query (tokens × dim) against a padded document batch; returns one score per document."""
    n, length, dim = docs.shape
    if n == 0 or length == 0:
        return np.zeros(n, dtype=np.float32)
    sims = dense_scores(docs.reshape(n * length, dim), query).reshape(n, length, -1)
    sims[~mask] = -np.inf
    best = sims.max(axis=1)
    return np.where(np.isfinite(best), best, 0.0).sum(axis=1).astype(np.float32)


def maxsim_each(query: np.ndarray, docs: Sequence[np.ndarray]) -> np.ndarray:
    """MaxSim of one query against a short list of float32 documents, one matrix product each.

    For a rerank shortlist this beats padding: no padded copy is built, and 50 products of (tokens × dim) by
    (dim × query tokens) cost less than zeroing and filling a 50 × max-tokens × dim array.
    """
    query_t = np.ascontiguousarray(np.asarray(query, dtype=np.float32).T)
    try:
        import torch
    except ImportError:
        scores = [float((doc @ query_t).max(axis=0).sum()) if len(doc) else 0.0 for doc in docs]
        return np.array(scores, dtype=np.float32)
    # With torch loaded (it encoded the query), its thread pool is still spinning: doing the products in torch
    # too avoids two thread pools fighting over the cores (numpy here: p99 22 ms for a top-50 rerank; torch: 4.6 ms).
    q = torch.from_numpy(query_t)
    scores = [float((torch.from_numpy(doc) @ q).amax(dim=0).sum()) if len(doc) else 0.0 for doc in docs]
    return np.array(scores, dtype=np.float32)


class PackedTokens:
    """Documents' token vectors packed into one float32 matrix, each document a row range (ColBERT's packed layout).

    Filled once per index, or as shortlisted documents are first encoded; `maxsim` scores a rerank shortlist with
    one matrix product per query. One product per document (50 for a top-50 rerank) is 50 parallel regions, and
    with two compute threads on a shared machine each one's barrier can wait for a descheduled thread (SciFact,
    two busy processes beside it: rerank p99 0.8 s per document against 25-31 ms per query). Copying the
    shortlist into one buffer (0.8 ms for 50 × 240 tokens) costs less than that tail. With one compute thread
    (the server's inference thread on two cores) there is no barrier, and a product per document on views of
    the packed matrix skips the copy. Kept as float32: numpy widens float16 at a tenth of the copy's speed.
    """

    def __init__(self, documents: int, dim: int):
        self.starts = np.full(documents, -1, np.int64)  # first row of each document in `vectors`, -1 if not held
        self.lengths = np.zeros(documents, np.int64)
        self.dim, self.used = dim, 0
        self.vectors = np.empty((0, dim), np.float32)
        self._scratch = threading.local()  # each thread's reused shortlist buffer

    @classmethod
    def from_matrices(cls, matrices: Sequence[np.ndarray], dim: int | None = None) -> PackedTokens:
        """Every document of a corpus, row i the i-th (tokens × dim) matrix, in one allocation."""
        dim = dim if dim is not None else (matrices[0].shape[1] if len(matrices) else 0)
        packed = cls(len(matrices), dim)
        packed.add(range(len(matrices)), matrices)
        return packed

    def __contains__(self, row: int) -> bool:
        return bool(self.starts[row] >= 0)

    @property
    def held(self) -> int:
        """How many documents are held."""
        return int((self.starts >= 0).sum())

    def add(self, rows: Sequence[int], matrices: Sequence[np.ndarray]) -> None:
        """Hold these documents' token matrices (widened to float32); rows already held are replaced."""
        rows = list(rows)
        needed = self.used + sum(len(m) for m in matrices)
        if needed > len(self.vectors):  # grow by half at least, so adding shortlist after shortlist stays linear
            grown = np.empty((max(needed, len(self.vectors) * 3 // 2), self.dim), np.float32)
            grown[: self.used] = self.vectors[: self.used]
            self.vectors = grown
        for row, matrix in zip(rows, matrices):
            self.starts[row], self.lengths[row] = self.used, len(matrix)
            self.vectors[self.used : self.used + len(matrix)] = matrix
            self.used += len(matrix)

    def document(self, row: int) -> np.ndarray:
        """One document's (tokens × dim) float32 matrix, a view."""
        if self.starts[row] < 0:
            raise KeyError(f"no token vectors held for document row {row}")
        return self.vectors[self.starts[row] : self.starts[row] + self.lengths[row]]

    def maxsim(self, query: np.ndarray, rows: Sequence[int]) -> np.ndarray:
        """MaxSim of one query (tokens × dim) against documents `rows`: their ranges copied into one buffer, one
        matrix product, one max per document segment (one product per document when torch runs one thread).
        A document with no tokens scores 0."""
        rows = np.asarray(rows, dtype=np.int64)
        scores = np.zeros(len(rows), dtype=np.float32)
        if not len(rows):
            return scores
        starts, lengths = self.starts[rows], self.lengths[rows]
        if (starts < 0).any():
            raise KeyError(f"no token vectors held for document row {int(rows[starts < 0][0])}")
        query_t = np.ascontiguousarray(np.asarray(query, dtype=np.float32).T)
        torch = sys.modules.get("torch")
        if torch is not None and torch.get_num_threads() == 1:
            # One compute thread has no barrier to wait at: a product per document, on views, skips the copy.
            for j, (start, length) in enumerate(zip(starts.tolist(), lengths.tolist())):
                if length:
                    scores[j] = (self.vectors[start : start + length] @ query_t).max(axis=0).sum()
            return scores
        offsets = np.zeros(len(rows), dtype=np.int64)
        np.cumsum(lengths[:-1], out=offsets[1:])
        total = int(lengths.sum())
        if total == 0:
            return scores
        buffer = getattr(self._scratch, "buffer", None)
        if buffer is None or len(buffer) < total or buffer.shape[1] != self.dim:
            buffer = self._scratch.buffer = np.empty((total, self.dim), np.float32)
        for start, length, at in zip(starts.tolist(), lengths.tolist(), offsets.tolist()):
            buffer[at : at + length] = self.vectors[start : start + length]
        if torch is not None:  # torch encoded the query: its thread pool does the product too (see `maxsim_each`)
            similarities = (torch.from_numpy(buffer[:total]) @ torch.from_numpy(query_t)).numpy()
        else:
            similarities = buffer[:total] @ query_t
        held = lengths > 0  # a zero-length segment would read the next document's first row
        scores[held] = np.maximum.reduceat(similarities, offsets[held], axis=0).sum(axis=1)
        return scores


def maxsim_search(
    queries: Sequence[np.ndarray], docs: Sequence[np.ndarray], k: int = 100, batch_size: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """Exhaustive MaxSim over the whole corpus (fine for small corpora; large ones rerank a first pass)."""
    scores = np.zeros((len(queries), len(docs)), dtype=np.float32)
    for start in range(0, len(docs), batch_size):
        batch, mask = pad(docs[start : start + batch_size])
        for qi, query in enumerate(queries):
            scores[qi, start : start + len(batch)] = maxsim(query, batch, mask)
    return top_k(scores, k)


def maxsim_rerank(
    queries: Sequence[np.ndarray], docs: Sequence[np.ndarray], candidates: np.ndarray, k: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Re-rank each query's candidate document rows by MaxSim; returns (rows, scores) best first."""
    k = candidates.shape[1] if k is None else k
    out_idx, out_scores = [], []
    for query, rows in zip(queries, candidates):
        order, scores = top_k(maxsim_each(query, [np.asarray(docs[r], dtype=np.float32) for r in rows])[None, :], k)
        out_idx.append(rows[order[0]])
        out_scores.append(scores[0])
    return np.array(out_idx), np.array(out_scores)
