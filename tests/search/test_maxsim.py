import numpy as np
import pytest

from embedproof.search.maxsim import maxsim, maxsim_each, maxsim_rerank, maxsim_search, pad


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


def test_packed_tokens_score_the_definition_with_one_product_per_query(data):
    """Rows in any order, repeated, a document with no tokens (0) and a query with none (0 for every document)."""
    from embedproof.search.maxsim import PackedTokens

    queries, docs = data
    docs = [*docs, np.zeros((0, 8), np.float32)]
    packed = PackedTokens.from_matrices(docs)
    assert packed.held == 5 and packed.vectors.dtype == np.float32 and packed.used == 16
    rows = [3, 0, 4, 2, 0, 1]
    for q in queries:
        expected = [brute(q, docs[r]) if len(docs[r]) else 0.0 for r in rows]
        assert packed.maxsim(q, rows) == pytest.approx(expected, rel=1e-5)
        assert packed.maxsim(q, rows) == pytest.approx(maxsim_each(q, [docs[r] for r in rows]), rel=1e-5)
    assert packed.maxsim(np.zeros((0, 8), np.float32), rows).tolist() == [0.0] * len(rows)
    assert packed.maxsim(queries[0], []).shape == (0,)


def test_packed_tokens_score_alike_with_one_compute_thread(data):
    """One torch thread takes the per-document path (no copy): the same scores as the one-product path."""
    from embedproof.search.maxsim import PackedTokens

    torch = pytest.importorskip("torch")
    queries, docs = data
    docs = [*docs, np.zeros((0, 8), np.float32)]
    packed, rows = PackedTokens.from_matrices(docs), [4, 1, 3, 0, 2]
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        packed_product = packed.maxsim(queries[1], rows)
        torch.set_num_threads(1)
        per_document = packed.maxsim(queries[1], rows)
    finally:
        torch.set_num_threads(threads)
    assert per_document == pytest.approx(packed_product, rel=1e-5)
    assert per_document == pytest.approx([brute(queries[1], docs[r]) if len(docs[r]) else 0.0 for r in rows], rel=1e-5)


def test_packed_tokens_grow_as_shortlists_arrive_and_refuse_rows_they_do_not_hold(data):
    from embedproof.search.maxsim import PackedTokens

    queries, docs = data
    packed = PackedTokens(10, 8)
    packed.add([7], [docs[0].astype(np.float16)])  # stored float16, held float32
    packed.add([2, 5], [docs[1], docs[2]])
    assert packed.held == 3 and 7 in packed and 3 not in packed
    np.testing.assert_array_equal(packed.document(7), docs[0].astype(np.float16).astype(np.float32))
    np.testing.assert_array_equal(packed.document(5), docs[2])
    assert packed.maxsim(queries[0], [5, 2]) == pytest.approx(
        [brute(queries[0], docs[2]), brute(queries[0], docs[1])], rel=1e-5
    )
    with pytest.raises(KeyError, match="row 3"):
        packed.maxsim(queries[0], [2, 3])
    with pytest.raises(KeyError, match="row 4"):
        packed.document(4)


def test_the_rerank_stage_scores_as_one_product_per_document(tiny_model_dir):
    """The pipeline's MaxSim rerank (packed tokens) ranks the shortlist as the per-document kernel does."""
    from embedproof.datasets.loading import load_dataset
    from embedproof.search.fusion import top
    from embedproof.search.pipeline import Workspace, run_recipe
    from embedproof.search.recipe import Recipe

    demo = load_dataset("demo")
    ids = list(demo.corpus)
    workspace = Workspace(ids, [demo.corpus[d].full_text for d in ids], lambda model: {"use_cache": False})
    model = str(tiny_model_dir)
    qids = list(demo.queries)[:8]
    texts = [demo.queries[q] for q in qids]
    stages = run_recipe(
        Recipe("dense+maxsim", ["bm25"], rerank=f"maxsim:{model}", rerank_top=20), workspace, qids, texts
    )
    shortlists = top(next(s for s in stages if s.name == "first_pass:bm25").run, 20)
    query_tokens = workspace.encoder(model, "tokens").encode_queries(texts, qids).multivector
    for qid, q_tokens in zip(qids, query_tokens):
        shortlist = list(shortlists[qid])
        tokens = workspace.token_rows(model, [workspace.positions[d] for d in shortlist])
        expected = maxsim_each(q_tokens, [tokens[workspace.positions[d]] for d in shortlist])
        order = [d for d, _ in sorted(zip(shortlist, expected.tolist()), key=lambda item: (-item[1], item[0]))]
        reranked = stages[-1].run[qid]
        assert sorted(shortlist, key=lambda d: (-reranked[d], d)) == order
    assert workspace.token_bytes_per_passage(model) > 0
