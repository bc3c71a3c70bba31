"""Fast CPU encoding: the transformer exported to ONNX once, run by onnxruntime or OpenVINO, optionally int8.

fp32 sentence-transformers already runs near the cores' fp32 peak, so speed has to come from lower-precision
compute (int8 VNNI/AMX, bf16 AMX) and from not computing padding. The transformer is exported from the local
weights with `torch.onnx.export` (sentence-transformers 6.2 has no ONNX backend), fused by onnxruntime's BERT
optimizer, quantised, and cached by model revision + settings + runtime version. Pooling and normalisation run in
numpy with the model's own sentence-transformers Pooling settings. Texts are sorted by token length and batched
by a token budget, so a batch pads only to its own longest text.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from embedproof.backends import UnsupportedBackendError
from embedproof.errors import EmbedproofError, InvalidInputError, require
from embedproof.files import cache_root, safe_name, write_json_atomic
from embedproof.models.phases import phase, quiet_third_party, short_name

EXPORT_FORMAT = 1
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# Chosen by measurement on SciFact (docs/fast-encoding.md): quantising MatMul and the fused Attention
# per-channel keeps mean cosine 0.995 to fp32; per-tensor weights lose too much (mean cosine 0.937).
SETTINGS: dict[str, dict[str, Any]] = {
    "onnx": {"runtime": "onnxruntime", "fuse": True, "quantize": None},
    "onnx-int8": {
        "runtime": "onnxruntime",
        "fuse": True,
        "quantize": "dynamic",
        "per_channel": True,
        "weight_type": "QInt8",
        "op_types": ["MatMul", "Attention"],
    },
    "openvino-int8": {
        "runtime": "openvino",
        "fuse": False,
        "quantize": "nncf-static",
        "preset": "PERFORMANCE",
        "calibration": "embedproof demo corpus + queries",
        "precision_hint": "auto",
    },
}
# Same exported file as the named backend, run differently: one OpenVINO stream per core with its own requests
# (no cross-core barrier per GEMM, which costs most on AMD and on a busy machine; docs/fast-encoding.md).
SETTINGS["openvino-int8-streams"] = {**SETTINGS["openvino-int8"], "streams": "cores"}
RUN_ONLY = ("streams", "spinning")  # settings that change how a file runs, not the file: they share its export

TOKEN_BUDGET = 4096  # tokens per batch (batch rows × padded length)
MAX_BATCH = 64
PAD_MULTIPLE = 8  # batch widths rounded up to this: int8 kernels run whole 8-row blocks and fewer shapes get compiled


def cpu_threads() -> int:
    """Threads for intra-op parallelism: the cores this process may run on (oversubscribing slows int8 GEMMs)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS / Windows
        return max(1, os.cpu_count() or 1)


def runtime_version(runtime: str) -> str:
    """Versions of everything that shapes the exported file: the runtime, the exporter, the quantiser."""
    from importlib.metadata import PackageNotFoundError, version

    module = require(runtime, "fast")
    parts = [f"{runtime} {getattr(module, '__version__', None) or module.get_version()}"]
    for package in ("torch", "onnx") + (("nncf",) if runtime == "openvino" else ()):
        try:
            parts.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            pass
    return ", ".join(parts)


def export_folder(model_name: str, revision: str, backend: str, root: str | os.PathLike | None = None) -> Path:
    """Where the exported model for (model, revision, backend settings, runtime version) lives."""
    base, settings = export_settings(backend)
    key = {
        "format": EXPORT_FORMAT,
        "model": model_name,
        "revision": revision,
        "backend": base,
        "settings": settings,
        "runtime": runtime_version(settings["runtime"]),
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return cache_root(root) / "fast-models" / safe_name(model_name) / f"{base}-{digest}"


def export_settings(backend: str) -> tuple[str, dict]:
    """(backend whose export this one shares, the settings that shape the file): run-only variants reuse it."""
    settings = {k: v for k, v in SETTINGS[backend].items() if k not in RUN_ONLY}
    for name, other in SETTINGS.items():
        if {k: v for k, v in other.items() if k not in RUN_ONLY} == settings:
            return name, settings
    return backend, settings


def _export_transformer(model_dir: str, target: Path) -> None:
    """torch → ONNX with dynamic batch and sequence axes; output = token embeddings (last hidden state)."""
    torch = require("torch", "dense")
    from transformers import AutoModel

    # Eager attention exports as plain MatMul/Softmax, which onnxruntime's optimizer fuses into Attention; the
    # SDPA export does not fuse and stays slower.
    model = AutoModel.from_pretrained(model_dir, attn_implementation="eager").eval()

    import inspect

    # DistilBERT-style models take no token_type_ids; the runners feed only the inputs the graph declares.
    names = [n for n in INPUTS if n in inspect.signature(model.forward).parameters]

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *args):
            return self.inner(**dict(zip(names, args))).last_hidden_state

    ids = torch.ones(2, 8, dtype=torch.long)
    example = tuple(torch.zeros_like(ids) if n == "token_type_ids" else ids for n in names)
    axes = {name: {0: "batch", 1: "sequence"} for name in (*names, "token_embeddings")}
    import warnings

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            TokenEmbeddings(model),
            example,
            str(target),
            input_names=names,
            output_names=["token_embeddings"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )


