"""Reproduce MTEB's published SciFact nDCG@10 for all-MiniLM-L6-v2 and the bm25s baseline.

Run:  HF_HUB_OFFLINE=1 python benchmarks/reproduce_scifact.py [--dataset ../shared/datasets/scifact]
Prints each model's nDCG@10 next to the reference (../shared/datasets/REFERENCE_SCORES.md), the difference,
and whether it lies inside the tolerance the foundation issue set. Exit status 1 if one does not.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from embedproof.datasets.loading import load_dataset
from embedproof.evaluation.bench import run_bench
from embedproof.evaluation.bench_options import BenchOptions

# (model, reference nDCG@10, tolerance, source)
REFERENCES = [
    (
        "sentence-transformers/all-MiniLM-L6-v2",
        0.64508,
        0.003,
        "MTEB results, all-MiniLM-L6-v2 @8b3219a9, SciFact test",
    ),
    ("bm25", 0.68736, 0.015, "MTEB results, mteb/baseline-bm25s 0_1_10, SciFact test"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "scifact"
    parser.add_argument("--dataset", default=str(default))
    parser.add_argument("--cache-dir", default=None, help="embedding cache (default: embedproof's)")
    parser.add_argument("--no-cache", action="store_true", help="encode afresh (timings then show docs/s)")
    args = parser.parse_args()

    dataset = load_dataset(args.dataset, split="test")
    print(f"{dataset.name}: {len(dataset.corpus)} documents, {len(dataset.qrels)} judged test queries")
    started = time.perf_counter()
    results = run_bench(
        dataset, [m for m, *_ in REFERENCES], BenchOptions(cache_dir=args.cache_dir, use_cache=not args.no_cache)
    )
    print(f"bench took {time.perf_counter() - started:.1f} s\n")
    print(f"{'model':42} {'nDCG@10':>8} {'reference':>9} {'diff':>8} {'tol':>6}  ok   source")
    ok_all = True
    for run, (model, reference, tolerance, source) in zip(results["runs"], REFERENCES):
        value = run["metrics"]["ndcg@10"]
        ok = abs(value - reference) <= tolerance
        ok_all &= ok
        print(
            f"{model:42} {value:8.5f} {reference:9.5f} {value - reference:+8.5f} {tolerance:6.3f}  "
            f"{'yes' if ok else 'NO '}  {source}"
        )
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
