"""First-pass retrieval over `Embeddings` of a dense or sparse mode: the plain search a model run is scored with."""

from __future__ import annotations

import numpy as np

from embedproof.types import Embeddings


def search(queries: Embeddings, documents: Embeddings, k: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Top-k document rows and scores for each query, by the representation both sides share."""
    if queries.mode != documents.mode:
        raise ValueError(f"cannot search {documents.mode} documents with {queries.mode} queries")
    if queries.mode == "dense":
        from embedproof.search.dense import exact_search

        return exact_search(queries.dense, documents.dense, k)
    if queries.mode == "sparse":
        from embedproof.search.sparse import sparse_search

        return sparse_search(queries.sparse, documents.sparse, k)
    raise ValueError(f"no plain search for mode {queries.mode!r} (multi-vector runs go through search.maxsim)")
