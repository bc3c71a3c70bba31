"""Latency as a user of the deployed set-up sees it: one query at a time after warm-up, and 100-query batches.

MTEB scores hide the tail: p99 matters as much as nDCG@10 when a model is 2 points better but 3× slower. To make
that number repeat, `measure_latency` times each stage on its own and shares what runs have in common:
- a query encoder is timed once per query and its samples belong to every run that uses it, so runs that differ
  only after encoding (dimension, precision, fusion) differ only by their own stages, not by re-drawn noise;
- runs are interleaved query by query, in an order that rotates every round, so drift hits all of them alike;
- the whole pass repeats in rounds; percentiles get a bootstrap interval over queries and rounds, and a run whose
  rounds disagree beyond their intervals is flagged, as is a run measured while other processes used the CPUs.
Numbers are only comparable on the same machine, so `machine_info` records what they were measured on.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import numpy as np

from embedproof.evaluation.machine_load import LoadWatch
from embedproof.evaluation.statistics import StatsSettings, percentile_intervals

LIBRARIES = (
    "embedproof",
    "numpy",
    "scipy",
    "torch",
    "transformers",
    "sentence-transformers",
    "bm25s",
    "pytrec-eval-terrier",
    "onnxruntime",
    "faiss-cpu",
)


def summarise(samples_ms: list[float]) -> dict:
    """p50 / p95 / p99 / mean / max of per-query milliseconds."""
    if not samples_ms:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "mean": None, "max": None}
    a = np.asarray(samples_ms, dtype=np.float64)
    return {
        "n": int(a.size),
        "p50": float(np.percentile(a, 50)),
        "p95": float(np.percentile(a, 95)),
        "p99": float(np.percentile(a, 99)),
        "mean": float(a.mean()),
        "max": float(a.max()),
    }


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
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch_threads": threads,
        "processor": platform.processor(),
        "libraries": versions,
    }


DEFAULT_ROUNDS = 3
STABILITY_MARGIN = 0.10  # rounds whose p50 intervals lie further apart than this share of the p50 are flagged

# encoder(rows) -> encoded queries; a job's stages(encoded by encoder key, rows) -> [(stage name, seconds), ...]
Encoder = Callable[[slice], Any]


@dataclass
class LatencyJob:
    """One run's query-time work: the shared encoders it needs (by key) and its own stages after encoding."""

    key: str
    encoders: list[str]
    stages: Callable[[dict[str, Any], slice], list[tuple[str, float]]]


def _timed(fn, *args) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn(*args)
    return value, time.perf_counter() - start


def measure_latency(
    n: int,
    encoders: dict[str, Encoder],
    jobs: list[LatencyJob],
    rounds: int = DEFAULT_ROUNDS,
    warmup: int = 5,
    batch_size: int = 100,
    settings: StatsSettings | None = None,
    advance: Callable[[int], None] | None = None,
) -> tuple[dict[str, dict], dict]:
    """Online and batch latency of every job over queries 0..n-1; returns ({job key: latency}, machine load).

    Online: each query alone through each encoder once, then through every job, in a job order that rotates each
    round. Batch: `batch_size` queries at a time, the same way. Stage samples are milliseconds.
    """
    settings = settings or StatsSettings()
    used = [name for name in encoders if any(name in job.encoders for job in jobs)]

    def one_pass(rows: slice, order: list[LatencyJob]) -> tuple[dict[str, float], dict[str, list[tuple[str, float]]]]:
        """These queries through each used encoder once, then through every job: (encoder seconds, job stages)."""
        encoded, seconds = {}, {}
        for name in used:
            encoded[name], seconds[name] = _timed(encoders[name], rows)
        return seconds, {job.key: job.stages(encoded, rows) for job in order}

    for i in range(min(warmup, n)):
        one_pass(slice(i, i + 1), jobs)
    encoder_ms = {name: np.zeros((rounds, n)) for name in used}
    stage_ms: dict[str, dict[str, np.ndarray]] = {job.key: {} for job in jobs}
    encoder_batch: dict[str, list[float]] = {name: [] for name in used}
    stage_batch: dict[str, dict[str, list[float]]] = {job.key: {} for job in jobs}
    size = min(batch_size, n)
    with LoadWatch() as watch:
        for r in range(rounds):
            order = jobs[r % len(jobs) :] + jobs[: r % len(jobs)] if jobs else []
            for i in range(n):
                encoder_s, stages = one_pass(slice(i, i + 1), order)
                for name, seconds in encoder_s.items():
                    encoder_ms[name][r, i] = 1000 * seconds
                for key, timed in stages.items():
                    for stage, seconds in timed:
                        stage_ms[key].setdefault(stage, np.zeros((rounds, n)))[r, i] += 1000 * seconds
                if advance:
                    advance(1)
            for start in range(0, n - size + 1, size) if size else []:
                encoder_s, stages = one_pass(slice(start, start + size), order)
                for name, seconds in encoder_s.items():
                    encoder_batch[name].append(seconds)
                for key, timed in stages.items():
                    for stage, seconds in timed:
                        stage_batch[key].setdefault(stage, []).append(seconds)
    load = watch.result()
    out = {}
    for job in jobs:
        online = {f"encode:{name}": encoder_ms[name] for name in job.encoders if name in encoder_ms} | stage_ms[job.key]
        batch = {f"encode:{name}": encoder_batch[name] for name in job.encoders if name in encoder_batch} | stage_batch[
            job.key
        ]
        out[job.key] = summarise_job(online, batch, size, batch_size, settings)
        if load.get("busy"):
            out[job.key]["busy"] = load["reason"]
    return out, load


