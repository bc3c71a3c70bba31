"""How much to judge: after each finished question, can the judgments tell the two leading set-ups apart?

Each set-up is scored on every finished question by nDCG@10 of its pooled top k (k = the pool depth; a skipped
document counts as unjudged, i.e. not relevant). The two set-ups with the highest means are compared by the
paired test and power analysis bench prints (`evaluation/statistics.py`): the minimum detectable difference (MDD)
at 80% power, and the questions a paired test needs for the MDD to fall under the target.

A handful of questions says little about how much the difference varies: two questions with the same difference
give a spread, and so an MDD, of 0. So "as good as tied" waits for `TIE_QUESTIONS` finished questions.
"""

from __future__ import annotations

from embedproof.evaluation.metrics import evaluate_run
from embedproof.evaluation.statistics import StatsSettings, paired_test, queries_needed

__all__ = ["TIE_QUESTIONS", "how_much_to_judge"]

TIE_QUESTIONS = 10  # finished questions before a small MDD is trusted enough to call the leading set-ups tied


def _scores(rankings: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> dict[str, dict[str, float]]:
    """Set-up → question → nDCG@10 of its top k on the judged questions."""
    out: dict[str, dict[str, float]] = {}
    for name, by_question in rankings.items():
        run = {
            q: {d: float(len(docs) - r) for r, d in enumerate(docs)} for q, docs in by_question.items() if q in qrels
        }
        _, per_query = evaluate_run(qrels, run, ["ndcg@10"])
        out[name] = {q: per_query.get(q, {}).get("ndcg@10", 0.0) for q in run}
    return out


def how_much_to_judge(
    rankings: dict[str, dict[str, list[str]]],
    qrels: dict[str, dict[str, int]],
    target: float = 0.05,
    settings: StatsSettings = StatsSettings(),
) -> dict:
    """The power summary the page shows: leading set-ups, their difference, the MDD, questions still needed.

    `rankings` maps set-up → question → its pooled top k; `qrels` holds the finished questions' grades.
    `verdict` is one sentence; `apart` says whether the paired test separates the leading two at `alpha`.
    """
    finished = sorted(qrels)
    if len(rankings) < 2:
        return {"questions": len(finished), "verdict": "one set-up only: nothing to tell apart", "apart": None}
    if len(finished) < 2:
        return {
            "questions": len(finished),
            "verdict": "finish at least two questions to estimate how many more are needed",
            "apart": None,
        }
    scores = _scores(rankings, qrels)
    means = {name: sum(s[q] for q in finished) / len(finished) for name, s in scores.items()}
    first, second = sorted(means, key=lambda n: (-means[n], n))[:2]
    test = paired_test([scores[first][q] for q in finished], [scores[second][q] for q in finished], settings)
    needed = queries_needed(test.sd, target, settings.alpha, settings.power)
    more = max(0, (needed or 0) - test.n)
    apart = test.p_value < settings.alpha
    if apart:
        verdict = (
            f"enough to tell the leading set-ups apart: they differ by {test.diff:.3f} nDCG@10 "
            f"(p = {test.p_value:.3f} on {test.n} questions)"
        )
    elif test.n < TIE_QUESTIONS:
        spread = (
            f"about {more} more questions should bring that under {target:g}"
            if test.sd > 0 and test.mdd > target
            else f"finish at least {TIE_QUESTIONS} to estimate it"
        )
        verdict = (
            f"not yet enough: {test.n} questions say little about how much the difference varies (MDD "
            f"{test.mdd:.3f} so far); {spread}"
        )
    elif test.mdd <= target:
        verdict = (
            f"the leading set-ups differ by {test.diff:.3f}, below what {test.n} questions can detect "
            f"({test.mdd:.3f}, already under the target {target:g}): they are as good as tied"
        )
    else:
        verdict = (
            f"not yet enough: differences under {test.mdd:.3f} cannot be told from chance; "
            f"about {more} more questions should bring that under {target:g}"
        )
    return {
        "questions": test.n,
        "leading": [first, second],
        "means": [means[first], means[second]],
        "difference": test.diff,
        "p_value": test.p_value,
        "mdd": test.mdd,
        "target": target,
        "more_questions": more,
        "apart": apart,
        "verdict": verdict,
    }
