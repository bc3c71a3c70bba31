import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from embedproof.datasets.loading import load_dataset
from embedproof.errors import EmbedproofError
from embedproof.evaluation import report_plots, report_profiles
from embedproof.evaluation.bench import run_bench
from embedproof.evaluation.bench_options import BenchOptions
from embedproof.evaluation.evidence import annotate, p99_interval
from embedproof.evaluation.pareto import run_p99
from embedproof.evaluation.report import write_report
from embedproof.evaluation.report_sections import markdown_html
from embedproof.pick.decision import decision_markdown
from embedproof.search.recipe import standard_recipe

from ..conftest import CHROMIUM_FLAGS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
INTERVAL = r"\d+\.\d+ \[-?\d+\.\d+, \d+\.\d+\]"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    options = BenchOptions(dims=[1024, 256], precisions=["float32", "int8", "binary"], latency_queries=20)
    recipes = [standard_recipe("hybrid", "hashing", "bm25")]
    results = run_bench(load_dataset("demo"), ["bm25", "hashing"], options, recipes=recipes)
    (folder / "results.json").write_text(json.dumps(results))
    written = write_report(folder / "results.json", folder / "report.html", decision_markdown)
    return folder, results, written


def synthetic_results(n_runs: int = 30, queries: int = 60, seed: int = 0) -> dict:
    """Runs in clusters of six (one model, six dimensions), the first two of each cluster nearly identical."""
    rng = np.random.default_rng(seed)
    ids = [f"q{i}" for i in range(queries)]
    hardness = rng.uniform(-0.2, 0.2, queries)
    runs = []
    for i in range(n_runs):
        model, dim = f"org/model-{i // 6}", [768, 512, 256, 128, 64, 32][i % 6]
        level = 0.3 + 0.1 * (i // 6) - 0.01 * (i % 6) - (0.0 if i % 6 < 2 else 0.03)
        noise = rng.normal(0, 0.02 if i % 6 < 2 else 0.05, queries)
        ndcg = np.clip(level + hardness + noise, 0, 1)
        per_query = {
            q: {"ndcg@10": float(v), "mrr@10": float(v), "recall@100": float(min(1, v + 0.2))}
            for q, v in zip(ids, ndcg)
        }
        encode, search = 2.0 + 3 * (i // 6), 0.05 * dim / 32
        total = encode + search
        ci = {"p50": [0.9 * total, 1.1 * total], "p99": [1.3 * total, 2.2 * total]}
        online = {
            f"encode:first:{model}": {"p50": encode},
            "search": {"p50": search},
            "total": {"p50": total, "p99": 1.6 * total, "ci": ci},
        }
        runs.append(
            {
                "model": model,
                "mode": "dense",
                "dim": dim,
                "precision": "float32",
                "bytes_per_vector": 4 * dim,
                "metrics": {
                    m: float(np.mean([p[m] for p in per_query.values()])) for m in ("ndcg@10", "mrr@10", "recall@100")
                },
                "per_query": per_query,
                "warnings": [f"{model} was not trained with Matryoshka"] if i % 6 == 5 else [],
                "latency": {
                    "queries": queries,
                    "rounds": 3,
                    "online_ms": online,
                    "stable": i != 3,
                    "stability_note": "rounds disagree" if i == 3 else None,
                },
            }
        )
    load = {
        "wall_s": 3.0,
        "process_cpu_s": 2.9,
        "process_cpu_per_wall": 0.97,
        "loadavg_1m": [0.5, 0.6],
        "cpus": 4,
        "other_cpu_share": 0.02,
        "steal_share": 0.0,
        "busy": False,
        "reason": None,
    }
    return {
        "dataset": {"name": "synthetic", "documents": 1000, "judged_queries": queries, "split": "test"},
        "runs": runs,
        "load": load,
        "machine": {"cpu": "test CPU", "cpus": 4, "libraries": {"numpy": "2.0"}},
    }


def old_format(results: dict) -> dict:
    """What a results.json written before intervals existed looks like: point estimates only."""
    old = json.loads(json.dumps(results))
    for key in ("statistics", "power", "statistics_warnings", "load"):
        old.pop(key, None)
    for run in old["runs"]:
        for key in ("per_query", "intervals", "vs_best", "pareto"):
            run.pop(key, None)
        run["latency"]["online_ms"]["total"].pop("ci", None)
        for key in ("stable", "stability_note", "busy", "rounds_p50_ms"):
            run["latency"].pop(key, None)
    return old


def results_rows(page: str) -> list[str]:
    table = re.search(r'<table id="results">.*?</table>', page, re.DOTALL).group(0)
    return re.findall(r'<tr class="run [a-z]+">.*?</tr>', table, re.DOTALL)


def cells(row: str) -> list[str]:
    """Each cell's text, without the span that puts an interval on its own line."""
    return [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)]


def test_results_carry_latency_cost_and_frontier(report):
    _, results, _ = report
    for run in results["runs"]:
        total = run["latency"]["online_ms"]["total"]
        assert run["latency"]["queries"] == 20 and total["n"] == 20 * run["latency"]["rounds"]
        assert 0 < total["p50"] <= total["p99"]
        assert run["cost"]["usd_per_1m_queries"] > 0 and run["cost"]["assumptions"]["instance_usd_per_hour"] == 0.0893
        assert "on_frontier" in run["pareto"]
    assert any(r["pareto"]["on_frontier"] for r in results["runs"])
    hybrid = results["runs"][-1]
    assert set(hybrid["latency"]["online_ms"]) == {
        "encode:first:hashing",
        "encode:first:bm25",
        "first_pass:hashing",
        "first_pass:bm25",
        "fusion:rrf",
        "total",
    }
    assert results["machine"]["cpus"] >= 1


def test_report_is_self_contained_with_table_and_plots(report):
    folder, results, written = report
    page = (folder / "report.html").read_text()
    assert len(results_rows(page)) == len(results["runs"])
    assert len(re.findall(r'src="data:image/png;base64,', page)) == 4  # no truncation plot: bm25/hashing have no window
    assert "http://" not in page and "https://" not in page  # nothing to fetch
    names = {p.split("/")[-1] for p in written["plots"]}
    assert names == {"quality_vs_p99.png", "quality_vs_bytes.png", "retention_vs_dim.png", "stage_latency.png"}


def test_page_leads_with_the_decision_and_its_evidence(report):
    folder, results, _ = report
    page = (folder / "report.html").read_text()
    decision = re.search(r'<h2 id="decision">Decision</h2>\s*<div class="decision">(.*?)</div>', page, re.DOTALL).group(
        1
    )
    assert "<p>" in decision and "No pick:" not in decision
    assert page.index('id="decision"') < page.index('id="results"')
    for table in ('id="statistics"', 'id="power"', 'id="machine"', 'id="cost-0"'):
        assert table in page
    assert "minimum detectable difference" in page and "10,000 resamples" in page
    assert '<table class="kv" id="load">' in page and "<pre" not in page  # tables, not raw JSON
    for warning in results["dataset"].get("warnings", []):
        assert warning.split(":")[0] in page


def test_table_shows_intervals_and_the_test_against_the_best(report):
    folder, results, _ = report
    rows = results_rows((folder / "report.html").read_text())
    for run, row in zip(results["runs"], rows):
        values = cells(row)
        assert re.fullmatch(INTERVAL, values[5]), values[5]  # nDCG@10 [lo, hi]
        assert re.match(INTERVAL, values[12]), values[12]  # p99 [lo, hi]
        assert values[6] == "best" or "Δ" in values[6]
    assert sum(cells(row)[6] == "best" for row in rows) == 1


def test_tied_runs_are_marked_in_table_and_plot(tmp_path):
    results = synthetic_results()
    (tmp_path / "r.json").write_text(json.dumps(results))
    write_report(tmp_path / "r.json", tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    rows = results_rows(page)
    assert len(rows) == 30
    tied = [row for row in rows if row.startswith('<tr class="run tied">')]
    assert tied and all(cells(row)[6].startswith("tied Δ") for row in tied)
    assert sum(row.startswith('<tr class="run best">') for row in rows) == 1
    assert "rounds disagree" in page and "not trained with Matryoshka" in page  # per-run notes and warnings, listed
    annotate(results)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = report_plots.scatter(plt, results["runs"], run_p99, "p99 (ms)", p99_interval)
    _, key = fig.axes
    legend = [t.get_text() for t in key.get_legend().get_texts()]
    assert "tied with best (not significantly worse)" in legend and "best nDCG@10" in legend
    assert sum("★" in t.get_text() for t in key.texts) == 1
    assert sum("◆" in t.get_text() for t in key.texts) == len(tied)
    plt.close(fig)


def test_points_bars_and_labels_stay_inside_the_axes_at_30_runs():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = synthetic_results()
    annotate(results)
    runs = results["runs"]
    fig = report_plots.scatter(plt, runs, run_p99, "p99 (ms)", p99_interval)
    ax = fig.axes[0]
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    for run in runs:
        lo, hi = run["intervals"]["ndcg@10"]
        p_lo, p_hi = p99_interval(run)
        assert y0 < lo and hi < y1 and x0 < p_lo and p_hi < x1
    labels = ax.texts
    boxes = [t.get_window_extent() for t in labels]
    frame = ax.get_window_extent()
    numbers = [n for t in labels for n in re.split(r"[,–]", t.get_text())]
    assert len(labels) >= 20 and {"1", "30"} <= set(numbers)
    assert all(frame.x0 <= b.x0 and b.x1 <= frame.x1 and frame.y0 <= b.y0 and b.y1 <= frame.y1 for b in boxes)
    overlapping = sum(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    assert overlapping == 0
    plt.close(fig)


def test_old_results_file_renders_with_no_interval(tmp_path, report):
    _, results, _ = report
    (tmp_path / "old.json").write_text(json.dumps(old_format(results)))
    written = write_report(tmp_path / "old.json", tmp_path / "old.html")
    page = (tmp_path / "old.html").read_text()
    rows = results_rows(page)
    assert len(rows) == len(results["runs"]) and len(written["plots"]) == 4
    for run, row in zip(results["runs"], rows):
        values = cells(row)
        assert values[5].endswith("(no interval)") and values[6] == "no interval"
        assert values[12] == f"{run_p99(run):.2f} (no interval)"
    assert 'id="statistics"' in page and "no per-query scores" in page and "Machine load was not recorded" in page


def test_markdown_is_escaped_and_minimal():
    out = markdown_html("Measured <x> & y.\n- ⚠ **busy**: `a < b`\n- two\n**Pick** `run`")
    assert out == (
        "<p>Measured &lt;x&gt; &amp; y.</p>\n<ul><li>⚠ <strong>busy</strong>: <code>a &lt; b</code></li>"
        "<li>two</li></ul>\n<p><strong>Pick</strong> <code>run</code></p>"
    )


def test_a_failing_picker_shows_its_error_instead_of_failing(tmp_path, monkeypatch):
    import embedproof.pick.evidence

    def broken(*args, **kwargs):
        raise KeyError("budgets")

    monkeypatch.setattr(embedproof.pick.evidence, "pick_from_results", broken)
    (tmp_path / "r.json").write_text(json.dumps(synthetic_results(n_runs=6)))
    write_report(tmp_path / "r.json", tmp_path / "r.html", decision_markdown)
    assert "No pick: KeyError: &#x27;budgets&#x27;" in (tmp_path / "r.html").read_text()


def test_bad_results_file_is_a_clear_error(tmp_path):
    (tmp_path / "r.json").write_text("{}")
    with pytest.raises(EmbedproofError, match="r.json: not a readable embedproof results file"):
        write_report(tmp_path / "r.json", tmp_path / "x.html")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian package chromium not installed (.ci/run installs it)")
def test_page_renders_in_headless_chromium(report, tmp_path):
    folder, results, _ = report
    url = (folder / "report.html").as_uri()
    profile = ["--user-data-dir=" + str(tmp_path / "profile")]
    dom = subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, *profile, "--virtual-time-budget=5000", "--dump-dom", url],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert 'data-loaded-images="4"' in dom.stdout, dom.stderr[-500:]
    assert len(re.findall(r'<tr class="run [a-z]+">', dom.stdout)) == len(results["runs"])
    assert 'id="decision"' in dom.stdout and "No pick:" not in dom.stdout
    shot = tmp_path / "report.png"
    subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, *profile, "--window-size=1400,2000", f"--screenshot={shot}", url],
        check=False,
        capture_output=True,
        timeout=120,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000


def test_no_retention_plot_when_only_the_native_dimension_was_measured():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    native = [
        {"model": "m", "mode": "dense", "dim": 384, "precision": p, "retention": {"ndcg@10": 1.0}}
        for p in ("float32", "int8")
    ]
    assert report_profiles.retention(plt, native) is None  # two dots at 1.0 would say nothing
    swept = native + [
        {"model": "m", "mode": "dense", "dim": 128, "precision": "float32", "retention": {"ndcg@10": 0.9}}
    ]
    fig = report_profiles.retention(plt, swept)
    assert fig is not None
    plt.close(fig)


def test_labels_of_the_demo_plots_never_overlap(report):
    """Every number label's box, as matplotlib's renderer draws it, clear of every other label's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from embedproof.evaluation.pareto import run_size

    _, results, _ = report
    annotate(results)
    runs = results["runs"]
    for fig in (
        report_plots.scatter(plt, runs, run_p99, "p99 (ms)", p99_interval),
        report_plots.scatter(plt, runs, run_size, "bytes"),
    ):
        renderer = fig.canvas.get_renderer()
        texts = fig.axes[0].texts
        boxes = [t.get_window_extent(renderer) for t in texts]
        numbers = sorted(int(n) for t in texts for n in re.split(r"[,–]", t.get_text()))
        assert numbers == list(range(1, len(runs) + 1))  # every run labelled once
        assert not [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :] if a.overlaps(b)]
        plt.close(fig)


def test_latency_stability_flags_what_the_cli_warns_about(tmp_path):
    """A busy machine is one banner, not a flag on every run: the section lists the runs whose rounds disagree."""
    results = synthetic_results(n_runs=6)
    results["load"].update(busy=True, reason="other processes used 90% of the CPUs")
    for run in results["runs"]:
        run["latency"]["busy"] = "other processes used 90% of the CPUs"
    (tmp_path / "r.json").write_text(json.dumps(results))
    write_report(tmp_path / "r.json", tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    assert "Latency stability (1 of 6 runs flagged)" in page and 'id="busy"' in page
    stability = re.search(r'<table class="list" id="latency-stability">.*?</table>', page, re.S).group(0)
    assert re.findall(r"<tr><td>([^<]*)</td>", stability) == ["4 model-0 dense d128 float32"]


@pytest.mark.skipif(CHROMIUM is None, reason="Debian package chromium not installed (.ci/run installs it)")
def test_decision_states_the_budgets_given_at_1280_px(report, tmp_path):
    """`report --latency-ms --storage-gb --vectors` decides as `pick` does and says under which budgets."""
    from typer.testing import CliRunner

    from embedproof.cli import app

    folder, _, _ = report
    page = tmp_path / "budgets.html"
    done = CliRunner().invoke(
        app,
        ["report", str(folder / "results.json"), "-o", str(page)]
        + ["--latency-ms", "10000", "--storage-gb", "0.5", "--vectors", "1000000"],
    )
    assert done.exit_code == 0, done.output
    profile = ["--user-data-dir=" + str(tmp_path / "profile")]
    dom = subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, *profile, "--window-size=1280,2400", "--virtual-time-budget=5000", "--dump-dom"]
        + [page.as_uri()],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    decision = re.search(r'<div class="decision">(.*?)</div>', dom, re.S).group(1)
    text = re.sub(r"<[^>]+>", "", decision)
    # 0.5 GiB for a million vectors is 536 B each: bm25 (175 B/passage, the best run) fits, hashing float32 and
    # hybrid (4,096 and 4,271 B) do not
    assert "p99 ≤ 10000 ms (upper bound of its interval), storage ≤ 0.5 GiB for 1,000,000 vectors" in text, text
    assert "4 of 8 runs fit" in text and "Pick bm25 sparse float32" in text and "→ 167 MiB" in text
    assert "Relaxing the budgets would not buy quality" in text
    shot = tmp_path / "budgets.png"
    subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, *profile, "--window-size=1280,2400", f"--screenshot={shot}", page.as_uri()],
        check=False,
        capture_output=True,
        timeout=120,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(shot.read_bytes()[16:20], "big") == 1280  # the PNG is as wide as the window asked for