def summarise_job(
    online: dict[str, np.ndarray],
    batch: dict[str, list[float]],
    queries_per_batch: int,
    batch_size: int,
    settings: StatsSettings,
) -> dict:
    """A run's latency from its stages' rounds × queries samples: per-stage and total percentiles, intervals,
    stability."""
    total = sum(online.values()) if online else np.zeros((1, 0))
    rounds, n = total.shape
    summary = {name: summarise(samples.ravel().tolist()) for name, samples in online.items()}
    summary["total"] = summarise(total.ravel().tolist())
    if n:
        summary["total"]["ci"] = percentile_intervals(total, settings)
    per_round = (
        [
            {
                "p50": float(np.percentile(total[r], 50)),
                "ci": percentile_intervals(total[r : r + 1], settings, (50,))["p50"],
            }
            for r in range(rounds)
        ]
        if n
        else []
    )
    stable, note = True, None
    if len(per_round) > 1:
        highest_low = max(per_round, key=lambda x: x["ci"][0])
        lowest_high = min(per_round, key=lambda x: x["ci"][1])
        # Beyond both intervals AND by a tenth of the median: sub-millisecond stages are timed so precisely that
        # a 3% drift between rounds is "significant" yet decides nothing.
        gap = highest_low["ci"][0] - lowest_high["ci"][1]
        if gap > 0 and gap > STABILITY_MARGIN * float(np.median([x["p50"] for x in per_round])):
            stable = False
            note = (
                f"rounds disagree: p50 {lowest_high['p50']:.2f} ms (interval up to {lowest_high['ci'][1]:.2f}) vs "
                f"{highest_low['p50']:.2f} ms (interval from {highest_low['ci'][0]:.2f})"
            )
    per_batch = {f"{name}_s_per_batch": float(np.median(values)) if values else None for name, values in batch.items()}
    seconds = sum(v for v in per_batch.values() if v is not None)
    return {
        "queries": n,
        "rounds": rounds,
        "online_ms": summary,
        "samples_ms": np.round(total, 4).tolist(),
        "rounds_p50_ms": per_round,
        "stable": stable,
        "stability_note": note,
        "batch": {
            **per_batch,
            "batch_size": batch_size,
            "queries_per_batch": queries_per_batch,
            "seconds_per_batch": seconds,
            "queries_per_s": queries_per_batch / seconds if seconds else None,
        },
    }


class LatencyPlan:
    """Runs waiting for latency: register encoders (shared by key) and each run's stages, then `measure` once."""

    def __init__(self, n_queries: int):
        self.n = n_queries
        self.encoders: dict[str, Encoder] = {}
        self.encoder_objects: list[Any] = []
        self.jobs: list[LatencyJob] = []
        self.runs: dict[str, dict] = {}
        self.closers: list[Callable[[], None]] = []

    def on_close(self, close: Callable[[], None]) -> None:
        """Release something a registered run needs until it is timed (an open index), when the plan is closed."""
        self.closers.append(close)

    def close(self) -> None:
        while self.closers:
            self.closers.pop()()

    def encoder(self, key: str, owner: Any, encode: Encoder) -> str:
        """Register a query encoder under `key`; the first registration wins, so runs naming the key share it."""
        if key not in self.encoders:
            self.encoders[key] = encode
            self.encoder_objects.append(owner)
        return key

    def add(
        self, run: dict, encoders: list[str], stages: Callable[[dict[str, Any], slice], list[tuple[str, float]]]
    ) -> None:
        key = f"run{len(self.jobs)}"
        self.jobs.append(LatencyJob(key, encoders, stages))
        self.runs[key] = run

    def measure(
        self, rounds: int = DEFAULT_ROUNDS, settings: StatsSettings | None = None, progress=None
    ) -> dict | None:
        """Time every registered run together and store `latency` in each; returns the machine load (None if idle)."""
        if not self.jobs or not self.n:
            return None
        from contextlib import ExitStack

        with ExitStack() as stack:
            for owner in self.encoder_objects:
                stack.enter_context(uncached(owner))
            advance = (
                progress(f"latency: {len(self.jobs)} runs, {rounds} rounds", rounds * self.n) if progress else None
            )
            latencies, load = measure_latency(
                self.n, self.encoders, self.jobs, rounds=rounds, settings=settings, advance=advance
            )
        for key, latency in latencies.items():
            self.runs[key]["latency"] = latency
        return load


class uncached:  # noqa: N801 - used as a context manager, named like contextlib's
    """Live query encoding for latency: a cached vector would time a disk read, not the model."""

    def __init__(self, encoder: Any):
        self.encoder, self.saved = encoder, getattr(encoder, "use_cache", None)

    def __enter__(self):
        if self.saved is not None:
            self.encoder.use_cache = False
        return self.encoder

    def __exit__(self, *exc) -> None:
        if self.saved is not None:
            self.encoder.use_cache = self.saved
