"""Recipes measured through the Qdrant engine (edge): the served index's numbers, reproduced by the index."""

import json
from pathlib import Path

import pytest

pytest.importorskip("qdrant_edge")

from embedproof.datasets.loading import load_dataset  # noqa: E402
from embedproof.errors import EmbedproofError  # noqa: E402
from embedproof.evaluation.bench_engine import (  # noqa: E402
    EngineBench,
    code_bytes,
    exact_twin,
    recall_against,
    unindexed_warning,
)
from embedproof.evaluation.bench_options import BenchOptions  # noqa: E402
from embedproof.evaluation.bench_recipes import bench_recipes  # noqa: E402
from embedproof.evaluation.metrics import evaluate_run  # noqa: E402
from embedproof.index.access import (
    build_index,  # noqa: E402
    open_index,  # noqa: E402
)
from embedproof.search.engine import EngineSettings  # noqa: E402
from embedproof.search.recipe import Recipe  # noqa: E402

# small thresholds: the demo's 240 vectors get an HNSW graph and quantised codes (the defaults would brute-force them)
INDEXED = {"full_scan_threshold_kb": 1, "indexing_threshold_kb": 1}
MINILM = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def demo():
    return load_dataset("demo")


def served_run(folder, dataset, k):
    """Every judged query through the index as `embedproof search` answers it."""
    index = open_index(folder)
    try:
        ids = list(dataset.judged_queries)
        answers = index.search_many([dataset.queries[q] for q in ids], k)
        return {q: {r["id"]: r["score"] for r in a["results"]} for q, a in zip(ids, answers)}
    finally:
        index.close()


def test_recall_against_counts_ties_at_the_cut_as_found():
    exact = {"q": {"a": 3.0, "b": 2.0, "c": 1.0, "d": 1.0}, "empty": {}}
    # top 3 of exact: a, b and one of the tied c/d; the engine keeping d instead of c is right
    assert recall_against({"q": {"a": 3.0, "b": 2.0, "d": 1.0}}, exact, k=3) == 1.0
    assert recall_against({"q": {"a": 3.0, "b": 2.0, "e": 1.5}}, exact, k=3) == pytest.approx(2 / 3)
    assert recall_against({}, exact, k=3) == 0.0
    assert recall_against({}, {"empty": {}}) is None


def test_code_bytes_per_quantiser():
    assert code_bytes(EngineSettings(), 384) == 0
    assert code_bytes(EngineSettings(quantization="int8"), 384) == 384
    assert code_bytes(EngineSettings(quantization="binary-1.5"), 384) == 72
    assert code_bytes(EngineSettings(quantization="turbo-4"), 384) == 192


def test_exact_twin_is_the_float32_recipe_without_engine():
    recipe = Recipe("r", ["hashing"], dim=128, precision="int8", engine={"ef": 64})
    assert exact_twin(recipe).to_dict() == {**recipe.to_dict(), "precision": "float32", "engine": None}


def test_a_float32_engine_recipe_ranks_as_exact_search(demo):
    exact, edge = bench_recipes(
        demo,
        [Recipe("exact", ["hashing"]), Recipe("edge", ["hashing"], engine={"exact": True})],
        BenchOptions(latency=False, use_cache=False),
    )
    assert "store" not in exact and edge["store"]["backend"] == "edge"
    assert edge["store"]["recall@10_vs_exact"] == 1.0
    assert edge["metrics"]["ndcg@10"] == pytest.approx(exact["metrics"]["ndcg@10"], abs=1e-9)
    assert edge["bytes_per_passage"] == exact["bytes_per_passage"] == 1024 * 4


@pytest.mark.parametrize(
    "model, precision, engine",
    [
        ("hashing", "int8", {}),
        # 1-bit codes need real embeddings: hashing vectors are mostly zeros, whose signs say nothing
        (MINILM, "binary", {}),
        ("hashing", "float32", {"quantization": "turbo-4"}),
    ],
)
def test_the_measured_index_serves_what_bench_measured(demo, tmp_path, monkeypatch, model, precision, engine):
    """The kept index answers exactly as bench scored it; the recipe in results.json (what `pick --recipe-out`
    writes) rebuilds the same configuration, whose HNSW graph (random by construction) ranks within a point of it."""
    monkeypatch.setenv("EMBEDPROOF_CACHE", str(tmp_path / "cache"))  # the bench fills it, the rebuild reads it
    recipe = Recipe("q", [model], precision=precision, engine={**INDEXED, **engine})
    (run,) = bench_recipes(demo, [recipe], BenchOptions(latency=False, engine_dir=str(tmp_path / "kept")))
    store = run["store"]
    assert store["shard"]["indexed_vectors"] == len(demo.corpus)  # the graph and codes exist: the quantiser ran
    assert run["warnings"] == []
    kept = served_run(store["index"], demo, recipe.candidates)
    means, per_query = evaluate_run(demo.qrels, kept)
    assert means == run["metrics"] and per_query == run["per_query"]

    rebuilt_recipe = Recipe(**run["recipe"])
    assert rebuilt_recipe == recipe  # the recipe in results.json carries every engine setting
    build_index(rebuilt_recipe, demo.corpus, tmp_path / "rebuilt")
    assert json.loads((tmp_path / "rebuilt" / "manifest.json").read_text())["store"]["engine"] == store["engine"]
    rebuilt, _ = evaluate_run(demo.qrels, served_run(tmp_path / "rebuilt", demo, recipe.candidates))
    assert rebuilt["ndcg@10"] == pytest.approx(run["metrics"]["ndcg@10"], abs=0.01)


