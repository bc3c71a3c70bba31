"""Do two back-to-back `bench` runs on the same set-ups agree on latency? One table, both runs side by side.

For every run: p99 with its interval (bootstrap over queries and rounds) in bench A and in bench B, and whether the
intervals overlap — or, for sub-millisecond p99s, lie within `FLOOR_MS` of each other: at that scale the
scheduler of a shared 2-core VM moves a p99 by more than its bootstrap interval is wide. For every pair of
variants that differ only in stored form (same model, other dim/precision): the difference of their total p99
against the difference of their search stages' p99 plus the noise (half the two total-p99 intervals' widths),
and the median per-query difference of their totals — with the query encoder
timed once per query and shared, a total differs from its sibling's only by the search stage.

    python benchmarks/latency_repeat.py                                   # demo: bm25, hashing (dims × precisions)
    python benchmarks/latency_repeat.py --dataset ../shared/datasets/scifact \\
        -m bm25 -m sentence-transformers/all-MiniLM-L6-v2 --dims 384,256 --precisions float32,int8
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from embedproof.datasets.loading import load_dataset  # noqa: E402
from embedproof.evaluation.bench import run_bench  # noqa: E402
from embedproof.evaluation.bench_options import BenchOptions
from embedproof.evaluation.pareto import run_name  # noqa: E402
from embedproof.evaluation.run_result import is_model_run  # noqa: E402


def _total(run: dict) -> dict:
    return run["latency"]["online_ms"]["total"]


def _search_p99(run: dict) -> float:
    """p99 of everything after query encoding (the run's own stages)."""
    online = run["latency"]["online_ms"]
    own = [name for name in online if name != "total" and not name.startswith("encode:")]
    return sum(online[name]["p99"] for name in own)


FLOOR_MS = 0.25  # two p99s this close agree whatever their intervals say (timer and scheduler noise)


def compare_benches(a: dict, b: dict) -> dict:
    """Repeat agreement per run, and stored-form siblings' total vs search p99 differences within bench A."""
    runs_b = {run_name(r): r for r in b["runs"]}
    repeats = []
    for run in a["runs"]:
        other = runs_b[run_name(run)]
        (lo_a, hi_a), (lo_b, hi_b) = _total(run)["ci"]["p99"], _total(other)["ci"]["p99"]
        repeats.append(
            {
                "run": run_name(run),
                "p99_a": _total(run)["p99"],
                "ci_a": [lo_a, hi_a],
                "p99_b": _total(other)["p99"],
                "ci_b": [lo_b, hi_b],
                "overlap": lo_a <= hi_b and lo_b <= hi_a,
                "agree": (lo_a <= hi_b and lo_b <= hi_a) or abs(_total(run)["p99"] - _total(other)["p99"]) <= FLOOR_MS,
            }
        )
    siblings = []
    by_model: dict[tuple, list[dict]] = {}
    for run in a["runs"]:
        if is_model_run(run) and run.get("mode") == "dense":
            by_model.setdefault((run["model"], run.get("encoder_backend")), []).append(run)
    for group in by_model.values():
        for x, y in itertools.combinations(group, 2):
            total_diff = abs(_total(x)["p99"] - _total(y)["p99"])
            search_diff = abs(_search_p99(x) - _search_p99(y))
            noise = (np.diff(_total(x)["ci"]["p99"])[0] + np.diff(_total(y)["ci"]["p99"])[0]) / 2
            per_query = float(
                np.median(np.abs(np.array(x["latency"]["samples_ms"]) - np.array(y["latency"]["samples_ms"])))
            )
            siblings.append(
                {
                    "pair": f"{run_name(x)} vs {run_name(y)}",
                    "total_p99_diff": total_diff,
                    "search_p99_diff": search_diff,
                    "noise": float(noise),
                    "median_per_query_diff": per_query,
                    "within": total_diff <= search_diff + noise,
                }
            )
    return {
        "repeats": repeats,
        "siblings": siblings,
        "load": [a.get("load"), b.get("load")],
        "ok": all(r["agree"] for r in repeats) and all(s["within"] for s in siblings),
    }


def run(
    dataset: str, models: list[str], dims: list[int] | None, precisions: list[str], queries: int | None, rounds: int
) -> dict:
    data = load_dataset(dataset)
    options = BenchOptions(dims=dims, precisions=precisions, latency_queries=queries, latency_rounds=rounds)
    first = run_bench(data, models, options)
    second = run_bench(data, models, options)
    return compare_benches(first, second)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="demo")
    parser.add_argument("-m", "--model", action="append")
    parser.add_argument("--dims", default="1024,256")
    parser.add_argument("--precisions", default="float32,int8")
    parser.add_argument("--queries", type=int, default=None, help="queries timed (default: all judged)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = run(
        args.dataset,
        args.model or ["bm25", "hashing"],
        [int(d) for d in args.dims.split(",")] if args.dims else None,
        args.precisions.split(","),
        args.queries,
        args.rounds,
    )
    if args.json:
        print(json.dumps(report, indent=2))
    print("| run | p99 A (ms) [95% CI] | p99 B (ms) [95% CI] | intervals overlap |\n|---|---|---|---|")
    for r in report["repeats"]:
        verdict = "yes" if r["overlap"] else ("within floor" if r["agree"] else "NO")
        print(
            f"| {r['run']} | {r['p99_a']:.2f} [{r['ci_a'][0]:.2f}, {r['ci_a'][1]:.2f}] | "
            f"{r['p99_b']:.2f} [{r['ci_b'][0]:.2f}, {r['ci_b'][1]:.2f}] | {verdict} |"
        )
    print(
        "\n| stored-form siblings (bench A) | Δ total p99 | Δ search p99 | noise | median per-query Δ total "
        "| within |\n|---|---|---|---|---|---|"
    )
    for s in report["siblings"]:
        print(
            f"| {s['pair']} | {s['total_p99_diff']:.3f} | {s['search_p99_diff']:.3f} | {s['noise']:.3f} | "
            f"{s['median_per_query_diff']:.3f} | {'yes' if s['within'] else 'NO'} |"
        )
    for label, load in zip("AB", report["load"]):
        if load:
            print(
                f"\nbench {label}: other processes {load['other_cpu_share']:.0%} of the CPUs, "
                f"load average {load['loadavg_1m']}, busy: {load['busy']}"
            )
    sys.exit(0 if report["ok"] else 1)


if __name__ == "__main__":
    main()
