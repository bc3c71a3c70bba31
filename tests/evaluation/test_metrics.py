import math

import pytest

from embedproof.evaluation.metrics import evaluate_run, write_trec_run
from embedproof.search.dense import run_from_indices

LOG2 = math.log2


@pytest.fixture
def case():
    qrels = {"q1": {"d1": 2, "d2": 1, "d4": 0}, "q2": {"d5": 1}, "q3": {"d6": 1}}
    run = {
        "q1": {"d3": 0.9, "d1": 0.8, "d2": 0.7},
        # the only relevant document sits at rank 11: outside every @10 cut, inside @100
        "q2": {**{f"x{i}": 1.0 - i / 100 for i in range(10)}, "d5": 0.5},
        # q3 is judged but the system returned nothing: it must count as zero, not vanish
        "unjudged": {"d1": 1.0},
    }
    return qrels, run


def test_hand_computed_values(case):
    means, per_query = evaluate_run(*case)
    # trec_eval nDCG: linear gain (the qrels grade), discount log2(rank + 1)
    dcg = 2 / LOG2(3) + 1 / LOG2(4)
    idcg = 2 / LOG2(2) + 1 / LOG2(3)
    assert per_query["q1"]["ndcg@10"] == pytest.approx(dcg / idcg, abs=1e-6)
    assert per_query["q1"]["mrr@10"] == pytest.approx(0.5)
    assert per_query["q1"]["recall@10"] == pytest.approx(1.0)
    assert per_query["q1"]["map@100"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert per_query["q2"] == pytest.approx(
        {"ndcg@10": 0.0, "mrr@10": 0.0, "recall@10": 0.0, "recall@100": 1.0, "map@100": 1 / 11}
    )
    assert per_query["q3"] == {name: 0.0 for name in means}
    assert "unjudged" not in per_query
    assert means["ndcg@10"] == pytest.approx(dcg / idcg / 3)
    assert means["mrr@10"] == pytest.approx(0.5 / 3)
    assert means["recall@100"] == pytest.approx(2 / 3)


def test_graded_qrels_change_ndcg_against_binary():
    run = {"q": {"a": 3.0, "b": 2.0}}
    graded, _ = evaluate_run({"q": {"a": 1, "b": 3}}, run)
    binary, _ = evaluate_run({"q": {"a": 1, "b": 1}}, run)
    assert binary["ndcg@10"] == pytest.approx(1.0)
    assert graded["ndcg@10"] == pytest.approx((1 + 3 / LOG2(3)) / (3 + 1 / LOG2(3)))


def test_run_from_indices_and_trec_file(tmp_path):
    run = run_from_indices(["q1", "q2"], ["a", "b", "c"], [[2, 0], [1, 2]], [[0.9, 0.5], [0.7, 0.1]])
    assert run == {"q1": {"c": 0.9, "a": 0.5}, "q2": {"b": 0.7, "c": 0.1}}
    path = write_trec_run(run, tmp_path / "x.trec", tag="my model/v1")
    assert path.read_text().splitlines() == [
        "q1 Q0 c 1 0.900000 my_model_v1",
        "q1 Q0 a 2 0.500000 my_model_v1",
        "q2 Q0 b 1 0.700000 my_model_v1",
        "q2 Q0 c 2 0.100000 my_model_v1",
    ]


# A judged pool: every query has 5+ judgments, some of them grade 0 (judged not relevant).
POOL = {
    "q1": {"d1": 2, "d2": 0, "d3": 1, "d4": 0, "d5": 0},
    "q2": {"e1": 1, "e2": 0, "e3": 0, "e4": 0, "e5": 2},
}
POOL_RUN = {
    # q1: unjudged u1 at rank 1 and u2 at rank 3 push the judged documents down
    "q1": {"u1": 0.99, "d2": 0.9, "u2": 0.8, "d1": 0.7, "d3": 0.6, "u3": 0.5},
    # q2: 10 unjudged documents first, then every judged one (outside the top 10)
    "q2": {**{f"v{i}": 1.0 - i / 100 for i in range(10)}, "e5": 0.5, "e1": 0.4},
}


def test_judged_at_10_hand_checked():
    from embedproof.evaluation.metrics import JUDGED, judged_at, pooled

    assert pooled(POOL) and not pooled({"q": {"a": 1, "b": 0}}) and not pooled({"q": {f"d{i}": 1 for i in range(9)}})
    # q1: 6 documents retrieved, 3 of them judged (d2, d1, d3): 3 of 10; q2: none of its top 10 judged
    assert judged_at(POOL, POOL_RUN) == {"q1": 0.3, "q2": 0.0}
    means, per_query = evaluate_run(POOL, POOL_RUN)
    assert per_query["q1"][JUDGED] == pytest.approx(0.3) and means[JUDGED] == pytest.approx(0.15)
    assert JUDGED not in evaluate_run({"q": {"a": 1}}, {"q": {"a": 1.0}})[0]  # not a pool: not reported


def test_condensed_ndcg_equals_pytrec_eval_on_a_hand_condensed_run():
    import pytrec_eval

    hand = {  # the runs above with every unjudged document removed, written out by hand
        "q1": {"d2": 0.9, "d1": 0.7, "d3": 0.6},
        "q2": {"e5": 0.5, "e1": 0.4},
    }
    reference = pytrec_eval.RelevanceEvaluator(POOL, {"ndcg_cut.10"}).evaluate(hand)
    means, per_query = evaluate_run(POOL, POOL_RUN, condensed=True)
    for qid in POOL:
        assert per_query[qid]["ndcg@10"] == pytest.approx(reference[qid]["ndcg_cut_10"], abs=1e-9)
    # and by hand for q1: d2 (0), d1 (2), d3 (1) against the ideal 2, 1
    assert per_query["q1"]["ndcg@10"] == pytest.approx((2 / LOG2(3) + 1 / LOG2(4)) / (2 + 1 / LOG2(3)))
    # uncondensed, q2 scores 0 (its judged documents sit below rank 10); condensed, they are ranks 1 and 2
    assert evaluate_run(POOL, POOL_RUN)[1]["q2"]["ndcg@10"] == 0.0 and per_query["q2"]["ndcg@10"] > 0.9
    assert per_query["q2"]["judged@10"] == 0.0  # judged@10 is of the run as retrieved, not the condensed one


def test_low_judged_share_warns_and_condensing_a_non_pool_is_refused():
    from embedproof.errors import InvalidInputError
    from embedproof.evaluation.metrics import judged_warning

    means = evaluate_run(POOL, POOL_RUN)[0]
    (warning,) = judged_warning(means)
    assert (
        warning.startswith("judged@10 is 15%: 85% of this run's top 10 was never judged") and "lower bound" in warning
    )
    assert judged_warning({"judged@10": 0.8}) == [] and judged_warning(means, condensed=True) == []
    assert judged_warning({"ndcg@10": 0.5}) == []
    with pytest.raises(InvalidInputError, match="--condensed: these judgments are not a judged pool"):
        evaluate_run({"q": {"a": 1}}, {"q": {"a": 1.0}}, condensed=True)
