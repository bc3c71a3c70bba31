import pytest

from embedproof.datasets.loading import Dataset, load_dataset
from embedproof.pick.profile import profile_corpus
from embedproof.types import Document


def test_demo_profile(minilm_path):
    facts = profile_corpus(load_dataset("demo"))
    assert facts["documents"] == 240 and facts["languages"] == {"en": 1.0} and facts["empty_documents"] == 1
    stats = facts["tokens"]["sentence-transformers/all-MiniLM-L6-v2"]
    assert 30 < stats["mean"] < 60 and stats["share_over_512"] == 0.0
    assert facts["duplicate_rate"] == 0.0


def test_languages_duplicates_and_identifiers():
    docs = {
        "1": Document("1", "Der schnelle braune Fuchs springt über den faulen Hund und läuft dann weiter in den Wald."),
        "2": Document("2", "Le renard brun rapide saute par-dessus le chien paresseux et court ensuite dans la forêt."),
        "3": Document("3", "The quick brown fox jumps over the lazy dog and then runs on into the forest."),
        "4": Document("4", "The quick brown fox jumps over the lazy dog and then runs on into the forest."),
        "5": Document("5", "Error E1234 in config_loader.py at ISO8601 parsing: see HTTP404 and fooBar.baz"),
    }
    facts = profile_corpus(Dataset("mix", "-", docs))
    assert {"de", "fr", "en"} <= set(facts["languages"])
    assert facts["duplicate_rate"] == pytest.approx(0.2)
    assert facts["identifier_share"] > 0.02 and facts["keyword_heavy"]


def test_profile_says_which_signal_made_a_corpus_keyword_heavy():
    from embedproof.pick.profile import _keyword_reasons

    assert _keyword_reasons(0.03, 0.01, 500) == [
        "identifier-like tokens (codes, versions, CamelCase) are 3.0% of words (> 2%)"
    ]
    assert _keyword_reasons(0.0, 0.08, 500) == []  # rare terms mean nothing on 500 documents
    assert "one document only are 8.0%" in _keyword_reasons(0.0, 0.08, 5000)[0]


def test_profile_table_is_readable(tmp_path):
    from typer.testing import CliRunner

    from embedproof.cli import app

    result = CliRunner().invoke(app, ["profile", "demo"])
    assert result.exit_code == 0
    assert "rare_term_share" not in result.output and "words found in one document only" in result.output
    assert "over 256 tokens" in result.output and "keyword-heavy" in result.output
