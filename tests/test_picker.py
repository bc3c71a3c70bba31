import json

import pytest

from embedpick.picker import Needs, UnsafeChoiceError, evidence_markdown, pick_from_results, recommend, to_markdown

# The lesson's table, row by row: situation → pick.
LESSON_TABLE = [
    ("English-only, fast, API", Needs(docs=50_000, target="cloud"), "openai/text-embedding-3-large"),
    ("open-weight, English", Needs(docs=50_000, open_weights_only=True), "BAAI/bge-large-en-v1.5"),
    ("open-weight, multilingual", Needs(docs=50_000, languages=["en", "de", "ja"], open_weights_only=True), "BAAI/bge-m3"),
    ("long context 32k+, hosted", Needs(docs=50_000, p99_tokens=40_000), "voyage/voyage-3-large"),
    ("long context 32k+, open", Needs(docs=50_000, p99_tokens=40_000, open_weights_only=True), "Qwen/Qwen3-Embedding-8B"),
    ("CPU-only deployment", Needs(docs=50_000, target="cpu-only"), "nomic-ai/nomic-embed-text-v2-moe"),
]


@pytest.mark.parametrize("situation, needs, model", LESSON_TABLE, ids=[row[0] for row in LESSON_TABLE])
def test_lesson_table_rows(situation, needs, model):
    rec = recommend(needs)
    assert rec["model"]["name"] == model and rec["model"]["reason"]
    assert "Evaluation plan" in to_markdown(rec) and rec["evaluation_plan"]["mteb_tasks"]


def test_storage_constrained_goes_matryoshka_then_int8_with_the_arithmetic():
    # 100M × 3,072 fp32 = 1.23 TB (1,144 GiB); 256 dims int8 = 25.6 GB (23.8 GiB)
    big = recommend(Needs(docs=100_000_000, storage_gb=30))
    assert (big["dimension"]["dim"], big["dimension"]["precision"]) == (256, "int8")
    math = " ".join(big["dimension"]["math"])
    assert "100,000,000 vectors × 12,288 B (3072 dims float32) = 1,144.41 GiB" in math
    assert "100,000,000 × 256 B (256 dims int8) = 23.84 GiB ≤ 30 GiB budget" in math
    assert 100_000_000 * 3072 * 4 == 1_228_800_000_000  # 1.23 TB
    roomy = recommend(Needs(docs=1_000, storage_gb=10))
    assert (roomy["dimension"]["dim"], roomy["dimension"]["precision"]) == (3072, "float32")
    # a non-Matryoshka open model skips truncation and goes straight to int8
    open_model = recommend(Needs(docs=10_000_000, storage_gb=12, open_weights_only=True))
    assert (open_model["dimension"]["dim"], open_model["dimension"]["precision"]) == (1024, "int8")
    with pytest.raises(UnsafeChoiceError, match="do not fit"):
        recommend(Needs(docs=10_000_000_000, storage_gb=1))


def test_keyword_heavy_adds_sparse_and_rrf():
    rec = recommend(Needs(docs=50_000, keyword_heavy=True))
    assert rec["mode"]["mode"] == "hybrid" and "RRF" in rec["mode"]["reason"]
    assert recommend(Needs(docs=50_000))["mode"]["mode"] == "dense"


def test_refusals():
    with pytest.raises(UnsafeChoiceError, match="below|< 64"):
        recommend(Needs(docs=50_000, dim=32))
    assert recommend(Needs(docs=50_000, dim=32, validated_dim=True))["model"]
    with pytest.raises(UnsafeChoiceError, match="refusing ColBERT"):
        recommend(Needs(docs=9_999, mode="colbert"))
    assert recommend(Needs(docs=10_000, mode="colbert"))["mode"]["mode"] == "multivector"


def test_flags_long_documents_on_512_models_and_missing_prefix():
    rec = recommend(Needs(docs=50_000, p99_tokens=9_000, model="BAAI/bge-small-en-v1.5", query_prefix=""))
    flags = " ".join(rec["flags"])
    assert "512-token window" in flags and "chunk" in flags
    assert "requires 'Represent this sentence for searching relevant passages: '" in flags
    assert not recommend(Needs(docs=50_000, model="BAAI/bge-small-en-v1.5", query_prefix="Represent this sentence for searching relevant passages: "))["flags"]


