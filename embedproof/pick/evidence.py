"""`embedproof pick --results`: evidence mode — the pick among measured runs, on their intervals and paired tests.

Of the runs that fit the budgets and are statistically tied with the best of them, the cheapest; it says why
with every number's interval, and what relaxing each budget would buy (only when the gain is significant).
"""

from __future__ import annotations

from pathlib import Path

from embedproof.errors import EmbedproofError
from embedproof.evaluation.cost import GIB, readable_bytes
from embedproof.files import write_json_atomic

__all__ = ["pick_from_results", "evidence_markdown", "write_recipe"]


def _budget_fit(p99: float | None, ci: list[float] | None, budget: float | None) -> str:
    """'fits', 'straddles' (the interval contains the budget), 'over', or 'unmeasured' against a p99 budget."""
    if budget is None:
        return "fits"
    if p99 is None:
        return "unmeasured"
    low, high = ci if ci else (p99, p99)
    return "fits" if high <= budget else "straddles" if low <= budget else "over"


def pick_from_results(results: dict, latency_ms: float | None, storage_gb: float | None, vectors: int) -> dict:
    """Among measured runs that fit the budgets, the cheapest one statistically tied with the best.

    Storage is `vectors` × the run's bytes per vector (per passage for recipes). A latency budget holds when the p99's
    upper bound is within it; a run whose interval contains the budget "straddles" it and is named, not picked. The
    runs that fit and are not significantly worse on nDCG@10 than the best that fits (paired randomisation test,
    Holm-corrected) are tied; the pick is the cheapest of them (bytes, then p99). What dropping a budget would buy
    is a paired test against the pick, stated only as a gain when it is significant.
    """
    from embedproof.evaluation.evidence import Evidence, best_first, p99_interval
    from embedproof.evaluation.pareto import run_name, run_p99, run_size
    from embedproof.evaluation.statistics import StatsSettings, holm

    settings = StatsSettings.from_dict(results.get("statistics"))
    runs = [r for r in results.get("runs", []) if run_size(r) is not None]
    runs_by_name = {run_name(r): r for r in runs}
    if not runs:
        raise EmbedproofError("results.json has no runs with quality and size to pick from")
    evidence = Evidence(runs, settings)
    rows = {}
    for run in runs:
        name, p99, ci = run_name(run), run_p99(run), p99_interval(run)
        latency = run.get("latency") or {}
        rows[name] = {
            "run": name,
            "ndcg@10": run["metrics"]["ndcg@10"],
            "ndcg@10_ci": evidence.interval(name),
            "p99_ms": p99,
            "p99_ci": ci,
            "bytes": run_size(run),
            "storage_gib": vectors * run_size(run) / GIB,
            "on_frontier": (run.get("pareto") or {}).get("on_frontier"),
            "latency_fit": _budget_fit(p99, ci, latency_ms),
            "latency_stable": latency.get("stable"),
            "latency_note": latency.get("stability_note") or latency.get("busy"),
            "recipe": run.get("recipe"),
            "store": {k: v for k, v in (run.get("store") or {}).items() if k in ("backend", "engine", "index")} or None,
        }

    def feasible(use_latency: bool = True, use_storage: bool = True) -> list[dict]:
        return [
            r
            for r in rows.values()
            if (not use_latency or r["latency_fit"] == "fits")
            and (not use_storage or storage_gb is None or r["storage_gib"] <= storage_gb)
        ]

    def best_of(candidates: list[dict]) -> dict | None:
        return min(candidates, key=lambda r: best_first(r["ndcg@10"], r["p99_ms"], r["bytes"]), default=None)

    fits = feasible()
    best = best_of(fits)
    tied, tests = [], {}
    if best is not None:
        tests = evidence.versus(best["run"], [r["run"] for r in fits])
        tied = [best] + [r for r in fits if r["run"] in tests and not tests[r["run"]]["significant"]]
    cheapest = sorted(
        tied, key=lambda r: (r["bytes"], r["p99_ms"] if r["p99_ms"] is not None else float("inf"), -r["ndcg@10"])
    )
    choice = cheapest[0] if cheapest else None
    runner_up = (
        cheapest[1]
        if len(cheapest) > 1
        else next(iter(sorted((r for r in fits if r is not choice), key=lambda r: -r["ndcg@10"])), None)
    )
    for r in (choice, runner_up, *tied):
        if r is not None and r["run"] != (best or {}).get("run") and r["run"] in tests:
            r["vs_best"] = {k: tests[r["run"]][k] for k in ("diff", "ci", "p_value", "p_holm", "significant", "mdd")}

    relaxing, seen = {}, {choice["run"]} if choice else set()
    for label, kwargs in (
        ("latency", {"use_latency": False}),
        ("storage", {"use_storage": False}),
        ("both", {"use_latency": False, "use_storage": False}),
    ):
        if (label == "latency" and latency_ms is None) or (label == "storage" and storage_gb is None):
            continue
        if label == "both" and (latency_ms is None or storage_gb is None):
            continue
        top = best_of(feasible(**kwargs))
        if top is None or top["run"] in seen or (choice and top["ndcg@10"] <= choice["ndcg@10"]):
            continue
        seen.add(top["run"])
        entry = {**top}
        test = evidence.paired(top["run"], choice["run"]) if choice else None
        if test is not None:
            entry.update(gain_points=100 * test.diff, gain_ci_points=[100 * x for x in test.ci], p_value=test.p_value)
        elif choice:  # a file without per-query scores: the point difference, which nothing here can test
            entry.update(gain_points=100 * (top["ndcg@10"] - choice["ndcg@10"]))
        relaxing[label] = entry
    adjusted = holm([e["p_value"] for e in relaxing.values() if "p_value" in e])
    for entry, p_holm in zip((e for e in relaxing.values() if "p_value" in e), adjusted):
        entry.update(p_holm=p_holm, significant=p_holm < settings.alpha)
    load = results.get("load") or {}
    benched = int((results.get("dataset") or {}).get("documents") or 0)
    return {
        "budgets": {"latency_ms": latency_ms, "storage_gb": storage_gb, "vectors": vectors},
        # sizes are measured bytes per vector × vectors: a projection when the bench held fewer documents
        "projection": {
            "from_documents": benched,
            "sparse": [r["run"] for r in rows.values() if _sparse(runs_by_name[r["run"]])],
        }
        if benched and vectors > benched
        else None,
        "choice": choice,
        "best": best,
        "tied": [r["run"] for r in cheapest],
        "runner_up": runner_up,
        "feasible": len(fits),
        "measured": len(rows),
        "relaxing": relaxing,
        "dataset": results.get("dataset", {}).get("name"),
        "straddling": [
            r
            for r in rows.values()
            if r["latency_fit"] == "straddles" and (storage_gb is None or r["storage_gib"] <= storage_gb)
        ],
        "unstable": [r["run"] for r in rows.values() if r["latency_stable"] is False],
        "machine_busy": load.get("reason") if load.get("busy") else None,
        "queries": len(evidence.query_ids),
        "statistics": settings.to_dict(),
    }


