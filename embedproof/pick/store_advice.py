"""When exact search stops being the right store: the measured crossover to the Qdrant Edge engine (ANN).

The numbers are `benchmarks/scale_edge.py`'s single-query p99 over real all-MiniLM-L6-v2 vectors (384 dims) on the
2-core AMD EPYC this project is measured on, with nothing else running (load average about 2: the benchmark's own
two threads; docs/edge.md, "Scale"). They are evidence for a stated recommendation, never a silent switch: the
embedded exact store stays the default, and `embedproof bench` on the user's machine is what decides.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# corpus size → single-query p99 (ms) measured by benchmarks/scale_edge.py (docs/edge.md)
EXACT_P99_MS = {1_000: 0.067, 3_000: 0.107, 10_000: 0.288, 100_000: 8.852, 1_000_000: 112.38}
# the engine's int8 HNSW (ef 128, oversampling 4, float32 rescoring): p99 ms and recall@10 against exact search;
# below its indexing threshold (about 6,600 vectors) the engine compares every vector, slower than numpy
EDGE_INT8_P99_MS = {1_000: 0.110, 3_000: 0.369, 10_000: 0.215, 100_000: 0.488, 1_000_000: 0.872}
EDGE_INT8_RECALL = {1_000: 1.0, 3_000: 1.0, 10_000: 0.999, 100_000: 0.991, 1_000_000: 0.965}
# the smallest measured size at which exact search's p99 exceeds the engine's: below it, exact search is faster
CROSSOVER = min(size for size in EXACT_P99_MS if EXACT_P99_MS[size] > EDGE_INT8_P99_MS[size])
EDGE_FLAGS = "--backend edge --edge-quantization int8 --edge-ef 128"


@dataclass(frozen=True)
class StoreAdvice:
    store: str  # "embedded" or "edge"
    reason: str


def exact_p99_ms(vectors: int) -> float:
    """Exact search's single-query p99 at `vectors`, log-log interpolated between the measured sizes (and
    extrapolated with the nearest measured slope outside them)."""
    sizes = sorted(EXACT_P99_MS)
    i = next((k for k, size in enumerate(sizes) if size >= vectors), len(sizes) - 1)
    low, high = sizes[max(i, 1) - 1], sizes[max(i, 1)]
    slope = math.log(EXACT_P99_MS[high] / EXACT_P99_MS[low]) / math.log(high / low)
    return EXACT_P99_MS[low] * (max(vectors, 1) / low) ** slope


def _nearest(table: dict[int, float], vectors: int) -> tuple[int, float]:
    size = min(table, key=lambda s: abs(math.log(s / max(vectors, 1))))
    return size, table[size]


def store_advice(vectors: int, latency_ms: float | None = None) -> StoreAdvice:
    """Exact (embedded) or ANN (Qdrant Edge) for a corpus of `vectors`, with the measurement behind it."""
    if vectors < CROSSOVER:
        below = max(size for size in EXACT_P99_MS if size < CROSSOVER)
        return StoreAdvice(
            "embedded",
            f"{vectors:,} vectors: exact search (the embedded store) is the default below {CROSSOVER:,}, the "
            f"smallest size measured where the engine's p99 beat it ({EDGE_INT8_P99_MS[CROSSOVER]:g} vs "
            f"{EXACT_P99_MS[CROSSOVER]:g} ms); below it exact search is faster ({EXACT_P99_MS[below]:g} vs "
            f"{EDGE_INT8_P99_MS[below]:g} ms at {below:,}) and needs no approximation",
        )
    size, edge_p99 = _nearest(EDGE_INT8_P99_MS, vectors)
    exact = exact_p99_ms(vectors)
    measured = (
        f"measured on 2 quiet cores: exact p99 ≈ {exact:,.3g} ms at {vectors:,} vectors (interpolated from "
        f"{', '.join(f'{v:g} ms at {s:,}' for s, v in EXACT_P99_MS.items())}), the engine's int8 HNSW "
        f"p99 {edge_p99:g} ms at recall@10 {EDGE_INT8_RECALL[size]:g} at {size:,}"
    )
    if latency_ms is not None and exact <= latency_ms:
        return StoreAdvice(
            "embedded",
            f"exact search fits the {latency_ms:g} ms budget ({measured}); switch to "
            f"`{EDGE_FLAGS}` when it no longer does",
        )
    return StoreAdvice(
        "edge",
        f"consider the Qdrant Edge engine (`index build {EDGE_FLAGS}`): {measured}; bench "
        "both on your machine before switching",
    )
