import json
import re
import shutil
import subprocess

import pytest

from embedpick.errors import EmbedpickError
from embedpick.evaluation.bench import BenchOptions, run_bench
from embedpick.evaluation.datasets import load_dataset
from embedpick.evaluation.report import write_report
from embedpick.recipe import standard_recipe

from ..conftest import CHROMIUM_FLAGS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    options = BenchOptions(dims=[1024, 256], precisions=["float32", "int8", "binary"], latency_queries=20)
    results = run_bench(load_dataset("demo"), ["bm25", "hashing"], options, recipes=[standard_recipe("hybrid", "hashing", "bm25")])
    (folder / "results.json").write_text(json.dumps(results))
    written = write_report(folder / "results.json", folder / "report.html")
    return folder, results, written


def test_results_carry_latency_cost_and_frontier(report):
    _, results, _ = report
    for run in results["runs"]:
        total = run["latency"]["online_ms"]["total"]
        assert run["latency"]["queries"] == 20 and total["n"] == 20 * run["latency"]["rounds"] and 0 < total["p50"] <= total["p99"]
        assert run["cost"]["usd_per_1m_queries"] > 0 and run["cost"]["assumptions"]["instance_usd_per_hour"] == 0.0893
        assert "on_frontier" in run["pareto"]
    assert any(r["pareto"]["on_frontier"] for r in results["runs"])
    hybrid = results["runs"][-1]
    assert set(hybrid["latency"]["online_ms"]) == {"encode:first:hashing", "encode:first:bm25", "first_pass:hashing", "first_pass:bm25",
                                                   "fusion:rrf", "total"}
    assert results["machine"]["cpus"] >= 1


def test_report_is_self_contained_with_table_and_plots(report):
    folder, results, written = report
    page = (folder / "report.html").read_text()
    assert page.count("<tr>") == len(results["runs"]) + 1
    assert len(re.findall(r'src="data:image/png;base64,', page)) == 4  # no truncation plot: bm25/hashing have no window
    assert "http://" not in page and "https://" not in page  # nothing to fetch
    assert {p.split("/")[-1] for p in written["plots"]} == {"quality_vs_p99.png", "quality_vs_bytes.png", "retention_vs_dim.png", "stage_latency.png"}


def test_bad_results_file_is_a_clear_error(tmp_path):
    (tmp_path / "r.json").write_text("{}")
    with pytest.raises(EmbedpickError, match="r.json: not a readable embedpick results file"):
        write_report(tmp_path / "r.json", tmp_path / "x.html")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian package chromium not installed (.ci/run installs it)")
def test_page_renders_in_headless_chromium(report, tmp_path):
    folder, results, _ = report
    url = (folder / "report.html").as_uri()
    profile = ["--user-data-dir=" + str(tmp_path / "profile")]
    dom = subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, *profile, "--virtual-time-budget=5000", "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert 'data-loaded-images="4"' in dom.stdout, dom.stderr[-500:]
    assert dom.stdout.count("<tr>") == len(results["runs"]) + 1
    shot = tmp_path / "report.png"
    subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, *profile, "--window-size=1400,2000", f"--screenshot={shot}", url], capture_output=True, timeout=120)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
