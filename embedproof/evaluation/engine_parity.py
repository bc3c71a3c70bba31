"""Comparing the Qdrant store's rankings with the embedded store's: what "the same top 10" means when scores tie.

The embedded pipeline breaks score ties by document id; Qdrant by its own internal order. RRF ties are common
(rank 3 + rank 5 scores the same as rank 5 + rank 3), so two correct implementations can list tied documents
in a different order, or keep a different one of several documents tied at the cut-off. `agree_up_to_ties` accepts
exactly that and nothing more. `positive` keeps the documents with a score above zero (both stores return only
documents that share a query term; `positive` guards a comparison against runs made before that was so).
"""

from __future__ import annotations

from collections.abc import Sequence

Ranking = Sequence[tuple[str, float]]


def positive(ranking: Ranking) -> list[tuple[str, float]]:
    """Documents with a score above zero (a sparse score of 0 means no query term matched)."""
    return [(d, s) for d, s in ranking if s > 0]


def agree_up_to_ties(a: Ranking, b: Ranking, tol: float = 1e-6) -> bool:
    """Same length, scores equal within `tol` position by position, and each group of tied scores holds the same
    documents — except the last group, which the cut-off may have split differently on each side."""
    if len(a) != len(b) or any(abs(x[1] - y[1]) > tol for x, y in zip(a, b)):
        return False
    start = 0
    for i in range(1, len(a) + 1):
        if i == len(a) or abs(a[i][1] - a[start][1]) > tol:
            if i < len(a) and {d for d, _ in a[start:i]} != {d for d, _ in b[start:i]}:
                return False
            start = i
    return True


def judged_subset(corpus: dict, qrels: dict[str, dict[str, int]], limit: int | None) -> tuple[dict, list[str]]:
    """The first `limit` documents in corpus order after every judged-relevant one, and the queries judged on them.

    Keeping all relevant documents makes a subset's queries meaningful (each still has its answers in the corpus).
    """
    if limit is None or limit >= len(corpus):
        return corpus, list(qrels)
    judged = {d for grades in qrels.values() for d, grade in grades.items() if grade > 0}
    keep = set([d for d in corpus if d in judged][:limit])
    for doc in corpus:
        if len(keep) >= limit:
            break
        keep.add(doc)
    subset = {d: corpus[d] for d in corpus if d in keep}
    queries = [q for q, judged in qrels.items() if all(d in subset for d, g in judged.items() if g > 0)]
    return subset, queries
