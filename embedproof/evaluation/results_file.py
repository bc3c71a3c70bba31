"""Read a results.json back (for `report`, `compare`, `pick --results` and `bench --baseline`), refusing truncated,
oversized or foreign files by name.

bench writes results.json atomically (`write_json_atomic`), so a truncated file means someone else cut it or it
is not ours; either way the reader says which file and which field, instead of a KeyError deep in a plot. The
file is read through `read_json_file` (bounded size, nesting and integers); the shape checked here is every field
the readers walk: a hand-edited value that would crash a reader, or silently change a verdict (a negative size, two
runs with one name), is refused naming the field.
"""

from __future__ import annotations

import math
from pathlib import Path

from embedproof.errors import DatasetError, InvalidInputError
from embedproof.evaluation.pareto import run_name
from embedproof.evaluation.run_result import ResultsFile, RunResult, legacy_name
from embedproof.files import read_json_file
from embedproof.search.recipe import SPARSE_FAMILIES, Component, Recipe

# Objects a reader walks with `.get`: anything else in their place is refused (absent or null means "not measured").
_TOP_OBJECTS = ("dataset", "machine", "settings", "statistics", "load", "power")
_RUN_OBJECTS = (
    "timings",
    "cost",
    "pareto",
    "retention",
    "vs_best",
    "intervals",
    "per_query",
    "store",
    "backend_vs_torch",
    "cache_hits",
    "metrics_without_rescoring",
)
# Sizes and money: a measured quantity that cannot be negative (a negative size would win every Pareto comparison).
_RUN_NON_NEGATIVE = ("bytes_per_vector", "bytes_per_passage", "index_bytes", "storage_usd_month_per_1m")


