"""Sparse search as one sparse matrix product per batch of queries (BM25 and SPLADE alike); no Python loop over terms.

The product runs against the corpus's inverted index: a (terms × documents) CSR matrix, one row of postings per
term. scipy multiplies CSR by CSR only, so handing it the (documents × terms) matrix or its CSC transpose makes it
convert the whole corpus (O(nnz), 3.3 ms per query on SciFact's BM25) on every call; the inverted index is built
once per corpus, and a query's product then reads only its own terms' postings (0.2 ms).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from embedproof.search.dense import top_k


def inverted_index(documents: sp.spmatrix) -> sp.csr_matrix:
    """The (documents × terms) matrix as a (terms × documents) CSR matrix: build once per corpus, search many times."""
    return sp.csr_matrix(documents).T.tocsr()


def sparse_search(
    queries: sp.spmatrix,
    documents: sp.spmatrix | None,
    k: int = 100,
    batch_size: int = 256,
    inverted: sp.csr_matrix | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k documents by sparse dot product for each query row.

    `inverted` is `inverted_index(documents)` kept from an earlier call (then `documents` is not read); without it
    the inverted index is built here, which costs a pass over the corpus.

    A document that shares no term with the query (score 0) is not a match: its row is -1, so a run leaves it out.
    Padding the top k with such documents in corpus order would hand them RRF credit in a hybrid.
    """
    queries = sp.csr_matrix(queries)
    if inverted is None:
        inverted = inverted_index(documents)
    if queries.shape[1] != inverted.shape[0]:
        raise ValueError(f"vocabulary mismatch: queries {queries.shape} vs documents {inverted.shape[::-1]}")
    all_idx, all_scores = [], []
    for start in range(0, queries.shape[0], batch_size):
        scores = (queries[start : start + batch_size] @ inverted).toarray()
        idx, sc = top_k(scores, k)
        idx = np.where(sc > 0, idx, -1)
        all_idx.append(idx)
        all_scores.append(sc)
    if not all_idx:
        return np.zeros((0, 0), np.int64), np.zeros((0, 0), np.float32)
    return np.vstack(all_idx), np.vstack(all_scores)
