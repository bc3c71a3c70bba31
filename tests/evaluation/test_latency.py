import time

import numpy as np
import pytest

from embedproof.evaluation.cost import hosted_query_cost, query_cost
from embedproof.evaluation.latency import LatencyJob, machine_info, measure_latency, summarise, summarise_job
from embedproof.evaluation.machine_load import LoadWatch
from embedproof.evaluation.statistics import StatsSettings


def test_summarise_percentiles():
    s = summarise([float(i) for i in range(1, 101)])
    assert s["n"] == 100 and s["p50"] == pytest.approx(50.5) and s["p99"] == pytest.approx(99.01) and s["max"] == 100
    assert summarise([])["p99"] is None


def _plan(calls):
    def encoder(rows):
        calls.append(("encode", rows.stop - rows.start))
        time.sleep(0.002)
        return rows

    def job(label):
        def stages(encoded, rows):
            calls.append((label, rows.stop - rows.start))
            assert encoded["enc"] == rows  # each job gets the shared encoder's output for exactly its queries
            return [("search", 0.001 if label == "a" else 0.003)]

        return LatencyJob(label, ["enc"], stages)

    return {"enc": encoder}, [job("a"), job("b")]


def test_runs_share_the_encoder_and_interleave_in_rotating_rounds():
    calls = []
    encoders, jobs = _plan(calls)
    out, load = measure_latency(250, encoders, jobs, rounds=2, warmup=2, batch_size=100)
    # warm-up: 2 queries; then per round 250 single queries (encode once, then both jobs) and 2 batches of 100
    assert calls[:3] == [("encode", 1), ("a", 1), ("b", 1)]
    online = [c for c in calls[6:] if c[1] == 1]
    assert online[:3] == [("encode", 1), ("a", 1), ("b", 1)]  # round 1: a before b
    assert online[750:753] == [("encode", 1), ("b", 1), ("a", 1)]  # round 2: the order rotates
    assert sum(1 for c in calls if c == ("encode", 100)) == 4 and len(calls) == 6 + 2 * (750 + 6)
    a, b = out["a"], out["b"]
    assert a["rounds"] == 2 and a["queries"] == 250 and len(a["samples_ms"]) == 2 and len(a["samples_ms"][0]) == 250
    # The encoder's samples are the same for both runs: their totals differ by exactly their own stage (2 ms).
    assert a["online_ms"]["encode:enc"] == b["online_ms"]["encode:enc"]
    diff = np.array(b["samples_ms"]) - np.array(a["samples_ms"])
    assert np.allclose(diff, 2.0, atol=1e-3)
    assert a["online_ms"]["encode:enc"]["p50"] >= 2.0
    lo, hi = a["online_ms"]["total"]["ci"]["p99"]
    assert lo <= a["online_ms"]["total"]["p99"] <= hi
    assert a["batch"]["queries_per_batch"] == 100 and a["batch"]["queries_per_s"] > b["batch"]["queries_per_s"] > 0
    assert {"wall_s", "process_cpu_s", "loadavg_1m", "busy"} <= set(load)


def test_rounds_that_disagree_are_flagged():
    rounds = np.array([np.full(60, 1.0), np.full(60, 1.02), np.full(60, 3.0)]) + np.linspace(0, 0.01, 60)
    out = summarise_job({"search": rounds}, {"search": [0.1]}, 60, 100, StatsSettings())
    assert not out["stable"] and "rounds disagree" in out["stability_note"]
    steady = summarise_job({"search": rounds[:2]}, {"search": [0.1]}, 60, 100, StatsSettings())
    assert steady["stable"]  # 2% apart: below the 10% margin, so not flagged however tight the intervals


def test_load_watch_sees_another_process_using_the_cpu():
    import subprocess
    import sys

    busy = subprocess.Popen([sys.executable, "-c", "import time\nt = time.time()\nwhile time.time() - t < 3: pass"])
    try:
        time.sleep(0.3)
        with LoadWatch() as watch:
            time.sleep(1.0)
        result = watch.result()
    finally:
        busy.kill()
    assert result["other_cpu_share"] >= 0.4 / result["cpus"]  # one spinning process is about one CPU
    assert result["process_cpu_per_wall"] < 0.2  # we slept


def test_query_costs_by_hand():
    cost = query_cost(queries_per_s=100.0, instance_usd_per_hour=0.36, utilisation=0.5)
    # 1M queries at 100 q/s and 50% utilisation = 20,000 s = 5.556 h of a $0.36/h instance
    assert cost["usd_per_1m_queries"] == pytest.approx(1e6 / 50 / 3600 * 0.36)
    assert cost["assumptions"]["utilisation"] == 0.5
    assert hosted_query_cost(12, 0.13)["usd_per_1m_queries"] == pytest.approx(1.56)


def test_machine_is_recorded():
    info = machine_info()
    assert info["cpus"] >= 1 and "numpy" in info["libraries"] and info["cpu"]


def test_serving_costs_state_both_bases():
    from embedproof.evaluation.cost import serving_costs

    cost = serving_costs(queries_per_s=100.0, mean_online_ms=20.0, instance_usd_per_hour=0.36, utilisation=0.5)
    assert cost["usd_per_1m_queries"] == pytest.approx(query_cost(100.0, 0.36, 0.5)["usd_per_1m_queries"])
    assert cost["usd_per_1m_queries_one_at_a_time"] == pytest.approx(
        query_cost(50.0, 0.36, 0.5)["usd_per_1m_queries"]
    )  # 20 ms each
    assert "one by one" in cost["assumptions"]["throughput_basis"]
