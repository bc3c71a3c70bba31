"""`--backend auto`: picks the fastest candidate that keeps torch fp32's vectors, caches the choice, records it."""

import json
import time

import numpy as np
import pytest

from embedproof.models import auto_backend
from embedproof.models.dense import DenseEncoder

TEXTS = [f"document number {i} about {topic}" for i, topic in enumerate(["cats", "phones", "rivers", "proteins"] * 4)]


def reference(texts: list[str]) -> np.ndarray:
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(64, 16)).astype(np.float32)
    vectors = np.stack([basis[[hash(w) % 64 for w in t.split()]].sum(0) for t in texts])
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def slow(encode, seconds: float):
    def run(texts):
        time.sleep(seconds)
        return encode(texts)

    return run


def noisy(scale: float):
    def run(texts):
        vectors = reference(texts) + np.random.default_rng(1).normal(scale=scale, size=(len(texts), 16)).astype(
            np.float32
        )
        return vectors

    return run


def test_the_fastest_candidate_that_keeps_the_vectors_wins_and_a_lossy_one_never_does():
    candidates = {
        "lossy-fast": lambda: noisy(0.5),  # fastest of all, but mean cosine far below 0.99
        "good-fast": lambda: slow(reference, 0.002),
        "good-slow": lambda: slow(reference, 0.03),
        "broken": lambda: (_ for _ in ()).throw(RuntimeError("runtime missing")),
    }
    result = auto_backend.calibrate(slow(reference, 0.02), candidates, TEXTS, rounds=2)
    measured = result["measured"]
    assert result["backend"] == "good-fast" and result["ratio"] == measured["good-fast"]["ratio"] > 1
    assert measured["lossy-fast"]["qualifies"] is False and measured["lossy-fast"]["cosine_mean"] < 0.99
    assert measured["lossy-fast"]["ratio"] > measured["good-slow"]["ratio"]  # fast, and still not chosen
    assert measured["good-slow"]["qualifies"] and measured["good-slow"]["ratio"] < 1
    assert "runtime missing" in measured["broken"]["error"]
    assert result["rule"] == {"mean_cosine_min": 0.99, "min_cosine_min": 0.95, "format": 2}


def test_torch_stays_when_every_candidate_is_slower_or_lossy():
    result = auto_backend.calibrate(
        reference, {"slow": lambda: slow(reference, 0.02), "lossy": lambda: noisy(0.5)}, TEXTS
    )
    assert result["backend"] == "torch" and result["ratio"] == 1.0


def test_the_rule_needs_both_the_mean_and_the_worst_cosine():
    assert auto_backend.qualifies(np.full(10, 0.995))
    assert not auto_backend.qualifies(np.full(10, 0.985))  # mean under 0.99
    assert not auto_backend.qualifies(np.array([0.999] * 99 + [0.9]))  # mean 0.998 but one vector far off
    assert not auto_backend.qualifies(np.array([]))


def test_the_choice_is_cached_per_cpu_and_libraries(tmp_path, monkeypatch):
    candidates = {"good-fast": lambda: slow(reference, 0.001)}
    first = auto_backend.resolve("m", "rev1", slow(reference, 0.01), candidates, root=tmp_path, texts=TEXTS)
    assert first["cached"] is False and first["backend"] == "good-fast"
    path, key = auto_backend.cache_path("m", "rev1", tmp_path)
    stored = json.loads(path.read_text())
    assert stored["key"] == key and key["cpu"]["model"] and "torch" in key["libraries"]

    def no_calibration(*args, **kwargs):
        raise AssertionError("calibrated again although the choice was cached")

    monkeypatch.setattr(auto_backend, "calibrate", no_calibration)
    again = auto_backend.resolve("m", "rev1", reference, candidates, root=tmp_path, texts=TEXTS)
    assert again["cached"] is True and again["backend"] == "good-fast" and again["ratio"] == first["ratio"]
    # another CPU (or library version) is another key: measured afresh
    monkeypatch.setattr(auto_backend, "cpu_identity", lambda: {"model": "Other CPU", "isa": [], "threads": 64})
    with pytest.raises(AssertionError, match="calibrated again"):
        auto_backend.resolve("m", "rev1", reference, candidates, root=tmp_path, texts=TEXTS)


def test_dense_encoder_auto_resolves_and_records_the_choice(tiny_model_dir, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setattr(auto_backend, "CANDIDATES", ("onnx",))  # one cheap export keeps the test fast
    monkeypatch.setattr(auto_backend, "calibration_sample", lambda count=256: TEXTS)
    enc = DenseEncoder(str(tiny_model_dir), backend="auto", cache_dir=str(tmp_path), use_cache=False)
    assert enc.auto_backend is not None and enc.backend == enc.auto_backend["backend"] in {"torch", "onnx"}
    assert enc.auto_backend["measured"]["onnx"]["cosine_mean"] >= 0.999
    assert (enc.fast is not None) == (enc.backend != "torch")
    assert list((tmp_path / "auto-backend").glob("*.json"))
    again = DenseEncoder(str(tiny_model_dir), backend="auto", cache_dir=str(tmp_path), use_cache=False)
    assert again.auto_backend["cached"] is True and again.backend == enc.backend


def test_bench_and_index_record_what_auto_resolved_to(tiny_model_dir, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    from typer.testing import CliRunner

    from embedproof.cli import app
    from embedproof.datasets.loading import load_dataset
    from embedproof.evaluation.bench import run_bench
    from embedproof.evaluation.bench_options import BenchOptions

    monkeypatch.setattr(auto_backend, "CANDIDATES", ("onnx",))
    monkeypatch.setattr(auto_backend, "calibration_sample", lambda count=256: TEXTS)
    monkeypatch.setenv("EMBEDPROOF_CACHE", str(tmp_path / "cache"))
    results = run_bench(
        load_dataset("demo"), [str(tiny_model_dir)], BenchOptions(backends=["auto"], latency=False, use_cache=False)
    )
    run = results["runs"][0]
    assert run["encoder_backend"] == run["auto_backend"]["backend"] in {"torch", "onnx"}
    assert {"ratio", "measured", "rule", "cpu"} <= set(run["auto_backend"])

    out = tmp_path / "index"
    built = CliRunner().invoke(
        app,
        [
            "index",
            "build",
            "--corpus",
            "demo",
            "--model",
            str(tiny_model_dir),
            "--mode",
            "dense",
            "--backend",
            "auto",
            "--out",
            str(out),
        ],
    )
    assert built.exit_code == 0, built.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["encoder_backend"] == manifest["auto_backend"]["backend"] == run["encoder_backend"]
    assert manifest["auto_backend"]["cached"] is True  # the bench above measured this machine already


def test_streams_share_the_openvino_export_and_match_it(tiny_model_dir, tmp_path):
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    name, texts = str(tiny_model_dir), TEXTS * 8  # several batches in flight at once
    one = DenseEncoder(name, backend="openvino-int8", cache_dir=str(tmp_path), use_cache=False)
    many = DenseEncoder(name, backend="openvino-int8-streams", cache_dir=str(tmp_path), use_cache=False)
    assert many.fast.path == one.fast.path and many.fast.streams >= 1
    a, b = one.encode_documents(texts).dense, many.encode_documents(texts).dense
    assert np.allclose(a, b, atol=1e-5)
    tokens = many.fast.token_embeddings(texts[:5])
    assert [t.shape[0] for t in tokens] == [t.shape[0] for t in one.fast.token_embeddings(texts[:5])]
