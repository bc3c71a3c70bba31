"""The stated exact → ANN store recommendation rests on the measured scale table, and is never a silent switch."""

import pytest
from typer.testing import CliRunner

from embedproof.cli import app
from embedproof.pick import store_advice as advice_module
from embedproof.pick.rules import Needs, recommend, to_markdown
from embedproof.pick.store_advice import (
    CROSSOVER,
    EDGE_INT8_P99_MS,
    EDGE_INT8_RECALL,
    EXACT_P99_MS,
    exact_p99_ms,
    store_advice,
)


@pytest.mark.parametrize("size", sorted(EXACT_P99_MS))
def test_the_interpolation_passes_through_every_measured_point(size):
    assert exact_p99_ms(size) == pytest.approx(EXACT_P99_MS[size])


def test_exact_p99_grows_with_the_corpus_between_and_beyond_the_measurements():
    sizes = [500, 2_000, 20_000, 50_000, 200_000, 500_000, 2_000_000]
    estimates = [exact_p99_ms(s) for s in sizes]
    assert estimates == sorted(estimates)
    assert EXACT_P99_MS[100_000] < exact_p99_ms(200_000) < EXACT_P99_MS[1_000_000] < exact_p99_ms(2_000_000)


def test_the_crossover_is_where_the_measured_engine_first_beats_exact_search():
    assert CROSSOVER == 10_000  # 0.215 ms against 0.288 ms; at 3,000 exact search is faster (0.107 vs 0.369)
    assert all(EXACT_P99_MS[s] <= EDGE_INT8_P99_MS[s] for s in EXACT_P99_MS if s < CROSSOVER)
    assert all(EXACT_P99_MS[s] > EDGE_INT8_P99_MS[s] for s in EXACT_P99_MS if s >= CROSSOVER)


def test_small_corpora_stay_exact_large_ones_get_the_engine_with_the_evidence():
    assert store_advice(5_000).store == "embedded"
    large = store_advice(500_000)
    assert large.store == "edge"
    assert "--backend edge --edge-quantization int8" in large.reason
    assert f"{EDGE_INT8_RECALL[1_000_000]:g}" in large.reason  # the 1M measurement, nearest to 500k
    # a budget exact search still meets keeps it, and says when to switch
    kept = store_advice(500_000, latency_ms=100)
    assert kept.store == "embedded" and "switch" in kept.reason
    assert store_advice(500_000, latency_ms=20).store == "edge"


def test_pick_states_the_store():
    rec = recommend(Needs(docs=2_000_000, latency_ms=100))
    assert rec["store"]["store"] == "edge"
    assert "6. **Store**: edge." in to_markdown(rec)


def test_index_build_states_the_recommendation_but_builds_the_embedded_store(tmp_path, monkeypatch):
    monkeypatch.setattr(advice_module, "CROSSOVER", 100)  # the demo's 240 passages count as "large"
    out = tmp_path / "idx"
    result = CliRunner().invoke(
        app, ["index", "build", "--corpus", "demo", "--out", str(out), "--mode", "dense", "-m", "hashing"]
    )
    assert result.exit_code == 0, result.output
    assert "note: consider the Qdrant Edge engine" in result.stderr
    assert '"backend": "edge"' not in (out / "manifest.json").read_text()
