"""Do inverse-cloze pseudo-labels rank set-ups like real judgments? SciFact, real qrels vs pseudo-queries.

Run:  HF_HUB_OFFLINE=1 python benchmarks/pseudo_vs_real.py [--dataset ../shared/datasets/scifact]
Benches the same set-ups twice, on the real test qrels and on inverse-cloze pseudo-queries built from the
corpus alone, and prints both nDCG@10 columns and their rank correlations (Spearman, Kendall).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scipy.stats import kendalltau, spearmanr

from embedproof.datasets.loading import load_dataset
from embedproof.datasets.pseudo import inverse_cloze
from embedproof.evaluation.bench import run_bench
from embedproof.evaluation.bench_options import BenchOptions
from embedproof.evaluation.pareto import run_name
from embedproof.search.recipe import standard_recipe

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def setups(dataset) -> dict[str, float]:
    options = BenchOptions(dims=[384, 256, 128, 64], precisions=["float32", "binary"], latency=False)
    results = run_bench(
        dataset, [MINILM, "bm25", "hashing"], options, recipes=[standard_recipe("hybrid", MINILM, "bm25")]
    )
    return {run_name(r): r["metrics"]["ndcg@10"] for r in results["runs"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dataset", default=str(Path(__file__).resolve().parents[2] / "shared" / "datasets" / "scifact")
    )
    parser.add_argument("--pseudo-queries", type=int, default=300)
    args = parser.parse_args()
    real_data = load_dataset(args.dataset)
    pseudo_data = inverse_cloze(real_data, args.pseudo_queries, seed=0)
    real, pseudo = setups(real_data), setups(pseudo_data)
    names = [n for n in real if n in pseudo]
    print(f"{'set-up':40} {'real nDCG@10':>12} {'pseudo nDCG@10':>14}")
    for name in sorted(names, key=lambda n: -real[n]):
        print(f"{name:40} {real[name]:12.4f} {pseudo[name]:14.4f}")
    rho = spearmanr([real[n] for n in names], [pseudo[n] for n in names]).statistic
    tau = kendalltau([real[n] for n in names], [pseudo[n] for n in names]).statistic
    print(
        f"\n{len(names)} set-ups, {len(real_data.qrels)} real queries, {len(pseudo_data.qrels)} pseudo-queries: "
        f"Spearman rho {rho:.3f}, Kendall tau {tau:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
