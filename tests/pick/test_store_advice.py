"""The stated exact → ANN store recommendation rests on the measured scale table, and is never a silent switch."""

import pytest
from typer.testing import CliRunner

from embedproof.cli import app
from embedproof.pick import store_advice as advice_module
from embedproof.pick.rules import Needs, recommend, to_markdown
from embedproof.pick.store_advice import EXACT_P99_MS, exact_p99_ms, store_advice


@pytest.mark.parametrize("size", sorted(EXACT_P99_MS))
def test_the_interpolation_passes_through_every_measured_point(size):
    assert exact_p99_ms(size) == pytest.approx(EXACT_P99_MS[size])


def test_exact_p99_grows_with_the_corpus_between_and_beyond_the_measurements():
    sizes = [20_000, 50_000, 200_000, 500_000, 2_000_000]
    estimates = [exact_p99_ms(s) for s in sizes]
    assert estimates == sorted(estimates)
    assert 37.90 < exact_p99_ms(200_000) < 400.26 and exact_p99_ms(2_000_000) > 400.26


def test_small_corpora_stay_exact_large_ones_get_the_engine_with_the_evidence():
    assert store_advice(5_000).store == "embedded"
    large = store_advice(500_000)
    assert large.store == "edge"
    assert "--backend edge --edge-quantization int8" in large.reason and "0.972" in large.reason  # 1M measurement
    # a budget exact search still meets keeps it, and says when to switch
    kept = store_advice(500_000, latency_ms=300)
    assert kept.store == "embedded" and "switch" in kept.reason
    assert store_advice(500_000, latency_ms=50).store == "edge"


def test_pick_states_the_store():
    rec = recommend(Needs(docs=2_000_000, latency_ms=100))
    assert rec["store"]["store"] == "edge"
    assert "6. **Store**: edge." in to_markdown(rec)


def test_index_build_states_the_recommendation_but_builds_the_embedded_store(tmp_path, monkeypatch):
    monkeypatch.setattr(advice_module, "SMALLEST_MEASURED", 100)  # the demo's 240 passages count as "large"
    out = tmp_path / "idx"
    result = CliRunner().invoke(
        app, ["index", "build", "--corpus", "demo", "--out", str(out), "--mode", "dense", "-m", "hashing"]
    )
    assert result.exit_code == 0, result.output
    assert "note: consider the Qdrant Edge engine" in result.stderr
    assert '"backend": "edge"' not in (out / "manifest.json").read_text()
