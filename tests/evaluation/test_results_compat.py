"""A results.json written before intervals existed (tests/fixtures, made by the previous release) still loads
everywhere."""

import copy
import json
from pathlib import Path

import pytest

from embedproof.cli.tables import results_table
from embedproof.evaluation.evidence import annotate
from embedproof.evaluation.results_file import load_results
from embedproof.pick.evidence import evidence_markdown, pick_from_results

OLD = Path(__file__).resolve().parents[1] / "fixtures" / "results_before_intervals.json"


def test_old_file_gets_quality_intervals_from_its_per_query_scores_and_no_latency_interval():
    results = load_results(OLD)
    assert "statistics" not in results and all("ci" not in r["latency"]["online_ms"]["total"] for r in results["runs"])
    annotate(results)
    for run in results["runs"]:
        lo, hi = run["intervals"]["ndcg@10"]
        assert lo < run["metrics"]["ndcg@10"] < hi
    pick = pick_from_results(results, 50.0, None, 240)
    text = evidence_markdown(pick)
    assert pick["choice"]["run"] == "bm25 sparse float32" and "ms (no interval)" in text


def test_old_file_without_per_query_scores_shows_no_interval_anywhere():
    results = load_results(OLD)
    for run in results["runs"]:
        run.pop("per_query")
    annotate(results)
    assert all("intervals" not in r and "vs_best" not in r for r in results["runs"])
    text = evidence_markdown(pick_from_results(copy.deepcopy(results), None, None, 240))
    assert "nDCG@10 0.8546 (no interval)" in text

    from rich.console import Console

    console = Console(width=250, record=True)
    console.print(results_table(results["runs"]))
    assert "no interval" in console.export_text()


def test_old_file_renders_a_report(tmp_path):
    pytest.importorskip("matplotlib")
    from embedproof.evaluation.report import write_report

    written = write_report(OLD, tmp_path / "old.html")
    page = Path(written["html"]).read_text()
    assert "no interval" in page and json.loads(OLD.read_text())["runs"][0]["model"] in page


def test_old_model_runs_load_as_named_one_model_recipes():
    results = load_results(OLD)
    names = [r["name"] for r in results["runs"]]
    assert names == ["bm25 sparse float32", "hashing dense d1024 float32", "hashing dense d1024 int8"]
    recipes = {r["name"]: r["recipe"] for r in results["runs"]}
    assert recipes["bm25 sparse float32"]["first_pass"] == ["bm25"] and recipes["bm25 sparse float32"]["dim"] is None
    int8 = recipes["hashing dense d1024 int8"]
    assert (int8["precision"], int8["rescore_multiplier"], int8["candidates"]) == ("int8", 4, 100)
    pick = pick_from_results(results, 50.0, None, 240)
    assert pick["choice"]["recipe"]["name"] == "bm25 sparse float32"
    assert '--run "bm25 sparse float32"' in evidence_markdown(pick)
