import numpy as np

from embedproof.models.multivector import MultiVectorModelEncoder, TokenEmbeddingEncoder
from embedproof.search.maxsim import maxsim_search

TEXTS = ["the first iphone launched in 2007 .", "apple released the ipod in 2001 .", "android is an operating system ."]


def test_token_embeddings_of_a_dense_model(minilm_path):
    enc = TokenEmbeddingEncoder("sentence-transformers/all-MiniLM-L6-v2")
    docs = enc.encode_documents(TEXTS)
    lengths = [len(enc.model.tokenizer(t)["input_ids"]) for t in TEXTS]
    assert [m.shape for m in docs.multivector] == [(n, 384) for n in lengths]
    assert docs.multivector[0].dtype == np.float16
    assert np.allclose(np.linalg.norm(docs.multivector[0].astype(np.float32), axis=1), 1, atol=1e-2)
    assert docs.info["bytes_float16"] == sum(lengths) * 384 * 2
    idx, _ = maxsim_search(enc.encode_queries(["When was the iPhone released?"]).multivector, docs.multivector, k=3)
    assert idx[0][0] == 0


def test_token_vectors_are_cached(tiny_model_dir, monkeypatch):
    first = TokenEmbeddingEncoder(str(tiny_model_dir)).encode_documents(TEXTS)
    again = TokenEmbeddingEncoder(str(tiny_model_dir))
    monkeypatch.setattr(again, "_token_matrices", lambda *a: (_ for _ in ()).throw(AssertionError("re-encoded")))
    second = again.encode_documents(TEXTS)
    assert second.info["cache_hits"] == 3
    assert all(np.array_equal(a, b) for a, b in zip(first.multivector, second.multivector))


def test_colbert_style_multivector_encoder(tiny_colbert_dir):
    enc = MultiVectorModelEncoder(str(tiny_colbert_dir), use_cache=False)
    docs = enc.encode_documents(TEXTS)
    queries = enc.encode_queries(["iphone"])
    assert docs.mode == "multivector" and all(m.shape[1] == 16 for m in docs.multivector)
    assert queries.multivector[0].shape[1] == 16
    idx, scores = maxsim_search(queries.multivector, docs.multivector, k=3)
    assert sorted(idx[0].tolist()) == [0, 1, 2]
