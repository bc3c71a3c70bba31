"""Sparse search as one sparse matrix product per batch of queries (BM25 now, SPLADE later); no Python loop over terms."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from embedproof.search.dense import top_k


def sparse_search(queries: sp.spmatrix, documents: sp.spmatrix, k: int = 100, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Top-k documents by sparse dot product for each query row.

    A document that shares no term with the query (score 0) is not a match: its row is -1, so a run leaves it out.
    Padding the top k with such documents in corpus order would hand them RRF credit in a hybrid.
    """
    queries, documents = sp.csr_matrix(queries), sp.csr_matrix(documents)
    if queries.shape[1] != documents.shape[1]:
        raise ValueError(f"vocabulary mismatch: queries {queries.shape} vs documents {documents.shape}")
    doc_t = documents.T.tocsc()
    all_idx, all_scores = [], []
    for start in range(0, queries.shape[0], batch_size):
        scores = (queries[start : start + batch_size] @ doc_t).toarray()
        idx, sc = top_k(scores, k)
        idx = np.where(sc > 0, idx, -1)
        all_idx.append(idx)
        all_scores.append(sc)
    if not all_idx:
        return np.zeros((0, 0), np.int64), np.zeros((0, 0), np.float32)
    return np.vstack(all_idx), np.vstack(all_scores)
