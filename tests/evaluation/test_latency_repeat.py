"""benchmarks/latency_repeat.py in short mode: two back-to-back benches agree, stored-form siblings differ by search
only."""

import numpy as np
import pytest

from ..conftest import benchmark_module


def _module():
    return benchmark_module("latency_repeat")


def test_two_benches_agree_and_siblings_differ_only_by_their_search_stage():
    report = _module().run("demo", ["bm25", "hashing"], [1024, 256], ["float32", "int8"], queries=50, rounds=3)
    assert len(report["repeats"]) == 5 and len(report["siblings"]) == 6
    busy = [load["reason"] for load in report["load"] if load and load["busy"]]
    if busy:  # the benches flag this themselves; agreement is only promised on a quiet machine
        pytest.skip(f"machine busy while measuring: {busy[0]}")
    for r in report["repeats"]:
        assert r["agree"], r  # every run's p99 interval overlaps its repeat's (or both are within the noise floor)
    for s in report["siblings"]:
        assert s["within"], s  # Δ total p99 ≤ Δ search p99 + noise
    assert np.isfinite([s["noise"] for s in report["siblings"]]).all()
