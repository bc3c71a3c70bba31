import time

import pytest

from embedpick.evaluation.cost import hosted_query_cost, query_cost
from embedpick.evaluation.latency import combine, machine_info, measure_batches, measure_online, summarise


def test_summarise_percentiles():
    s = summarise([float(i) for i in range(1, 101)])
    assert s["n"] == 100 and s["p50"] == pytest.approx(50.5) and s["p99"] == pytest.approx(99.01) and s["max"] == 100
    assert summarise([])["p99"] is None


def test_online_measures_each_call_after_warmup():
    calls = []
    samples = measure_online(lambda i: (calls.append(i), time.sleep(0.002)), n=4, warmup=2)
    assert calls == [0, 1, 0, 1, 2, 3] and len(samples) == 4 and min(samples) >= 2.0


def test_batches_and_combination():
    sizes = []
    batch = measure_batches(lambda s: sizes.append(s.stop - s.start), n=250, batch_size=100)
    assert sizes == [100, 100, 100, 50] and batch["batches"] == 3 and batch["queries_per_batch"] == 100
    small = measure_batches(lambda s: None, n=30)
    assert small["queries_per_batch"] == 30
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
