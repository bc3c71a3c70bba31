"""Read a results.json back (for `report` and `pick --results`), refusing truncated or foreign files by name.

bench writes results.json atomically (`write_json_atomic`), so a truncated file means someone else cut it or it
is not ours; either way the reader says which file and which field, instead of a KeyError deep in a plot.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from embedproof.errors import DatasetError
from embedproof.evaluation.run_result import ResultsFile


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
        names = ("mode",) if "recipe" in run else ("model", "mode", "precision")  # what pareto.run_name reads
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
    return results