def _fuse(model_dir: str, source: Path, target: Path) -> dict:
    """onnxruntime's transformer optimizer: Attention, SkipLayerNorm, BiasGelu; returns the fused-op counts."""
    from onnxruntime.transformers.optimizer import optimize_model

    config = json.loads((Path(model_dir) / "config.json").read_text())
    optimized = optimize_model(
        str(source),
        model_type="bert",
        num_heads=int(config.get("num_attention_heads", 0)),
        hidden_size=int(config.get("hidden_size", 0)),
        opt_level=1,
    )
    optimized.save_model_to_file(str(target))
    return {k: v for k, v in optimized.get_fused_operator_statistics().items() if v}


def _quantize_dynamic(source: Path, target: Path, settings: dict) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(source),
        str(target),
        per_channel=settings["per_channel"],
        op_types_to_quantize=settings["op_types"],
        weight_type=getattr(QuantType, settings["weight_type"]),
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def _quantize_openvino(source: Path, target: Path, settings: dict, calibration: list[dict]) -> None:
    """Static int8 (activations and weights) with NNCF, calibrated on real text batches."""
    ov = require("openvino", "fast")
    nncf = require("nncf", "fast")
    model = ov.Core().read_model(str(source))
    quantized = nncf.quantize(
        model,
        nncf.Dataset(calibration),
        model_type=nncf.ModelType.TRANSFORMER,
        preset=nncf.QuantizationPreset[settings["preset"]],
        subset_size=len(calibration),
    )
    ov.save_model(quantized, str(target))


def calibration_texts() -> list[str]:
    """The built-in demo corpus and its queries: fixed, so the quantised model depends only on the settings."""
    from embedproof.datasets.loading import load_dataset

    demo = load_dataset("demo")
    return [doc.full_text for doc in demo.corpus.values()] + list(demo.queries.values())


