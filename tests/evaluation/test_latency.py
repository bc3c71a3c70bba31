import time

import pytest

from embedpick.evaluation.cost import hosted_query_cost, query_cost
from embedpick.evaluation.latency import combine, machine_info, pipeline_latency, summarise


def test_summarise_percentiles():
    s = summarise([float(i) for i in range(1, 101)])
    assert s["n"] == 100 and s["p50"] == pytest.approx(50.5) and s["p99"] == pytest.approx(99.01) and s["max"] == 100
    assert summarise([])["p99"] is None


def test_pipeline_runs_stages_in_order_per_query_and_per_batch():
    calls = []

    def encode(texts):
        calls.append(("encode", len(texts)))
        time.sleep(0.002)
        return [t.upper() for t in texts]

    def search(queries):
        calls.append(("search", len(queries)))
        return queries

    out = pipeline_latency([("encode_query", encode), ("search", search)], [f"q{i}" for i in range(250)], warmup=2, batch_size=100)
    # warm-up 2 single queries, then 250 single queries, then 2 full batches of 100 (the 50 left over are not a batch)
    assert calls[:4] == [("encode", 1), ("search", 1)] * 2
    assert calls[-4:] == [("encode", 100), ("search", 100)] * 2 and len(calls) == 4 + 500 + 4
    assert out["queries"] == 250 and out["online_ms"]["encode_query"]["p50"] >= 2.0
    assert out["online_ms"]["total"]["p50"] >= out["online_ms"]["encode_query"]["p50"]
    assert out["batch"]["queries_per_batch"] == 100 and out["batch"]["queries_per_s"] > 0


def test_combination_by_hand():
    a = ([1.0, 2.0, 3.0], {"batch_size": 100, "queries_per_batch": 100, "seconds_per_batch": 0.2})
    b = ([10.0, 10.0, 10.0], {"batch_size": 100, "queries_per_batch": 100, "seconds_per_batch": 0.3})
    out = combine({"encode_query": a, "search": b})
    assert out["online_ms"]["total"]["p50"] == 12.0 and out["online_ms"]["search"]["mean"] == 10.0
    assert out["batch"]["seconds_per_batch"] == pytest.approx(0.5) and out["batch"]["queries_per_s"] == pytest.approx(200)


def test_query_costs_by_hand():
    cost = query_cost(queries_per_s=100.0, instance_usd_per_hour=0.36, utilisation=0.5)
    # 1M queries at 100 q/s and 50% utilisation = 20,000 s = 5.556 h of a $0.36/h instance
    assert cost["usd_per_1m_queries"] == pytest.approx(1e6 / 50 / 3600 * 0.36)
    assert cost["assumptions"]["utilisation"] == 0.5
    assert hosted_query_cost(12, 0.13)["usd_per_1m_queries"] == pytest.approx(1.56)


def test_machine_is_recorded():
    info = machine_info()
    assert info["cpus"] >= 1 and "numpy" in info["libraries"] and info["cpu"]
