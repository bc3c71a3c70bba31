"""A regression gate: does a new set-up lose quality, or break a p99 budget, against a baseline results.json?

Runs are matched by name (or by explicit pairs), queries by id. Quality (nDCG@10, recall@100) is compared as
trec_eval and ranx compare runs: the paired difference new − base over the shared queries, its percentile bootstrap
interval and a paired randomisation (sign-flip) p-value, Holm-corrected over every quality test in the report.
Tail latency is compared without pairing (`compare_latency`).
A pair is "worse" when a quality metric drops significantly or the new p99's upper bound breaks the budget.
Runs without per-query scores (older or hand-made files) show point values, "no interval", and claim nothing.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from embedproof.errors import EmbedproofError, InvalidInputError
from embedproof.evaluation.compare_latency import (
    LATENCY_METRIC,
    busy_notes,
    is_number,
    latency_row,
    p99_difference_interval,
    unstable_notes,
)
from embedproof.evaluation.pareto import run_name
from embedproof.evaluation.run_result import NO_INTERVAL, RunResult
from embedproof.evaluation.statistics import StatsSettings, bootstrap_means, holm, paired_test, percentile_interval

__all__ = [
    "QUALITY_METRICS",
    "LATENCY_METRIC",
    "compare_results",
    "p99_difference_interval",
    "settings_for",
]

QUALITY_METRICS = ("ndcg@10", "recall@100")


def settings_for(base: dict, new: dict, alpha: float | None = None) -> StatsSettings:
    """The baseline's statistics settings (the baseline defines the gate), with another α when given."""
    stored = base.get("statistics") or new.get("statistics")
    stored = stored if isinstance(stored, dict) else {}
    for key in ("bootstrap_resamples", "permutation_resamples", "seed", "alpha", "confidence", "power"):
        integer = key not in ("alpha", "confidence", "power")
        if key in stored and not (is_number(stored[key]) and (not integer or isinstance(stored[key], int))):
            raise EmbedproofError(
                f"statistics.{key} in the results must be {'an integer' if integer else 'a number'}, "
                f"got {stored[key]!r}"
            )
    settings = StatsSettings.from_dict(stored)
    return settings if alpha is None else replace(settings, alpha=alpha)


def _named(results: dict, side: str) -> dict[str, dict]:
    runs: dict[str, RunResult] = {}
    for run in results.get("runs", []):
        runs.setdefault(run_name(run), run)  # the first of two identically named runs is the one compared
    if not runs:
        raise EmbedproofError(f"the {side} results have no runs to compare")
    return runs


def _available(runs: dict[str, RunResult]) -> str:
    return ", ".join(repr(name) for name in runs)


def _match_runs(
    base_runs: dict[str, RunResult],
    new_runs: dict[str, RunResult],
    pairs: list[tuple[str, str]] | None,
    notes: list[str],
) -> list[tuple[str, str, str]]:
    """(base name, new name, how matched) for each pair to compare."""
    if pairs:
        for base_name, new_name in pairs:
            for name, runs, side in ((base_name, base_runs, "base"), (new_name, new_runs, "new")):
                if name not in runs:
                    raise InvalidInputError(f"unknown {side} run {name!r}; the {side} runs are: {_available(runs)}")
        return [(b, n, "pair") for b, n in pairs]
    common = [name for name in base_runs if name in new_runs]
    if common:
        for side, runs in (("base", base_runs), ("new", new_runs)):
            left = [name for name in runs if name not in common]
            if left:
                notes.append(f"{side} runs without a namesake, not compared: {', '.join(left)}")
        return [(name, name, "name") for name in common]
    if len(base_runs) == 1 and len(new_runs) == 1:
        (b,), (n,) = base_runs, new_runs
        notes.append(f"no run names match; each file has one run, so {b!r} (base) is compared with {n!r} (new)")
        return [(b, n, "only runs")]
    raise EmbedproofError(
        f"no run names match between base and new; name the pairs with --pair BASE_RUN=NEW_RUN "
        f"(base runs: {_available(base_runs)}; new runs: {_available(new_runs)})"
    )


def _per_query(run: RunResult, side: str) -> dict[str, dict] | None:
    scores = run.get("per_query")
    if not isinstance(scores, dict) or not scores:
        return None
    for qid, values in scores.items():
        if not isinstance(values, dict):
            raise EmbedproofError(
                f"{side} run {run_name(run)!r}: per_query[{qid!r}] must be an object of metric values"
            )
    return scores


