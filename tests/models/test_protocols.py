"""Every encoder family and the reranker meet the contracts in models/protocols.py (checked on real instances)."""

import httpx

from embedproof.models import (
    BGEM3Encoder,
    BM25Encoder,
    CrossEncoderReranker,
    DenseEncoder,
    Encoder,
    HashingEncoder,
    MultiVectorModelEncoder,
    RemoteEncoder,
    Reranker,
    SpladeEncoder,
    TokenEmbeddingEncoder,
    TokenEncoder,
)
from embedproof.models.remote import remote_encoder


def test_built_in_encoders_are_encoders():
    for encoder in (HashingEncoder(), BM25Encoder()):
        assert isinstance(encoder, Encoder), type(encoder)
        encoder.encode_documents(["a cat sat", "a dog ran"])  # BM25 fits its vocabulary on the documents first
        assert encoder.encode_queries(["a cat"]).mode == encoder.mode


def test_model_encoders_are_encoders(minilm_path, splade_tiny_dir, tiny_bgem3_dir, tiny_colbert_dir):
    for encoder in (
        DenseEncoder(minilm_path, use_cache=False),
        SpladeEncoder(str(splade_tiny_dir), use_cache=False),
        BGEM3Encoder(str(tiny_bgem3_dir)),
    ):
        assert isinstance(encoder, Encoder) and not isinstance(encoder, Reranker), type(encoder)
        assert encoder.encode_queries(["a cat sat"]).mode == encoder.mode
    for tokens in (
        TokenEmbeddingEncoder(minilm_path, use_cache=False),
        MultiVectorModelEncoder(str(tiny_colbert_dir), use_cache=False),
    ):
        assert isinstance(tokens, TokenEncoder), type(tokens)
        assert tokens.mode == "multivector" and tokens.encode_queries(["a cat sat"]).mode == "multivector"


def test_remote_encoder_is_an_encoder():
    def answer(request):
        return httpx.Response(200, json={"data": [{"index": 0, "embedding": [0.6, 0.8]}], "model": "m"})

    encoder = remote_encoder(
        "openai-compatible:m@http://embeddings.invalid/v1", use_cache=False, transport=httpx.MockTransport(answer)
    )
    assert isinstance(encoder, RemoteEncoder) and isinstance(encoder, Encoder)
    assert encoder.encode_queries(["a cat"]).mode == "dense"


def test_cross_encoder_is_a_reranker(tiny_cross_encoder_dir):
    reranker = CrossEncoderReranker(str(tiny_cross_encoder_dir))
    assert isinstance(reranker, Reranker) and not isinstance(reranker, Encoder)
    assert reranker.score("a cat", ["a cat sat", "a dog ran"]).shape == (2,)
