from __future__ import annotations

import math

import pytest

from embedproof.evaluation.statistics import minimum_detectable_difference, queries_needed
from embedproof.judge.power import TIE_QUESTIONS, how_much_to_judge

NDCG_AT_2 = 1 / math.log2(3)  # the one relevant document at rank 2 (rank 1 gives 1.0)


def pools(n: int, b_second: list[bool]):
    """Set-up A always ranks the relevant document first; B ranks it second where `b_second`, else first."""
    rankings = {"A": {}, "B": {}}
    qrels = {}
    for i in range(n):
        q = f"q{i}"
        rankings["A"][q] = [f"{q}-rel", f"{q}-x", f"{q}-y"]
        rankings["B"][q] = [f"{q}-x", f"{q}-rel", f"{q}-y"] if b_second[i] else list(rankings["A"][q])
        qrels[q] = {f"{q}-rel": 2, f"{q}-x": 0, f"{q}-y": 0}
    return rankings, qrels


def test_too_few_questions_say_so():
    rankings, qrels = pools(1, [True])
    assert how_much_to_judge(rankings, qrels)["verdict"].startswith("finish at least two questions")


def test_the_mdd_and_the_questions_still_needed_are_the_bench_power_analysis():
    flags = [True, False, True, False, False, True, False, False]
    rankings, qrels = pools(len(flags), flags)
    out = how_much_to_judge(rankings, qrels, target=0.05)
    diffs = [1 - NDCG_AT_2 if f else 0.0 for f in flags]
    mean = sum(diffs) / len(diffs)
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (len(diffs) - 1))
    assert out["difference"] == pytest.approx(mean)
    assert out["mdd"] == pytest.approx(minimum_detectable_difference(sd, len(flags)))
    assert out["more_questions"] == queries_needed(sd, 0.05) - len(flags)
    assert out["apart"] is False and out["verdict"].startswith("not yet enough")
    assert f"about {out['more_questions']} more questions" in out["verdict"]


def test_enough_when_one_set_up_wins_every_question():
    flags = [True] * 10
    rankings, qrels = pools(10, flags)
    rankings["B"]["q0"] = ["q0-x", "q0-y", "q0-rel"]  # a spread, so the test has a standard deviation
    out = how_much_to_judge(rankings, qrels)
    assert out["apart"] is True and out["p_value"] < 0.05 and out["verdict"].startswith("enough to tell")
    assert out["leading"] == ["A", "B"]


def test_identical_set_ups_are_as_good_as_tied():
    rankings, qrels = pools(TIE_QUESTIONS, [False] * TIE_QUESTIONS)
    out = how_much_to_judge(rankings, qrels)
    assert out["mdd"] == 0.0 and out["apart"] is False and "as good as tied" in out["verdict"]


def test_a_zero_spread_from_a_few_questions_is_not_a_tie():
    """Two questions with the same difference give an MDD of 0: too few to trust, so not yet enough."""
    rankings, qrels = pools(2, [False, False])
    out = how_much_to_judge(rankings, qrels)
    assert out["mdd"] == 0.0 and out["apart"] is False
    assert out["verdict"] == (
        "not yet enough: 2 questions say little about how much the difference varies (MDD 0.000 so far); "
        "finish at least 10 to estimate it"
    )
