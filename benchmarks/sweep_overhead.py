"""One encode, every variant: time a full dims × precisions sweep against the plain full-dim float32 run.

Run:  HF_HUB_OFFLINE=1 python benchmarks/sweep_overhead.py [--dataset ../shared/datasets/scifact]
Both runs happen in this one process, each encoding from an empty cache (so neither benefits from the other),
and the script prints their wall times and the ratio (target ≤ 1.3), then the quality and size of every variant.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from embedproof.datasets.loading import load_dataset
from embedproof.evaluation.bench import run_bench
from embedproof.evaluation.bench_options import BenchOptions

MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def timed(dataset, options: BenchOptions) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory(prefix="embedproof-bench-cache-") as cache:
        options.cache_dir = cache  # empty: the run encodes every document itself
        start = time.perf_counter()
        results = run_bench(dataset, [MODEL], options)
        return time.perf_counter() - start, results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dataset", default=str(Path(__file__).resolve().parents[2] / "shared" / "datasets" / "scifact")
    )
    parser.add_argument("--dims", default="384,256,128,64")
    parser.add_argument("--precisions", default="float32,int8,binary")
    args = parser.parse_args()

    dataset = load_dataset(args.dataset)
    print(f"{dataset.name}: {len(dataset.corpus)} documents, {len(dataset.qrels)} judged queries, model {MODEL}")
    plain_s, _ = timed(dataset, BenchOptions())
    dims = [int(d) for d in args.dims.split(",")]
    precisions = args.precisions.split(",")
    sweep_s, results = timed(dataset, BenchOptions(dims=dims, precisions=precisions))
    ratio = sweep_s / plain_s
    print(f"plain 384/float32 run: {plain_s:8.1f} s")
    print(f"sweep {len(dims)} dims x {len(precisions)} precisions ({len(results['runs'])} variants): {sweep_s:8.1f} s")
    print(f"ratio sweep / plain: {ratio:.3f}  (target <= 1.3: {'met' if ratio <= 1.3 else 'NOT met'})\n")
    print("retention = nDCG@10 / nDCG@10 of the full-dim float32 run; no-rescore = the same for the first pass alone")
    print(
        f"{'dim':>4} {'precision':9} {'nDCG@10':>8} {'retention':>9} {'no-rescore':>10} {'bytes/vec':>9} "
        f"{'index bytes':>11} {'search s':>8}"
    )
    for run in results["runs"]:
        raw = run.get("metrics_without_rescoring", {}).get("ndcg@10")
        # retention is relative to the full-dim float32 run, so the first pass's is raw / (metric / retention)
        raw_text = f"{raw / run['metrics']['ndcg@10'] * run['retention']['ndcg@10']:.1%}" if raw is not None else "-"
        print(
            f"{run['dim']:>4} {run['precision']:9} {run['metrics']['ndcg@10']:8.4f} {run['retention']['ndcg@10']:9.1%} "
            f"{raw_text:>10} {run['bytes_per_vector']:9.0f} {run['index_bytes']:11,} {run['timings']['search_s']:8.3f}"
        )
    return 0 if ratio <= 1.3 else 1


if __name__ == "__main__":
    sys.exit(main())
