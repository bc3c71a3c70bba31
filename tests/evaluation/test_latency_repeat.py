"""benchmarks/latency_repeat.py in short mode: two back-to-back benches agree, stored-form siblings differ by search
only."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ..conftest import benchmark_module


def _module():
    return benchmark_module("latency_repeat")


def _run_in_a_fresh_process() -> dict:
    """The short benchmark in its own process: threads earlier tests left in this one (servers, worker pools) would
    time into sub-millisecond p99s, and the load watch sees other processes only."""
    script = Path(_module().__file__)
    code = (
        "import json, runpy, sys; run = runpy.run_path(sys.argv[1])['run']; "
        "report = run('demo', ['bm25', 'hashing'], [1024, 256], ['float32', 'int8'], 50, 3); "
        "print(json.dumps(report, default=lambda o: o.item()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(script)], capture_output=True, text=True, timeout=600, env=dict(os.environ)
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_two_benches_agree_and_siblings_differ_only_by_their_search_stage():
    report = _run_in_a_fresh_process()
    assert len(report["repeats"]) == 5 and len(report["siblings"]) == 6
    busy = [load["reason"] for load in report["load"] if load and load["busy"]]
    if busy:  # the benches flag this themselves; agreement is only promised on a quiet machine
        pytest.skip(f"machine busy while measuring: {busy[0]}")
    for r in report["repeats"]:
        assert r["agree"], r  # every run's p99 interval overlaps its repeat's (or both are within the noise floor)
    for s in report["siblings"]:
        assert s["within"], s  # Δ total p99 ≤ Δ search p99 + noise
    assert np.isfinite([s["noise"] for s in report["siblings"]]).all()