def _sparse(run: dict) -> bool:
    """A run whose size includes a sparse index (BM25, SPLADE), whose vocabulary grows with the corpus."""
    if run.get("mode") == "sparse":
        return True
    recipe = run.get("recipe") or {}
    return any(m.split("/")[-1].lower().startswith(("bm25", "splade")) for m in recipe.get("first_pass", []))


def _projection_note(pick: dict) -> str | None:
    """What a size projected past the bench's corpus assumes (None when sizes are for the corpus benched)."""
    p = pick.get("projection")
    if not p:
        return None
    vectors = pick["budgets"]["vectors"]
    note = (
        f"Sizes for {vectors:,} vectors are each run's bytes per vector, measured on {p['from_documents']:,} "
        f"documents, times {vectors:,}"
    )
    if p["sparse"]:
        note += (
            "; a sparse index's vocabulary grows sublinearly with the corpus (Heaps' law), so its bytes per passage "
            f"measured on a small corpus project only roughly ({', '.join(f'`{n}`' for n in p['sparse'])})"
        )
    return note + "."


def _interval(ci, spec: str = ".4f") -> str:
    return f" [{ci[0]:{spec}}, {ci[1]:{spec}}]" if ci else " (no interval)"


def _describe(r: dict) -> str:
    spec = ".1f" if (r["p99_ms"] or 0) >= 10 else ".2f"
    p99 = "p99 not measured" if r["p99_ms"] is None else f"p99 {r['p99_ms']:{spec}} ms" + _interval(r["p99_ci"], spec)
    return (
        f"`{r['run']}`: nDCG@10 {r['ndcg@10']:.4f}{_interval(r['ndcg@10_ci'])}, {p99}, "
        f"{r['bytes']:,.0f} B/vector → {readable_bytes(r['storage_gib'] * GIB)}"
    )


def _versus(r: dict) -> str:
    t = r.get("vs_best")
    if not t:
        return ""
    return (
        f" (Δ {100 * t['diff']:+.2f} points [{100 * t['ci'][0]:+.2f}, {100 * t['ci'][1]:+.2f}], "
        f"p = {t['p_holm']:.3g} Holm)"
    )


def _serving(choice: dict) -> str:
    """How to serve exactly what was measured: the run's recipe (with its engine settings) and, if kept, the index."""
    if choice.get("recipe") is None:
        return "Serve it: this run's file records no recipe (and too little to rebuild one); bench it again to serve."
    store = choice.get("store") or {}
    where = "on the Qdrant engine (`--backend edge`), as measured" if store.get("backend") == "edge" else "exactly"
    line = (
        f'Serve it: `index build --corpus CORPUS --results RESULTS --run "{choice["recipe"]["name"]}" --out INDEX` '
        f"builds it {where} (or `pick --results RESULTS --recipe-out recipe.json`, then "
        "`index build --corpus CORPUS --recipe recipe.json --out INDEX`)"
    )
    if store.get("index"):
        line += f"; the index bench measured is kept at `{store['index']}` (`embedproof serve {store['index']}`)"
    return line + "."


