"""The evidence behind a decision: each run's metric intervals, paired tests between runs, and a noise-aware frontier.

`Evidence` reads the per-query scores of a results.json and draws ONE bootstrap resample of the query set for all
runs, so every interval and every interval of a difference comes from the same query sets (paired, as trec_eval
and ranx compare runs). `annotate` writes into a results document what the table, report, picker and `compare`
show: `intervals` per run, `vs_best` (the paired test against the best run, Holm-corrected over all runs),
`statistics_warnings` (query sets too small to separate runs) and the Pareto marks. Runs without per-query scores
(files written by older versions, hand-made files) keep point estimates and are marked "no interval".
"""

from __future__ import annotations

import numpy as np

from embedproof.evaluation.pareto import Point, frontier, run_name, run_p99, run_size
from embedproof.evaluation.run_result import RunResult
from embedproof.evaluation.statistics import (
    PairedTest,
    StatsSettings,
    bootstrap_means,
    holm,
    paired_test,
    queries_needed,
)

__all__ = ["Evidence", "annotate", "tie_status", "best_first", "p99_interval", "QUALITY"]

QUALITY = "ndcg@10"


class Evidence:
    """Per-query scores of the runs of one results document, on one shared bootstrap draw."""

    def __init__(self, runs: list[RunResult], settings: StatsSettings):
        self.settings = settings
        self.runs = {run_name(r): r for r in runs}
        scored = {name: r for name, r in self.runs.items() if isinstance(r.get("per_query"), dict) and r["per_query"]}
        common = set.intersection(*(set(r["per_query"]) for r in scored.values())) if scored else set()
        self.query_ids = sorted(common)
        self.names = [name for name in scored if self.query_ids]
        self.metrics = sorted(
            {
                m
                for name in self.names
                for m in scored[name]["metrics"]
                if all(m in scored[name]["per_query"][q] for q in self.query_ids)
            }
        )
        self._values = {
            m: np.array([[scored[name]["per_query"][q].get(m, 0.0) for q in self.query_ids] for name in self.names])
            for m in self.metrics
        }
        self._resampled: dict[str, np.ndarray] = {}
        self._row = {name: i for i, name in enumerate(self.names)}

    def has(self, name: str) -> bool:
        return name in self._row

    def values(self, name: str, metric: str = QUALITY) -> np.ndarray:
        return self._values[metric][self._row[name]]

    def _draw(self, metric: str) -> np.ndarray:
        if metric not in self._resampled:
            self._resampled[metric] = bootstrap_means(self._values[metric], self.settings)
        return self._resampled[metric]

    def interval(self, name: str, metric: str = QUALITY) -> list[float] | None:
        if not self.has(name) or metric not in self._values:
            return None
        tail = 100 * (1 - self.settings.confidence) / 2
        return [float(x) for x in np.percentile(self._draw(metric)[self._row[name]], [tail, 100 - tail])]

    def paired(self, a: str, b: str, metric: str = QUALITY) -> PairedTest | None:
        """a − b over the shared queries (None when either run has no per-query scores)."""
        if not (self.has(a) and self.has(b)) or metric not in self._values:
            return None
        draw = self._draw(metric)
        return paired_test(
            self.values(a, metric),
            self.values(b, metric),
            self.settings,
            resampled=(draw[self._row[a]], draw[self._row[b]]),
        )

    def versus(self, reference: str, others: list[str], metric: str = QUALITY) -> dict[str, dict]:
        """Each of `others` against `reference` (other − reference), Holm-corrected over the family."""
        tests = {name: self.paired(name, reference, metric) for name in others if name != reference}
        tests = {name: t for name, t in tests.items() if t is not None}
        adjusted = holm([t.p_value for t in tests.values()])
        out = {}
        for (name, test), p_holm in zip(tests.items(), adjusted):
            significant = p_holm < self.settings.alpha
            out[name] = {
                **test.to_dict(),
                "p_holm": p_holm,
                "significant": significant,
                "reference": reference,
                "metric": metric,
            }
            if not significant and abs(test.diff) < test.mdd:
                need = queries_needed(test.sd, test.diff, self.settings.alpha, self.settings.power)
                out[name]["note"] = (
                    f"{test.n} queries cannot separate {name} from {reference}: Δ {test.diff:+.4f} is below the "
                    f"minimum detectable difference {test.mdd:.4f} (80% power)"
                    + (f"; about {need:,} queries would be needed" if need else "")
                )
        return out

    def quality_sign(self, a: str, b: str, metric: str = QUALITY) -> int:
        """+1 when a is better than b beyond the noise (the paired interval of a − b excludes 0), −1 worse, 0 tied."""
        if not (self.has(a) and self.has(b)) or metric not in self._values:
            qa, qb = self.runs[a]["metrics"][metric], self.runs[b]["metrics"][metric]
            return (qa > qb) - (qa < qb)
        draw = self._draw(metric)
        tail = 100 * (1 - self.settings.confidence) / 2
        lo, hi = np.percentile(draw[self._row[a]] - draw[self._row[b]], [tail, 100 - tail])
        return 1 if lo > 0 else -1 if hi < 0 else 0


