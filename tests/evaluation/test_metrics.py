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
