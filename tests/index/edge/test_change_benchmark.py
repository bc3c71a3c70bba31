"""benchmarks/edge_change.py at a tiny size: the change lands, and the numbers it reports add up."""

import pytest

pytest.importorskip("qdrant_edge")

from ...conftest import benchmark_module  # noqa: E402


@pytest.mark.slow
def test_the_edge_change_benchmark_runs_at_a_tiny_size(tmp_path, monkeypatch):
    bench = benchmark_module("edge_change")
    monkeypatch.setattr(bench, "WORK", tmp_path)
    (row,) = bench.run([1500], 50)
    assert row["documents"] == 1550 and row["generation"] == 2
    # 50 × 384 float32 values, their payloads and the 50 new docs lines: at least the vectors' bytes
    assert row["added_data_bytes"] > 50 * 384 * 4
    assert row["peak_extra_allocated_bytes"] >= row["after_extra_allocated_bytes"] > 0
    assert row["change_s"] > 0
    (fused,) = bench.run([1500], 50, bm25=True)
    assert fused["documents"] == 1550 and fused["recipe"] == "edge-change-bm25"
    table = bench.table([row, fused]).splitlines()
    assert table[2].startswith("| edge-change | 1,500 | 50 |") and table[3].startswith("| edge-change-bm25 | 1,500 |")
