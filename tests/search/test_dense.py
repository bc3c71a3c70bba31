import numpy as np
import pytest

from embedproof.search.dense import exact_search, top_k


def test_top_k_orders_by_score_then_document_index():
    scores = np.array([[0.1, 0.9, 0.5, 0.9, 0.2]], dtype=np.float32)
    idx, sc = top_k(scores, 3)
    assert idx.tolist() == [[1, 3, 2]] and sc[0].tolist() == pytest.approx([0.9, 0.9, 0.5])
    idx_all, _ = top_k(scores, 10)
    assert idx_all.tolist() == [[1, 3, 2, 4, 0]]


def test_exact_search_equals_brute_force():
    rng = np.random.default_rng(0)
    docs = rng.standard_normal((500, 16)).astype(np.float32)
    queries = rng.standard_normal((37, 16)).astype(np.float32)
    idx, scores = exact_search(queries, docs, k=7, batch_size=8)
    full = queries @ docs.T
    expected = np.argsort(-full, axis=1, kind="stable")[:, :7]
    assert np.array_equal(idx, expected)
    assert np.allclose(scores, np.take_along_axis(full, expected, axis=1))


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shape mismatch"):
        exact_search(np.zeros((1, 3)), np.zeros((2, 4)))
