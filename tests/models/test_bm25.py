import bm25s
import numpy as np
import pytest
import Stemmer

from embedproof.models.bm25 import BM25Encoder
from embedproof.search.retrieve import search

CORPUS = [
    "The first iPhone launched in 2007.",
    "Apple released the iPod in 2001.",
    "Android is an operating system from Google.",
    "Cats sleep for most of the day; a cat naps often.",
    "The operating theatre was cleaned before surgery.",
]


def test_scores_equal_bm25s_retrieve():
    enc = BM25Encoder()
    docs = enc.encode_documents(CORPUS)
    queries = ["iphone launch", "operating system", "sleeping cats"]
    indices, scores = search(enc.encode_queries(queries), docs, k=5)

    stemmer = Stemmer.Stemmer("english")
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(CORPUS, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)
    ref_idx, ref_scores = retriever.retrieve(
        bm25s.tokenize(queries, stopwords="en", stemmer=stemmer, show_progress=False), k=5, show_progress=False
    )
    assert np.allclose(np.sort(scores, axis=1), np.sort(ref_scores, axis=1), atol=1e-5)
    assert list(indices[:, 0]) == list(ref_idx[:, 0]) == [0, 2, 3]


def test_stemming_matches_inflections_and_unknown_terms_score_zero():
    enc = BM25Encoder()
    docs = enc.encode_documents(CORPUS)
    q = enc.encode_queries(["cat", "zyzzyva"])
    assert q.sparse[1].nnz == 0
    indices, scores = search(q, docs, k=1)
    assert indices[0][0] == 3 and scores[1][0] == 0.0


def test_queries_before_documents_is_an_error():
    with pytest.raises(RuntimeError, match="encode_documents must run first"):
        BM25Encoder().encode_queries(["anything"])


def test_bm25s_debug_lines_stay_quiet_when_a_library_configures_logging(caplog):
    """bm25s sets its own logger to DEBUG: once anything adds a root handler, "Building index from IDs" printed."""
    import logging

    from embedproof.models.bm25 import BM25Encoder

    with caplog.at_level(logging.DEBUG):  # a root handler at DEBUG, as a library's basicConfig would add
        BM25Encoder().encode_documents(["the cat sat", "a dog ran"])
    assert not [r for r in caplog.records if r.name.startswith("bm25s") and r.levelno < logging.WARNING]