def evidence_markdown(pick: dict) -> str:
    """The evidence pick as Markdown: the pick and why, every number with its interval, and what budgets cost."""
    b, stats = pick["budgets"], pick["statistics"]
    budget = (
        f"p99 ≤ {b['latency_ms']:g} ms (upper bound of its interval)"
        if b["latency_ms"] is not None
        else "no latency budget"
    )
    budget += (
        f", storage ≤ {b['storage_gb']:g} GiB for {b['vectors']:,} vectors"
        if b["storage_gb"] is not None
        else f", no storage budget; sizes for {b['vectors']:,} vectors"
    )
    lines = [
        f"Measured on {pick['dataset']} ({pick['queries']} queries): "
        f"{pick['feasible']} of {pick['measured']} runs fit ({budget})."
    ]
    if note := _projection_note(pick):
        lines.append(note)
    if pick["machine_busy"]:
        lines.append(
            f"- ⚠ latency was measured on a busy machine ({pick['machine_busy']}): "
            "re-run `bench` on a quiet one before trusting p99."
        )
    for r in pick["straddling"]:
        lines.append(
            f"- {_describe(r)} straddles the latency budget: its p99 interval contains {b['latency_ms']:g} ms."
        )
    if pick["choice"] is None:
        lines.append("**No measured run fits the budgets.**")
    else:
        best, choice = pick["best"], pick["choice"]
        lines.append(
            f"**Pick** {_describe(choice)}" + (" (on the Pareto frontier)" if choice["on_frontier"] else "") + "."
        )
        level = 100 * (1 - stats["alpha"])
        if best["ndcg@10_ci"] is None:
            lines.append(
                "Why: it has the best nDCG@10 that fits; the file has no per-query scores, so whether other runs "
                "are tied with it could not be tested."
            )
        elif choice["run"] == best["run"] and len(pick["tied"]) == 1:
            lines.append(
                f"Why: it has the best nDCG@10 that fits, and every other run that fits is significantly worse "
                f"(paired randomisation test, Holm-corrected, {level:g}% level)."
            )
        else:
            lines.append(
                f"Why: {len(pick['tied'])} runs that fit are statistically tied with the best one, `{best['run']}` "
                f"(nDCG@10 {best['ndcg@10']:.4f}{_interval(best['ndcg@10_ci'])}): none is significantly worse "
                f"(paired randomisation test over queries, Holm-corrected, {level:g}% level), so the cheapest "
                "of them is picked (bytes, then p99)" + _versus(choice) + "."
            )
        lines.append(_serving(choice))
        if pick["runner_up"]:
            lines.append(f"Runner-up {_describe(pick['runner_up'])}" + _versus(pick["runner_up"]) + ".")
    names = {
        "latency": "Dropping the latency budget",
        "storage": "Dropping the storage budget",
        "both": "Dropping both budgets",
    }
    for key, r in pick["relaxing"].items():
        if "gain_points" not in r:
            lines.append(f"{names[key]} would allow {_describe(r)}.")
        elif "p_holm" not in r:
            lines.append(
                f"{names[key]} would allow {_describe(r)}: {r['gain_points']:+.2f} points by point estimate "
                "(no per-query scores, so the gain is not tested)."
            )
        elif r["significant"]:
            lines.append(
                f"{names[key]} would buy +{r['gain_points']:.2f} points "
                f"[{r['gain_ci_points'][0]:+.2f}, {r['gain_ci_points'][1]:+.2f}] "
                f"(p = {r['p_holm']:.3g} Holm): {_describe(r)}."
            )
        else:
            lines.append(
                f"{names[key]} would not buy a significant gain: {_describe(r)} is {r['gain_points']:+.2f} points "
                f"[{r['gain_ci_points'][0]:+.2f}, {r['gain_ci_points'][1]:+.2f}] (p = {r['p_holm']:.3g} Holm)."
            )
    if not pick["relaxing"] and pick["choice"] is not None:
        lines.append("Relaxing the budgets would not buy quality: nothing outside them measured better.")
    if pick["unstable"]:
        lines.append(
            f"- ⚠ latency rounds disagreed for {', '.join(f'`{n}`' for n in pick['unstable'])}: "
            "their p99 is not repeatable."
        )
    return _paragraphs(lines)


def _paragraphs(lines: list[str]) -> str:
    """Each line its own paragraph (a blank line between), list items kept together: rendered Markdown would
    otherwise merge the warning, Pick, Why, Serve it and Runner-up lines into one paragraph."""
    text = lines[0]
    for before, line in zip(lines, lines[1:]):
        text += ("\n" if before.startswith("- ") and line.startswith("- ") else "\n\n") + line
    return text


def write_recipe(pick: dict, path: Path) -> None:
    """Write the picked run's recipe as JSON (what `index build --recipe` reads); no pick is an error."""
    choice = pick["choice"]
    if choice is None:
        raise EmbedproofError("--recipe-out: no measured run fits the budgets, so there is no recipe to write")
    if choice.get("recipe") is None:
        raise EmbedproofError(f"--recipe-out: the pick `{choice['run']}` records no recipe; bench it again to get one")
    write_json_atomic(path, choice["recipe"])
