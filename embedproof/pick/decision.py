"""The decision a report leads with: the evidence pick under `pick`'s budgets (none by default), in the picker's own
words (Markdown)."""

from __future__ import annotations

import copy

from embedproof.pick import evidence


def decision_markdown(
    results: dict, latency_ms: float | None = None, storage_gb: float | None = None, vectors: int | None = None
) -> str:
    """What `embedproof pick` would say of `results` (a results.json dict) under these budgets (its first line
    states them): a p99 budget in ms, a storage budget in GiB for `vectors` vectors (default: the bench's
    documents)."""
    documents = int((results.get("dataset") or {}).get("documents") or 0)
    chosen = evidence.pick_from_results(copy.deepcopy(results), latency_ms, storage_gb, vectors or documents)
    return evidence.evidence_markdown(chosen)
