import numpy as np
import pytest

from embedproof.errors import ModelNotAvailableError
from embedproof.models.dense import DenseEncoder
from embedproof.models.factory import get_encoder
from embedproof.models.resolve import resolve_model
from embedproof.search.retrieve import search

LESSON = [
    "The first iPhone launched in 2007.",
    "Apple released the iPod in 2001.",
    "Android is an operating system from Google.",
]


def test_minilm_real_weights_score_the_known_pair(minilm_path):
    enc = DenseEncoder("sentence-transformers/all-MiniLM-L6-v2")
    assert enc.resolved.origin == "package" and enc.dim == 384 and enc.max_tokens == 256
    emb = enc.encode_documents(["A man is eating food.", "A man is eating a piece of bread."])
    assert float(emb.dense[0] @ emb.dense[1]) == pytest.approx(0.7553, abs=1e-3)


def test_lesson_example_ranks_iphone_first_with_minilm(minilm_path):
    enc = DenseEncoder("sentence-transformers/all-MiniLM-L6-v2")
    docs = enc.encode_documents(LESSON)
    queries = enc.encode_queries(["When was the iPhone released?"])
    indices, scores = search(queries, docs, k=3)
    assert LESSON[indices[0][0]] == "The first iPhone launched in 2007."
    assert scores[0][0] > scores[0][1] >= scores[0][2]
    assert np.allclose(np.linalg.norm(docs.dense, axis=1), 1.0, atol=1e-5)


def test_card_query_instruction_is_applied_automatically(tiny_bge_dir):
    enc = DenseEncoder(str(tiny_bge_dir))
    assert enc.card.name == "BAAI/bge-small-en-v1.5"
    assert enc.query_prefix == "Represent this sentence for searching relevant passages: " and enc.document_prefix == ""
    text = "when was the iphone released?"
    got = enc.encode_queries([text]).dense[0]
    with_prefix = enc.model.encode([enc.query_prefix + text], normalize_embeddings=True)[0]
    without = enc.model.encode([text], normalize_embeddings=True)[0]
    assert np.allclose(got, with_prefix, atol=1e-5)
    assert not np.allclose(got, without, atol=1e-3)
    assert enc.warnings == []


def test_overriding_a_card_prefix_is_recorded_as_a_warning(tiny_bge_dir):
    enc = DenseEncoder(str(tiny_bge_dir), query_prefix="")
    assert enc.query_prefix == ""
    assert any("differs from the model card" in w for w in enc.warnings)


def test_unknown_model_warns_what_was_assumed(tiny_model_dir):
    enc = get_encoder(str(tiny_model_dir))
    assert not enc.card.known and enc.query_prefix == ""
    assert any("assumed no query or document prefix" in w for w in enc.warnings)


def test_second_encode_comes_from_the_cache(tiny_model_dir, monkeypatch):
    enc = DenseEncoder(str(tiny_model_dir))
    first = enc.encode_documents(LESSON)
    assert first.info["cache_hits"] == 0

    def no_model(*args, **kwargs):
        raise AssertionError("the model must not run on cached texts")

    again = DenseEncoder(str(tiny_model_dir))
    monkeypatch.setattr(again, "_embed", no_model)
    second = again.encode_documents(LESSON)
    assert second.info["cache_hits"] == 3
    assert np.array_equal(first.dense, second.dense)


def test_cache_key_separates_prefixes_and_max_length(tiny_bge_dir):
    plain = DenseEncoder(str(tiny_bge_dir))
    short = DenseEncoder(str(tiny_bge_dir), max_tokens=8)
    assert plain.cache_key("x") != plain.cache_key("y")
    assert plain.cache_key("x") != short.cache_key("x") and short.max_tokens == 8


def test_missing_weights_offline_say_how_to_get_them(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotAvailableError) as info:
        resolve_model("BAAI/bge-large-en-v1.5-not-cached")
    assert "hf download" in str(info.value) and "HF_HUB_OFFLINE" in str(info.value)


def test_local_folder_resolves_with_content_revision(tiny_model_dir):
    resolved = resolve_model(str(tiny_model_dir))
    assert resolved.origin == "local" and resolved.revision.startswith("sha256:")
    assert resolve_model(str(tiny_model_dir)).revision == resolved.revision


def test_hosted_and_non_dense_models_are_refused_clearly(monkeypatch):
    from embedproof.errors import EmbedproofError

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # without a key a hosted model cannot be reached
    with pytest.raises(EmbedproofError, match="OPENAI_API_KEY"):
        get_encoder("openai/text-embedding-3-large")
    with pytest.raises(EmbedproofError, match="multivector only"):
        get_encoder("colbert-ir/colbertv2.0")


def test_unknown_model_takes_its_prompts_from_its_config(tiny_model_dir, tmp_path):
    """A model outside the registry whose sentence-transformers config names prompts gets them, and says so."""
    import json
    import shutil

    folder = tmp_path / "prompted"
    shutil.copytree(tiny_model_dir, folder)
    config = folder / "config_sentence_transformers.json"
    data = json.loads(config.read_text()) if config.is_file() else {}
    data["prompts"] = {"query": "query: ", "document": "passage: "}
    config.write_text(json.dumps(data))
    enc = get_encoder(str(folder))
    assert not enc.card.known
    assert (enc.query_prefix, enc.document_prefix) == ("query: ", "passage: ")
    assert any("from its config_sentence_transformers.json" in w for w in enc.warnings)
    assert not any("assumed no query or document prefix" in w for w in enc.warnings)
    given = get_encoder(str(folder), query_prefix="q: ")
    assert given.query_prefix == "q: " and given.document_prefix == "passage: "