def test_a_small_shard_is_searched_exactly_and_says_so(demo):
    run, hybrid = bench_recipes(
        demo,
        [Recipe("q", ["hashing"], precision="int8", engine={}), Recipe("h", ["hashing", "bm25"], engine={})],
        BenchOptions(latency=False, use_cache=False),
    )
    assert run["store"]["shard"]["indexed_vectors"] == 0
    # BM25's sparse vectors count as indexed: the dense ones still were not
    assert hybrid["store"]["shard"]["indexed_vectors"] == 240 and unindexed_warning(hybrid["store"])
    assert run["store"]["index"] is None  # a temporary folder, removed after the bench
    (warning,) = unindexed_warning(run["store"])
    assert "searched all 240 points exactly" in warning and warning in run["warnings"]


def test_engine_runs_are_timed_with_their_stages(demo):
    (run,) = bench_recipes(
        demo,
        [Recipe("h", ["hashing", "bm25"], engine=INDEXED)],
        BenchOptions(latency_queries=5, latency_rounds=2, use_cache=False),
    )
    online = run["latency"]["online_ms"]
    assert {"encode", "edge", "total"} <= set(online)
    assert online["total"]["p50"] >= online["edge"]["p50"] > 0
    assert [s["stage"] for s in run["stages"]] == ["encode:edge-queries", "edge"]
    assert run["store"]["build_s"] > 0 and run["store"]["disk_bytes"] > 0
    resident = run["store"]["resident_mb"]  # a fresh process: the shard's graph and postings, no model
    assert 0 < resident["anon_mb"] <= resident["total_mb"] < 500
    # the float vectors, BM25's postings and nothing else: no quantiser
    assert run["bytes_per_passage"] > 4096


def test_engine_bench_keeps_or_removes_its_folder(demo, tmp_path):
    temporary = EngineBench()
    root = temporary.root
    assert root.is_dir()
    temporary.close()
    assert not root.exists()
    (tmp_path / "kept" / "demo.q").mkdir(parents=True)
    (tmp_path / "kept" / "demo.q" / "notes.txt").write_text("mine")
    with pytest.raises(EmbedproofError, match="not an index"):
        EngineBench(str(tmp_path / "kept")).folder(demo, Recipe("q", ["hashing"], engine={}))
    assert Path(tmp_path / "kept" / "demo.q" / "notes.txt").read_text() == "mine"


def test_recipes_are_measured_and_indexed_with_the_bench_encoder_backend(demo, tiny_model_dir, tmp_path):
    """`bench --backend onnx --recipe ...` measures the recipe with onnx, and its engine index records onnx, so the
    queries the index later encodes match its documents."""
    pytest.importorskip("onnxruntime")
    model = str(tiny_model_dir)
    options = BenchOptions(latency=False, backends=["onnx"], cache_dir=str(tmp_path / "cache"))
    options.engine_dir = str(tmp_path / "kept")
    exact, engine = bench_recipes(demo, [Recipe("d", [model]), Recipe("e", [model], engine={})], options)
    assert exact["encoder_backend"] == engine["encoder_backend"] == "onnx"
    manifest = json.loads((Path(engine["store"]["index"]) / "manifest.json").read_text())
    assert manifest["encoder_backend"] == "onnx"
    assert engine["store"]["recall@10_vs_exact"] == 1.0  # the same onnx vectors, searched exactly by both


def test_recipes_take_one_encoder_backend(demo):
    from embedproof.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="recipes are measured with one encoder backend"):
        bench_recipes(demo, [Recipe("d", ["hashing"])], BenchOptions(latency=False, backends=["torch", "onnx"]))


def test_reranking_recipes_run_through_the_engine_as_the_embedded_store_ranks_them(
    demo, minilm_path, tiny_cross_encoder_dir
):
    """A MaxSim rerank is the engine's outer query over the fused shortlist; a cross-encoder reranks the engine's
    shortlist in embedproof. Searched exactly, both rank as the embedded pipeline does (their metrics agree)."""
    recipes = [
        Recipe("mx", [MINILM, "bm25"], fusion_params={"k": 60}, rerank=f"maxsim:{MINILM}", rerank_top=20),
        Recipe("ce", ["bm25"], rerank=f"cross-encoder:{tiny_cross_encoder_dir}", rerank_top=5),
    ]
    runs = bench_recipes(
        demo,
        recipes + [Recipe(**{**r.to_dict(), "name": f"{r.name}-edge", "engine": {"exact": True}}) for r in recipes],
        BenchOptions(latency_queries=3, latency_rounds=1),
    )
    exact, edge = runs[:2], runs[2:]
    for embedded, engine in zip(exact, edge):
        assert engine["metrics"]["ndcg@10"] == pytest.approx(embedded["metrics"]["ndcg@10"], abs=1e-6)
        assert engine["store"]["recall@10_vs_exact"] >= 0.95
    assert [s["stage"] for s in edge[1]["stages"]][-1] == f"edge → cross-encoder:{tiny_cross_encoder_dir}"
    assert f"rerank:cross-encoder:{tiny_cross_encoder_dir}" in edge[1]["latency"]["online_ms"]
