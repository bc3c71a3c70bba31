import pytest

from embedpick.evaluation.bench import BenchOptions, run_bench
from embedpick.evaluation.bench_recipes import bench_recipes
from embedpick.evaluation.datasets import load_dataset
from embedpick.pipeline import _place_on_top
from embedpick.recipe import Recipe, standard_recipe


@pytest.fixture(scope="module")
def demo():
    return load_dataset("demo")


def test_rerank_places_reranked_documents_first():
    run = {"q": {"a": 10.0, "b": 9.0, "c": 8.0, "d": 7.0}}
    out = _place_on_top({"q": {"a": 0.1, "c": 0.9}}, run)["q"]
    assert sorted(out, key=out.get, reverse=True) == ["c", "a", "b", "d"]


def test_hybrid_recipe_reports_stages_and_fuses(demo):
    recipes = [standard_recipe(m, "hashing", "bm25") for m in ("dense", "sparse", "hybrid")]
    runs = {r["mode"]: r for r in bench_recipes(demo, recipes)}
    assert set(runs) == {"dense", "sparse", "hybrid"}
    hybrid = runs["hybrid"]
    # query encoding is a stage of its own per encoder (no ranking), then the ranking stages
    assert [s["stage"] for s in hybrid["stages"]] == ["encode:first:hashing", "encode:first:bm25", "first_pass:hashing",
                                                      "first_pass:bm25", "fusion:rrf"]
    ranking = [s for s in hybrid["stages"] if "metrics" in s]
    assert len(ranking) == 3 and all(s["candidates"] == 100 and s["seconds"] >= 0 for s in ranking)
    # the first-pass stages are the single runs themselves
    assert ranking[0]["metrics"]["ndcg@10"] == pytest.approx(runs["dense"]["metrics"]["ndcg@10"])
    assert ranking[1]["metrics"]["ndcg@10"] == pytest.approx(runs["sparse"]["metrics"]["ndcg@10"])
    # fusion recalls at least what either run alone recalls at 100
    assert hybrid["metrics"]["recall@100"] >= max(runs["dense"]["metrics"]["recall@100"], runs["sparse"]["metrics"]["recall@100"])
    assert hybrid["bytes_per_passage"] > runs["dense"]["bytes_per_passage"]


def test_hybrid_plus_rerank_with_minilm_maxsim(demo, minilm_path):
    minilm = "sentence-transformers/all-MiniLM-L6-v2"
    runs = {r["mode"]: r for r in bench_recipes(demo, [standard_recipe(m, minilm, "bm25") for m in ("hybrid", "hybrid+rerank", "multivector")])}
    rerank = runs["hybrid+rerank"]
    assert rerank["stages"][-1]["stage"] == f"rerank:maxsim:{minilm}" and rerank["stages"][-1]["candidates"] == 50
    # reranking only reorders the top 50: recall@100 is unchanged
    assert rerank["metrics"]["recall@100"] == pytest.approx(runs["hybrid"]["metrics"]["recall@100"])
    assert runs["multivector"]["metrics"]["ndcg@10"] > 0.8
    assert runs["multivector"]["bytes_per_passage"] > 10 * 384 * 4  # tens of times a dense vector


def test_cross_encoder_rerank_path(demo, tiny_cross_encoder_dir):
    recipe = Recipe("ce", ["bm25"], rerank=f"cross-encoder:{tiny_cross_encoder_dir}", rerank_top=5)
    run = bench_recipes(demo, [recipe])[0]
    assert run["stages"][-1]["stage"].startswith("rerank:cross-encoder:") and run["stages"][-1]["candidates"] == 5
    assert run["metrics"]["recall@100"] == pytest.approx(bench_recipes(demo, [Recipe("b", ["bm25"])])[0]["metrics"]["recall@100"])


def test_tuning_uses_another_split_and_refuses_the_scored_one(demo, tmp_path):
    recipe = standard_recipe("hybrid", "hashing", "bm25")
    with pytest.raises(ValueError, match="refusing to tune on 'test'"):
        bench_recipes(demo, [recipe], tune_split="test")


def test_run_bench_with_recipes_via_options(demo):
    results = run_bench(demo, [], BenchOptions(), recipes=[Recipe("lexical", ["bm25"])])
    assert [r["mode"] for r in results["runs"]] == ["lexical"]
