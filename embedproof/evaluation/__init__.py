"""Measure recipes: metrics, latency, statistics, cost, the Pareto frontier, the bench runner and its report.

Names resolve on first use (`embedproof.lazy`), so importing the package stays fast and light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from embedproof.lazy import lazy_exports

_NAMES = {
    "evaluate_run": "embedproof.evaluation.metrics",
    "write_trec_run": "embedproof.evaluation.metrics",
    "BenchOptions": "embedproof.evaluation.bench_options",
    "run_bench": "embedproof.evaluation.bench",
    "write_report": "embedproof.evaluation.report",
}

__all__ = [
    "BenchOptions",
    "evaluate_run",
    "run_bench",
    "write_report",
    "write_trec_run",
]
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)

if TYPE_CHECKING:
    from embedproof.evaluation.bench import run_bench
    from embedproof.evaluation.bench_options import BenchOptions
    from embedproof.evaluation.metrics import evaluate_run, write_trec_run
    from embedproof.evaluation.report import write_report
