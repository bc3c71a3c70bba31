from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from embedproof.cli import app
from embedproof.datasets.loading import load_dataset
from embedproof.errors import InvalidInputError
from embedproof.judge.pool import Pooler, setups_from_recipes, setups_from_results, top_ids


@pytest.fixture(scope="module")
def demo():
    return load_dataset("demo")


@pytest.fixture(scope="module")
def benched(tmp_path_factory):
    """A real bench of the demo (bm25 and hashing), with its TREC run files."""
    folder = tmp_path_factory.mktemp("bench")
    done = CliRunner().invoke(
        app,
        ["bench", "-d", "demo", "-m", "bm25", "-m", "hashing", "--no-latency", "-o", str(folder / "results.json"),
         "--run-dir", str(folder / "runs"), "--bootstrap-resamples", "1000", "--permutation-resamples", "1000"],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    return folder


def trec_top(path, k):
    """Each query's top k of a TREC run file as trec_eval reads it: by score, ties by document id descending."""
    ranked: dict[str, list[tuple[float, str]]] = {}
    for line in path.read_text().splitlines():
        qid, _, doc, _, score, _ = line.split()
        ranked.setdefault(qid, []).append((float(score), doc))
    return {q: [d for _, d in sorted(docs, reverse=True)[:k]] for q, docs in ranked.items()}


def test_a_results_file_is_pooled_with_the_rankings_bench_measured(demo, benched):
    results = json.loads((benched / "results.json").read_text())
    setups, notes = setups_from_results(results, demo)
    assert [s.name for s in setups] == ["bm25 sparse float32", "hashing dense d1024 float32"] and notes == []
    qids = ["q01", "q02", "q03", "q05"]
    rankings = Pooler(demo, setups, depth=5).rank(qids, [demo.queries[q] for q in qids])
    expected = {
        "bm25 sparse float32": trec_top(benched / "runs" / "demo.bm25_sparse_float32.trec", 5),
        "hashing dense d1024 float32": trec_top(benched / "runs" / "demo.hashing_dense_d1024_float32.trec", 5),
    }
    for name, ranking in rankings.items():
        assert ranking == {q: expected[name][q] for q in qids}, name


def test_recipe_runs_of_a_results_file_are_pooled_as_their_recipes(demo, tmp_path):
    done = CliRunner().invoke(
        app,
        ["bench", "-d", "demo", "--mode", "hybrid", "-m", "hashing", "-m", "bm25", "--no-latency",
         "-o", str(tmp_path / "results.json"), "--run-dir", str(tmp_path / "runs"),
         "--bootstrap-resamples", "1000", "--permutation-resamples", "1000"],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    results = json.loads((tmp_path / "results.json").read_text())
    results["dataset"]["name"] = "demo (inverse cloze)"  # a pseudo-query bench of the same corpus is accepted
    (setup,) = [s for s in setups_from_results(results, demo)[0] if s.recipe.first_pass == ["hashing", "bm25"]]
    assert setup.recipe.fusion == "rrf" and setup.recipe.fusion_params == {"k": 60}
    (trec,) = (tmp_path / "runs").glob("*hybrid*.trec")
    qids = ["q01", "q04", "q07"]
    ranking = Pooler(demo, [setup], depth=5).rank(qids, [demo.queries[q] for q in qids])[setup.name]
    expected = trec_top(trec, 5)
    assert ranking == {q: expected[q] for q in qids}


def test_a_results_file_from_another_corpus_is_refused(demo, benched):
    results = json.loads((benched / "results.json").read_text())
    results["dataset"] = {**results["dataset"], "name": "fastapi-docs", "documents": 155}
    with pytest.raises(InvalidInputError, match=r"--results: measured on fastapi-docs \(155 documents\), not on demo"):
        setups_from_results(results, demo)


def test_the_pool_is_the_union_of_every_top_k_shuffled_by_a_seed(demo):
    setups = setups_from_recipes(None, ["bm25", "hashing"])
    pooler = Pooler(demo, setups, depth=5, seed=0)
    (entry,) = pooler.pool(["q1"], ["When was the iPhone released?"])
    union = set(entry["rankings"]["bm25"]) | set(entry["rankings"]["hashing"])
    assert len(entry["rankings"]["bm25"]) == 5 and sorted(entry["order"]) == sorted(union)
    assert "d001" in union  # "The first iPhone launched in 2007."
    again = Pooler(demo, setups, depth=5, seed=0).pool(["q1"], ["When was the iPhone released?"])[0]
    other = Pooler(demo, setups, depth=5, seed=1).pool(["q1"], ["When was the iPhone released?"])[0]
    assert again["order"] == entry["order"] and sorted(other["order"]) == sorted(entry["order"])
    assert other["order"] != entry["order"]
    for doc, (start, end) in entry["passages"].items():
        assert 0 <= start < end <= len(demo.corpus[doc].full_text)


def test_set_ups_as_bench_reads_its_options():
    assert [s.name for s in setups_from_recipes(None, ["bm25", "hashing", "bm25"])] == ["bm25", "hashing"]
    with pytest.raises(InvalidInputError, match="judge needs set-ups to pool"):
        setups_from_recipes(None, None)


def test_top_ids_break_ties_as_trec_eval():
    assert top_ids({"a": 1.0, "b": 1.0, "c": 2.0}, 2) == ["c", "b"]


def test_a_chunked_set_up_shows_the_chunk_that_scored(demo):
    """hashing over 4-word chunks: each passage is the chunk its score came from, not a term-matched window."""
    from embedproof.judge.pool import SetUp
    from embedproof.search.recipe import Recipe

    chunked = Recipe("hashing 4-word chunks", ["hashing"], chunk_tokens=4)
    pooler = Pooler(demo, [SetUp(chunked.name, chunked)], depth=5)
    (entry,) = pooler.pool(["q1"], ["When was the iPhone released?"])
    shown = {d: demo.corpus[d].full_text[s:e] for d, (s, e) in entry["passages"].items()}
    assert all(len(text.split()) == 4 for text in shown.values()), shown
    # "iPhone 3G The iPhone 3G arrived in 2008 …": the chunk with the query's word twice is the one that scored
    assert shown["d004"] == "iPhone 3G The iPhone"
    whole = Pooler(demo, setups_from_recipes(None, ["hashing"]), depth=5).pool(
        ["q1"], ["When was the iPhone released?"]
    )
    assert all(len(demo.corpus[d].full_text[s:e].split()) > 4 for d, (s, e) in whole[0]["passages"].items())
