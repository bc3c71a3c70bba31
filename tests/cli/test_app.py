import json

from typer.testing import CliRunner

from embedproof.cli import app

runner = CliRunner()


def test_bench_on_demo_writes_results_and_prints_table(tmp_path):
    out = tmp_path / "results.json"
    result = runner.invoke(app, ["bench", "--model", "bm25", "--model", "hashing", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "nDCG@10" in result.output and "bm25" in result.output
    data = json.loads(out.read_text())
    assert [r["model"] for r in data["runs"]] == ["bm25", "hashing"]
    assert data["dataset"]["documents"] == 240


def test_bench_default_models_include_minilm(tmp_path, minilm_path):
    out = tmp_path / "r.json"
    result = runner.invoke(app, ["bench", "--output", str(out)])
    assert result.exit_code == 0, result.output
    models = [r["model"] for r in json.loads(out.read_text())["runs"]]
    assert models == ["bm25", "hashing", "sentence-transformers/all-MiniLM-L6-v2"]


def test_bad_corpus_line_is_reported_without_traceback(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "corpus.jsonl").write_text('{"_id": "1", "text": "ok"}\n{"_id": "2", "text": \n')
    result = runner.invoke(app, ["dataset", "check", str(folder)])
    assert result.exit_code == 2
    assert "corpus.jsonl, line 2: malformed JSON" in result.output
    assert "Traceback" not in result.output


def test_named_model_that_is_missing_stops_with_advice(tmp_path):
    result = runner.invoke(app, ["bench", "--model", "BAAI/bge-large-en-v1.5", "--output", str(tmp_path / "r.json")])
    assert result.exit_code == 2 and "hf download" in result.output


def test_models_show_and_list():
    shown = runner.invoke(app, ["models", "show", "bge-small-en-v1.5"])
    assert shown.exit_code == 0 and "Represent this sentence for searching relevant passages" in shown.output
    listed = runner.invoke(app, ["models", "list"])
    assert listed.exit_code == 0 and "bge-m3" in listed.output


def test_cost_answers_the_lessons_question():
    result = runner.invoke(app, ["cost", "--dim", "3072", "--precision", "float32", "--vectors", "100M"])
    assert result.exit_code == 0 and "4,348.75" in result.output and "1,144.41" in result.output


def test_bench_sweep_and_refusal(tmp_path):
    out = tmp_path / "r.json"
    ok = runner.invoke(
        app,
        [
            "bench",
            "-m",
            "hashing",
            "--dims",
            "1024,256",
            "--precision",
            "float32,int8,binary",
            "-o",
            str(out),
            "--wide",
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert len(json.loads(out.read_text())["runs"]) == 6 and "bytes/vec" in ok.output  # --wide: the full table
    refused = runner.invoke(app, ["bench", "-m", "hashing", "--dims", "32", "-o", str(out)])
    assert refused.exit_code == 2 and "--allow-unvalidated-dims" in refused.output


def test_bench_modes_and_recipe_file(tmp_path):
    recipe = tmp_path / "mine.json"
    recipe.write_text(
        json.dumps({"first_pass": ["bm25", "hashing"], "fusion": "wsum", "fusion_params": {"normalisation": "zscore"}})
    )
    out = tmp_path / "r.json"
    result = runner.invoke(
        app,
        [
            "bench",
            "-m",
            "hashing",
            "-m",
            "bm25",
            "--mode",
            "dense",
            "--mode",
            "hybrid",
            "--recipe",
            str(recipe),
            "-o",
            str(out),
            "--wide",
        ],
    )
    assert result.exit_code == 0, result.output
    runs = json.loads(out.read_text())["runs"]
    assert [r["name"] for r in runs] == ["dense", "hybrid", "mine"]
    assert runs[1]["recipe"]["first_pass"] == ["hashing", "bm25"] and "stages (ms/query)" in result.output
    bad = runner.invoke(app, ["bench", "--mode", "nonsense", "-o", str(out)])
    assert bad.exit_code == 2 and "unknown mode" in bad.output


def test_unlabeled_corpus_is_benched_on_labelled_pseudo_queries(tmp_path):
    from embedproof.datasets.loading import DEMO_PATH

    out = tmp_path / "r.json"
    result = runner.invoke(
        app,
        [
            "bench",
            "--corpus",
            str(DEMO_PATH / "corpus.jsonl"),
            "--pseudo-queries",
            "40",
            "-m",
            "bm25",
            "--no-latency",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["dataset"]["labels"] == "pseudo (inverse cloze)" and data["dataset"]["judged_queries"] == 40
    assert "pseudo-labels" in result.output and data["runs"][0]["metrics"]["ndcg@10"] > 0.5


def test_report_command(tmp_path):
    out = tmp_path / "r.json"
    assert (
        runner.invoke(
            app, ["bench", "-m", "bm25", "-m", "hashing", "--latency-queries", "10", "-o", str(out)]
        ).exit_code
        == 0
    )
    result = runner.invoke(app, ["report", str(out), "-o", str(tmp_path / "report.html")])
    assert (
        result.exit_code == 0
        and (tmp_path / "report.html").is_file()
        and (tmp_path / "report_plots" / "quality_vs_p99.png").is_file()
    )
    missing = runner.invoke(app, ["report", str(tmp_path / "nope.json")])
    assert missing.exit_code == 2 and "nope.json" in missing.output


def test_bench_with_a_baseline_is_a_regression_gate(tmp_path):
    base = tmp_path / "base.json"
    assert runner.invoke(app, ["bench", "-m", "bm25", "--latency-queries", "10", "-o", str(base)]).exit_code == 0
    same = runner.invoke(
        app,
        ["bench", "-m", "bm25", "--latency-queries", "10", "-o", str(tmp_path / "same.json"), "--baseline", str(base)],
    )
    assert same.exit_code == 0, same.output  # the same set-up again: identical quality, no regression
    worse = runner.invoke(
        app,
        [
            "bench",
            "-m",
            "hashing",
            "--latency-queries",
            "10",
            "-o",
            str(tmp_path / "new.json"),
            "--baseline",
            str(base),
            "--pair",
            "bm25 sparse float32=hashing dense d1024 float32",
        ],
    )
    assert worse.exit_code == 1 and "REGRESSION" in worse.output  # hashing is ~14 points worse on the demo (p < 0.001)


def test_a_bad_baseline_fails_before_the_bench(tmp_path):
    result = runner.invoke(
        app, ["bench", "-m", "bm25", "-o", str(tmp_path / "r.json"), "--baseline", str(tmp_path / "none.json")]
    )
    assert result.exit_code == 2 and "cannot read results file" in result.output and not (tmp_path / "r.json").exists()


def test_statistics_options_are_validated(tmp_path):
    for args, message in (
        (["--bootstrap-resamples", "10"], "--bootstrap-resamples"),
        (["--alpha", "2"], "--alpha"),
        (["--latency-rounds", "0"], "--latency-rounds"),
    ):
        result = runner.invoke(app, ["bench", "-m", "bm25", "-o", str(tmp_path / "r.json"), *args])
        assert result.exit_code == 2 and message in result.output, result.output


def test_default_table_fits_80_and_100_columns_without_cutting_a_value(tmp_path):
    from rich.console import Console

    from embedproof.cli.tables import summary_table
    from embedproof.evaluation.pareto import run_name

    out = tmp_path / "r.json"
    assert (
        runner.invoke(
            app,
            [
                "bench",
                "-m",
                "bm25",
                "-m",
                "hashing",
                "--dims",
                "1024,256",
                "--precision",
                "float32,int8",
                "--mode",
                "hybrid",
                "--model-runs",
                "--latency-queries",
                "10",
                "-o",
                str(out),
            ],
        ).exit_code
        == 0
    )
    runs = json.loads(out.read_text())["runs"]
    assert len(runs) == 6  # bm25, four hashing variants, the hybrid recipe
    for width in (80, 100):
        console = Console(width=width, record=True)
        console.print(summary_table(runs))
        text = console.export_text()
        assert max(len(line) for line in text.splitlines()) <= width and "…" not in text
        for run in runs:
            assert run_name(run) in text.replace("\n", " ") or run_name(run).split()[0] in text
            assert f"{run['metrics']['ndcg@10']:.4f}" in text
            assert f"{run['latency']['online_ms']['total']['p99']:.2f}" in text


def test_bench_json_prints_only_json(tmp_path):
    result = runner.invoke(app, ["bench", "-m", "bm25", "--no-latency", "--json", "-o", str(tmp_path / "r.json")])
    assert result.exit_code == 0 and json.loads(result.stdout)["runs"][0]["model"] == "bm25"


def test_ctrl_c_says_what_was_kept_and_how_to_resume(tmp_path, monkeypatch):
    import embedproof.evaluation.bench as bench_module

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(bench_module, "run_bench", interrupted)
    result = runner.invoke(app, ["bench", "-m", "bm25", "-o", str(tmp_path / "r.json")])
    assert result.exit_code == 130
    assert (
        "interrupted: no run had finished" in result.output and "Run the same command again to resume" in result.output
    )


def test_progress_shows_rate_and_time_left():
    import io
    import time

    from rich.console import Console

    from embedproof.cli.progress import progress_factory

    screen = io.StringIO()
    with progress_factory(Console(file=screen, width=120, force_terminal=True)) as progress:
        advance = progress("documents", 100)
        for _ in range(4):
            time.sleep(0.15)
            advance(10)
        time.sleep(0.2)  # let the display refresh (10 times a second)
    text = screen.getvalue()
    assert "documents" in text and "40/100" in text and "/s" in text and "eta" in text


def test_run_dir_gets_recipe_runs_and_files_honour_the_umask(tmp_path):
    import os

    out, runs = tmp_path / "r.json", tmp_path / "runs"
    old = os.umask(0o022)
    try:
        result = runner.invoke(
            app,
            [
                "bench",
                "-m",
                "hashing",
                "-m",
                "bm25",
                "--mode",
                "hybrid",
                "--no-latency",
                "-o",
                str(out),
                "--run-dir",
                str(runs),
            ],
        )
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in runs.iterdir())
    assert written == ["demo.hybrid.trec"]
    first = (runs / "demo.hybrid.trec").read_text().splitlines()[0].split()
    assert first[1] == "Q0" and first[3] == "1" and first[5] == "hybrid"
    assert oct(out.stat().st_mode & 0o777) == "0o644"  # not the temporary file's 0600


def test_asking_for_more_pseudo_queries_than_the_corpus_gives_says_so():
    from embedproof.datasets.loading import load_dataset
    from embedproof.datasets.pseudo import inverse_cloze

    data = inverse_cloze(load_dataset("demo"), 1000)
    assert len(data.queries) < 1000
    assert any("asked for 1000 pseudo-queries, built" in w.message for w in data.warnings)


def test_the_demo_does_not_open_with_a_warning_about_itself():
    result = runner.invoke(app, ["dataset", "check", "demo"])
    assert (
        result.exit_code == 0
        and "warning" not in result.output
        and "keeps one empty passage (d240) on purpose" in result.output
    )
