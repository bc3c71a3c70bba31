"""`--backend auto`: the fastest encoder backend for this CPU that keeps torch fp32's vectors, by measurement.

Which backend wins depends on the CPU (OpenVINO's int8 leads on AMD EPYC with VNNI and on Intel with AMX, by
different margins; onnxruntime's dynamic int8 is second), on the model and on the library versions, so the
choice comes from a short calibration on this machine and is cached per (CPU model and ISA, threads, library
versions, model, revision). Rule: a candidate qualifies only if, on the calibration sample, the mean cosine of
its vectors to torch fp32's is ≥ 0.99 and the smallest is ≥ 0.95 (SciFact: candidates at mean cosine ≥ 0.995
keep ≥ 99% of nDCG@10; per-tensor int8 at 0.94 does not); among those, the most documents/s wins, and torch
stays when none is faster. Candidates and torch are timed in interleaved rounds, so a busy machine slows all
of them alike.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from embedproof.files import cache_root, safe_name, write_json_atomic
from embedproof.models.phases import phase, short_name

RULE = {"mean_cosine_min": 0.99, "min_cosine_min": 0.95, "format": 2}  # format: the calibration sample's
CANDIDATES = ("onnx-int8", "openvino-int8", "openvino-int8-streams", "onnx")
LIBRARIES = ("torch", "onnxruntime", "openvino", "nncf", "onnx", "transformers", "sentence-transformers")

Encode = Callable[[list[str]], np.ndarray]


def cpu_identity() -> dict:
    """CPU model, the ISA extensions that decide int8/bf16 speed, and the cores this process may use."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    isa = sorted(flags & {"avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "amx_bf16"})
    try:
        threads = len(os.sched_getaffinity(0))
    except AttributeError:
        threads = os.cpu_count() or 1
    return {"model": model, "isa": isa, "threads": threads}


def library_versions() -> dict:
    """Installed versions of everything that changes a backend's speed or vectors."""
    found = {}
    for package in LIBRARIES:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            pass
    return found


