"""`embedproof bench`: model runs and recipes on one collection, each set-up once, every run a recipe.

One workspace per encoder backend holds the corpus's encodings, so a model is encoded once for its model runs
(model_runs.py) and the recipes that use it (bench_recipes.py); latency of all runs is measured together at the
end. results.json fields are listed in `evaluation/run_result.py`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

from embedproof import __version__
from embedproof.backends import UnsupportedBackendError
from embedproof.datasets.loading import Dataset
from embedproof.errors import ModelNotAvailableError
from embedproof.evaluation.bench_options import (
    BenchOptions,
    ProgressFactory,
    builtin_model,
    latency_plan,
    measure_plan,
    recipe_backend,
)
from embedproof.evaluation.evidence import annotate
from embedproof.evaluation.latency import machine_info
from embedproof.evaluation.model_runs import bench_model, bench_workspace
from embedproof.evaluation.run_result import ResultsFile, RunResult, is_model_run
from embedproof.search.pipeline import Workspace
from embedproof.search.recipe import Recipe


def run_bench(
    dataset: Dataset,
    models: list[str],
    options: BenchOptions | None = None,
    progress: ProgressFactory | None = None,
    on_run: Callable[[dict], None] | None = None,
    on_skip: Callable[[str, Exception], None] | None = None,
    recipes: list | None = None,
    tune_split: str | None = None,
) -> ResultsFile:
    """Bench every model (and every recipe) on one dataset; returns the results.json document.

    `on_run(results)` is called after each model with the document so far (the CLI saves it, so an
    interrupted bench keeps finished runs). With `on_skip`, a model whose weights are missing is reported
    there and skipped instead of stopping the bench.
    """
    options = options or BenchOptions()
    results = {
        "embedproof_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "dataset": dataset.summary(),
        "settings": {
            "top_k": options.top_k,
            "batch_size": options.batch_size,
            "max_tokens": options.max_tokens,
            "dims": options.dims,
            "precisions": options.precisions,
            "rescore_multiplier": options.rescore_multiplier,
            "usd_per_gb_month": options.usd_per_gb_month,
            "instance_usd_per_hour": options.instance_usd_per_hour,
            "utilisation": options.utilisation,
            "latency_queries": options.latency_queries,
            "latency_rounds": options.latency_rounds,
            "encoder_backends": list(options.backends),
            "condensed": options.condensed,
        },
        "statistics": options.statistics.to_dict(),
        "runs": [],
    }
    if dataset.split == "pseudo":  # built here, seen nowhere else: the file shows what was measured
        results["queries"] = dict(dataset.queries)
    plan = latency_plan(dataset, options)
    try:
        _bench_all(dataset, models, options, progress, on_run, on_skip, recipes, tune_split, plan, results)
    finally:
        plan.close()
    annotate(results)
    return results


def _bench_all(dataset, models, options, progress, on_run, on_skip, recipes, tune_split, plan, results) -> None:
    """Every model's and recipe's runs into `results`, each set-up once, then the latency of all of them, timed
    together. One workspace per encoder backend: a model's corpus is encoded once for its model runs and recipes."""
    workspaces: dict[str, Workspace] = {}

    def workspace(backend: str) -> Workspace:
        if backend not in workspaces:
            workspaces[backend] = bench_workspace(dataset, options, backend, progress)
        return workspaces[backend]

    shared = recipe_backend(options) if recipes else None
    setups: dict[str, dict] = {}  # set-up → model run measured with the recipes' backend
    for name in models:
        for backend in ["torch"] if builtin_model(name) else list(dict.fromkeys(options.backends or ["torch"])):
            try:
                entries = bench_model(dataset, name, options, progress, backend, plan, workspace(backend))
            except (ModelNotAvailableError, UnsupportedBackendError) as exc:
                # A torch-only family (SPLADE, BGE-M3) in a bench that includes torch still runs there: skip the rest.
                torch_only = isinstance(exc, UnsupportedBackendError) and "torch" in options.backends
                if on_skip is None and not torch_only:
                    raise
                if on_skip is not None:
                    on_skip(name if backend == "torch" else f"{name} [{backend}]", exc)
                continue
            if backend == shared or builtin_model(name):
                setups.update({Recipe(**e["recipe"]).setup(): e for e in entries})
            results["runs"].extend(entries)
            if on_run:
                on_run(results)
    backend_retention(results["runs"])
    if recipes:
        from embedproof.evaluation.bench_recipes import bench_recipes

        todo = distinct_setups(recipes, setups)
        results["runs"].extend(bench_recipes(dataset, todo, options, progress, tune_split, plan, workspace(shared)))
        if on_run:
            on_run(results)
    load = measure_plan(plan, options, progress)
    if load is not None:
        results["load"] = load


def distinct_setups(recipes: list[Recipe], measured: dict[str, dict]) -> list[Recipe]:
    """The recipes whose set-up is not measured yet, each once. A recipe that repeats a model run's set-up names
    that run instead (`--mode dense --model-runs` measures the dense model once, as "dense")."""
    todo, seen = [], set()
    for recipe in recipes:
        setup = recipe.setup()
        if setup in seen:
            continue
        seen.add(setup)
        if setup in measured:
            measured[setup]["name"], measured[setup]["recipe"] = recipe.name, recipe.to_dict()
        else:
            todo.append(recipe)
    return todo


def backend_retention(runs: list[RunResult]) -> None:
    """Compare each non-torch run with the torch fp32 run of the same model and variant in the same bench.

    Adds `backend_vs_torch`: nDCG@10 retention and the documents/s ratio (None when either encode was cached).
    """

    def key(r):
        return (
            r.get("model"),
            r.get("mode"),
            r.get("dim"),
            r.get("precision"),
            json.dumps(r.get("chunking"), sort_keys=True),
        )

    torch_runs = {key(r): r for r in runs if r.get("encoder_backend") == "torch" and is_model_run(r)}
    for run in runs:
        ref = torch_runs.get(key(run))
        if run.get("encoder_backend", "torch") == "torch" or ref is None:
            continue
        ours, theirs = run["timings"].get("documents_per_s"), ref["timings"].get("documents_per_s")
        base = ref["metrics"].get("ndcg@10")
        run["backend_vs_torch"] = {
            "ndcg@10_retention": run["metrics"]["ndcg@10"] / base if base else None,
            "documents_per_s_ratio": ours / theirs if ours and theirs else None,
        }
