"""BGE-M3's own hybrid: one weighted sum of its dense, lexical and ColBERT scores, then an exact top-k."""

from __future__ import annotations

from embedproof.models.bgem3 import DEFAULT_WEIGHTS, M3Output, m3_scores
from embedproof.search.dense import top_k


def m3_search(queries, documents, k: int = 100, weights: tuple[float, float, float] = DEFAULT_WEIGHTS):
    """Top-k by BGE-M3's weighted sum of dense, lexical and ColBERT scores over `Embeddings` from BGEM3Encoder."""
    q = M3Output(queries.dense, queries.sparse, queries.multivector)
    d = M3Output(documents.dense, documents.sparse, documents.multivector)
    return top_k(m3_scores(q, d, weights)["weighted"], k)