def calibration_sample(count: int = 256) -> list[str]:
    """Passage-length texts (one to eight demo documents joined: about 45 to 350 tokens, so up to a 256-token
    window's worth, as BEIR passages are) and a quarter as many queries; fixed, so the choice depends only on the
    machine. Enough of them that a throughput backend has batches to keep its parallel streams busy, as over a
    corpus: with 96 passages the AMD EPYC calibration ranked openvino-int8 above openvino-int8-streams (3.50× vs
    3.23×), with 256 the other way round in two runs (3.70× vs 3.51×, 3.69× vs 3.61×), as full SciFact does."""
    from embedproof.datasets.loading import load_dataset

    demo = load_dataset("demo")
    docs = [doc.full_text for doc in demo.corpus.values()]
    texts, start = [], 0
    for i in range(count):
        width = 1 + i % 8
        texts.append(" ".join(docs[(start + j) % len(docs)] for j in range(width)))
        start += width
    return texts + list(demo.queries.values())[: count // 4]


def qualifies(cosines: np.ndarray) -> bool:
    """The retention rule (module docstring): mean cosine to torch fp32 ≥ 0.99 and every cosine ≥ 0.95."""
    return (
        bool(len(cosines))
        and float(cosines.mean()) >= RULE["mean_cosine_min"]
        and float(cosines.min()) >= RULE["min_cosine_min"]
    )


def calibrate(
    reference: Encode,
    candidates: dict[str, Callable[[], Encode]],
    texts: Sequence[str],
    rounds: int = 2,
    label: str = "auto",
) -> dict:
    """Times torch and each candidate on `texts` in interleaved rounds; returns the measurements and the choice.

    A candidate that fails to build (missing runtime, unsupported model) is recorded with its error and skipped.
    Both steps show as progress lines under `label` (models/phases.py).
    """
    texts = list(texts)
    encoders: dict[str, Encode] = {"torch": reference}
    measured: dict[str, dict] = {"torch": {}}
    built = phase(f"{label}: building {len(candidates)} backends", len(candidates))
    for name, build in candidates.items():
        try:
            encoders[name] = build()
            measured[name] = {}
        except Exception as exc:  # a candidate that cannot run here is not a reason to fail `auto`
            measured[name] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        built(1)
    names = list(encoders)
    seconds = dict.fromkeys(names, 0.0)
    vectors: dict[str, np.ndarray] = {}
    timed = phase(
        f"{label}: timing torch + {len(names) - 1} backends",
        len(names) * max(1, rounds),
    )
    for name in names:  # warm-up: first-call allocations and kernel selection are not part of the speed
        encoders[name](texts[:4])
    load = [round(os.getloadavg()[0], 2)] if hasattr(os, "getloadavg") else []
    for round_no in range(max(1, rounds)):
        for name in names if round_no % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            vectors[name] = np.asarray(encoders[name](texts), np.float32)
            seconds[name] += time.perf_counter() - start
            timed(1)
    if hasattr(os, "getloadavg"):
        load.append(round(os.getloadavg()[0], 2))
    ref = _unit(vectors["torch"])
    base = len(texts) * max(1, rounds) / seconds["torch"]
    for name in names:
        cos = (_unit(vectors[name]) * ref).sum(axis=1)
        docs_per_s = len(texts) * max(1, rounds) / seconds[name]
        measured[name] = {
            "docs_per_s": round(docs_per_s, 2),
            "ratio": round(docs_per_s / base, 3),
            "cosine_mean": round(float(cos.mean()), 5),
            "cosine_min": round(float(cos.min()), 5),
            "qualifies": qualifies(cos),
        }
    chosen = max((n for n in names if measured[n]["qualifies"]), key=lambda n: measured[n]["ratio"])
    return {
        "backend": chosen,
        "ratio": measured[chosen]["ratio"],
        "measured": measured,
        "rule": RULE,
        "sample_texts": len(texts),
        "rounds": max(1, rounds),
        "load_1min": load,
    }


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def cache_path(model_name: str, revision: str, root: str | os.PathLike | None = None) -> tuple[Path, dict]:
    """Where the choice for (this CPU, these libraries, this model) is cached, and the key it is cached under."""
    key = {
        "cpu": cpu_identity(),
        "libraries": library_versions(),
        "model": model_name,
        "revision": revision,
        "rule": RULE,
        "candidates": list(CANDIDATES),
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return cache_root(root) / "auto-backend" / f"{safe_name(model_name)}-{digest}.json", key


def resolve(
    model_name: str,
    revision: str,
    reference: Encode,
    candidates: dict[str, Callable[[], Encode]],
    root: str | os.PathLike | None = None,
    texts: Sequence[str] | None = None,
    rounds: int = 2,
) -> dict:
    """The cached choice for this machine and model, or a fresh calibration (then cached); see the module doc."""
    path, key = cache_path(model_name, revision, root)
    if path.is_file():
        try:
            cached = json.loads(path.read_text())
            if cached.get("key") == key:
                return {**cached, "cached": True}
        except (OSError, ValueError):
            pass  # an unreadable cache entry is measured again
    sample = texts if texts is not None else calibration_sample()
    result = calibrate(reference, candidates, sample, rounds, label=f"{short_name(model_name)}: auto")
    result.update(
        {"key": key, "cpu": key["cpu"]["model"], "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, result)
    return {**result, "cached": False}


def resolve_for_model(
    st_model, model_dir: str, model_name: str, revision: str, root: str | os.PathLike | None = None
) -> dict:
    """`auto` for a sentence-transformers model: torch when the fast extra is missing, else the calibrated choice."""
    from importlib.util import find_spec

    def reference(texts: list[str]) -> np.ndarray:
        return st_model.encode(
            texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )

    runtimes = {
        "onnx": "onnxruntime",
        "onnx-int8": "onnxruntime",
        "openvino-int8": "openvino",
        "openvino-int8-streams": "openvino",
    }
    available = [b for b in CANDIDATES if find_spec(runtimes[b]) is not None]
    if not available:
        return {
            "backend": "torch",
            "ratio": 1.0,
            "measured": {},
            "rule": RULE,
            "cached": False,
            "reason": "the fast extra is not installed (pip install 'embedproof[fast]')",
        }

    def candidate(backend: str) -> Callable[[], Encode]:
        def build() -> Encode:
            from embedproof.models.onnx_backend import FastTransformer

            fast = FastTransformer(st_model, model_dir, model_name, revision, backend, root=root)
            return lambda texts: fast.encode(texts, "", True)

        return build

    return resolve(model_name, revision, reference, {b: candidate(b) for b in available}, root)


def summary(result: dict) -> dict:
    """What results.json and the index manifest record: the choice, its measured ratio and the evidence."""
    keep = (
        "backend",
        "ratio",
        "measured",
        "rule",
        "cpu",
        "measured_at",
        "cached",
        "sample_texts",
        "load_1min",
        "reason",
    )
    return {k: result[k] for k in keep if k in result}
