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


def test_a_kept_inverted_index_gives_the_same_rankings_and_scores():
    """The inverted index built once and passed in ranks exactly as building it per call (and as a dense product)."""
    from embedproof.search.sparse import inverted_index

    rng = np.random.default_rng(7)
    docs = sp.random(300, 2000, density=0.01, format="csr", dtype=np.float32, random_state=rng)
    queries = sp.random(40, 2000, density=0.003, format="csr", dtype=np.float32, random_state=rng)
    inverted = inverted_index(docs)
    assert inverted.format == "csr" and inverted.shape == (2000, 300)
    idx, scores = sparse_search(queries, docs, k=20, batch_size=7)
    kept_idx, kept_scores = sparse_search(queries, None, k=20, batch_size=7, inverted=inverted)
    np.testing.assert_array_equal(kept_idx, idx)
    np.testing.assert_array_equal(kept_scores, scores)
    dense = queries.toarray() @ docs.toarray().T
    np.testing.assert_allclose(scores, np.take_along_axis(dense, np.maximum(idx, 0), axis=1) * (idx >= 0), rtol=1e-5)
    with pytest.raises(ValueError, match="vocabulary mismatch"):
        sparse_search(sp.csr_matrix((1, 5)), None, inverted=inverted)


def test_the_workspace_builds_a_sparse_models_inverted_index_once_and_ranks_as_before(monkeypatch):
    """A recipe's sparse first pass reads the workspace's inverted index: one build per corpus, not one per query,
    and the same run as the generic search over the documents matrix."""
    import embedproof.search.sparse as sparse
    from embedproof.datasets.loading import load_dataset
    from embedproof.search.dense import run_from_indices
    from embedproof.search.pipeline import Workspace, run_recipe
    from embedproof.search.recipe import Recipe
    from embedproof.search.retrieve import search

    demo = load_dataset("demo")
    ids = list(demo.corpus)
    workspace = Workspace(ids, [demo.corpus[d].full_text for d in ids], lambda model: {"use_cache": False})
    built = []
    original = sparse.inverted_index
    monkeypatch.setattr(sparse, "inverted_index", lambda documents: built.append(1) or original(documents))
    query_ids = list(demo.queries)
    for qid in query_ids[:5]:  # one query at a time, as online search runs
        run_recipe(Recipe("bm25", ["bm25"]), workspace, [qid], [demo.queries[qid]])
    assert len(built) == 1
    texts = [demo.queries[q] for q in query_ids]
    run = run_recipe(Recipe("bm25", ["bm25"]), workspace, query_ids, texts)[-1].run
    encoder = workspace.encoder("bm25")
    idx, scores = search(encoder.encode_queries(texts, query_ids), workspace.documents("bm25"), 100)
    assert run == run_from_indices(query_ids, ids, idx, scores)
