import numpy as np
import pytest

from embedproof.datasets.loading import load_dataset
from embedproof.evaluation.bench import run_bench
from embedproof.evaluation.bench_options import BenchOptions
from embedproof.evaluation.bench_recipes import bench_recipes
from embedproof.search.pipeline import place_on_top
from embedproof.search.recipe import Recipe, standard_recipe


@pytest.fixture(scope="module")
def demo():
    return load_dataset("demo")


def test_rerank_places_reranked_documents_first():
    run = {"q": {"a": 10.0, "b": 9.0, "c": 8.0, "d": 7.0}}
    out = place_on_top({"q": {"a": 0.1, "c": 0.9}}, run)["q"]
    assert sorted(out, key=out.get, reverse=True) == ["c", "a", "b", "d"]


def test_hybrid_recipe_reports_stages_and_fuses(demo):
    recipes = [standard_recipe(m, "hashing", "bm25") for m in ("dense", "sparse", "hybrid")]
    runs = {r["name"]: r for r in bench_recipes(demo, recipes)}
    assert set(runs) == {"dense", "sparse", "hybrid"}
    hybrid = runs["hybrid"]
    # query encoding is a stage of its own per encoder (no ranking), then the ranking stages
    assert [s["stage"] for s in hybrid["stages"]] == [
        "encode:first:hashing",
        "encode:first:bm25",
        "first_pass:hashing",
        "first_pass:bm25",
        "fusion:rrf",
    ]
    ranking = [s for s in hybrid["stages"] if "metrics" in s]
    assert len(ranking) == 3 and all(s["candidates"] == 100 and s["seconds"] >= 0 for s in ranking)
    # the first-pass stages are the single runs themselves
    assert ranking[0]["metrics"]["ndcg@10"] == pytest.approx(runs["dense"]["metrics"]["ndcg@10"])
    assert ranking[1]["metrics"]["ndcg@10"] == pytest.approx(runs["sparse"]["metrics"]["ndcg@10"])
    # fusion recalls at least what either run alone recalls at 100
    assert hybrid["metrics"]["recall@100"] >= max(
        runs["dense"]["metrics"]["recall@100"], runs["sparse"]["metrics"]["recall@100"]
    )
    assert hybrid["bytes_per_passage"] > runs["dense"]["bytes_per_passage"]


def test_hybrid_plus_rerank_with_minilm_maxsim(demo, minilm_path):
    minilm = "sentence-transformers/all-MiniLM-L6-v2"
    runs = {
        r["name"]: r
        for r in bench_recipes(
            demo, [standard_recipe(m, minilm, "bm25") for m in ("hybrid", "hybrid+rerank", "multivector")]
        )
    }
    rerank = runs["hybrid+rerank"]
    assert rerank["stages"][-1]["stage"] == f"rerank:maxsim:{minilm}" and rerank["stages"][-1]["candidates"] == 50
    # reranking only reorders the top 50: recall@100 is unchanged
    assert rerank["metrics"]["recall@100"] == pytest.approx(runs["hybrid"]["metrics"]["recall@100"])
    assert runs["multivector"]["metrics"]["ndcg@10"] > 0.8
    assert runs["multivector"]["bytes_per_passage"] > 10 * 384 * 4  # tens of times a dense vector
    # one forward pass per query gives MiniLM's pooled vector and its tokens: one encode stage for MiniLM
    encodes = [s["stage"] for s in rerank["stages"] if s["stage"].startswith("encode:")]
    assert encodes == [f"encode:first+tokens:{minilm}", "encode:first:bm25"]
    assert set(rerank["latency"]["online_ms"]) >= {f"encode:first+tokens:{minilm}", f"rerank:maxsim:{minilm}"}


def test_one_forward_pass_equals_two(minilm_path):
    from embedproof.models.dense import DenseEncoder
    from embedproof.models.multivector import TokenEmbeddingEncoder, encode_pooled_and_tokens, shares_forward_pass

    minilm = "sentence-transformers/all-MiniLM-L6-v2"
    dense, tokens = DenseEncoder(minilm, use_cache=False), TokenEmbeddingEncoder(minilm, use_cache=False)
    assert shares_forward_pass(dense, tokens) and not shares_forward_pass(
        DenseEncoder(minilm, query_prefix="q: ", use_cache=False), tokens
    )
    texts = [
        "When was the iPhone released?",
        "bm25",
        "a much longer query about the effect of vitamin D on bone density in adults",
    ]
    pooled, matrices = encode_pooled_and_tokens(dense, tokens, texts)
    assert np.allclose(pooled.dense, dense.encode_queries(texts).dense, atol=1e-5)
    separate = tokens.encode_queries(texts).multivector
    assert [m.shape for m in matrices.multivector] == [
        m.shape for m in separate
    ]  # padding cut as sentence-transformers does
    assert all(
        np.allclose(a.astype(np.float32), b.astype(np.float32), atol=2e-3)
        for a, b in zip(matrices.multivector, separate)
    )


def test_cross_encoder_rerank_path(demo, tiny_cross_encoder_dir):
    recipe = Recipe("ce", ["bm25"], rerank=f"cross-encoder:{tiny_cross_encoder_dir}", rerank_top=5)
    run = bench_recipes(demo, [recipe])[0]
    assert run["stages"][-1]["stage"].startswith("rerank:cross-encoder:") and run["stages"][-1]["candidates"] == 5
    assert run["metrics"]["recall@100"] == pytest.approx(
        bench_recipes(demo, [Recipe("b", ["bm25"])])[0]["metrics"]["recall@100"]
    )


def test_tuning_uses_another_split_and_refuses_the_scored_one(demo, tmp_path):
    recipe = standard_recipe("hybrid", "hashing", "bm25")
    with pytest.raises(ValueError, match="refusing to tune on 'test'"):
        bench_recipes(demo, [recipe], tune_split="test")


def test_run_bench_with_recipes_via_options(demo):
    results = run_bench(demo, [], BenchOptions(), recipes=[Recipe("lexical", ["bm25"])])
    assert [r["name"] for r in results["runs"]] == ["lexical"]
