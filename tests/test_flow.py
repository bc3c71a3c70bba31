"""The Python flow: every bench run is a recipe, each set-up once, and a pick builds and serves as it was benched."""

import json

import pytest

import embedproof
from embedproof.datasets.loading import load_dataset
from embedproof.errors import InvalidInputError
from embedproof.evaluation.bench import run_bench
from embedproof.evaluation.bench_options import BenchOptions
from embedproof.evaluation.metrics import evaluate_run
from embedproof.flow import Choice, Results, bench_plan
from embedproof.search.recipe import Recipe


@pytest.fixture(scope="module")
def demo():
    return load_dataset("demo")


def _served_ndcg(index, data) -> float:
    queries = data.judged_queries
    answers = index.search_many(list(queries.values()), top_k=100)
    served = {qid: {hit["id"]: hit["score"] for hit in a["results"]} for qid, a in zip(queries, answers)}
    return evaluate_run(data.qrels, served)[0]["ndcg@10"]


MINE = Recipe("mine", ["hashing"])

# (models, modes, recipes, model runs, bench options) → the runs, each set-up once, by name
COMBINATIONS = [
    (["hashing", "bm25"], ["dense", "sparse"], [], True, {}, {"dense", "sparse"}),
    (["hashing", "bm25"], ["dense", "dense", "sparse"], [], None, {}, {"dense", "sparse"}),
    (["hashing"], ["dense"], [MINE], None, {}, {"dense"}),
    (["hashing"], [], [MINE], True, {}, {"mine"}),
    (["hashing", "hashing"], [], [], None, {}, {"hashing dense d1024 float32"}),
    (
        ["hashing"],
        [],
        [],
        None,
        {"dims": [1024, 1024, 256], "precisions": ["float32", "int8", "float32"]},
        {
            "hashing dense d1024 float32",
            "hashing dense d1024 int8",
            "hashing dense d256 float32",
            "hashing dense d256 int8",
        },
    ),
    (
        ["hashing", "bm25"],
        ["hybrid", "sparse"],
        [],
        True,
        {"precisions": ["float32", "int8"]},
        {"hashing dense d1024 float32", "hashing dense d1024 int8", "sparse", "hybrid"},
    ),
    (["bm25"], ["sparse"], [Recipe("sparse-too", ["bm25"], candidates=100)], True, {}, {"sparse"}),
]


@pytest.mark.parametrize(("models", "modes", "recipes", "model_runs", "settings", "expected"), COMBINATIONS)
def test_overlapping_flags_measure_each_setup_once(demo, models, modes, recipes, model_runs, settings, expected):
    names, built = bench_plan(models, modes, recipes, model_runs)
    options = BenchOptions(latency=False, **settings)
    runs = run_bench(demo, names, options, recipes=built or None)["runs"]
    setups = [Recipe(**r["recipe"]).setup() for r in runs]
    assert len(set(setups)) == len(setups)
    assert {r["name"] for r in runs} == expected


def test_one_name_for_two_setups_is_still_refused(demo):
    names, built = bench_plan(["hashing"], ["dense"], [Recipe("dense", ["bm25"])])
    with pytest.raises(InvalidInputError, match="appear more than once"):
        run_bench(demo, names, BenchOptions(latency=False), recipes=built)


def test_every_model_run_is_a_one_model_recipe_named_as_the_table_shows_it(demo):
    runs = run_bench(demo, ["hashing", "bm25"], BenchOptions(latency=False, chunk_tokens=16, chunk_overlap=4))["runs"]
    by_name = {r["name"]: r for r in runs}
    assert set(by_name) == {
        "hashing dense d1024 float32",
        "hashing dense chunks 16/4 d1024 float32",
        "bm25 sparse float32",
    }
    for run in runs:
        assert run["recipe"]["name"] == run["name"] and run["recipe"]["first_pass"] == [run["model"]]
        assert run["models"] == [run["model"]] and run["mode"] in {"dense", "sparse"}
    chunked = by_name["hashing dense chunks 16/4 d1024 float32"]["recipe"]
    assert (chunked["chunk_tokens"], chunked["chunk_overlap"], chunked["dim"]) == (16, 4, None)


def test_a_composed_recipe_names_one_mode_and_its_models(demo):
    run = run_bench(demo, [], BenchOptions(latency=False), recipes=[Recipe("h", ["hashing", "bm25"])])["runs"][0]
    assert (run["name"], run["mode"], run["model"], run["models"]) == ("h", "hybrid", "hashing", ["hashing", "bm25"])


def test_a_pick_from_model_runs_builds_and_serves_the_benched_ndcg(demo, tmp_path):
    results = embedproof.bench(demo, models=["hashing", "bm25"], precisions=["float32", "int8"], latency=False)
    assert isinstance(results, Results) and {r.name for r in results.runs} >= {"bm25 sparse float32"}
    for run in results.runs:  # every run, the pick among them included, serves what was measured
        index = Choice(run, "", {}, results).build(tmp_path / run.name.replace(" ", "-"))
        assert _served_ndcg(index, demo) == pytest.approx(run.metrics["ndcg@10"], abs=1e-12), run.name
    choice = results.pick()
    assert choice.recipe == results.run(choice.run.name).recipe and "**Pick**" in choice.why


def test_results_save_load_and_table(demo, tmp_path):
    results = embedproof.bench(demo, models=["bm25"], latency=False)
    path = results.save(tmp_path / "results.json")
    again = Results.load(path)
    assert [r.name for r in again.runs] == ["bm25 sparse float32"]
    assert again.table().splitlines()[1].startswith("bm25 sparse float32") and "0.8546" in again.table()
    assert json.loads(path.read_text())["runs"][0]["recipe"]["first_pass"] == ["bm25"]
    with pytest.raises(InvalidInputError, match="no run named 'nope'"):
        again.run("nope")
    with pytest.raises(InvalidInputError, match="unexpected keyword"):
        embedproof.bench(demo, models=["bm25"], colour="red")
