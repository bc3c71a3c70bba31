"""What a bench concludes, in two to four sentences: the best set-up, which are tied with it and what that means,
what would tell them apart, and the command to run next.

Data only (sentences as plain strings with `code` marks); the CLI prints them after the tables.
"""

from __future__ import annotations

from embedproof.evaluation.evidence import tie_status
from embedproof.evaluation.pareto import run_name
from embedproof.evaluation.run_result import RunResult
from embedproof.evaluation.statistics import queries_needed
from embedproof.evaluation.truncation import MATERIAL_SHARE

__all__ = ["conclusion", "PRACTICAL_QUERIES"]

# Past this many times the judged queries, separating two tied runs is not worth judging for: they are equivalent
# for practical purposes, and cost decides.
PRACTICAL_QUERIES = 10


def _needed(run: RunResult, alpha: float, power: float) -> int | None:
    """Judged queries a paired test would need to tell this tied run from the best (None when Δ is 0 or unknown)."""
    vs = run.get("vs_best") or {}
    if vs.get("sd") is None or vs.get("diff") is None:
        return None
    return queries_needed(vs["sd"], vs["diff"], alpha, power)


def _truncated(runs: list[RunResult]) -> RunResult | None:
    """The unchunked run whose window cuts the most documents, when that share is material and no run chunked."""
    if any(r.get("chunking") or r.get("chunk_tokens") for r in runs):
        return None
    cut = [r for r in runs if (r.get("truncation") or {}).get("share_over_window", 0.0) >= MATERIAL_SHARE]
    return max(cut, key=lambda r: r["truncation"]["share_over_window"], default=None)


def conclusion(results: dict, output: str = "results.json") -> list[str]:
    """Two to four sentences: best, ties and their meaning, what would separate them, the next command."""
    runs = results.get("runs") or []
    if not runs:
        return []
    power = results.get("power") or {}
    stats = results.get("statistics") or {}
    alpha, level = stats.get("alpha", 0.05), stats.get("power", 0.8)
    queries = power.get("queries") or (results.get("dataset") or {}).get("judged_queries")
    best = next((r for r in runs if tie_status(r) == "best"), None)
    if best is None:  # no per-query scores: the highest point estimate, untested
        best = max(runs, key=lambda r: r["metrics"]["ndcg@10"])
        lines = [
            f"Best: `{run_name(best)}` (nDCG@10 {best['metrics']['ndcg@10']:.4f}), by point estimate only: "
            "no per-query scores, so ties were not tested."
        ]
    else:
        ci = (best.get("intervals") or {}).get("ndcg@10")
        interval = f" [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else ""
        lines = [f"Best: `{run_name(best)}` (nDCG@10 {best['metrics']['ndcg@10']:.4f}{interval})."]
        tied = [r for r in runs if tie_status(r) == "tied"]
        if len(runs) == 1:
            pass
        elif not tied:
            lines.append(
                f"Every other run is significantly worse on {queries} judged queries (paired test, Holm): "
                "the best one wins on this evidence."
            )
        else:
            names = ", ".join(f"`{run_name(r)}`" for r in tied[:3])
            names += f" and {len(tied) - 3} more" if len(tied) > 3 else ""
            lines.append(
                f"Tied with it: {names}: the differences are within what {queries} judged queries can tell from "
                "chance, so on this evidence they are as good, and cost and latency decide."
            )
            needs = [n for n in (_needed(r, alpha, level) for r in tied) if n]
            if needs and queries and min(needs) <= PRACTICAL_QUERIES * queries:
                lines.append(
                    f"To tell them apart: about {min(needs):,} judged queries ({level:.0%} power, from the paired "
                    "differences seen); judge more with `embedproof judge`, or bench a larger qrels split."
                )
            elif needs:
                lines.append(
                    f"Telling them apart would take about {min(needs):,} judged queries: the differences are too "
                    "small to matter, so choose on cost."
                )
    cut = _truncated(runs)
    if cut is not None:
        share, window = cut["truncation"]["share_over_window"], cut["truncation"]["window"]
        step = (
            f"Next: {share:.0%} of documents exceed `{cut['model']}`'s {window}-token window, so bench again with "
            f"`--chunk-tokens {window - 2}` (room for the two special tokens); "
            f"then `embedproof pick --results {output}`."
        )
    else:
        step = (
            f"Next: `embedproof pick --results {output} --latency-ms MS --storage-gb GB` chooses under your budgets; "
            f"`embedproof report {output}` draws the plots."
        )
    return (lines + [step])[:4]