def prepare_model(
    model_dir: str,
    model_name: str,
    revision: str,
    backend: str,
    tokenize: Callable | None = None,
    root: str | os.PathLike | None = None,
) -> Path:
    """The runnable model file for `backend`, exported and quantised on first use, then read from the cache.

    Built in a temporary folder renamed into place at the end, so a crash mid-export never leaves a model that
    loads. `tokenize` (texts → list of feeds) is needed only for OpenVINO's calibration.
    """
    if backend not in SETTINGS:
        raise InvalidInputError(f"backend {backend!r}: not a fast encoder backend (choose from {', '.join(SETTINGS)})")
    base, settings = export_settings(backend)
    folder = export_folder(model_name, revision, backend, root)
    final = folder / ("model.xml" if settings["runtime"] == "openvino" else "model.onnx")
    if (folder / "export.json").is_file() and final.is_file():
        return final
    require(settings["runtime"], "fast")
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    steps = ["export"] + (["fuse"] if settings["fuse"] else []) + (["quantise"] if settings["quantize"] else [])
    advance = phase(f"{short_name(model_name)}: {base}: {', '.join(steps)}", len(steps))
    # the exporter, onnxruntime's optimizer and quantiser and NNCF print bars, logs and advice meant for their own
    # developers ("Applying Smooth Quant", "run pre-processing"): only the phase line above shows
    with quiet_third_party():
        try:
            raw = work / "raw.onnx"
            _export_transformer(model_dir, raw)
            advance(1)
            current, fused = raw, {}
            if settings["fuse"]:
                fused = _fuse(model_dir, raw, work / "fused.onnx")
                current = work / "fused.onnx"
                advance(1)
            if settings["quantize"] == "dynamic":
                _quantize_dynamic(current, work / "model.onnx", settings)
            elif settings["quantize"] == "nncf-static":
                if tokenize is None:
                    raise EmbedproofError(f"backend {backend!r} needs a tokenizer for its calibration texts")
                _quantize_openvino(current, work / "model.xml", settings, tokenize(calibration_texts()))
            else:
                os.replace(current, work / "model.onnx")
            if settings["quantize"]:
                advance(1)
            for leftover in ("raw.onnx", "fused.onnx"):
                (work / leftover).unlink(missing_ok=True)
            info = {
                "model": model_name,
                "revision": revision,
                "backend": base,
                "settings": settings,
                "fused_ops": fused,
                "runtime": settings["runtime"],
                "runtime_version": runtime_version(settings["runtime"]),
            }
            write_json_atomic(
                work / "export.json", info
            )  # the folder is renamed into place below; this file marks it complete
            if (folder / "export.json").is_file():  # another process finished the same export first: use that one
                shutil.rmtree(work, ignore_errors=True)
                return final
            if folder.exists():  # a stale, incomplete folder from an older crash
                shutil.rmtree(folder)
            os.replace(work, folder)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    return final


