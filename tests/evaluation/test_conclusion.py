"""The bench's closing sentences, on hand-built evidence: best, ties and what they mean, what separates them, next."""

from __future__ import annotations

from embedproof.evaluation.conclusion import conclusion
from embedproof.evaluation.statistics import queries_needed


def _run(model: str, ndcg: float, vs_best: dict, **extra) -> dict:
    return {
        "model": model,
        "mode": "dense",
        "dim": 384,
        "precision": "float32",
        "metrics": {"ndcg@10": ndcg},
        "intervals": {"ndcg@10": [ndcg - 0.05, ndcg + 0.04]},
        "vs_best": vs_best,
        **extra,
    }


def _results(runs: list[dict], queries: int = 50) -> dict:
    return {
        "runs": runs,
        "power": {"queries": queries},
        "statistics": {"alpha": 0.05, "power": 0.8},
        "dataset": {"judged_queries": queries},
    }


BEST = {"best": True}


def test_a_clear_winner_says_so_and_points_to_pick_and_report():
    worse = {"diff": -0.14, "sd": 0.27, "significant": True}
    lines = conclusion(_results([_run("a", 0.85, BEST), _run("b", 0.71, worse)]), "out.json")
    assert lines == [
        "Best: `a dense d384 float32` (nDCG@10 0.8500 [0.8000, 0.8900]).",
        "Every other run is significantly worse on 50 judged queries (paired test, Holm): the best one wins on this "
        "evidence.",
        "Next: `embedproof pick --results out.json --latency-ms MS --storage-gb GB` chooses under your budgets; "
        "`embedproof report out.json` draws the plots.",
    ]


def test_ties_say_what_they_mean_and_how_many_judged_queries_would_separate_them():
    close = {"diff": -0.02, "sd": 0.1, "significant": False, "tied": True}  # needs 197 queries: within reach
    lines = conclusion(_results([_run("a", 0.85, BEST), _run("b", 0.83, close)]))
    need = queries_needed(0.1, -0.02)
    assert need == 197  # ((1.96 + 0.8416) × 0.1 / 0.02)² = 196.2, rounded up
    assert lines[1].startswith("Tied with it: `b dense d384 float32`: the differences are within what 50 judged")
    assert lines[2] == (
        "To tell them apart: about 197 judged queries (80% power, from the paired differences seen); judge more "
        "with `embedproof judge`, or bench a larger qrels split."
    )
    assert len(lines) == 4 and lines[3].startswith("Next: ")


def test_a_difference_too_small_to_ever_matter_is_called_that():
    tiny = {"diff": 0.0001, "sd": 0.05, "significant": False, "tied": True}
    lines = conclusion(_results([_run("a", 0.85, BEST), _run("b", 0.8499, tiny)]))
    assert lines[2] == (
        f"Telling them apart would take about {queries_needed(0.05, 0.0001):,} judged queries: the differences are "
        "too small to matter, so choose on cost."
    )


def test_heavy_truncation_points_to_chunking():
    truncated = _run("a", 0.6, BEST, truncation={"window": 256, "share_over_window": 0.75})
    lines = conclusion(_results([truncated]))
    assert lines == [
        "Best: `a dense d384 float32` (nDCG@10 0.6000 [0.5500, 0.6400]).",
        "Next: 75% of documents exceed `a`'s 256-token window, so bench again with `--chunk-tokens 254` (room for the "
        "two special tokens); then `embedproof pick --results results.json`.",
    ]
    chunked = _run("a", 0.7, {"diff": 0.1, "sd": 0.2, "significant": True}, chunking={"window_tokens": 254})
    assert conclusion(_results([truncated, chunked]))[-1].startswith("Next: `embedproof pick")


def test_a_file_without_per_query_scores_names_the_point_estimate_only():
    runs = [{**_run("a", 0.8, {}), "vs_best": None}, {**_run("b", 0.9, {}), "vs_best": None}]
    assert conclusion(_results(runs))[0] == (
        "Best: `b dense d384 float32` (nDCG@10 0.9000), by point estimate only: no per-query scores, so ties were "
        "not tested."
    )
