import numpy as np
import pytest

from embedproof.datasets.loading import load_dataset
from embedproof.evaluation.bench import run_bench
from embedproof.evaluation.bench_options import BenchOptions
from embedproof.evaluation.truncation import (
    chunk_texts,
    max_pool_scores,
    token_lengths,
    truncation_profile,
    truncation_warning,
)


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


def test_chunks_cover_the_text_with_overlap(tokenizer):
    text = " ".join(f"w{i}" for i in range(50))
    chunks, owners = chunk_texts(tokenizer, [text, "short"], window=20, overlap=5)
    assert owners.tolist() == [0] * (len(chunks) - 1) + [1] and chunks[-1] == "short"
    ids = [tokenizer(c, add_special_tokens=False)["input_ids"] for c in chunks[:-1]]
    assert all(len(i) <= 20 for i in ids)
    assert chunks[0].startswith("w0") and chunks[-2].endswith("w49")
    with pytest.raises(ValueError):
        chunk_texts(tokenizer, [text], window=10, overlap=10)


def test_max_pool_takes_each_documents_best_chunk():
    scores = np.array([[0.1, 0.9, 0.3, 0.2]], dtype=np.float32)
    pooled = max_pool_scores(scores, np.array([0, 0, 2, 2]), 3)
    assert pooled[0, 0] == np.float32(0.9) and pooled[0, 1] == -np.inf and pooled[0, 2] == np.float32(0.3)


def test_bench_reports_truncation_and_a_chunked_run(minilm_path):
    runs = run_bench(
        load_dataset("demo"),
        ["sentence-transformers/all-MiniLM-L6-v2"],
        BenchOptions(chunk_tokens=24, chunk_overlap=4, latency_queries=5),
    )["runs"]
    dense, chunked = runs
    assert dense["truncation"]["window"] == 256 and dense["truncation"]["share_over_window"] == 0.0
    assert chunked["mode"] == "dense-chunked" and chunked["chunking"]["chunks_per_document"] > 1
    assert chunked["metrics"]["ndcg@10"] > 0.8 and chunked["bytes_per_vector"] > dense["bytes_per_vector"]
