import numpy as np
import pytest

from embedproof.datasets.loading import load_dataset
from embedproof.evaluation.bench import run_bench
from embedproof.evaluation.bench_options import BenchOptions
from embedproof.evaluation.sweep import SweepOptions, sweep_variants
from embedproof.models.card import get_card
from embedproof.vectors.matryoshka import UnsafeDimensionError
from embedproof.vectors.quantize import Int8Calibration

SWEEP = BenchOptions(dims=[384, 256, 128, 64], precisions=["float32", "int8", "binary"])


@pytest.fixture(scope="module")
def demo():
    return load_dataset("demo")


def test_one_encode_gives_every_variant_with_sizes_and_retention(demo, minilm_path):
    runs = run_bench(demo, ["sentence-transformers/all-MiniLM-L6-v2"], SWEEP)["runs"]
    assert [(r["dim"], r["precision"]) for r in runs] == [
        (d, p) for d in (384, 256, 128, 64) for p in ("float32", "int8", "binary")
    ]
    base = runs[0]
    assert base["retention"] == {m: 1.0 for m in base["metrics"]} and base["bytes_per_vector"] == 1536
    assert base["storage_usd_month_per_1m"] == pytest.approx(1536e6 / 2**30 * 3.8, abs=1e-6)
    by = {(r["dim"], r["precision"]): r for r in runs}
    assert by[(64, "binary")]["bytes_per_vector"] == 8 and by[(128, "int8")]["bytes_per_vector"] == 128
    assert "metrics_without_rescoring" in by[(384, "int8")] and by[(384, "int8")]["rescore_multiplier"] == 4
    assert by[(384, "int8")]["retention"]["ndcg@10"] > 0.97
    # MiniLM was not trained with Matryoshka: truncated variants carry the warning, the full one does not
    assert any("not trained with Matryoshka" in w for w in by[(128, "float32")]["warnings"])
    assert not any("Matryoshka" in w for w in base["warnings"])
    # the documents were encoded once: every variant reports the same encode timing
    assert len({r["timings"]["encode_documents_s"] for r in runs}) == 1


def test_measured_index_bytes_match_theory_within_5_percent():
    rng = np.random.default_rng(0)
    docs = rng.standard_normal((2000, 384)).astype(np.float32)
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    options = SweepOptions(dims=[384, 128, 64], precisions=("float32", "float16", "int8", "binary"))
    for v in sweep_variants(get_card("all-MiniLM-L6-v2"), docs, docs[:5], 10, options):
        theory = v.bytes_per_vector * len(docs)
        assert abs(v.index_bytes - theory) / theory < 0.05, (v.dim, v.precision, v.index_bytes, theory)


def test_below_64_refused_in_bench_and_labelled_when_allowed(demo):
    with pytest.raises(UnsafeDimensionError):
        run_bench(demo, ["hashing"], BenchOptions(dims=[32]))
    runs = run_bench(demo, ["hashing"], BenchOptions(dims=[1024, 32], allow_unvalidated_dims=True))["runs"]
    assert [r["validated"] for r in runs] == [True, False]


def test_int8_calibration_is_stored_with_the_cache_and_reused(demo, tiny_model_dir, monkeypatch):
    options = BenchOptions(precisions=["int8"])
    first = run_bench(demo, [str(tiny_model_dir)], options)["runs"][0]
    path = first["calibration_file"]
    assert path and Int8Calibration.load(path).dim == 32

    def refit(*args, **kwargs):
        raise AssertionError("a stored calibration must be reused, not refitted")

    monkeypatch.setattr(Int8Calibration, "fit", classmethod(refit))
    second = run_bench(demo, [str(tiny_model_dir)], options)["runs"][0]
    assert second["calibration_file"] == path and second["metrics"] == first["metrics"]


def test_unknown_precision_is_an_error(demo):
    with pytest.raises(ValueError, match="unknown precision 'int4'"):
        run_bench(demo, ["hashing"], BenchOptions(precisions=["int4"]))
