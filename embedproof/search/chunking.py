"""Token windows of documents, and their scores max-pooled back to documents: how a chunked recipe ranks.

A chunked recipe encodes each document as windows of `chunk_tokens` tokens overlapping by `chunk_overlap`, cut at
the model's own token boundaries (whitespace-separated words for the built-in models, which have no tokenizer).
A document scores as its best chunk. Bench, index build and search all cut and pool here, so what is served ranks
as it was measured.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from embedproof.errors import InvalidInputError

__all__ = ["Chunks", "chunk_documents", "chunk_texts", "tokenizer_of", "pool_to_documents", "max_pool_scores"]

_WORD = re.compile(r"\S+")


@dataclass
class Chunks:
    """The chunks of a corpus: each chunk's text, the row of the document it came from, and its character span
    in that document's text (chunks of one document are contiguous and in order)."""

    texts: list[str]
    owners: np.ndarray  # int64, one document row per chunk
    spans: np.ndarray  # int64 (chunks × 2): start and end character in the owner's text

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def most_per_document(self) -> int:
        """The largest number of chunks one document has (bounds how many chunks a top-k needs)."""
        return int(np.bincount(self.owners).max()) if len(self.owners) else 0

    def offset(self, rows: int) -> Chunks:
        """These chunks with owners shifted by `rows` (chunks of documents appended after `rows` others)."""
        return Chunks(self.texts, self.owners + rows, self.spans)

    @staticmethod
    def concat(parts: Sequence[Chunks]) -> Chunks:
        return Chunks(
            [t for p in parts for t in p.texts],
            np.concatenate([p.owners for p in parts]) if parts else np.zeros(0, np.int64),
            np.vstack([p.spans for p in parts]) if parts else np.zeros((0, 2), np.int64),
        )


class _Words:
    """A tokenizer for models without one: every whitespace-separated word is a token (offsets as HF gives them)."""

    def __call__(self, texts, **_) -> dict:
        return {"offset_mapping": [[m.span() for m in _WORD.finditer(t)] for t in texts]}


def tokenizer_of(encoder) -> object:
    """The encoder's own tokenizer (a sentence-transformers model's), else whitespace words."""
    return getattr(getattr(encoder, "model", None), "tokenizer", None) or _Words()


def chunk_documents(tokenizer, texts: Sequence[str], window: int, overlap: int = 0) -> Chunks:
    """Cut each text into windows of `window` tokens overlapping by `overlap`, at token boundaries.

    A text of at most `window` tokens is one chunk, whole. Special tokens the model adds are not counted: leave room
    for them in `window`.
    """
    if window <= 0 or not 0 <= overlap < window:
        raise InvalidInputError(f"need chunk tokens > 0 and 0 <= overlap < chunk tokens (got {window}, {overlap})")
    chunks, owners, spans = [], [], []
    step = window - overlap
    encoded = tokenizer(
        list(texts), add_special_tokens=False, truncation=False, return_offsets_mapping=True, verbose=False
    )
    for index, (text, offsets) in enumerate(zip(texts, encoded["offset_mapping"])):
        if len(offsets) <= window:
            chunks.append(text)
            owners.append(index)
            spans.append((0, len(text)))
            continue
        for start in range(0, len(offsets), step):
            piece = offsets[start : start + window]
            chunks.append(text[piece[0][0] : piece[-1][1]])
            owners.append(index)
            spans.append((piece[0][0], piece[-1][1]))
            if start + window >= len(offsets):
                break
    return Chunks(chunks, np.asarray(owners, dtype=np.int64), np.asarray(spans, dtype=np.int64).reshape(-1, 2))


def chunk_texts(tokenizer, texts: Sequence[str], window: int, overlap: int = 0) -> tuple[list[str], np.ndarray]:
    """The chunk texts and each chunk's owner row (see `chunk_documents`)."""
    chunks = chunk_documents(tokenizer, texts, window, overlap)
    return chunks.texts, chunks.owners


def max_pool_scores(chunk_scores: np.ndarray, owners: np.ndarray, n_docs: int) -> np.ndarray:
    """(queries × chunks) scores → (queries × documents), each document scoring as its best chunk."""
    starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
    pooled = np.maximum.reduceat(chunk_scores, starts, axis=1)
    out = np.full((chunk_scores.shape[0], n_docs), -np.inf, dtype=np.float32)
    out[:, owners[starts]] = pooled
    return out


def pool_to_documents(
    indices: np.ndarray, scores: np.ndarray, owners: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A chunk ranking (rows best first, -1 for no match) → the top `k` documents, each scored by its best chunk.

    Returns (document rows, scores, best chunk rows), padded with -1. Exact when the chunk ranking holds
    k × (most chunks per document) chunks: a document in the true top k has at most (k - 1) × that many chunks
    of better documents above its best chunk.
    """
    n = indices.shape[0]
    docs = np.full((n, k), -1, dtype=np.int64)
    best = np.full((n, k), -1, dtype=np.int64)
    out = np.full((n, k), -np.inf, dtype=np.float32)
    for q in range(n):
        seen: dict[int, int] = {}
        for chunk, score in zip(indices[q], scores[q]):
            if chunk < 0:
                continue
            owner = int(owners[chunk])
            if owner in seen:
                continue
            slot = len(seen)
            seen[owner] = slot
            docs[q, slot], best[q, slot], out[q, slot] = owner, chunk, score
            if slot + 1 == k:
                break
    return docs, out, best
