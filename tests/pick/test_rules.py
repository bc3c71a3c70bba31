import json

import numpy as np
import pytest

from embedproof.pick.evidence import evidence_markdown, pick_from_results
from embedproof.pick.rules import Needs, UnsafeChoiceError, recommend, to_markdown

# The lesson's table, row by row: situation → pick.
LESSON_TABLE = [
    ("English-only, fast, API", Needs(docs=50_000, target="cloud"), "openai/text-embedding-3-large"),
    ("open-weight, English", Needs(docs=50_000, open_weights_only=True), "BAAI/bge-large-en-v1.5"),
    (
        "open-weight, multilingual",
        Needs(docs=50_000, languages=["en", "de", "ja"], open_weights_only=True),
        "BAAI/bge-m3",
    ),
    ("long context 32k+, hosted", Needs(docs=50_000, p99_tokens=40_000), "voyage/voyage-3-large"),
    (
        "long context 32k+, open",
        Needs(docs=50_000, p99_tokens=40_000, open_weights_only=True),
        "Qwen/Qwen3-Embedding-8B",
    ),
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
    assert "100,000,000 vectors × 12,288 B (3072 dims float32) = 1,144 GiB" in math
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
    assert not recommend(
        Needs(
            docs=50_000,
            model="BAAI/bge-small-en-v1.5",
            query_prefix="Represent this sentence for searching relevant passages: ",
        )
    )["flags"]


def test_swap_rule_needs_more_than_three_points():
    keep = recommend(Needs(docs=50_000, domain_model="some/legal-model", domain_gain_points=2.5))
    assert keep["model"]["name"] == "openai/text-embedding-3-large" and "only 2.5 points" in " ".join(keep["flags"])
    swap = recommend(Needs(docs=50_000, domain_model="some/legal-model", domain_gain_points=3.5))
    assert swap["model"]["name"] == "some/legal-model"


def test_prefix_comes_from_the_card():
    rec = recommend(Needs(docs=50_000, open_weights_only=True))
    assert rec["prefix"]["query"] == "Represent this sentence for searching relevant passages: "


RESULTS = {
    "dataset": {"name": "toy", "documents": 1000},
    "runs": [
        {
            "model": "big",
            "mode": "dense",
            "dim": 384,
            "precision": "float32",
            "metrics": {"ndcg@10": 0.70},
            "bytes_per_vector": 1536,
            "latency": {"online_ms": {"total": {"p99": 40.0}}},
            "pareto": {"on_frontier": True},
        },
        {
            "model": "big",
            "mode": "dense",
            "dim": 384,
            "precision": "int8",
            "metrics": {"ndcg@10": 0.69},
            "bytes_per_vector": 384,
            "latency": {"online_ms": {"total": {"p99": 41.0}}},
            "pareto": {"on_frontier": True},
        },
        {
            "model": "small",
            "mode": "dense",
            "dim": 128,
            "precision": "binary",
            "metrics": {"ndcg@10": 0.55},
            "bytes_per_vector": 16,
            "latency": {"online_ms": {"total": {"p99": 9.0}}},
            "pareto": {"on_frontier": True},
        },
        {
            "model": "bm25",
            "mode": "sparse",
            "dim": None,
            "precision": "float32",
            "metrics": {"ndcg@10": 0.60},
            "bytes_per_vector": 700,
            "latency": {"online_ms": {"total": {"p99": 5.0}}},
            "pareto": {"on_frontier": True},
        },
    ],
}


def test_evidence_mode_without_per_query_scores_keeps_point_estimates():
    pick = pick_from_results(RESULTS, latency_ms=20, storage_gb=1.0, vectors=10_000_000)
    # bm25 needs 6.5 GiB for 10M vectors: over budget; small binary fits both
    assert (
        pick["choice"]["run"] == "small dense d128 binary"
        and pick["runner_up"] is None
        and pick["tied"] == ["small dense d128 binary"]
    )
    assert pick["relaxing"]["storage"]["run"] == "bm25 sparse float32" and pick["relaxing"]["storage"][
        "gain_points"
    ] == pytest.approx(5.0)
    assert pick["relaxing"]["both"]["run"] == "big dense d384 float32"
    text = evidence_markdown(pick)
    assert "nDCG@10 0.5500 (no interval), p99 9.00 ms (no interval)" in text
    assert "+15.00 points by point estimate (no per-query scores, so the gain is not tested)" in text
    loose = pick_from_results(RESULTS, None, None, 1000)
    assert loose["choice"]["run"] == "big dense d384 float32" and loose["runner_up"]["run"] == "big dense d384 int8"
    assert "Relaxing the budgets would not buy quality" in evidence_markdown(loose)


def _run(name, values, size, p99, ci):
    return {
        "model": name,
        "mode": "dense",
        "dim": 8,
        "precision": "float32",
        "bytes_per_vector": size,
        "metrics": {"ndcg@10": float(np.mean(values))},
        "per_query": {f"q{i}": {"ndcg@10": float(v)} for i, v in enumerate(values)},
        "latency": {"online_ms": {"total": {"p99": p99, "ci": {"p99": ci}}}, "stable": True},
    }


def _evidence_results():
    rng = np.random.default_rng(0)
    best = rng.uniform(0.3, 1.0, 200)
    near = np.clip(best - rng.normal(0.005, 0.05, 200), 0, 1)  # half a point lower: a tie on 200 queries
    poor = np.clip(best - 0.2, 0, 1)  # far lower on every query
    return {
        "dataset": {"name": "toy", "documents": 1000},
        "runs": [
            _run("best", best, 1536, 30.0, [25.0, 34.0]),
            _run("near", near, 384, 31.0, [26.0, 36.0]),
            _run("poor", poor, 96, 8.0, [7.0, 9.0]),
            _run("edge", best, 1536, 19.0, [15.0, 24.0]),
        ],
    }


def test_evidence_mode_picks_the_cheapest_run_tied_with_the_best():
    pick = pick_from_results(_evidence_results(), None, None, 1000)
    assert pick["best"]["run"] in {"best dense d8 float32", "edge dense d8 float32"}
    assert pick["choice"]["run"] == "near dense d8 float32" and "poor dense d8 float32" not in pick["tied"]
    assert (
        not pick["choice"]["vs_best"]["significant"]
        and pick["choice"]["vs_best"]["ci"][0] < 0 < pick["choice"]["vs_best"]["ci"][1]
    )
    text = evidence_markdown(pick)
    assert "statistically tied with the best one" in text and "cheapest" in text and "Holm" in text


def test_a_latency_budget_is_checked_against_the_upper_bound_and_straddlers_are_named():
    pick = pick_from_results(_evidence_results(), 20.0, None, 1000)
    # edge's p99 is 19 ms but its interval reaches 24 ms: it straddles 20 ms and is not picked
    assert [r["run"] for r in pick["straddling"]] == ["edge dense d8 float32"]
    assert pick["choice"]["run"] == "poor dense d8 float32"
    text = evidence_markdown(pick)
    assert "`edge dense d8 float32`" in text and "straddles the latency budget" in text
    gain = pick["relaxing"]["latency"]
    assert gain["significant"] and gain["gain_points"] > 15 and gain["gain_ci_points"][0] > 0
    assert "Dropping the latency budget would buy +" in text


def test_a_gain_that_is_not_significant_is_not_offered_as_one():
    # 1e-3 GiB holds 1,000 vectors of 384 B (near, poor) but not of 1,536 B (best, edge)
    pick = pick_from_results(_evidence_results(), None, 1e-3, 1000)
    assert pick["choice"]["run"] == "near dense d8 float32"
    gain = pick["relaxing"]["storage"]
    assert gain["run"] in {"best dense d8 float32", "edge dense d8 float32"} and not gain["significant"]
    text = evidence_markdown(pick)
    assert "Dropping the storage budget would not buy a significant gain" in text and "would buy +" not in text


def test_nothing_fits_computes_no_gain_against_zero():
    pick = pick_from_results(_evidence_results(), 1.0, None, 1000)
    assert pick["choice"] is None and "gain_points" not in pick["relaxing"]["latency"]
    assert "No measured run fits the budgets" in evidence_markdown(pick)


def test_evidence_mode_on_a_real_scifact_bench(tmp_path):
    from embedproof.datasets.loading import load_dataset
    from embedproof.evaluation.bench import run_bench
    from embedproof.evaluation.bench_options import BenchOptions
    from tests.conftest import shared_dataset

    results = run_bench(
        load_dataset(str(shared_dataset("scifact"))),
        ["bm25", "hashing"],
        BenchOptions(precisions=["float32", "binary"], latency_queries=50),
    )
    # 0.01 GiB holds BM25's index (772 B/passage) and hashing as binary, but not hashing as float32 (4 KB/vector)
    # no latency budget: p99 depends on the machine (budgets are tested on fixed numbers above)
    pick = pick_from_results(json.loads(json.dumps(results)), latency_ms=None, storage_gb=0.01, vectors=5183)
    assert pick["choice"]["run"] == "bm25 sparse float32" and pick["runner_up"]["run"] == "hashing dense d1024 binary"
    assert pick["tied"] == ["bm25 sparse float32"]  # hashing is ~20 points worse on 300 queries: significant
    text = evidence_markdown(pick)
    assert "nDCG@10 0.6863 [" in text and f"nDCG@10 {pick['runner_up']['ndcg@10']:.4f} [" in text


def test_rules_mode_honours_a_cpu_latency_budget():
    rec = recommend(Needs(docs=100_000, target="cpu-only", latency_ms=20))
    # Nomic Embed v2 (475M parameters, ~356 ms estimated per query on 2 cores) cannot fit 20 ms: the largest that can
    assert rec["model"]["name"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert any("breaks the 20 ms budget" in f for f in rec["flags"]) and any(
        "p99 may not fit" in f for f in rec["flags"]
    )
    assert rec["check"]["command"].startswith(
        "embedproof bench -d YOUR_CORPUS -m sentence-transformers/all-MiniLM-L6-v2"
    )
    assert "-m bm25" in rec["check"]["command"] and {m["model"] for m in rec["check"]["models"]} >= {"bm25"}
    assert "Check it on your corpus" in to_markdown(rec)
    multilingual = recommend(Needs(docs=100_000, target="cpu-only", latency_ms=100, languages=["en", "de"]))
    assert (
        multilingual["model"]["name"] == "intfloat/multilingual-e5-small"
    )  # 118M: ~89 ms, the largest multilingual that fits
    with pytest.raises(UnsafeChoiceError, match="no model on embedproof's list fits a 5 ms budget"):
        recommend(Needs(docs=100_000, target="cpu-only", latency_ms=5))
    roomy = recommend(Needs(docs=100_000, target="cpu-only", latency_ms=1000))
    assert roomy["model"]["name"] == "nomic-ai/nomic-embed-text-v2-moe"  # the lesson's CPU default fits a roomy budget
