from embedproof.evaluation.evidence import Evidence, mark_frontier
from embedproof.evaluation.pareto import Point, dominates, frontier
from embedproof.evaluation.statistics import StatsSettings


def test_dominance_needs_no_worse_everywhere_and_better_somewhere():
    a, b = Point("a", 0.7, 10, 100), Point("b", 0.6, 12, 100)
    assert dominates(a, b) and not dominates(b, a)
    assert not dominates(a, Point("same", 0.7, 10, 100))
    assert not dominates(a, Point("cheaper", 0.6, 12, 50))  # b' is smaller: a trade-off, not dominated


def test_frontier_by_hand():
    points = [
        Point("big-accurate", 0.70, 20, 1536),
        Point("int8", 0.69, 20, 384),
        Point("binary", 0.62, 15, 48),
        Point("worse-int8", 0.60, 25, 384),  # dominated by int8 (0.69, 20, 384) and by binary (0.62, 15, 48)
        Point("slow-binary", 0.61, 30, 48),  # dominated by binary
    ]
    marks = frontier(points)
    assert marks["big-accurate"] is None and marks["int8"] is None and marks["binary"] is None
    assert marks["worse-int8"] == "int8"  # the higher-quality of its two dominators; big-accurate is larger
    assert marks["slow-binary"] == "binary"


def test_mark_frontier_on_results_runs():
    runs = [
        {
            "model": "m",
            "mode": "dense",
            "dim": 384,
            "precision": "float32",
            "metrics": {"ndcg@10": 0.65},
            "bytes_per_vector": 1536,
            "latency": {"online_ms": {"total": {"p99": 12.0}}},
        },
        {
            "model": "m",
            "mode": "dense",
            "dim": 384,
            "precision": "int8",
            "metrics": {"ndcg@10": 0.64},
            "bytes_per_vector": 384,
            "latency": {"online_ms": {"total": {"p99": 13.0}}},
        },
        {
            "model": "m",
            "mode": "dense",
            "dim": 128,
            "precision": "int8",
            "metrics": {"ndcg@10": 0.60},
            "bytes_per_vector": 128,
            "latency": {"online_ms": {"total": {"p99": 14.0}}},
        },
        {
            "model": "m",
            "mode": "dense",
            "dim": 256,
            "precision": "int8",
            "metrics": {"ndcg@10": 0.59},
            "bytes_per_vector": 256,
            "latency": {"online_ms": {"total": {"p99": 14.0}}},
        },
        {
            "model": "bm25",
            "mode": "sparse",
            "dim": None,
            "precision": "float32",
            "metrics": {"ndcg@10": 0.68},
            "bytes_per_vector": 900,
        },
    ]
    mark_frontier(runs, Evidence(runs, StatsSettings()))  # no per-query scores: point estimates decide
    assert [r["pareto"]["on_frontier"] for r in runs[:4]] == [True, True, True, False]
    assert runs[3]["pareto"]["dominated_by"] == "m dense d128 int8"  # better, as fast, and half the bytes
    assert "pareto" not in runs[4]  # no latency measured: not placed


def test_noise_decides_nothing():
    """Overlapping p99 intervals and a quality tie do not dominate; bytes (exact) then decide."""
    parent = Point("d384", 0.700, 21.0, 384, (15.0, 47.0))
    child = Point("d256", 0.695, 46.9, 256, (16.0, 50.0))
    tied = lambda a, b: 0  # noqa: E731 - a paired test that cannot separate them
    assert not dominates(parent, child, tied)  # faster p99 by point estimate only: noise
    assert dominates(child, parent, tied)  # smaller, and not worse beyond the noise on quality or latency
    separated = lambda a, b: 1 if a == "d384" else -1  # noqa: E731 - the parent is better beyond the noise
    assert not dominates(child, parent, separated) and not dominates(parent, child, separated)
    apart = Point("fast", 0.70, 5.0, 384, (4.0, 6.0))
    assert dominates(apart, parent, tied)  # p99 intervals apart: a real latency win
