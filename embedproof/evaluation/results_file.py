"""Read a results.json back (for `report` and `pick --results`), refusing truncated or foreign files by name.

bench writes results.json atomically (`write_json_atomic`), so a truncated file means someone else cut it or it
is not ours; either way the reader says which file and which field, instead of a KeyError deep in a plot.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from embedproof.errors import DatasetError, InvalidInputError
from embedproof.evaluation.run_result import ResultsFile, RunResult, legacy_name
from embedproof.search.recipe import SPARSE_FAMILIES, Component, Recipe


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def load_results(path: str | Path) -> ResultsFile:
    """The parsed results file, checked for the fields report and pick read; DatasetError names file and field."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise DatasetError(f"cannot read results file ({exc.strerror or exc})", path) from exc
    except UnicodeDecodeError as exc:
        raise DatasetError(f"not a readable embedproof results file (not UTF-8 at byte {exc.start})", path) from exc
    try:
        results = json.loads(text)
    except json.JSONDecodeError as exc:
        ends_early = exc.pos >= len(text.rstrip()) - 2 or exc.msg.startswith(
            "Unterminated string"
        )  # EOF inside a value
        hint = " (the file ends early: truncated?)" if ends_early else ""
        raise DatasetError(f"not valid JSON: {exc.msg}{hint}", path, exc.lineno) from exc
    if not isinstance(results, dict) or not isinstance(results.get("runs"), list):
        raise DatasetError(
            "not a readable embedproof results file "
            "(expected an object with a 'runs' list, as `embedproof bench` writes)",
            path,
        )
    for i, run in enumerate(results["runs"]):
        where = f"runs[{i}]"
        if not isinstance(run, dict):
            raise DatasetError("each run must be an object", path, field=where)
        # what pareto.run_name reads: the name, or (files before names) a recipe's mode or a model run's fields
        recipe = "stages" in run or "recipe" in run
        names = ("name",) if "name" in run else ("mode",) if recipe else ("model", "mode", "precision")
        for key in names:
            if not isinstance(run.get(key), str):
                raise DatasetError("missing or not a string", path, field=f"{where}.{key}")
        if not isinstance(run.get("metrics"), dict) or not _number(run["metrics"].get("ndcg@10")):
            raise DatasetError("missing or non-numeric metrics.ndcg@10", path, field=f"{where}.metrics")
        for key in ("bytes_per_vector", "bytes_per_passage"):
            if run.get(key) is not None and not _number(run[key]):
                raise DatasetError("must be a number", path, field=f"{where}.{key}")
        level, field = run.get("latency") or {}, f"{where}.latency"
        for key in ("online_ms", "total"):  # what pareto.run_p99 walks: run.latency or {} → online_ms → total → p99
            if not isinstance(level, dict):
                raise DatasetError("must be an object", path, field=field)
            level, field = level.get(key, {}), f"{field}.{key}"
        if not isinstance(level, dict) or (level.get("p99") is not None and not _number(level["p99"])):
            raise DatasetError("must be an object with a numeric p99", path, field=field)
    if not isinstance(results.get("dataset", {}), dict):
        raise DatasetError("must be an object", path, field="dataset")
    for run in results["runs"]:
        upgrade_run(run)
    return results


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
    from embedproof.evaluation.pareto import run_name

    for run in results["runs"]:
        if name in (run.get("name"), run_name(run)):
            return run
    known = ", ".join(repr(run_name(r)) for r in results["runs"])
    raise InvalidInputError(f"--run: no run named {name!r} in the results (runs: {known})")