def tie_status(run: RunResult) -> str:
    """'best', 'tied' (not significantly worse than the best), 'worse', or 'unknown' where no test was possible."""
    vs = run.get("vs_best")
    if not vs:
        return "unknown"
    if vs.get("best"):
        return "best"
    return "tied" if vs.get("tied") or vs.get("significant") is False else "worse"


def best_first(quality: float, p99: float | None, size: float | None) -> tuple:
    """Sort key of "the best run": highest quality, then lowest p99, then fewest bytes (one rule for every caller)."""
    return (-quality, p99 if p99 is not None else float("inf"), size if size is not None else float("inf"))


def p99_interval(run: RunResult) -> list[float] | None:
    """The p99's bootstrap interval (over queries and rounds), None for runs measured without one."""
    ci = ((((run.get("latency") or {}).get("online_ms") or {}).get("total") or {}).get("ci") or {}).get("p99")
    return list(ci) if isinstance(ci, (list, tuple)) and len(ci) == 2 else None


def mark_frontier(runs: list[RunResult], evidence: Evidence, metric: str = QUALITY) -> None:
    """`pareto: {on_frontier, dominated_by}` for every run with quality, p99 and size, dominance beyond the noise."""
    points = []
    for run in runs:
        p99, size = run_p99(run), run_size(run)
        if p99 is not None and size is not None:
            ci = p99_interval(run)
            points.append(Point(run_name(run), run["metrics"][metric], p99, size, tuple(ci) if ci else None))
    marks = frontier(points, lambda a, b: evidence.quality_sign(a, b, metric))
    for run in runs:
        name = run_name(run)
        if name in marks:
            run["pareto"] = {
                "axes": [metric, "p99_ms", "bytes"],
                "on_frontier": marks[name] is None,
                "dominated_by": marks[name],
                "noise_aware": True,
            }


def annotate(results: dict) -> Evidence:
    """Add intervals, tests against the best run, power warnings and the frontier to a results document (in place)."""
    settings = StatsSettings.from_dict(results.get("statistics"))
    results["statistics"] = settings.to_dict()
    runs = results.get("runs", [])
    evidence = Evidence(runs, settings)
    for run in runs:
        name = run_name(run)
        if evidence.has(name):
            run["intervals"] = {m: evidence.interval(name, m) for m in evidence.metrics}
        else:
            run.pop("intervals", None)
    warnings = []
    if evidence.names:
        best = min(
            evidence.names,
            key=lambda n: best_first(
                evidence.runs[n]["metrics"][QUALITY], run_p99(evidence.runs[n]), run_size(evidence.runs[n])
            ),
        )
        tests = evidence.versus(best, evidence.names)
        for name in evidence.names:
            run = evidence.runs[name]
            run["vs_best"] = {"best": True, "reference": best, "metric": QUALITY} if name == best else tests[name]
            if name != best and not tests[name]["significant"]:
                run["vs_best"]["tied"] = True
            if "note" in run["vs_best"]:
                warnings.append(run["vs_best"]["note"])
        mdds = [t["mdd"] for t in tests.values()]
        results["power"] = {
            "queries": len(evidence.query_ids),
            "metric": QUALITY,
            "reference": best,
            "median_mdd": float(np.median(mdds)) if mdds else None,
            "alpha": settings.alpha,
            "power": settings.power,
        }
    results["statistics_warnings"] = warnings
    mark_frontier(runs, evidence)
    return evidence
