import numpy as np
import pytest

from embedproof.errors import EmbedproofError
from embedproof.models.bgem3 import DEFAULT_WEIGHTS, BGEM3Model, colbert_score, m3_scores

TEXTS = [
    "the first iphone launched in 2007 .",
    "apple released the ipod in 2001 .",
    "android is an operating system from google .",
]


@pytest.fixture(scope="module")
def m3(tiny_bgem3_dir):
    return BGEM3Model(tiny_bgem3_dir)


def test_one_pass_gives_three_outputs_with_the_right_shapes(m3):
    out = m3.encode(TEXTS)
    lengths = [len(m3.tokenizer(t)["input_ids"]) for t in TEXTS]
    assert out.dense.shape == (3, 32) and np.allclose(np.linalg.norm(out.dense, axis=1), 1, atol=1e-5)
    assert out.sparse.shape == (3, m3.vocab_size)
    assert [c.shape for c in out.colbert] == [(n - 1, 32) for n in lengths]  # every real token after [CLS]
    assert all(np.allclose(np.linalg.norm(c, axis=1), 1, atol=1e-5) for c in out.colbert)


def test_sparse_weights_are_keyed_by_token_id_max_per_token_and_skip_specials(m3):
    torch = pytest.importorskip("torch")
    out = m3.encode(TEXTS[:1])
    weights = out.lexical_weights(0)
    ids = m3.tokenizer(TEXTS[0])["input_ids"]
    assert set(weights) <= {str(i) for i in ids} and weights
    assert not set(weights) & {str(i) for i in m3.unused_tokens}
    # recompute the head by hand: ReLU(linear(states)), max over the positions of each token id
    inputs = m3.tokenizer(TEXTS[:1], return_tensors="pt")
    with torch.inference_mode():
        states = m3.model(**inputs).last_hidden_state
        raw = torch.relu(m3.sparse_linear(states)).squeeze(-1)[0].numpy()
    expected = {}
    for token, w in zip(ids, raw):
        if token not in m3.unused_tokens and w > 0:
            expected[str(token)] = max(expected.get(str(token), 0.0), float(w))
    assert weights == pytest.approx(expected)


def test_scores_match_flagembedding_formulas(m3):
    queries, docs = m3.encode(["when was the iphone released ?"]), m3.encode(TEXTS)
    scores = m3_scores(queries, docs)
    q_lex = queries.lexical_weights(0)
    for j in range(3):
        d_lex = docs.lexical_weights(j)
        # FlagEmbedding compute_lexical_matching_score: Σ over shared tokens of the weight products
        assert scores["sparse"][0, j] == pytest.approx(
            sum(w * d_lex[t] for t, w in q_lex.items() if t in d_lex), abs=1e-5
        )
        sims = queries.colbert[0] @ docs.colbert[j].T
        assert scores["colbert"][0, j] == pytest.approx(sims.max(axis=1).sum() / len(queries.colbert[0]), abs=1e-5)
        assert scores["dense"][0, j] == pytest.approx(float(queries.dense[0] @ docs.dense[j]), abs=1e-6)
    w = DEFAULT_WEIGHTS
    assert np.allclose(scores["weighted"], w[0] * scores["dense"] + w[1] * scores["sparse"] + w[2] * scores["colbert"])
    assert colbert_score(np.eye(2), np.eye(2)) == 1.0


def test_folder_without_heads_is_refused(tiny_model_dir):
    with pytest.raises(EmbedproofError, match="missing colbert_linear.pt"):
        BGEM3Model(tiny_model_dir)


def test_encoder_interface_fills_all_three_representations_in_one_call(tiny_bgem3_dir):
    from embedproof.models.bgem3 import BGEM3Encoder
    from embedproof.models.factory import get_encoder
    from embedproof.search.m3 import m3_search
    from embedproof.search.retrieve import search

    enc = get_encoder(str(tiny_bgem3_dir))
    assert isinstance(enc, BGEM3Encoder)
    docs = enc.encode_documents(TEXTS, ["a", "b", "c"])
    queries = enc.encode_queries(["iphone 2007"])
    assert docs.dense.shape == (3, 32) and docs.sparse.shape[0] == 3 and len(docs.multivector) == 3
    idx, scores = m3_search(queries, docs, k=3)
    m3 = enc.model
    expected = m3_scores(m3.encode(["iphone 2007"]), m3.encode(TEXTS))["weighted"][0]
    assert scores[0].tolist() == pytest.approx(sorted(expected, reverse=True), abs=1e-5)
    assert search(queries, docs, k=3)[0].shape == (1, 3)  # plain search uses the dense vectors