def _number(value) -> bool:
    """A finite int or float (bool is not a number here); an int too large for a float is not finite either."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _non_negative(value) -> bool:
    return _number(value) and value >= 0


def load_results(path: str | Path) -> ResultsFile:
    """The parsed results file, checked for the fields report, compare and pick read; DatasetError names file and
    field."""
    path = Path(path)
    results = read_json_file(path, "results file")
    if not isinstance(results, dict) or not isinstance(results.get("runs"), list):
        raise DatasetError(
            "not a readable embedproof results file "
            "(expected an object with a 'runs' list, as `embedproof bench` writes)",
            path,
        )
    for key in _TOP_OBJECTS:
        if results.get(key) is not None and not isinstance(results[key], dict):
            raise DatasetError("must be an object", path, field=key)
    if results.get("statistics_warnings") is not None and not isinstance(results["statistics_warnings"], list):
        raise DatasetError("must be a list", path, field="statistics_warnings")
    names: dict[str, int] = {}
    for i, run in enumerate(results["runs"]):
        _check_run(run, f"runs[{i}]", path)
        upgrade_run(run)  # a file from an earlier release: every run named, with its recipe
        name = run_name(run)
        if name in names:  # compare, pick and the report key runs by name: a second one would silently vanish
            raise DatasetError(f"run name {name!r} is also runs[{names[name]}]'s", path, field=f"runs[{i}]")
        names[name] = i
    return results


def _check_run(run, where: str, path: Path) -> None:
    if not isinstance(run, dict):
        raise DatasetError("each run must be an object", path, field=where)
    # what pareto.run_name reads: the name, or (files before names) a recipe's mode or a model run's fields
    recipe = "stages" in run or "recipe" in run
    keys = ("name",) if "name" in run else ("mode",) if recipe else ("model", "mode", "precision")
    for key in keys:
        if not isinstance(run.get(key), str):
            raise DatasetError("missing or not a string", path, field=f"{where}.{key}")
    if "encoder_backend" in run and not isinstance(run["encoder_backend"], str):
        raise DatasetError("must be a string", path, field=f"{where}.encoder_backend")
    if run.get("dim") is not None and (
        isinstance(run["dim"], bool) or not isinstance(run["dim"], int) or run["dim"] < 1
    ):
        raise DatasetError("must be a positive whole number", path, field=f"{where}.dim")
    metrics = run.get("metrics")
    if not isinstance(metrics, dict) or not _number(metrics.get("ndcg@10")):
        raise DatasetError("missing or non-numeric metrics.ndcg@10", path, field=f"{where}.metrics")
    for name, value in metrics.items():
        if not (_number(value) and 0 <= value <= 1):
            raise DatasetError("must be a number in [0, 1]", path, field=f"{where}.metrics.{name}")
    for key in _RUN_NON_NEGATIVE:
        if run.get(key) is not None and not _non_negative(run[key]):
            raise DatasetError("must be a number of at least 0", path, field=f"{where}.{key}")
    for key in _RUN_OBJECTS:
        if run.get(key) is not None and not isinstance(run[key], dict):
            raise DatasetError("must be an object", path, field=f"{where}.{key}")
    for qid, scores in (run.get("per_query") or {}).items():
        if not isinstance(scores, dict):
            raise DatasetError("must be an object of metric scores", path, field=f"{where}.per_query.{qid}")
        bad = next((metric for metric, value in scores.items() if not _number(value)), None)
        if bad is not None:
            raise DatasetError(f"{bad!r} is not a number", path, field=f"{where}.per_query.{qid}")
    level, field = run.get("latency") or {}, f"{where}.latency"
    for key in ("online_ms", "total"):  # what pareto.run_p99 walks: run.latency or {} → online_ms → total → p99
        if not isinstance(level, dict):
            raise DatasetError("must be an object", path, field=field)
        level, field = level.get(key, {}), f"{field}.{key}"
    if not isinstance(level, dict):
        raise DatasetError("must be an object with a numeric p99", path, field=field)
    for key in ("p50", "p95", "p99"):
        if level.get(key) is not None and not _non_negative(level[key]):
            raise DatasetError("must be a number of at least 0", path, field=f"{field}.{key}")


def upgrade_run(run: RunResult) -> None:
    """Give a run written by an earlier release what every run has now: its name, its recipe (a model run's
    one-model recipe), `model` as one model and `mode` as how the first pass retrieves."""
    from embedproof.models.card import get_card

    if "name" in run:
        return
    run["name"] = legacy_name(run)
    if "stages" in run or "recipe" in run:  # a composed recipe: `model` was "a + b → c", `mode` its name
        recipe = run.get("recipe")
        if not isinstance(recipe, dict) or not _valid(recipe):
            return
        components = [Component.of_first_pass(m) for m in recipe["first_pass"]]
        run["models"] = Recipe(**recipe).models()
        run["model"] = run["models"][0]
        if len(components) > 1:
            run["mode"] = "hybrid"
        elif components[0].kind == "tokens":
            run["mode"] = "multivector"
        else:
            run["mode"] = "sparse" if get_card(components[0].model).family in SPARSE_FAMILIES else "dense"
        return
    chunking = run.get("chunking") or {}
    if run["mode"] == "dense-chunked":
        run["mode"] = "dense"
    dim = run.get("dim")
    fields = {
        "name": run["name"],
        "first_pass": [run["model"]],
        "dim": None if dim == get_card(run["model"]).dim else dim,
        "precision": run["precision"],
        "rescore_multiplier": run.get("rescore_multiplier", 4),
        "candidates": run.get("top_k", 100),
        "chunk_tokens": chunking.get("window_tokens"),
        "chunk_overlap": chunking.get("overlap_tokens", 0),
        "allow_unvalidated_dims": dim is not None and not run.get("validated", True),
    }
    run["models"] = [run["model"]]
    if _valid(fields):
        run["recipe"] = Recipe(**fields).to_dict()


def _valid(fields: dict) -> bool:
    try:
        Recipe(**fields)
    except (TypeError, InvalidInputError):
        return False
    return True


def find_run(results: ResultsFile, name: str) -> RunResult:
    """The run named `name` (its recipe's name, or its name as tables show it); an error lists the names."""
    for run in results["runs"]:
        if name in (run.get("name"), run_name(run)):
            return run
    known = ", ".join(repr(run_name(r)) for r in results["runs"])
    raise InvalidInputError(f"--run: no run named {name!r} in the results (runs: {known})")
