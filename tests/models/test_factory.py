"""The model registry: one table from a model to its encoder class, used by `get_encoder` and every Workspace."""

import pytest

from embedproof.errors import InvalidInputError
from embedproof.models.bm25 import BM25Encoder
from embedproof.models.factory import FIRST_PASS, encoder_family, get_encoder, is_built_in
from embedproof.models.hashing import HashingEncoder
from embedproof.search.pipeline import Workspace


def test_each_name_goes_to_its_family(tiny_model_dir, tiny_mlm_dir, tiny_bgem3_dir):
    assert encoder_family("bm25") == "bm25" and encoder_family("Hashing-256") == "hashing"
    assert encoder_family("voyage:voyage-3") == "remote" and encoder_family("openai:text-embedding-3-small") == "remote"
    assert encoder_family(str(tiny_mlm_dir)) == "splade"
    assert encoder_family(str(tiny_bgem3_dir)) == "bge-m3"
    assert encoder_family(str(tiny_model_dir)) == "dense"
    assert encoder_family("naver/splade-cocondenser-ensembledistil") == "splade"  # by its card
    assert set(FIRST_PASS) == {"bm25", "hashing", "remote", "bge-m3", "splade", "dense"}


def test_built_in_names():
    assert [is_built_in(n) for n in ("bm25", " BM25", "hashing", "hashing-256", "hashingbird")] == [
        True,
        True,
        True,
        True,
        False,
    ]
    with pytest.raises(InvalidInputError, match="hashing-x"):  # a malformed built-in size is named, not run
        is_built_in("hashing-x")


def test_get_encoder_builds_every_kind(tiny_model_dir):
    assert isinstance(get_encoder("bm25"), BM25Encoder)
    assert get_encoder("hashing-256").dim == 256 and isinstance(get_encoder("hashing"), HashingEncoder)
    tokens = get_encoder(str(tiny_model_dir), "tokens", batch_size=8, query_prefix="ignored: ")
    assert type(tokens).__name__ == "TokenEmbeddingEncoder"
    with pytest.raises(InvalidInputError, match="encoder kind 'pooled'"):
        get_encoder("hashing", "pooled")


def test_a_workspace_asks_the_registry_for_every_kind(monkeypatch):
    import embedproof.models.factory as factory

    asked = []

    def recording(name, kind="first", **options):
        asked.append((name, kind, options))
        return object()

    monkeypatch.setattr(factory, "get_encoder", recording)
    workspace = Workspace(["d"], ["text"], lambda model: {"batch_size": 4})
    for kind in ("first", "tokens", "cross-encoder"):
        workspace.encoder("m", kind)
    workspace.encoder("m", "first")  # built once per workspace
    assert asked == [("m", kind, {"batch_size": 4}) for kind in ("first", "tokens", "cross-encoder")]