def _scores(run: RunResult, qids: list[str], metric: str, side: str) -> np.ndarray | None:
    """Per-query values of `metric` in `qids` order; None when some query lacks the metric."""
    values = []
    for qid in qids:
        value = run["per_query"][qid].get(metric)
        if value is None:
            return None
        if not is_number(value):
            raise EmbedproofError(f"{side} run {run_name(run)!r}: per_query[{qid!r}][{metric!r}] is not a number")
        values.append(float(value))
    return np.array(values)


def _quality_row(
    metric: str, base_run: RunResult, new_run: RunResult, qids: list[str] | None, settings: StatsSettings
) -> dict:
    """One quality row: the paired test on matched queries, or the files' point values when there are none."""
    b_point, n_point = base_run["metrics"].get(metric), new_run["metrics"].get(metric)
    b = _scores(base_run, qids, metric, "base") if qids else None
    n = _scores(new_run, qids, metric, "new") if qids else None
    if b is None or n is None:
        measured = is_number(b_point) and is_number(n_point)
        return {
            "metric": metric,
            "base": b_point if measured else None,
            "new": n_point if measured else None,
            "base_ci": None,
            "new_ci": None,
            "diff": n_point - b_point if measured else None,
            "ci": None,
            "p_value": None,
            "p_holm": None,
            "verdict": NO_INTERVAL if measured else "not measured",
        }
    draw = bootstrap_means(np.vstack([n, b]), settings)  # one draw: the two intervals and the difference's agree
    test = paired_test(n, b, settings, resampled=(draw[0], draw[1]))
    return {
        "metric": metric,
        "base": float(b.mean()),
        "new": float(n.mean()),
        "base_ci": list(percentile_interval(draw[1], settings.confidence)),
        "new_ci": list(percentile_interval(draw[0], settings.confidence)),
        **{k: v for k, v in test.to_dict().items() if k != "n"},
        "queries": test.n,
    }


def _file_notes(base: dict, new: dict) -> list[str]:
    """Differences between the two files that qualify the comparison (corpus, split, texts, scoring, machine)."""
    if base is new:
        return []
    notes = []
    bd, nd = base.get("dataset") or {}, new.get("dataset") or {}
    for key in ("name", "split"):
        if bd.get(key) != nd.get(key):
            notes.append(f"dataset {key} differs: base {bd.get(key)!r}, new {nd.get(key)!r}")
    if bool(bd.get("drop_code")) != bool(nd.get("drop_code")):
        dropped = "base" if bd.get("drop_code") else "new"
        notes.append(f"the {dropped} file dropped code blocks (--drop-code): the documents and queries differ")
    bs, ns = base.get("settings") or {}, new.get("settings") or {}
    if bool(bs.get("condensed")) != bool(ns.get("condensed")):
        condensed = "base" if bs.get("condensed") else "new"
        notes.append(
            f"the {condensed} file scored condensed lists (--condensed, unjudged documents removed), the other "
            "plain lists: condensed scores run higher, so the difference is partly the scoring"
        )
    bm, nm = base.get("machine") or {}, new.get("machine") or {}
    if bm and nm and any(bm.get(k) != nm.get(k) for k in ("platform", "cpu", "cpus", "affinity")):
        notes.append("the files were measured on different machines: their p99s differ by more than the set-up")
    return notes


def _match_queries(base_run: RunResult, new_run: RunResult, notes: list[str]) -> tuple[list[str] | None, dict | None]:
    """The query ids both runs scored (sorted) and how many each side loses; None when either has no per-query data."""
    b_scores, n_scores = _per_query(base_run, "base"), _per_query(new_run, "new")
    if not (b_scores and n_scores):
        missing = " and ".join(side for side, scores in (("base", b_scores), ("new", n_scores)) if not scores)
        notes.append(f"no per-query scores in {missing}: quality shows point values only, no interval, no test")
        return None, None
    qids = sorted(set(b_scores) & set(n_scores))
    if not qids:
        raise EmbedproofError(
            f"runs {run_name(base_run)!r} (base) and {run_name(new_run)!r} (new) share no query id: "
            "were they benched on the same queries?"
        )
    queries = {
        "matched": len(qids),
        "dropped_base": len(b_scores) - len(qids),
        "dropped_new": len(n_scores) - len(qids),
    }
    if queries["dropped_base"] or queries["dropped_new"]:
        notes.append(
            f"{len(qids)} queries matched; {queries['dropped_base']} base-only and {queries['dropped_new']} "
            "new-only queries dropped (base and new are means over the matched queries)"
        )
    return qids, queries


