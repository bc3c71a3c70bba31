"""When exact search stops being the right store: the measured crossover to the Qdrant Edge engine (ANN).

The numbers are `benchmarks/scale_edge.py`'s single-query p99 over real all-MiniLM-L6-v2 vectors (384 dims) on the
2-core AMD EPYC this project is measured on, under load (docs/edge.md, "Scale"). They are evidence for a stated
recommendation, never a silent switch: the embedded exact store stays the default, and `embedproof bench` on the
user's machine is what decides.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# corpus size → single-query p99 (ms) measured by benchmarks/scale_edge.py (docs/edge.md)
EXACT_P99_MS = {10_000: 24.37, 100_000: 37.90, 1_000_000: 400.26}
# the engine's int8 HNSW (ef 128, oversampling 4, float32 rescoring): p99 ms and recall@10 against exact search
EDGE_INT8_P99_MS = {10_000: 1.57, 100_000: 0.31, 1_000_000: 0.93}
EDGE_INT8_RECALL = {10_000: 0.999, 100_000: 0.993, 1_000_000: 0.972}
# below the smallest size measured, exact search stays the store (its whole corpus is a few MB of vectors)
SMALLEST_MEASURED = min(EXACT_P99_MS)
EDGE_FLAGS = "--backend edge --edge-quantization int8 --edge-ef 128"


@dataclass(frozen=True)
class StoreAdvice:
    store: str  # "embedded" or "edge"
    reason: str


def exact_p99_ms(vectors: int) -> float:
    """Exact search's single-query p99 at `vectors`, log-log interpolated between the measured sizes (and
    extrapolated with the nearest measured slope outside them)."""
    sizes = sorted(EXACT_P99_MS)
    low, high = (sizes[0], sizes[1]) if vectors <= sizes[1] else (sizes[-2], sizes[-1])
    slope = math.log(EXACT_P99_MS[high] / EXACT_P99_MS[low]) / math.log(high / low)
    return EXACT_P99_MS[low] * (max(vectors, 1) / low) ** slope


def _nearest(table: dict[int, float], vectors: int) -> tuple[int, float]:
    size = min(table, key=lambda s: abs(math.log(s / max(vectors, 1))))
    return size, table[size]


def store_advice(vectors: int, latency_ms: float | None = None) -> StoreAdvice:
    """Exact (embedded) or ANN (Qdrant Edge) for a corpus of `vectors`, with the measurement behind it."""
    if vectors < SMALLEST_MEASURED:
        return StoreAdvice(
            "embedded",
            f"{vectors:,} vectors: exact search (the embedded store) is the default below "
            f"{SMALLEST_MEASURED:,}, where no approximation is needed",
        )
    size, edge_p99 = _nearest(EDGE_INT8_P99_MS, vectors)
    exact = exact_p99_ms(vectors)
    measured = (
        f"measured on 2 shared cores: exact p99 ≈ {exact:,.0f} ms at {vectors:,} vectors (interpolated from "
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
