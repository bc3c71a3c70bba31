"""Learned sparse retrieval (SPLADE) through sentence-transformers' SparseEncoder.

The model predicts a weight for every vocabulary token (MLM logits → log(1 + ReLU) → max over positions), so a
text becomes a sparse vector over ~30k terms, including expansion terms it never contained. Vectors come back as
scipy CSR matrices and are searched with the same sparse matrix product as BM25.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp

from embedproof.backends import UnsupportedBackendError
from embedproof.models.cache import EmbeddingCache
from embedproof.models.loading import load_sentence_transformers
from embedproof.types import Embeddings


def torch_sparse_to_csr(tensor) -> sp.csr_matrix:
    """A (rows × vocabulary) torch sparse COO tensor as a scipy CSR matrix, without densifying it."""
    coalesced = tensor.coalesce().cpu()
    rows, cols = coalesced.indices().numpy()
    values = coalesced.values().numpy().astype(np.float32)
    return sp.csr_matrix((values, (rows, cols)), shape=tuple(coalesced.shape), dtype=np.float32)


class SpladeEncoder:
    """Query and document paths of a SPLADE model (asymmetric models route them differently)."""

    mode = "sparse"

    def __init__(
        self,
        name: str,
        *,
        batch_size: int = 32,
        max_tokens: int | None = None,
        device: str = "cpu",
        cache_dir: str | None = None,
        use_cache: bool = True,
        backend: str = "torch",
        **_ignored,
    ):
        if backend != "torch":
            # The fast backends export Transformer + Pooling models; SPLADE's MLM head + max-pooling is not one.
            raise UnsupportedBackendError(
                f"{name}: SPLADE runs on the torch backend only, not {backend!r} (use --backend torch)"
            )
        self.name = name
        load_sentence_transformers(name, "SparseEncoder", device, max_tokens).attach(self)
        self.batch_size = batch_size
        self.query_prefix = self.card.query_prefix
        self.document_prefix = self.card.document_prefix
        self.cache_dir, self.use_cache = cache_dir, use_cache

    def _embed(self, texts: list[str], side: str) -> sp.csr_matrix:
        encode = self.model.encode_query if side == "query" else self.model.encode_document
        prefix = self.query_prefix if side == "query" else self.document_prefix
        tensor = encode(
            texts,
            prompt=prefix or None,
            batch_size=self.batch_size,
            convert_to_sparse_tensor=True,
            show_progress_bar=False,
        )
        return torch_sparse_to_csr(tensor)

    def _encode(self, texts: Sequence[str], ids, side: str, on_progress) -> Embeddings:
        texts = list(texts)
        fn = lambda batch: self._embed(batch, side)  # noqa: E731
        hits = 0
        if self.use_cache and texts:
            key = {
                "format": 1,
                "kind": "splade",
                "model": self.card.name if self.card.known else self.name,
                "revision": self.resolved.revision,
                "side": side,
                "max_tokens": self.max_tokens,
            }
            matrix, hits = EmbeddingCache(key, self.cache_dir).encode(
                texts, fn, chunk_size=self.batch_size * 8, on_progress=on_progress
            )
        else:
            matrix = fn(texts) if texts else sp.csr_matrix((0, len(self.model.tokenizer)), dtype=np.float32)
            if on_progress:
                on_progress(len(texts))
        ids = list(ids) if ids is not None else [str(i) for i in range(len(texts))]
        info = {
            "revision": self.resolved.revision,
            "max_tokens": self.max_tokens,
            "cache_hits": hits,
            "mean_active_terms": float(matrix.getnnz(axis=1).mean()) if len(texts) else 0.0,
        }
        return Embeddings(ids, side, self.name, sparse=matrix, info=info)

    def encode_queries(
        self, texts: Sequence[str], ids: Sequence[str] | None = None, on_progress: Callable[[int], None] | None = None
    ) -> Embeddings:
        return self._encode(texts, ids, "query", on_progress)

    def encode_documents(
        self, texts: Sequence[str], ids: Sequence[str] | None = None, on_progress: Callable[[int], None] | None = None
    ) -> Embeddings:
        return self._encode(texts, ids, "document", on_progress)

    def explain(self, row: sp.csr_matrix, top_k: int = 10) -> list[tuple[str, float]]:
        """The heaviest terms of one sparse vector, expansion terms included: why a document matched."""
        row = sp.csr_matrix(row)
        order = np.argsort(-row.data)[:top_k]
        tokens = self.model.tokenizer.convert_ids_to_tokens(row.indices[order].tolist())
        return [(token, float(weight)) for token, weight in zip(tokens, row.data[order])]
