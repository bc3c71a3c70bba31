"""Fast CPU backends: export → cache, closeness to torch fp32, and the --backend flag reaching the encoder."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from embedproof.backends import UnsupportedBackendError
from embedproof.datasets.loading import load_dataset
from embedproof.errors import EmbedproofError
from embedproof.evaluation.bench import run_bench
from embedproof.evaluation.bench_options import BenchOptions
from embedproof.models import onnx_backend
from embedproof.models.dense import DenseEncoder
from embedproof.models.factory import get_encoder

pytest.importorskip("onnxruntime")

TEXTS = [
    "The first iPhone launched in 2007.",
    "Apple released the iPod in 2001.",
    "Android is an operating system from Google.",
    "When was the iPhone released?",
    "a cat sat on the mat",
    "Google and Apple make phones . the iPod plays music ?",
]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def torch_vectors(name: str, texts=TEXTS) -> np.ndarray:
    return DenseEncoder(name, use_cache=False).encode_documents(texts).dense


def test_length_batches_respect_the_token_budget_and_cover_every_text():
    lengths = [5, 200, 17, 64, 64, 3, 120, 9]
    batches = onnx_backend.length_batches(lengths, token_budget=256, max_batch=4)
    assert sorted(int(i) for b in batches for i in b) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) * max(lengths[i] for i in batch) <= 256 or len(batch) == 1
    assert [lengths[i] for i in batches[0]] == [200]  # longest first: 2 × 200 would pass the budget


def test_onnx_export_matches_torch_and_loads_from_the_cache(tiny_model_dir, tmp_path, monkeypatch):
    name = str(tiny_model_dir)
    reference = torch_vectors(name)
    enc = DenseEncoder(name, backend="onnx", cache_dir=str(tmp_path), use_cache=False)
    got = enc.encode_documents(TEXTS)
    assert got.info["backend"] == "onnx"
    assert cosines(got.dense, reference).min() >= 0.9999
    assert np.allclose(np.linalg.norm(got.dense, axis=1), 1.0, atol=1e-5)
    path, mtime = enc.fast.path, enc.fast.path.stat().st_mtime_ns
    assert path.is_relative_to(tmp_path / "fast-models") and enc.fast.info["revision"] == enc.resolved.revision

    def no_export(*args, **kwargs):
        raise AssertionError("exported again although the cached model was there")

    monkeypatch.setattr(onnx_backend, "_export_transformer", no_export)
    again = DenseEncoder(name, backend="onnx", cache_dir=str(tmp_path), use_cache=False)
    assert again.fast.path == path and path.stat().st_mtime_ns == mtime
    assert np.allclose(again.encode_documents(TEXTS).dense, got.dense, atol=1e-6)


def test_onnx_int8_stays_close_to_fp32_and_is_cached_apart(tiny_model_dir, tmp_path):
    name = str(tiny_model_dir)
    reference = torch_vectors(name)
    enc = DenseEncoder(name, backend="onnx-int8", cache_dir=str(tmp_path), use_cache=False)
    cos = cosines(enc.encode_documents(TEXTS).dense, reference)
    assert cos.mean() >= 0.98 and cos.min() >= 0.95, cos
    fp32 = DenseEncoder(name, backend="onnx", cache_dir=str(tmp_path), use_cache=False)
    assert enc.fast.path.parent != fp32.fast.path.parent
    assert enc.fast.info["settings"]["per_channel"] is True
    # int8 weights: the quantised file is smaller than the fp32 one
    assert enc.fast.path.stat().st_size < fp32.fast.path.stat().st_size


def test_openvino_int8_is_calibrated_and_close_to_fp32(tiny_model_dir, tmp_path):
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    name = str(tiny_model_dir)
    enc = DenseEncoder(name, backend="openvino-int8", cache_dir=str(tmp_path), use_cache=False)
    cos = cosines(enc.encode_documents(TEXTS).dense, torch_vectors(name))
    assert cos.mean() >= 0.95, cos
    assert enc.fast.path.name == "model.xml" and (enc.fast.path.parent / "model.bin").is_file()


def test_a_crashed_export_leaves_nothing_that_loads(tiny_model_dir, tmp_path, monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(onnx_backend, "_quantize_dynamic", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        DenseEncoder(str(tiny_model_dir), backend="onnx-int8", cache_dir=str(tmp_path), use_cache=False)
    models = tmp_path / "fast-models"
    assert not any(p.name == "export.json" for p in models.rglob("*")), list(models.rglob("*"))
    assert not any(p.name.startswith(".") for p in models.rglob("*"))  # the temporary folder is gone too


def test_cache_key_keeps_torch_unchanged_and_separates_backends(tiny_model_dir, tmp_path):
    torch_key = DenseEncoder(str(tiny_model_dir), use_cache=False).cache_key("")
    assert "backend" not in torch_key and set(torch_key) == {
        "format",
        "kind",
        "model",
        "revision",
        "prefix",
        "max_tokens",
        "normalize",
    }
    int8_key = DenseEncoder(
        str(tiny_model_dir), backend="onnx-int8", cache_dir=str(tmp_path), use_cache=False
    ).cache_key("")
    assert int8_key["backend"] == "onnx-int8" and int8_key["backend_settings"]["op_types"] == ["MatMul", "Attention"]
    assert {k: v for k, v in int8_key.items() if k in torch_key} == torch_key


def test_backend_flag_reaches_the_encoder_and_bad_values_are_refused(tiny_model_dir, tiny_mlm_dir, tmp_path):
    enc = get_encoder(str(tiny_model_dir), backend="onnx-int8", cache_dir=str(tmp_path))
    assert isinstance(enc, DenseEncoder) and enc.backend == "onnx-int8" and enc.fast is not None
    assert get_encoder(str(tiny_model_dir)).backend == "torch"
    with pytest.raises(EmbedproofError, match="backend 'tensorrt'"):
        DenseEncoder(str(tiny_model_dir), backend="tensorrt")
    with pytest.raises(UnsupportedBackendError, match="SPLADE runs on the torch backend only"):
        get_encoder(str(tiny_mlm_dir), backend="onnx")
    assert get_encoder(str(tiny_mlm_dir), backend="torch").mode == "sparse"


def test_bench_runs_each_backend_and_reports_retention_against_torch(tiny_model_dir, tiny_mlm_dir):
    data = load_dataset("demo")
    models = [str(tiny_model_dir), "bm25", str(tiny_mlm_dir)]
    results = run_bench(data, models, BenchOptions(backends=["torch", "onnx-int8"], latency=False, use_cache=False))
    by_backend = {(r["model"], r["encoder_backend"]): r for r in results["runs"]}
    # bm25 runs once; SPLADE is torch-only, so it runs on torch and its onnx-int8 pass is skipped
    assert set(by_backend) == {
        (str(tiny_model_dir), "torch"),
        (str(tiny_model_dir), "onnx-int8"),
        ("bm25", "torch"),
        (str(tiny_mlm_dir), "torch"),
    }
    fast, torch_run = by_backend[(str(tiny_model_dir), "onnx-int8")], by_backend[(str(tiny_model_dir), "torch")]
    vs = fast["backend_vs_torch"]
    assert vs["ndcg@10_retention"] == pytest.approx(fast["metrics"]["ndcg@10"] / torch_run["metrics"]["ndcg@10"])
    assert vs["documents_per_s_ratio"] == pytest.approx(
        fast["timings"]["documents_per_s"] / torch_run["timings"]["documents_per_s"]
    )
    assert results["settings"]["encoder_backends"] == ["torch", "onnx-int8"]


def test_cli_bench_backend_option(tiny_model_dir, tmp_path):
    from embedproof.cli import app

    out = tmp_path / "results.json"
    args = [
        "bench",
        "--model",
        str(tiny_model_dir),
        "--backend",
        "torch",
        "--backend",
        "onnx",
        "--no-latency",
        "--output",
        str(out),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "encoder backends" in result.output and "retention vs torch" in result.output
    runs = json.loads(out.read_text())["runs"]
    assert [r["encoder_backend"] for r in runs] == ["torch", "onnx"]
    assert runs[1]["backend_vs_torch"]["ndcg@10_retention"] == pytest.approx(1.0, abs=0.02)
    refused = CliRunner().invoke(app, ["bench", "--model", "bm25", "--backend", "qdrant", "--output", str(out)])
    assert refused.exit_code != 0 and "unknown value 'qdrant'" in refused.output


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["onnx-int8", "openvino-int8", "openvino-int8-streams"])
def test_minilm_int8_keeps_cosine_to_fp32(minilm_path, backend, tmp_path):
    """Real MiniLM: int8 vectors stay close to sentence-transformers fp32 (exports take ~20-40 s each)."""
    if backend.startswith("openvino"):
        pytest.importorskip("openvino")
        pytest.importorskip("nncf")
    data = load_dataset("demo")
    texts = [doc.full_text for doc in list(data.corpus.values())[:40]]
    name = "sentence-transformers/all-MiniLM-L6-v2"
    cos = cosines(
        DenseEncoder(name, backend=backend, cache_dir=str(tmp_path), use_cache=False).encode_documents(texts).dense,
        torch_vectors(name, texts),
    )
    assert cos.mean() >= 0.98 and cos.min() >= 0.95, (cos.mean(), cos.min())


def test_token_embeddings_from_onnx_match_torch(tiny_model_dir, tmp_path):
    from embedproof.models.multivector import TokenEmbeddingEncoder

    torch_tokens = TokenEmbeddingEncoder(str(tiny_model_dir), use_cache=False).encode_documents(TEXTS).multivector
    fast = TokenEmbeddingEncoder(
        str(tiny_model_dir), backend="onnx", cache_dir=str(tmp_path), use_cache=False
    ).encode_documents(TEXTS)
    assert fast.info["backend"] == "onnx"
    assert [m.shape for m in fast.multivector] == [m.shape for m in torch_tokens]  # padding dropped the same way
    for ours, theirs in zip(fast.multivector, torch_tokens):
        assert cosines(ours.astype(np.float32), theirs.astype(np.float32)).min() >= 0.999
