"""Retrieval metrics through pytrec_eval, the trec_eval bindings BEIR and MTEB use, so numbers are comparable.

MRR@10 is trec_eval's `recip_rank` over each run cut to its 10 best documents (trec_eval itself has no cut
for it). Means are over every judged query: a judged query the run has nothing for scores 0, instead of
being silently dropped as trec_eval would do.
"""

from __future__ import annotations

import os
from pathlib import Path

from embedproof.files import atomic_open
from embedproof.types import Qrels, Run

# Our name → (pytrec_eval measure, result key, rank cut applied to the run first)
METRICS: dict[str, tuple[str, str, int | None]] = {
    "ndcg@10": ("ndcg_cut.10", "ndcg_cut_10", None),
    "mrr@10": ("recip_rank", "recip_rank", 10),
    "recall@10": ("recall.10", "recall_10", None),
    "recall@100": ("recall.100", "recall_100", None),
    "map@100": ("map_cut.100", "map_cut_100", None),
}


def _cut(run: Run, depth: int) -> dict[str, dict[str, float]]:
    # Same order as trec_eval: score descending, then document id descending for ties.
    return {
        qid: dict(sorted(docs.items(), key=lambda item: (item[1], item[0]), reverse=True)[:depth])
        for qid, docs in run.items()
    }


def evaluate_run(
    qrels: Qrels, run: Run, metrics: list[str] | None = None
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """(mean per metric, per-query values) for `run` against graded `qrels`."""
    import pytrec_eval

    names = metrics or list(METRICS)
    qrels = {qid: {doc: int(score) for doc, score in judged.items()} for qid, judged in qrels.items()}
    run = {qid: {doc: float(score) for doc, score in docs.items()} for qid, docs in run.items() if qid in qrels}
    per_query: dict[str, dict[str, float]] = {qid: {name: 0.0 for name in names} for qid in qrels}
    by_cut: dict[int | None, list[str]] = {}
    for name in names:
        by_cut.setdefault(METRICS[name][2], []).append(name)
    for cut, group in by_cut.items():
        evaluator = pytrec_eval.RelevanceEvaluator(qrels, {METRICS[n][0] for n in group})
        scored = evaluator.evaluate(_cut(run, cut) if cut else run)
        for qid, values in scored.items():
            for name in group:
                per_query[qid][name] = float(values[METRICS[name][1]])
    count = len(per_query) or 1
    means = {name: sum(q[name] for q in per_query.values()) / count for name in names}
    return means, per_query


def write_trec_run(run: Run, path: str | os.PathLike, tag: str) -> Path:
    """Write a TREC run file (`qid Q0 docid rank score tag`), usable with trec_eval and ranx."""
    tag = "".join(c if c.isalnum() or c in "-_.@" else "_" for c in tag) or "run"
    with atomic_open(path, "w", encoding="utf-8") as handle:
        for qid, docs in run.items():
            ranked = sorted(docs.items(), key=lambda item: (-item[1], item[0]))
            for rank, (doc, score) in enumerate(ranked, start=1):
                handle.write(f"{qid} Q0 {doc} {rank} {score:.6f} {tag}\n")
    return Path(path)
