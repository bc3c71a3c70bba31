import numpy as np
import pytest

from embedproof.search.maxsim import maxsim, maxsim_rerank, maxsim_search, pad


def brute(q, d):
    return float((q @ d.T).max(axis=1).sum())


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    docs = [rng.standard_normal((n, 8)).astype(np.float32) for n in (3, 7, 1, 5)]
    queries = [rng.standard_normal((n, 8)).astype(np.float32) for n in (2, 4)]
    return queries, docs


def test_padded_maxsim_equals_the_definition(data):
    queries, docs = data
    batch, mask = pad(docs)
    assert batch.shape == (4, 7, 8) and mask.sum() == 16
    for q in queries:
        assert maxsim(q, batch, mask) == pytest.approx([brute(q, d) for d in docs], rel=1e-5)


def test_by_hand():
    q = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    d1 = np.array([[1.0, 0.0], [0.5, 0.5]], np.float32)  # 1 + 0.5
    d2 = np.array([[0.0, 1.0]], np.float32)  # 0 + 1
    batch, mask = pad([d1, d2])
    assert maxsim(q, batch, mask).tolist() == [1.5, 1.0]


def test_search_and_rerank_order(data):
    queries, docs = data
    idx, scores = maxsim_search(queries, docs, k=4, batch_size=3)
    for qi, q in enumerate(queries):
        expected = sorted(range(4), key=lambda j: -brute(q, docs[j]))
        assert idx[qi].tolist() == expected
    rows, rescored = maxsim_rerank(queries, docs, np.array([[0, 1, 2], [3, 2, 1]]), k=2)
    assert rows[0].tolist() == sorted([0, 1, 2], key=lambda j: -brute(queries[0], docs[j]))[:2]
    assert rescored[1][0] == pytest.approx(max(brute(queries[1], docs[j]) for j in (3, 2, 1)), rel=1e-5)
