"""The live-index load benchmark's core (benchmarks/live_index.py): its ranking rule, its plan of changes, and a small
run against a real `embedproof serve --writable` subprocess."""

import pytest

from embedproof.datasets.loading import load_dataset
from tests.conftest import benchmark_module

pytest.importorskip("fastapi")
pytest.importorskip("httpx")


def _module():
    return benchmark_module("live_index")


def test_rankings_compare_by_score_with_ties_allowed_except_where_they_differ():
    same_ranking = _module().same_ranking
    ranked = [("a", 0.9), ("b", 0.5), ("c", 0.5), ("d", 0.1)]
    assert same_ranking(ranked, [("a", 0.9), ("c", 0.5), ("b", 0.5), ("d", 0.1)])  # a tie in another order
    assert same_ranking(ranked, [("a", 0.9), ("b", 0.5), ("c", 0.5), ("x", 0.1)])  # the last group is cut by top_k
    assert not same_ranking(ranked, [("a", 0.9), ("b", 0.5), ("x", 0.5), ("d", 0.1)])  # another document in a tie
    assert not same_ranking(ranked, [("a", 0.9), ("b", 0.5), ("c", 0.49), ("d", 0.1)])  # another score
    assert not same_ranking(ranked, ranked[:3])


def test_the_plan_splits_every_kind_between_http_and_another_process():
    live_index = _module()
    corpus = load_dataset("demo").corpus
    base, changes = live_index.plan_changes(corpus, adds=10, replaces=5, removes=5)
    assert len(base) == len(corpus) - 15
    kinds = [(c.kind, c.via) for c in changes]
    assert sorted(kinds).count(("add", "http")) == 5 and sorted(kinds).count(("add", "other")) == 5
    assert kinds.count(("replace", "http")) == 3 and kinds.count(("remove", "other")) == 2
    final = live_index.final_corpus(base, changes)
    assert len(final) == len(base) + 10 - 5
    replaced = [i for c in changes if c.kind == "replace" for i in c.docs]
    assert all(final[i].text != base[i].text and final[i].title == base[i].title for i in replaced)


@pytest.mark.slow
def test_a_small_live_run_has_no_errors_and_every_answer_equals_its_generation(tmp_path):
    report = _module().run(
        clients=4, seconds=1, adds=2, replaces=1, removes=1, gap_s=0.1, other="cli", workdir=tmp_path
    )
    assert report["ok"], report
    assert report["errors"] == 0 and report["answers_unequal_to_their_generation_offline"] == 0
    assert report["final"]["generation"] == 5 and report["final"]["queries_equal"] == report["final"]["queries"]
    assert {c["via"] for c in report["changes"]} == {"http", "cli"} and report["generations_answered"] >= 2
