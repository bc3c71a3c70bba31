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


def measure_online(run_one: Callable[[int], object], n: int, warmup: int = 5) -> list[float]:
    """Milliseconds of `run_one(i)` for each i in range(n), one call at a time, after `warmup` untimed calls."""
    for i in range(min(warmup, n)):
        run_one(i)
    samples = []
    for i in range(n):
        start = time.perf_counter()
        run_one(i)
        samples.append(1000.0 * (time.perf_counter() - start))
    return samples


def measure_batches(run_batch: Callable[[slice], object], n: int, batch_size: int = 100) -> dict:
    """Seconds per `batch_size`-query batch (the lesson's '100-query batch latency') and queries per second."""
    if n == 0:
        return {"batch_size": batch_size, "queries_per_batch": 0, "batches": 0, "seconds_per_batch": None, "queries_per_s": None}
    run_batch(slice(0, min(batch_size, n)))  # warm-up
    times, sizes = [], []
    for start in range(0, n, batch_size):
        began = time.perf_counter()
        run_batch(slice(start, min(start + batch_size, n)))
        times.append(time.perf_counter() - began)
        sizes.append(min(start + batch_size, n) - start)
    # the median over full batches; a collection smaller than one batch reports its one partial batch
    full = [t for t, size in zip(times, sizes) if size == max(sizes)]
    return {"batch_size": batch_size, "queries_per_batch": max(sizes), "batches": len(times),
            "seconds_per_batch": float(np.median(full)), "queries_per_s": float(n / sum(times))}


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


def stage_latency(run_one: Callable[[int], object], run_batch: Callable[[slice], object], n: int, warmup: int = 5, batch_size: int = 100) -> tuple[list[float], dict]:
    """Online per-query milliseconds and the batch summary of one stage."""
    return measure_online(run_one, n, warmup), measure_batches(run_batch, n, batch_size)


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