def test_swap_rule_needs_more_than_three_points():
    keep = recommend(Needs(docs=50_000, domain_model="some/legal-model", domain_gain_points=2.5))
    assert keep["model"]["name"] == "openai/text-embedding-3-large" and "only 2.5 points" in " ".join(keep["flags"])
    swap = recommend(Needs(docs=50_000, domain_model="some/legal-model", domain_gain_points=3.5))
    assert swap["model"]["name"] == "some/legal-model"


def test_prefix_comes_from_the_card():
    rec = recommend(Needs(docs=50_000, open_weights_only=True))
    assert rec["prefix"]["query"] == "Represent this sentence for searching relevant passages: "


RESULTS = {"dataset": {"name": "toy", "documents": 1000}, "runs": [
    {"model": "big", "mode": "dense", "dim": 384, "precision": "float32", "metrics": {"ndcg@10": 0.70}, "bytes_per_vector": 1536,
     "latency": {"online_ms": {"total": {"p99": 40.0}}}, "pareto": {"on_frontier": True}},
    {"model": "big", "mode": "dense", "dim": 384, "precision": "int8", "metrics": {"ndcg@10": 0.69}, "bytes_per_vector": 384,
     "latency": {"online_ms": {"total": {"p99": 41.0}}}, "pareto": {"on_frontier": True}},
    {"model": "small", "mode": "dense", "dim": 128, "precision": "binary", "metrics": {"ndcg@10": 0.55}, "bytes_per_vector": 16,
     "latency": {"online_ms": {"total": {"p99": 9.0}}}, "pareto": {"on_frontier": True}},
    {"model": "bm25", "mode": "sparse", "dim": None, "precision": "float32", "metrics": {"ndcg@10": 0.60}, "bytes_per_vector": 700,
     "latency": {"online_ms": {"total": {"p99": 5.0}}}, "pareto": {"on_frontier": True}},
]}


def test_evidence_mode_picks_within_budgets_and_prices_relaxing_them():
    pick = pick_from_results(RESULTS, latency_ms=20, storage_gb=1.0, vectors=10_000_000)
    # bm25 needs 6.5 GiB for 10M vectors: over budget; small binary fits both
    assert pick["choice"]["run"] == "small dense d128 binary" and pick["runner_up"] is None
    assert pick["relaxing"]["storage"]["run"] == "bm25 sparse float32" and pick["relaxing"]["storage"]["gain_points"] == pytest.approx(5.0)
    assert pick["relaxing"]["both"]["run"] == "big dense d384 float32"
    text = evidence_markdown(pick)
    assert "nDCG@10 0.5500, p99 9.0 ms" in text and "+15.00 points" in text
    loose = pick_from_results(RESULTS, None, None, 1000)
    assert loose["choice"]["run"] == "big dense d384 float32" and loose["runner_up"]["run"] == "big dense d384 int8"
    assert "Relaxing the budgets would not buy quality" in evidence_markdown(loose)


def test_evidence_mode_on_a_real_scifact_bench(tmp_path):
    from embedpick.evaluation.bench import BenchOptions, run_bench
    from embedpick.evaluation.datasets import load_dataset

    from .conftest import DATASETS

    if not (DATASETS / "scifact").is_dir():
        pytest.skip("no SciFact")
    results = run_bench(load_dataset(str(DATASETS / "scifact")), ["bm25", "hashing"], BenchOptions(precisions=["float32", "binary"], latency_queries=50))
    # 0.01 GiB holds BM25's index (772 B/passage) and hashing as binary, but not hashing as float32 (4 KB/vector)
    pick = pick_from_results(json.loads(json.dumps(results)), latency_ms=50, storage_gb=0.01, vectors=5183)
    assert pick["choice"]["run"] == "bm25 sparse float32" and pick["runner_up"]["run"] == "hashing dense d1024 binary"
    text = evidence_markdown(pick)
    assert "nDCG@10 0.6863" in text and f"nDCG@10 {pick['runner_up']['ndcg@10']:.4f}" in text
