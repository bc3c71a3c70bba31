"""Evidence mode hands over what it picked: the recipe (engine settings included) that `index build` serves."""

import json

import pytest
from typer.testing import CliRunner

from embedproof.cli import app

runner = CliRunner()


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output
    return result


def test_the_picked_engine_recipe_builds_the_engine_index_it_was_measured_on(tmp_path, monkeypatch):
    pytest.importorskip("qdrant_edge")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    recipe = tmp_path / "hnsw.json"
    recipe.write_text(
        json.dumps(
            {
                "first_pass": ["hashing", "bm25"],
                "precision": "int8",
                "engine": {"ef": 64, "full_scan_threshold_kb": 1, "indexing_threshold_kb": 1},
            }
        )
    )
    results, kept, chosen = tmp_path / "results.json", tmp_path / "kept", tmp_path / "chosen.json"
    bench = invoke(
        "bench", "--recipe", recipe, "--mode", "dense", "-m", "hashing", "--backend", "edge", "--edge-m", "8",
        "--engine-dir", kept, "--no-latency", "-o", results,
    )  # fmt: skip
    assert bench.exit_code == 0, bench.output
    runs = json.loads(results.read_text())["runs"]
    assert [r["recipe"]["engine"] for r in runs] == [{"m": 8}, {**json.loads(recipe.read_text())["engine"], "m": 8}]
    assert "through the Qdrant engine" in bench.stdout
    assert "hnsw [edge]" in bench.stdout and "dense [edge]" in bench.stdout  # run names survive rich markup
    compared = invoke("compare", results, results)
    assert compared.exit_code == 0 and "hnsw [edge]" in compared.stdout

    picked = invoke("pick", "--results", results, "--recipe-out", chosen)
    assert picked.exit_code == 0, picked.output
    assert "**Pick** `hnsw [edge]`" in picked.stdout and f"embedproof serve {kept / 'demo.hnsw'}" in picked.stdout
    assert json.loads(chosen.read_text()) == runs[1]["recipe"]

    built = invoke("index", "build", "--corpus", "demo", "--recipe", chosen, "--out", tmp_path / "idx")  # no --backend
    assert built.exit_code == 0, built.output
    info = json.loads(invoke("index", "info", tmp_path / "idx", "--json").stdout)
    assert info["store"]["backend"] == "edge" and info["store"]["engine"] == runs[1]["store"]["engine"]


def test_a_model_run_has_no_recipe_to_write(tmp_path):
    results = tmp_path / "results.json"
    assert invoke("bench", "-m", "hashing", "--no-latency", "-o", results).exit_code == 0
    picked = invoke("pick", "--results", results, "--recipe-out", tmp_path / "r.json")
    assert picked.exit_code == 2
    assert "is a model run, not a recipe" in picked.stderr
    assert not (tmp_path / "r.json").exists()
