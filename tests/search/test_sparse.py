import numpy as np
import pytest
import scipy.sparse as sp

from embedproof.search.sparse import sparse_search


def test_sparse_dot_products_by_hand():
    docs = sp.csr_matrix(np.array([[1.0, 0, 2.0, 0], [0, 3.0, 0, 0], [0.5, 0.5, 0.5, 0.5]], dtype=np.float32))
    queries = sp.csr_matrix(np.array([[1.0, 0, 1.0, 0], [0, 1.0, 0, 0]], dtype=np.float32))
    idx, scores = sparse_search(queries, docs, k=2, batch_size=1)
    assert idx.tolist() == [[0, 2], [1, 2]]
    assert scores.ravel().tolist() == pytest.approx([3.0, 1.0, 3.0, 0.5])


def test_vocabulary_mismatch_is_an_error():
    with pytest.raises(ValueError, match="vocabulary mismatch"):
        sparse_search(sp.csr_matrix((1, 3)), sp.csr_matrix((2, 4)))


def test_documents_sharing_no_term_are_not_matches():
    """Score-0 rows are -1 and drop out of the run: padding them in corpus order would give them RRF credit."""
    from embedproof.search.dense import run_from_indices

    docs = sp.csr_matrix(np.array([[0, 0, 1.0], [2.0, 0, 0], [0, 1.0, 0]], dtype=np.float32))
    idx, scores = sparse_search(sp.csr_matrix(np.array([[1.0, 0, 0]], dtype=np.float32)), docs, k=3)
    assert idx[0, 0] == 1 and idx[0, 1:].tolist() == [-1, -1]
    assert run_from_indices(["q"], ["a", "b", "c"], idx, scores) == {"q": {"b": 2.0}}
