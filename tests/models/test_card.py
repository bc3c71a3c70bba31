import pytest

from embedproof.models.card import find_card, get_card, load_cards

REQUIRED = [
    "sentence-transformers/all-MiniLM-L6-v2",
    "sentence-transformers/paraphrase-MiniLM-L3-v2",
    "BAAI/bge-small-en-v1.5",
    "BAAI/bge-base-en-v1.5",
    "BAAI/bge-large-en-v1.5",
    "BAAI/bge-m3",
    "intfloat/e5-small-v2",
    "intfloat/e5-base-v2",
    "intfloat/e5-large-v2",
    "intfloat/multilingual-e5-small",
    "intfloat/multilingual-e5-base",
    "intfloat/multilingual-e5-large",
    "nomic-ai/nomic-embed-text-v1.5",
    "Snowflake/snowflake-arctic-embed-m-v1.5",
    "mixedbread-ai/mxbai-embed-large-v1",
    "thenlper/gte-base",
    "Qwen/Qwen3-Embedding-0.6B",
    "Qwen/Qwen3-Embedding-8B",
    "colbert-ir/colbertv2.0",
    "jinaai/jina-colbert-v2",
    "naver/splade-cocondenser-ensembledistil",
    "openai/text-embedding-3-small",
    "openai/text-embedding-3-large",
    "voyage/voyage-3",
    "voyage/voyage-3-large",
    "cohere/embed-v4.0",
    "google/gemini-embedding-001",
]


def test_registry_covers_the_models_the_issue_names():
    names = {card.name for card in load_cards()}
    assert not [n for n in REQUIRED if n not in names]


@pytest.mark.parametrize(
    "name, query_prefix, document_prefix",
    [
        ("BAAI/bge-small-en-v1.5", "Represent this sentence for searching relevant passages: ", ""),
        ("intfloat/e5-base-v2", "query: ", "passage: "),
        ("nomic-ai/nomic-embed-text-v1.5", "search_query: ", "search_document: "),
        ("sentence-transformers/all-MiniLM-L6-v2", "", ""),
        ("BAAI/bge-m3", "", ""),
    ],
)
def test_prefixes_match_model_cards(name, query_prefix, document_prefix):
    card = get_card(name)
    assert (card.query_prefix, card.document_prefix) == (query_prefix, document_prefix)
    assert card.symmetric == (query_prefix == document_prefix)
    assert card.prefix_source and card.source


def test_cards_are_consistent():
    for card in load_cards():
        if card.matryoshka_dims:
            assert card.matryoshka_dims == sorted(card.matryoshka_dims, reverse=True), card.name
            assert card.dim in card.matryoshka_dims, card.name
        assert set(card.modes) <= {"dense", "sparse", "multivector"}
        assert card.hosted == (not card.open_weights) or card.name in {"bm25", "hashing"}


def test_bge_m3_offers_all_three_modes_and_8k_window():
    card = get_card("bge-m3")
    assert card.modes == ["dense", "sparse", "multivector"] and card.max_tokens == 8192 and card.dim == 1024


def test_lookup_by_alias_short_name_and_local_folder():
    assert find_card("bge-small-en-v1.5").name == "BAAI/bge-small-en-v1.5"
    assert find_card("ALL-MINILM-L6-V2").name == "sentence-transformers/all-MiniLM-L6-v2"
    assert find_card("/models/copies/all-MiniLM-L6-v2/").name == "sentence-transformers/all-MiniLM-L6-v2"
    assert get_card("all-MiniLM-L6-v2").max_tokens == 256 and get_card("all-MiniLM-L6-v2").dim == 384


def test_unknown_model_gets_safe_defaults_and_a_warning_naming_assumptions():
    card = get_card("someone/brand-new-embedder")
    assert not card.known and card.query_prefix == "" and card.symmetric and not card.matryoshka
    warning = card.assumption_warning
    assert "someone/brand-new-embedder" in warning and "no query or document prefix" in warning
    assert get_card("BAAI/bge-base-en-v1.5").assumption_warning is None


def test_matryoshka_models_know_their_dims():
    assert get_card("nomic-embed-text-v1.5").matryoshka_dims[-1] == 64
    assert get_card("bge-small-en-v1.5").matryoshka_dims == []
