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


def test_a_picked_model_run_builds_from_its_recipe_or_from_the_results_by_name(tmp_path):
    results, chosen = tmp_path / "results.json", tmp_path / "r.json"
    bench = invoke("bench", "-m", "hashing", "--precision", "float32,int8", "--no-latency", "-o", results)
    assert bench.exit_code == 0, bench.output
    picked = invoke("pick", "--results", results, "--recipe-out", chosen)
    assert picked.exit_code == 0, picked.output
    assert '--results RESULTS --run "hashing dense d1024 int8" --out INDEX`' in " ".join(picked.stdout.split())
    assert json.loads(chosen.read_text())["first_pass"] == ["hashing"]
    by_file = invoke("index", "build", "--corpus", "demo", "--recipe", chosen, "--out", tmp_path / "a")
    by_name = invoke(
        "index", "build", "--corpus", "demo", "--results", results, "--run", "hashing dense d1024 float32",
        "--out", tmp_path / "b",
    )  # fmt: skip
    assert by_file.exit_code == 0 and by_name.exit_code == 0, by_file.output + by_name.output
    recipe_a = json.loads(invoke("index", "info", tmp_path / "a", "--json").stdout)["recipe"]
    recipe_b = json.loads(invoke("index", "info", tmp_path / "b", "--json").stdout)["recipe"]
    assert recipe_a["precision"] == "int8" and recipe_b["precision"] == "float32"
    missing = invoke(
        "index", "build", "--corpus", "demo", "--results", results, "--run", "nope", "--out", tmp_path / "c"
    )
    assert missing.exit_code == 2 and "--run: no run named 'nope'" in missing.stderr
    alone = invoke("index", "build", "--corpus", "demo", "--run", "x", "--out", tmp_path / "d")
    assert alone.exit_code == 2 and "--results and --run go together" in alone.stderr
