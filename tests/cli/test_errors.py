"""One error path: every bad option value prints one `error:` line naming the option and exits 2, never a traceback.

Each case fails before any data is loaded or any model runs, so the whole table takes a second or two.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from embedproof.cli import app
from embedproof.errors import DatasetError, EmbedproofError, InvalidInputError

runner = CliRunner()

# (arguments, text the one error line must contain); {file} is a regular file, {dir} an empty folder
BAD = [
    # the examples of issue 15
    (["bench", "-m", "hashing", "--precision", "int3"], "--precision"),
    (["bench", "--mode", "hybrid", "-m", "hashing", "-m", "bm25", "--tune-on", "test"], "--tune-on"),
    (["bench", "-m", "hashing", "--output", "/proc/x/results.json"], "--output"),
    (["bench", "-m", "hashing", "--output", "{file}/results.json"], "--output"),
    (["search", "{dir}", "a query", "--top-k", "-5"], "--top-k"),
    (["bench", "-m", "hashing", "--rescore-multiplier", "-1"], "--rescore-multiplier"),
    (["cost", "--dim", "-1"], "--dim"),
    (["models", "show", ""], "NAME"),
    # bench: counts, fractions, prices, names, files
    (["bench", "--top-k", "0"], "--top-k"),
    (["bench", "--batch-size", "0"], "--batch-size"),
    (["bench", "--max-tokens", "0"], "--max-tokens"),
    (["bench", "--dims", "384,0"], "--dims"),
    (["bench", "--dims", "384,big"], "--dims"),
    (["bench", "--precision", ","], "--precision"),
    (["bench", "--rerank-top", "0"], "--rerank-top"),
    (["bench", "--latency-queries", "0"], "--latency-queries"),
    (["bench", "--latency-rounds", "0"], "--latency-rounds"),
    (["bench", "--bootstrap-resamples", "10"], "--bootstrap-resamples"),
    (["bench", "--permutation-resamples", "10"], "--permutation-resamples"),
    (["bench", "--seed", "-1"], "--seed"),
    (["bench", "--alpha", "0"], "--alpha"),
    (["bench", "--alpha", "1.5"], "--alpha"),
    (["bench", "--utilisation", "0"], "--utilisation"),
    (["bench", "--utilisation", "2"], "--utilisation"),
    (["bench", "--utilisation", "nan"], "--utilisation"),
    (["bench", "--usd-per-gb-month", "-1"], "--usd-per-gb-month"),
    (["bench", "--instance-usd-per-hour", "-0.5"], "--instance-usd-per-hour"),
    (["bench", "--chunk-tokens", "0"], "--chunk-tokens"),
    (["bench", "--chunk-overlap", "-1"], "--chunk-overlap"),
    (["bench", "--chunk-tokens", "64", "--chunk-overlap", "64"], "--chunk-overlap"),
    (["bench", "--corpus", "demo", "--pseudo-queries", "0"], "--pseudo-queries"),
    (["bench", "--mode", "fast"], "--mode"),
    (["bench", "--backend", "gpu-magic"], "--backend"),
    (["bench", "--model", ""], "--model"),
    (["bench", "--dataset", ""], "--dataset"),
    (["bench", "--split", " "], "--split"),
    (["bench", "--tune-on", ""], "--tune-on"),
    (["bench", "--output", "{dir}"], "--output"),
    (["bench", "--run-dir", "{file}/runs"], "--run-dir"),
    (["bench", "--cache-dir", "{file}/cache"], "--cache-dir"),
    (["bench", "--mode", "hybrid+rerank", "--reranker", "colbert"], "--reranker"),
    (["bench", "--mode", "hybrid+rerank", "--reranker", "maxsim:"], "--reranker"),
    (["bench", "--pair", "a=b"], "--pair"),
    (["bench", "--latency-budget", "50"], "--latency-budget"),
    (["bench", "--baseline", "{file}", "--latency-budget", "0"], "--latency-budget"),
    # cost
    (["cost", "--dim", "0"], "--dim"),
    (["cost", "--dim", "384", "--precision", "int3"], "--precision"),
    (["cost", "--dim", "384", "--usd-per-gb-month", "-1"], "--usd-per-gb-month"),
    (["cost", "--dim", "384", "--vectors", "lots"], "vector count"),
    (["cost", "--dim", "384", "--vectors", "-5"], "vector count"),
    (["cost", "--dim", "384", "--vectors", "1e400"], "vector count"),
    # report, profile
    (["report", "{file}", "--output", "{file}/report.html"], "--output"),
    (["profile", "demo", "--json", "{file}/profile.json"], "--json"),
    (["profile", ""], "SOURCE"),
    # pick
    (["pick", "--docs", "0"], "--docs"),
    (["pick", "--docs", "1000", "--dim", "0"], "--dim"),
    (["pick", "--docs", "1000", "--target", "moon"], "--target"),
    (["pick", "--docs", "1000", "--domain", "astrology"], "--domain"),
    (["pick", "--docs", "1000", "--avg-tokens", "0"], "--avg-tokens"),
    (["pick", "--docs", "1000", "--p99-tokens", "-1"], "--p99-tokens"),
    (["pick", "--docs", "1000", "--latency-ms", "0"], "--latency-ms"),
    (["pick", "--docs", "1000", "--storage-gb", "-1"], "--storage-gb"),
    (["pick", "--docs", "1000", "--languages", ","], "--languages"),
    (["pick", "--docs", "1000", "--model", ""], "--model"),
    (["pick", "--results", "{file}", "--vectors", "0"], "--vectors"),
    (["pick", "--profile", "{file}"], "--profile"),
    # dataset, models
    (["dataset", "check", ""], "SOURCE"),
    (["dataset", "check", "demo", "--split", ""], "--split"),
    (["models", "show", "   "], "NAME"),
    # index, search, serve
    (
        ["index", "build", "--corpus", "demo", "--out", "{dir}/i", "--mode", "dense", "--chunk-size", "0"],
        "--chunk-size",
    ),
    (["index", "build", "--corpus", "demo", "--out", "{dir}/i", "--mode", "fast"], "--mode"),
    (["index", "build", "--corpus", "", "--out", "{dir}/i", "--mode", "dense"], "--corpus"),
    (["index", "build", "--corpus", "demo", "--out", "{file}/i", "--mode", "dense"], "--out"),
    (
        ["index", "build", "--corpus", "demo", "--out", "{dir}/i", "--mode", "dense", "--qdrant-shards", "0"],
        "--qdrant-shards",
    ),
    (
        ["index", "build", "--corpus", "demo", "--out", "{dir}/i", "--mode", "dense", "--qdrant-replicas", "0"],
        "--qdrant-replicas",
    ),
    (["index", "build", "--corpus", "demo", "--out", "{dir}/i", "--mode", "dense", "--edge-m", "-1"], "--edge-m"),
    (["index", "build", "--corpus", "demo", "--out", "{dir}/i", "--mode", "dense", "--edge-ef", "0"], "--edge-ef"),
    (
        ["index", "build", "--corpus", "demo", "--out", "{dir}/i", "--mode", "dense", "--edge-ef-construct", "0"],
        "--edge-ef-construct",
    ),
    (
        ["index", "build", "--corpus", "demo", "--out", "{dir}/i", "--mode", "dense", "--edge-oversampling", "0.5"],
        "--edge-oversampling",
    ),
    (
        ["index", "build", "--corpus", "demo", "--out", "{dir}/i", "--mode", "dense", "--edge-quantization", "int3"],
        "--edge-quantization",
    ),
    (
        ["index", "build", "--corpus", "demo", "--out", "{dir}/i", "--mode", "dense", "--backend", "gpu-magic"],
        "--backend",
    ),
    (["index", "build", "--corpus", "demo", "--out", "{dir}/i", "--mode", "dense", "-m", ""], "--model"),
    (["index", "build", "--corpus", "demo", "--out", "{dir}/i", "--mode", "dense", "--qdrant-url", ""], "--qdrant-url"),
    (["index", "build", "--corpus", "demo", "--out", "{dir}/i", "--mode", "dense", "--ray", " "], "--ray"),
    # engine settings belong to the edge store and to the recipe that was measured with them
    (["index", "build", "--corpus", "demo", "--out", "{dir}/i", "--mode", "dense", "--edge-ef", "64"], "--edge-"),
    (
        ["index", "build", "--corpus", "demo", "--out", "{dir}/i", "--mode", "dense", "--qdrant-path", "q"],
        "--qdrant-path",
    ),
    (
        ["index", "build", "--corpus", "demo", "--out", "{dir}/i", "--recipe", "{engine}", "--backend", "embedded"],
        "--backend",
    ),
    (
        ["index", "build", "--corpus", "demo", "--out", "{dir}/i", "--recipe", "{engine}", "--backend", "qdrant"],
        "--backend",
    ),
    (
        ["index", "build", "--corpus", "demo", "--out", "{dir}/i", "--recipe", "{engine}", "--edge-ef", "32"],
        "--edge-ef",
    ),
    (["bench", "--mode", "dense", "-m", "hashing", "--edge-ef", "64"], "--edge-"),
    (["bench", "-m", "hashing", "--backend", "edge"], "--backend"),
    (["bench", "--mode", "dense", "-m", "hashing", "--backend", "torch", "--backend", "onnx"], "--backend"),
    (
        ["bench", "--mode", "dense", "-m", "hashing", "--backend", "edge", "--edge-quantization", "pq"],
        "--edge-quantization",
    ),
    (
        ["bench", "--mode", "dense", "-m", "hashing", "--backend", "edge", "--edge-oversampling", "0"],
        "--edge-oversampling",
    ),
    (["bench", "--recipe", "{engine}", "--backend", "edge", "--edge-ef", "32"], "--edge-ef"),
    (["bench", "--mode", "dense", "-m", "hashing", "--backend", "edge", "--engine-dir", "{file}/x"], "--engine-dir"),
    (["pick", "--docs", "1000", "--recipe-out", "{dir}/r.json"], "--recipe-out"),
    (["index", "add", "{dir}", "--corpus", ""], "--corpus"),
    (["search", "{dir}", "a query", "--top-k", "0"], "--top-k"),
    (["search", "{dir}", "  "], "query"),
    (["serve", "{dir}", "--port", "0"], "--port"),
    (["serve", "{dir}", "--port", "70000"], "--port"),
    (["serve", "{dir}", "--api-key", ""], "--api-key"),
    (["serve", "{dir}", "--host", ""], "--host"),
    # compare
    (["compare", "{file}", "--alpha", "2"], "--alpha"),
    (["compare", "{file}", "--latency-ms", "0"], "--latency-ms"),
    (["compare", "{file}", "--pair", "no-equals-sign"], "--pair"),
    (["compare", "{file}", "{file}", "--markdown", "{file}/gate.md"], "--markdown"),
]


@pytest.fixture
def places(tmp_path):
    file = tmp_path / "file.txt"
    file.write_text("not JSON, and not a folder\n")
    folder = tmp_path / "empty"
    folder.mkdir()
    engine = tmp_path / "engine.json"  # a recipe measured on the engine with hnsw_ef 64
    engine.write_text('{"name": "e", "first_pass": ["hashing"], "engine": {"ef": 64}}')
    return {"file": str(file), "dir": str(folder), "engine": str(engine)}


def one_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    return lines[0]


@pytest.mark.parametrize("args, names", BAD, ids=[" ".join(args) for args, _ in BAD])
def test_a_bad_value_is_one_line_naming_it_and_exit_2(args, names, places):
    result = runner.invoke(app, [a.format(**places) for a in args])
    assert "Traceback" not in result.output
    assert result.exit_code == 2, result.output
    line = one_error_line(result.stderr)
    assert line.startswith(f"error: {names}" if names.startswith("-") else "error: ") and names in line, line
    assert result.stdout.strip() == ""


@pytest.mark.parametrize(
    "args, names",
    [
        (["-m", "embedproof", "bench", "-m", "hashing", "--precision", "int3"], "--precision"),
        (["-m", "embedproof", "cost", "--dim", "-1"], "--dim"),
    ],
)
def test_the_installed_entry_point_answers_the_same_way(args, names):
    done = subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "80"},
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    line = one_error_line(done.stderr)
    assert line.startswith("error: ") and names in line
    assert done.stdout == ""


def test_invalid_input_is_a_project_error_and_a_value_error():
    from embedproof.search.recipe import RecipeFieldError

    assert issubclass(InvalidInputError, EmbedproofError) and issubclass(InvalidInputError, ValueError)
    assert issubclass(RecipeFieldError, InvalidInputError)
    assert not issubclass(DatasetError, InvalidInputError)


def test_markup_in_a_message_is_printed_as_written(monkeypatch):
    """A message holding rich markup (`[dimensions=512]`) prints literally, on one line."""
    import embedproof.evaluation.cost

    def refuse(text):
        raise InvalidInputError(f"--vectors: {text!r} [bold]is not[/bold] a count [dimensions=512]")

    monkeypatch.setattr(embedproof.evaluation.cost, "parse_count", refuse)
    result = runner.invoke(app, ["cost", "--dim", "8", "--vectors", "x"])
    assert result.exit_code == 2
    assert one_error_line(result.stderr) == "error: --vectors: 'x' [bold]is not[/bold] a count [dimensions=512]"


def test_an_unreadable_or_unwritable_file_found_late_is_one_line_too(monkeypatch, tmp_path):
    """An OSError the up-front checks could not foresee (the disk fills, a permission changes) is still one line."""
    import embedproof.files

    def full(path, data):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(embedproof.files, "write_json_atomic", full)
    result = runner.invoke(app, ["profile", "demo", "--json", str(tmp_path / "p.json")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "No space left on device" in one_error_line(result.stderr)
