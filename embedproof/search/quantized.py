"""Search over quantised vectors, then rescore the shortlist with the float query.

First pass on the cheap representation (int8 codes, or sign bits by Hamming distance) retrieves
`rescore_multiplier × k` candidates; rescoring ranks them by the float query against dequantised int8 or
unpacked ±1 document vectors, which restores most of the quality the first pass lost.
"""

from __future__ import annotations

import functools

import numpy as np

from embedproof.defaults import RESCORE_MULTIPLIER
from embedproof.search.dense import dense_scores, top_k
from embedproof.vectors.quantize import Int8Calibration, dequantize_int8, quantize_int8, unpack_binary


def hamming_distances(queries_packed: np.ndarray, docs_packed: np.ndarray) -> np.ndarray:
    """(queries × documents) Hamming distances between packed bit vectors, by XOR and popcount."""
    if queries_packed.shape[1] % 8 == 0:  # 64-bit words: 8× fewer XORs and popcounts
        q, d = queries_packed.view(np.uint64), docs_packed.view(np.uint64)
    else:
        q, d = queries_packed, docs_packed
    return np.bitwise_count(q[:, None, :] ^ d[None, :, :]).sum(axis=2, dtype=np.int32)


def rescore(
    queries: np.ndarray, documents: np.ndarray, candidates: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Re-rank each query's candidate rows by float dot product with `documents` and keep the best k."""
    scores = np.einsum("qd,qmd->qm", queries.astype(np.float32), documents[candidates].astype(np.float32))
    order_idx, order_scores = top_k(scores, k)
    return np.take_along_axis(candidates, order_idx, axis=1), order_scores


def _search(queries, k, rescore_multiplier, batch_size, first_pass, rescore_docs) -> tuple[np.ndarray, np.ndarray]:
    """First pass per batch of queries, then (unless the multiplier is 0) rescoring of that batch's shortlist.

    `rescore_docs()` gives the float document vectors, built once on first use (never when not rescoring).
    Rescoring per batch bounds memory: the gathered candidates are batch × shortlist × dim floats.
    """
    shortlist = k * rescore_multiplier if rescore_multiplier else k
    out_idx, out_scores = [], []
    for start in range(0, len(queries), batch_size):
        batch = queries[start : start + batch_size]
        idx, scores = first_pass(batch, shortlist)
        if rescore_multiplier:
            idx, scores = rescore(batch, rescore_docs(), idx, k)
        out_idx.append(idx)
        out_scores.append(scores)
    if not out_idx:
        return np.zeros((0, 0), np.int64), np.zeros((0, 0), np.float32)
    return np.vstack(out_idx), np.vstack(out_scores)


def int8_search(
    queries: np.ndarray,
    doc_codes: np.ndarray,
    calibration: Int8Calibration,
    k: int = 100,
    rescore_multiplier: int = RESCORE_MULTIPLIER,
    batch_size: int = 64,
    rescore_vectors: np.ndarray | None = None,
    codes_as_float: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """int8 first pass (queries quantised with the corpus calibration), then float rescoring on dequantised docs.

    When searching repeatedly, pass `rescore_vectors` (the dequantised documents) and `codes_as_float` (the codes
    widened to float32) so neither is rebuilt per call. `rescore_multiplier=0` returns the first pass as it is.
    """
    # numpy and torch have no int8 matrix product on CPU; int8 products summed over ≤ 1,024 dims stay below
    # 2**24, so float32 BLAS on the widened codes computes them exactly (this path does not show the speed of
    # a VNNI int8 kernel, and index_bytes, not this process's memory, is what an int8 store needs).
    codes_f = codes_as_float if codes_as_float is not None else doc_codes.astype(np.float32)

    def first_pass(q, n):
        return top_k(dense_scores(quantize_int8(q, calibration).astype(np.float32), codes_f), n)

    docs = (
        (lambda: rescore_vectors)
        if rescore_vectors is not None
        else functools.cache(lambda: dequantize_int8(doc_codes, calibration))
    )
    return _search(queries, k, rescore_multiplier, batch_size, first_pass, docs)


def binary_search(
    queries: np.ndarray,
    doc_bits: np.ndarray,
    dim: int,
    k: int = 100,
    rescore_multiplier: int = RESCORE_MULTIPLIER,
    batch_size: int = 64,
    rescore_vectors: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Hamming first pass on sign bits, then the float query against the ±1 document vectors (pass them as
    `rescore_vectors` when searching repeatedly)."""

    def first_pass(q, n):
        distances = hamming_distances(np.packbits(q > 0, axis=1), doc_bits)
        return top_k(-distances.astype(np.float32), n)

    docs = (
        (lambda: rescore_vectors)
        if rescore_vectors is not None
        else functools.cache(lambda: unpack_binary(doc_bits, dim))
    )
    return _search(queries, k, rescore_multiplier, batch_size, first_pass, docs)
