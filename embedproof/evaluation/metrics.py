"""Retrieval metrics through pytrec_eval, the trec_eval bindings BEIR and MTEB use, so numbers are comparable.

MRR@10 is trec_eval's `recip_rank` over each run cut to its 10 best documents (trec_eval itself has no cut
for it). Means are over every judged query: a judged query the run has nothing for scores 0, instead of
being silently dropped as trec_eval would do.

Pooled judgments (a person judged the pooled top documents of some runs, as TREC and `embedproof judge` do) leave
documents no one judged; every metric counts them as not relevant, so a run that retrieves many scores a lower
bound. Qrels that record judged non-relevant documents (grade 0) and average `POOL_DEPTH` or more judgments a
query are taken as pooled (a pool judges several documents per question, where a collection that marks a few
near misses, such as the demo, does not): then every run also gets
`judged@10`, the share of its top 10 that has a judgment (P@10 with every judged document relevant, as
ir_measures' Judged@10), and under `JUDGED_ENOUGH` a warning. `condensed=True` scores condensed lists instead
(unjudged documents removed before scoring: trec_eval's `-J`, Sakai's condensed-list metrics); qrels listing only
relevant documents (SciFact, most of BEIR) are not pooled in this sense and condensing them would remove every
non-relevant document, so it is refused for them.
"""

from __future__ import annotations

import os
from pathlib import Path

from embedproof.errors import InvalidInputError
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


JUDGED = "judged@10"
POOL_DEPTH = 5  # judgments per query of the smallest pool worth the name: `judge`'s default top 5 of one set-up
# Below this share of judged top-10 documents a score says more about the pool than about the run.
JUDGED_ENOUGH = 0.8


def pooled(qrels: Qrels) -> bool:
    """Are these judgments a judged pool: non-relevant documents recorded, `POOL_DEPTH`+ judgments a query?"""
    judgments = sum(len(judged) for judged in qrels.values())
    non_relevant = any(grade <= 0 for judged in qrels.values() for grade in judged.values())
    return non_relevant and judgments >= POOL_DEPTH * len(qrels)


def condense(qrels: Qrels, run: Run) -> dict[str, dict[str, float]]:
    """`run` with every document its query has no judgment for removed (the ranks of the rest close up)."""
    return {qid: {doc: score for doc, score in docs.items() if doc in qrels.get(qid, {})} for qid, docs in run.items()}


def judged_at(qrels: Qrels, run: Run, depth: int = 10) -> dict[str, float]:
    """Per judged query: the share of the run's top `depth` (trec_eval order) that has a judgment, over `depth`."""
    cut = _cut(run, depth)
    return {qid: sum(doc in judged for doc in cut.get(qid, {})) / depth for qid, judged in qrels.items()}


def judged_warning(metrics: dict[str, float], condensed: bool = False) -> list[str]:
    """The warning a run with too little of its top 10 judged carries (none on condensed lists: none is counted)."""
    share = metrics.get(JUDGED)
    if share is None or share >= JUDGED_ENOUGH or condensed:
        return []
    return [
        f"judged@10 is {share:.0%}: {1 - share:.0%} of this run's top 10 was never judged and counts as not relevant, "
        "so its scores are lower bounds; judge those documents, or score condensed lists (--condensed)"
    ]


def _cut(run: Run, depth: int) -> dict[str, dict[str, float]]:
    # Same order as trec_eval: score descending, then document id descending for ties.
    return {
        qid: dict(sorted(docs.items(), key=lambda item: (item[1], item[0]), reverse=True)[:depth])
        for qid, docs in run.items()
    }


def evaluate_run(
    qrels: Qrels, run: Run, metrics: list[str] | None = None, condensed: bool = False
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """(mean per metric, per-query values) for `run` against graded `qrels`.

    By default every metric in `METRICS`, and `judged@10` when the qrels are pooled; `condensed` scores the run
    with its unjudged documents removed (judged@10 is always of the run as retrieved).
    """
    import pytrec_eval

    names = metrics or list(METRICS) + ([JUDGED] if pooled(qrels) else [])
    if condensed and not pooled(qrels):
        raise InvalidInputError(
            f"--condensed: these judgments are not a judged pool (judged non-relevant documents, grade 0, and "
            f"{POOL_DEPTH}+ judgments a query); condensing them would drop the non-relevant documents no one judged"
        )
    qrels = {qid: {doc: int(score) for doc, score in judged.items()} for qid, judged in qrels.items()}
    run = {qid: {doc: float(score) for doc, score in docs.items()} for qid, docs in run.items() if qid in qrels}
    per_query: dict[str, dict[str, float]] = {qid: {name: 0.0 for name in names} for qid in qrels}
    if JUDGED in names:
        for qid, share in judged_at(qrels, run).items():
            per_query[qid][JUDGED] = share
    if condensed:
        run = condense(qrels, run)
    by_cut: dict[int | None, list[str]] = {}
    for name in names:
        if name != JUDGED:
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
