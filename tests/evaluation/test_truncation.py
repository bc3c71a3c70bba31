import numpy as np
import pytest

from embedproof.datasets.loading import load_dataset
from embedproof.evaluation.bench import run_bench
from embedproof.evaluation.bench_options import BenchOptions
from embedproof.evaluation.truncation import token_lengths, truncation_profile, truncation_warning


@pytest.fixture(scope="module")
def tokenizer(minilm_path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_path)


def test_lengths_ignore_the_packaged_128_token_truncation(tokenizer):
    # the packaged tokenizer.json fixes truncation at 128 (OFFLINE.md): counting must not be cut there
    lengths = token_lengths(tokenizer, ["word " * 300, "two words"])
    assert lengths.tolist() == [302, 4]


def test_profile_and_warning_by_hand():
    profile = truncation_profile(np.array([10, 20, 300, 600]), window=256)
    assert profile["share_over_window"] == 0.5 and profile["max"] == 600 and profile["tokens_cut"] == 44 + 344
    assert sum(profile["histogram"]["counts"]) == 4
    assert "50% of documents are longer than its 256-token window" in truncation_warning("m", profile)
    assert truncation_warning("m", truncation_profile(np.array([10, 20]), 256)) is None


def test_bench_reports_truncation_and_a_chunked_run(minilm_path):
    runs = run_bench(
        load_dataset("demo"),
        ["sentence-transformers/all-MiniLM-L6-v2"],
        BenchOptions(chunk_tokens=24, chunk_overlap=4, latency_queries=5),
    )["runs"]
    dense, chunked = runs
    assert dense["truncation"]["window"] == 256 and dense["truncation"]["share_over_window"] == 0.0
    assert chunked["mode"] == "dense" and chunked["chunking"]["chunks_per_document"] > 1
    assert chunked["name"] == "all-MiniLM-L6-v2 dense chunks 24/4 d384 float32"
    assert (chunked["recipe"]["chunk_tokens"], chunked["recipe"]["chunk_overlap"]) == (24, 4)
    assert chunked["metrics"]["ndcg@10"] > 0.8 and chunked["bytes_per_vector"] > dense["bytes_per_vector"]


def test_index_build_warns_about_truncation_as_bench_does(minilm_path, tmp_path):
    import json

    from typer.testing import CliRunner

    from embedproof.cli import app

    corpus = tmp_path / "long.jsonl"
    rows = [{"_id": f"d{i}", "text": " ".join(f"word{j}" for j in range(400 if i % 2 else 20))} for i in range(6)]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    base = [
        "index",
        "build",
        "--corpus",
        str(corpus),
        "--mode",
        "dense",
        "-m",
        "sentence-transformers/all-MiniLM-L6-v2",
    ]
    whole = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "a")])
    assert whole.exit_code == 0, whole.output
    assert "50% of documents are longer than its 256-token window" in " ".join(whole.stderr.split())
    recipe = tmp_path / "chunked.json"
    recipe.write_text(json.dumps({"first_pass": ["sentence-transformers/all-MiniLM-L6-v2"], "chunk_tokens": 200}))
    chunked = CliRunner().invoke(app, [*base[:4], "--recipe", str(recipe), "--out", str(tmp_path / "b")])
    assert chunked.exit_code == 0, chunked.output
    assert "window" not in chunked.stderr