def _compare_pair(
    base_run: RunResult, new_run: RunResult, how: str, latency_ms: float | None, settings: StatsSettings
) -> dict:
    """One pair's rows; quality rows with a test are finished (p_holm, verdict) once the whole family is known."""
    notes: list[str] = []
    qids, queries = _match_queries(base_run, new_run, notes)
    rows = {metric: _quality_row(metric, base_run, new_run, qids, settings) for metric in QUALITY_METRICS}
    rows[LATENCY_METRIC] = latency_row(base_run, new_run, latency_ms, settings)
    notes += unstable_notes(base_run, "base") + unstable_notes(new_run, "new")
    if rows[LATENCY_METRIC].get("note"):
        notes.append(rows[LATENCY_METRIC]["note"])
    return {
        "base_run": run_name(base_run),
        "new_run": run_name(new_run),
        "matched_by": how,
        "queries": queries,
        "metrics": rows,
        "notes": notes,
    }


def _decide(row: dict, p_holm: float, settings: StatsSettings) -> None:
    """A tested quality row's Holm p-value and verdict, with a power note when the test could not see the change."""
    row["p_holm"] = p_holm
    row["significant"] = p_holm < settings.alpha
    row["verdict"] = (
        ("worse" if row["diff"] < 0 else "better")
        if row["significant"] and row["diff"] != 0
        else "no significant change"
    )
    if not row["significant"] and abs(row["diff"]) < row["mdd"]:
        row["note"] = (
            f"{row['queries']} queries cannot detect a change smaller than {row['mdd']:.4f} "
            f"(minimum detectable difference, {settings.power:.0%} power)"
        )


def _pair_verdict(pair: dict) -> str:
    """worse: a significant quality loss or p99 over budget; better: a significant gain; else no change or untested."""
    rows = pair["metrics"]
    quality = [rows[m]["verdict"] for m in QUALITY_METRICS]
    if "worse" in quality or rows[LATENCY_METRIC]["verdict"] == "over budget":
        return "worse"
    if "better" in quality:
        return "better"
    return "no significant change" if any(rows[m]["p_value"] is not None for m in QUALITY_METRICS) else NO_INTERVAL


def compare_results(
    base: dict,
    new: dict,
    pairs: list[tuple[str, str]] | None = None,
    latency_ms: float | None = None,
    settings: StatsSettings | None = None,
) -> dict:
    """Compare runs of `new` against runs of `base` (or two runs of one document); returns the gate's report.

    The report holds, per pair, one row per metric (nDCG@10, recall@100, p99) with base, new, the difference, its
    interval and p-values, a verdict per pair, and `regression`: True when any pair is worse.
    """
    settings = settings or settings_for(base, new)
    if latency_ms is not None and not (is_number(latency_ms) and latency_ms > 0):
        raise InvalidInputError(f"the p99 budget must be a positive number of milliseconds, got {latency_ms!r}")
    notes = _file_notes(base, new) + busy_notes(base, new)
    base_runs, new_runs = _named(base, "base"), _named(new, "new")
    out_pairs = [
        _compare_pair(base_runs[b], new_runs[n], how, latency_ms, settings)
        for b, n, how in _match_runs(base_runs, new_runs, pairs, notes)
    ]
    tests = [
        row for pair in out_pairs for row in (pair["metrics"][m] for m in QUALITY_METRICS) if row["p_value"] is not None
    ]
    for row, p_holm in zip(tests, holm([row["p_value"] for row in tests])):
        _decide(row, p_holm, settings)
    for pair in out_pairs:
        pair["notes"] += [
            f"{m}: {pair['metrics'][m]['note']}" for m in QUALITY_METRICS if pair["metrics"][m].get("note")
        ]
        pair["verdict"] = _pair_verdict(pair)
    return {
        "kind": "embedproof compare",
        "statistics": settings.to_dict(),
        "latency_budget_ms": latency_ms,
        "metrics": [*QUALITY_METRICS, LATENCY_METRIC],
        "quality_tests": len(tests),
        "pairs": out_pairs,
        "notes": notes,
        "regression": any(pair["verdict"] == "worse" for pair in out_pairs),
    }