def length_batches(
    lengths: Sequence[int], token_budget: int = TOKEN_BUDGET, max_batch: int = MAX_BATCH
) -> list[np.ndarray]:
    """Indices grouped longest first so each batch pads only to its own longest text and holds ≤ budget tokens."""
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    batches, start = [], 0
    while start < len(order):
        longest = max(1, int(lengths[order[start]]))
        size = max(1, min(max_batch, token_budget // longest))
        batches.append(order[start : start + size])
        start += size
    return batches


def pool(token_embeddings: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    """sentence-transformers' Pooling for the modes MiniLM/bge/e5/gte use: mean, cls, max."""
    if mode == "mean":
        weights = mask[..., None].astype(np.float32)
        return (token_embeddings * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
    if mode == "cls":
        return token_embeddings[:, 0]
    if mode == "max":
        return np.where(mask[..., None] > 0, token_embeddings, -1e9).max(axis=1)
    raise EmbedproofError(f"pooling mode {mode!r} is not supported by the fast backends (mean, cls, max are)")


class FastTransformer:
    """The exported transformer behind a sentence-transformers-compatible `encode`."""

    def __init__(
        self,
        st_model,
        model_dir: str,
        model_name: str,
        revision: str,
        backend: str,
        root: str | os.PathLike | None = None,
        threads: int | None = None,
    ):
        modules = [type(m).__name__ for m in st_model]
        if modules[:2] != ["Transformer", "Pooling"] or any(m != "Normalize" for m in modules[2:]):
            raise UnsupportedBackendError(
                f"{model_name}: the fast backends support Transformer + Pooling (+ Normalize) models, "
                f"this one has {' → '.join(modules)}; use --backend torch"
            )
        self.pooling = st_model[1].get_config_dict().get("pooling_mode", "mean")
        self.normalize_output = "Normalize" in modules[2:]
        self.tokenizer, self.max_tokens = st_model.tokenizer, int(st_model.max_seq_length)
        self.backend, self.threads = backend, threads or cpu_threads()
        self.path = prepare_model(model_dir, model_name, revision, backend, self.feeds, root)
        self.info = json.loads((self.path.parent / "export.json").read_text())
        settings = SETTINGS[backend]
        self.streams = self.threads if settings.get("streams") == "cores" else 0
        self._run = self._openvino(self.path) if settings["runtime"] == "openvino" else self._onnxruntime(self.path)

    def _onnxruntime(self, path: Path) -> Callable[[dict], np.ndarray]:
        ort = require("onnxruntime", "fast")
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = self.threads, 1
        # Spinning workers keep a core busy between ops; on a shared machine that steals it from the other thread.
        options.add_session_config_entry(
            "session.intra_op.allow_spinning", "1" if SETTINGS[self.backend].get("spinning") else "0"
        )
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]
        return lambda feed: session.run(None, {k: feed[k] for k in names})[0]

    def _openvino(self, path: Path) -> Callable[[dict], np.ndarray]:
        ov = require("openvino", "fast")
        # No precision hint: OpenVINO runs the non-int8 ops in bf16 where the CPU has AMX, fp32 elsewhere.
        config: dict[str, Any] = {"INFERENCE_NUM_THREADS": self.threads, "PERFORMANCE_HINT": "LATENCY"}
        if self.streams:
            config.update({"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": self.streams})
        self._compiled = ov.Core().compile_model(str(path), "CPU", config)
        request = self._compiled.create_infer_request()
        self._names = [i.get_any_name() for i in self._compiled.inputs]
        return lambda feed: np.asarray(request.infer({k: feed[k] for k in self._names})[0])

    def _forward(self, batches, consume: Callable[[np.ndarray, dict, np.ndarray], None]) -> None:
        """Runs every (indices, feed) batch and hands (indices, feed, hidden) to `consume`, streams in parallel."""
        if not self.streams:
            for batch, feed in batches:
                consume(batch, feed, self._run(feed))
            return
        ov = require("openvino", "fast")
        queue = ov.AsyncInferQueue(self._compiled, self.streams)
        errors: list[BaseException] = []

        def done(request, userdata):
            try:
                consume(*userdata, request.get_output_tensor(0).data)  # the buffer is reused: consume copies
            except BaseException as exc:  # surfaced after wait_all; raising here would kill OpenVINO's thread
                errors.append(exc)

        queue.set_callback(done)
        for batch, feed in batches:
            queue.start_async({k: feed[k] for k in self._names}, (batch, feed))
        queue.wait_all()
        if errors:
            raise errors[0]

    def feeds(self, texts: list[str], token_budget: int = TOKEN_BUDGET) -> list[dict]:
        """Padded input batches for `texts` in length order (used for calibration)."""
        return [feed for _, feed in self._batches(texts, token_budget)]

    def _batches(self, texts: list[str], token_budget: int = TOKEN_BUDGET):
        encoded = self.tokenizer(
            texts, truncation=True, max_length=self.max_tokens, padding=False, return_attention_mask=False
        )
        ids = encoded["input_ids"]
        types = encoded.get("token_type_ids") or [[0] * len(row) for row in ids]
        for batch in length_batches([len(row) for row in ids], token_budget):
            width = -(-max(len(ids[i]) for i in batch) // PAD_MULTIPLE) * PAD_MULTIPLE
            feed = {name: np.zeros((len(batch), width), np.int64) for name in INPUTS}
            for row, i in enumerate(batch):
                n = len(ids[i])
                feed["input_ids"][row, :n], feed["token_type_ids"][row, :n], feed["attention_mask"][row, :n] = (
                    ids[i],
                    types[i],
                    1,
                )
            yield batch, feed

    def token_embeddings(self, texts: list[str]) -> list[np.ndarray]:
        """Per text, the (tokens × hidden) output without padding, in input order."""
        out: list[np.ndarray | None] = [None] * len(texts)

        def keep(batch, feed, hidden):
            for row, i in enumerate(batch):
                out[i] = np.array(hidden[row, : int(feed["attention_mask"][row].sum())], np.float32)

        self._forward(self._batches(texts), keep)
        return out  # type: ignore[return-value]

    def encode(self, texts: list[str], prefix: str = "", normalize: bool = True) -> np.ndarray:
        """Pooled sentence vectors in input order, like SentenceTransformer.encode(prompt=prefix)."""
        texts = [prefix + t for t in texts] if prefix else list(texts)
        if not texts:
            return np.zeros((0, 0), np.float32)
        parts: list[tuple[np.ndarray, np.ndarray]] = []

        def keep(batch, feed, hidden):
            # np.array copies: a streamed request reuses its output buffer (cls pooling would be a view into it)
            parts.append((batch, np.array(pool(np.asarray(hidden, np.float32), feed["attention_mask"], self.pooling))))

        self._forward(self._batches(texts), keep)
        vectors = np.zeros((len(texts), parts[0][1].shape[1]), np.float32)
        for batch, pooled in parts:
            vectors[batch] = pooled
        if normalize or self.normalize_output:
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors
