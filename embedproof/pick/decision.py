"""The decision a report leads with: the evidence pick without budgets, in the picker's own words (Markdown)."""

from __future__ import annotations

import copy

from embedproof.pick import evidence


def decision_markdown(results: dict) -> str:
    """What `embedproof pick` would say of `results` (a results.json dict) with no latency or storage budget."""
    documents = int((results.get("dataset") or {}).get("documents") or 0)
    return evidence.evidence_markdown(evidence.pick_from_results(copy.deepcopy(results), None, None, documents))
