"""Latency as a user of the deployed set-up sees it: one query at a time after warm-up, and 100-query batches.

MTEB scores hide the tail: p99 matters as much as nDCG@10 when a model is 2 points better but 3× slower.
Numbers are only comparable on the same machine, so `machine_info` records what they were measured on.
"""

from __future__ import annotations

import os
import platform
import time
from importlib import metadata
from typing import Callable

import numpy as np

LIBRARIES = ("embedpick", "numpy", "scipy", "torch", "transformers", "sentence-transformers", "bm25s", "pytrec-eval-terrier", "onnxruntime", "faiss-cpu")


def summarise(samples_ms: list[float]) -> dict:
    """p50 / p95 / p99 / mean / max of per-query milliseconds."""
    if not samples_ms:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "mean": None, "max": None}
    a = np.asarray(samples_ms, dtype=np.float64)
    return {"n": int(a.size), "p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)),
            "p99": float(np.percentile(a, 99)), "mean": float(a.mean()), "max": float(a.max())}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict:
    """CPU, cores, threads and library versions, so latency numbers are never compared across machines blindly."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    threads = None
    try:
        import torch

        threads = torch.get_num_threads()
    except ImportError:
        pass
    return {
        "platform": platform.platform(), "python": platform.python_version(), "cpu": _cpu_model(),
        "cpus": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch_threads": threads, "processor": platform.processor(), "libraries": versions,
    }


def pipeline_latency(stages: list[tuple[str, Callable]], inputs: list, warmup: int = 5, batch_size: int = 100) -> dict:
    """Time a chain of stages the way a server runs it: stage outputs feed the next stage, query after query.

    Online: each query goes through every stage alone (after `warmup` queries); batch: `batch_size` queries at
    a time. Stages are timed inside the same loop, so their interference (thread pools, caches) is measured too.
    """
    n = len(inputs)
    for i in range(min(warmup, n)):
        value = inputs[i : i + 1]
        for _, fn in stages:
            value = fn(value)
    online: dict[str, list[float]] = {name: [] for name, _ in stages}
    for i in range(n):
        value = inputs[i : i + 1]
        for name, fn in stages:
            start = time.perf_counter()
            value = fn(value)
            online[name].append(1000.0 * (time.perf_counter() - start))
    per_batch: dict[str, list[float]] = {name: [] for name, _ in stages}
    size = min(batch_size, n)
    for start_index in range(0, n - size + 1, size):
        value = inputs[start_index : start_index + size]
        for name, fn in stages:
            start = time.perf_counter()
            value = fn(value)
            per_batch[name].append(time.perf_counter() - start)
    return combine({name: (online[name], {"batch_size": batch_size, "queries_per_batch": size,
                                          "seconds_per_batch": float(np.median(per_batch[name])) if per_batch[name] else None})
                    for name, _ in stages})


def combine(stages: dict[str, tuple[list[float], dict]]) -> dict:
    """Per-stage and total latency; a query's total is the sum of its stages, each timed on its own."""
    online = {name: summarise(samples) for name, (samples, _) in stages.items()}
    totals = [sum(parts) for parts in zip(*(samples for samples, _ in stages.values()))]
    online["total"] = summarise(totals)
    batch = {f"{name}_s_per_batch": b["seconds_per_batch"] for name, (_, b) in stages.items()}
    per_batch = sum(v for v in batch.values() if v is not None)
    first = next(iter(stages.values()))[1]
    batch.update(batch_size=first["batch_size"], queries_per_batch=first["queries_per_batch"], seconds_per_batch=per_batch,
                 queries_per_s=(first["queries_per_batch"] / per_batch) if per_batch else None)
    return {"queries": online["total"]["n"], "online_ms": online, "batch": batch}
