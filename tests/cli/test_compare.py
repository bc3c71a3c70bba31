"""The `embedproof compare` commands shown in docs/regression-gate.md, run on a fresh demo bench."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from embedproof.cli import app
from embedproof.datasets.loading import load_dataset
from embedproof.evaluation.bench import run_bench
from embedproof.evaluation.bench_options import BenchOptions
from embedproof.evaluation.pareto import run_name

DOC = Path(__file__).resolve().parents[2] / "docs" / "regression-gate.md"


def documented_commands() -> list[tuple[str, int, str]]:
    """(command line, documented exit code, documented output) of every `$ embedproof compare` in a console block."""
    found = []
    for block in re.findall(r"```console\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S):
        match = re.match(r"\$ (embedproof compare [^\n]*)\n(.*)\$ echo \$\?\n(\d+)", block, flags=re.S)
        assert match, block[:200]
        found.append((match.group(1), int(match.group(3)), match.group(2)))
    return found


def test_the_doc_shows_compare_commands():
    commands = documented_commands()
    assert len(commands) >= 3 and {code for _, code, _ in commands} == {0, 1}


def test_documented_commands_give_the_documented_answers(minilm_path, tmp_path, monkeypatch):
    """Quality numbers and exit codes as the doc shows them (latency differs by machine, so a budget's verdict may)."""
    results = run_bench(
        load_dataset("demo"),
        ["sentence-transformers/all-MiniLM-L6-v2", "hashing"],
        BenchOptions(precisions=["float32", "int8"], latency_queries=10),
    )
    runs = {run_name(r): r for r in results["runs"]}
    files = {
        "baseline.json": "all-MiniLM-L6-v2 dense d384 float32",
        "new.json": "all-MiniLM-L6-v2 dense d384 int8",
        "hashing.json": "hashing dense d1024 float32",
    }
    for name, run in files.items():
        (tmp_path / name).write_text(json.dumps({**results, "runs": [runs[run]]}))
    monkeypatch.chdir(tmp_path)
    for line, code, shown in documented_commands():
        result = CliRunner().invoke(app, shlex.split(line)[1:])
        assert "Traceback" not in result.output
        if "--latency-ms" in line:
            assert result.exit_code in (0, 1), result.output
        else:
            assert result.exit_code == code, (line, result.output)
        rows = re.findall(r"^ (?:ndcg@10|recall@100) +│ +(\S+) +│ +(\S+) +│ +(\S+) +│", shown, flags=re.M)
        assert rows or "compare" not in line, shown
        for row in rows:
            assert all(cell in result.stdout for cell in row), (line, row, result.stdout)
    if any("--markdown gate.md" in line for line, _, _ in documented_commands()):
        assert (tmp_path / "gate.md").read_text().startswith("## embedproof compare")


@pytest.mark.parametrize("option", ["--pair", "--latency-ms", "--alpha", "--markdown", "--json"])
def test_documented_options_exist(option):
    assert option in CliRunner().invoke(app, ["compare", "--help"]).stdout
