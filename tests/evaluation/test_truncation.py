import numpy as np
import pytest

from embedproof.datasets.loading import load_dataset
from embedproof.evaluation.bench import run_bench
from embedproof.evaluation.bench_options import BenchOptions
from embedproof.evaluation.truncation import length_stats, token_lengths, truncation_profile, truncation_warning


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


def test_the_histogram_is_log_spaced_so_an_outlier_leaves_the_rest_apart():
    # 99 documents of 100-1,000 tokens and one of 289,000: linear bins of 14,445 tokens put all 99 in the first bar
    lengths = np.array([100 + 9 * i for i in range(99)] + [289_000])
    histogram = truncation_profile(lengths, 256)["histogram"]
    edges, counts = np.array(histogram["edges"]), histogram["counts"]
    assert histogram["scale"] == "log" and edges[0] == 100 and edges[-1] == 289_000
    assert np.allclose(edges[1:] / edges[:-1], (289_000 / 100) ** (1 / 20))  # equal steps on a log axis
    assert sum(counts) == 100 and counts[-1] == 1 and max(counts) < 99 and sum(c > 0 for c in counts) >= 5


def test_profile_and_bench_print_the_same_figures_for_the_same_texts(tokenizer, monkeypatch):
    """`profile`'s share over a window and p99 come from the function bench's truncation profile uses."""
    import embedproof.pick.profile as profile_module
    from embedproof.pick.profile import profile_corpus

    monkeypatch.setattr(profile_module, "_tokenizers", lambda: {"mini": tokenizer})
    dataset = load_dataset("demo")
    facts = profile_corpus(dataset)["tokens"]["mini"]
    texts = [doc.full_text for doc in dataset.corpus.values()]
    lengths = token_lengths(tokenizer, texts)
    bench = truncation_profile(lengths, 256)
    assert facts["p99"] == bench["p99"] and facts["p50"] == bench["p50"] and facts["max"] == bench["max"]
    assert facts["share_over_256"] == bench["share_over_window"]
    assert facts["p99"] == pytest.approx(np.percentile(lengths, 99))
    # a window that cuts some demo passages (4-62 tokens): both count the same documents over it
    assert length_stats(lengths, [40])["share_over_40"] == truncation_profile(lengths, 40)["share_over_window"] > 0
