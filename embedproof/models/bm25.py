"""BM25 (bm25s) exposed as a sparse encoder, the lexical baseline every dense model must beat.

Documents become rows of precomputed BM25 term scores (bm25s' eager index, Lucene variant), queries become
term-count vectors, and a sparse matrix product gives exactly bm25s' scores. That makes BM25 one more
`Embeddings` with a `sparse` matrix, searched and fused like SPLADE. BM25's IDF is a corpus
statistic: the encoder must see the documents before it can encode queries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp

from embedproof.errors import require
from embedproof.types import Embeddings


class BM25Encoder:
    """Lucene BM25 through bm25s, English stopwords and Snowball stemming (the MTEB bm25s baseline settings)."""

    mode = "sparse"
    name = "bm25"

    def __init__(self, k1: float = 1.5, b: float = 0.75, stopwords: str | None = "en", stemmer: str | None = "english"):
        self.k1, self.b, self.stopwords, self.stemmer_language = k1, b, stopwords, stemmer
        self._bm25s = require("bm25s")
        # bm25s sets its own logger to DEBUG, so its "Building index from IDs" lines print as soon as any library
        # configures the root logger; warnings still show
        logging.getLogger("bm25s").setLevel(logging.WARNING)
        self._stemmer = require("Stemmer").Stemmer(stemmer) if stemmer else None
        self.vocab: dict[str, int] | None = None
        self.warnings: list[str] = []

    def _tokens(self, texts: Sequence[str]) -> list[list[str]]:
        return self._bm25s.tokenize(
            list(texts), stopwords=self.stopwords, stemmer=self._stemmer, return_ids=False, show_progress=False
        )

    def encode_documents(
        self, texts: Sequence[str], ids: Sequence[str] | None = None, on_progress: Callable[[int], None] | None = None
    ) -> Embeddings:
        """Index the corpus (this fixes IDF) and return its BM25 term-score matrix, one row per document."""
        texts = list(texts)
        retriever = self._bm25s.BM25(k1=self.k1, b=self.b, method="lucene")
        retriever.index(
            self._bm25s.tokenize(texts, stopwords=self.stopwords, stemmer=self._stemmer, show_progress=False),
            show_progress=False,
        )
        self.vocab = dict(retriever.vocab_dict)
        s = retriever.scores
        self.n_terms = len(s["indptr"]) - 1
        # bm25s stores a (documents × vocabulary) CSC matrix; its columns are our rows' terms.
        matrix = sp.csc_matrix((s["data"], s["indices"], s["indptr"]), shape=(s["num_docs"], self.n_terms))
        if on_progress:
            on_progress(len(texts))
        ids = list(ids) if ids is not None else [str(i) for i in range(len(texts))]
        return Embeddings(
            ids, "document", self.name, sparse=matrix.tocsr().astype(np.float32), info={"k1": self.k1, "b": self.b}
        )

    def encode_queries(
        self, texts: Sequence[str], ids: Sequence[str] | None = None, on_progress: Callable[[int], None] | None = None
    ) -> Embeddings:
        """Term counts over the corpus vocabulary; terms the corpus never saw cannot match and are dropped."""
        if self.vocab is None:
            raise RuntimeError("BM25Encoder.encode_documents must run first: BM25 needs the corpus statistics (IDF)")
        rows, cols = [], []
        for row, tokens in enumerate(self._tokens(texts)):
            for token in tokens:
                col = self.vocab.get(token)
                # bm25s may list an empty-string token in its vocabulary that has no score column.
                if col is not None and col < self.n_terms:
                    rows.append(row)
                    cols.append(col)
        data = np.ones(len(rows), dtype=np.float32)
        # Duplicates are summed by the CSR constructor: a repeated query term counts twice, as in bm25s.
        matrix = sp.csr_matrix((data, (rows, cols)), shape=(len(texts), self.n_terms), dtype=np.float32)
        if on_progress:
            on_progress(len(texts))
        ids = list(ids) if ids is not None else [str(i) for i in range(len(texts))]
        return Embeddings(ids, "query", self.name, sparse=matrix)
