"""What a user sees in an 80- and a 100-column terminal (tmux): every table whole, no value cut or cropped.

Each command runs for real in a tmux pane of that width; the screen is read back and checked for rich's ellipsis
(a cut cell), for every value the command computed (a cropped column loses them), and for values that must stay
apart (ids sharing a prefix). Fast set-ups only (bm25, hashing, the demo collection).
"""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from embedproof.cli import app
from tests.cli.terminal import table_rows, tmux_screen

WIDTHS = (80, 100)
BASE, NEW = "bm25 sparse float32", "hashing dense d1024 float32"
runner = CliRunner()


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A bench of bm25 and hashing on the demo, a busy-machine copy of it, and a small index whose ids share a
    prefix (as FastAPI's docs do)."""
    folder = tmp_path_factory.mktemp("terminal")
    results = folder / "r.json"
    done = runner.invoke(app, ["bench", "-m", "bm25", "-m", "hashing", "--latency-queries", "10", "-o", str(results)])
    assert done.exit_code == 0, done.output
    busy = json.loads(results.read_text())
    busy["load"] = {"busy": True, "reason": "other processes used 90% of the CPUs"}
    (folder / "busy.json").write_text(json.dumps(busy))
    corpus = folder / "corpus.jsonl"
    corpus.write_text(
        "\n".join(
            json.dumps({"_id": i, "text": t})
            for i, t in [
                ("tutorial/query-params", "Query parameters are declared as function arguments."),
                ("tutorial/query-params-str-validations", "Query parameters and string validations with Query."),
                ("tutorial/path-params", "Path parameters use Python format string syntax."),
            ]
        )
        + "\n"
    )
    built = runner.invoke(
        app,
        ["index", "build", "--corpus", str(corpus), "--out", str(folder / "idx"), "--mode", "hybrid"]
        + ["-m", "bm25", "-m", "hashing"],
    )
    assert built.exit_code == 0, built.output
    return folder


def _whole(screen: str, width: int) -> None:
    assert "…" not in screen, screen  # rich's mark of a cut cell
    assert "Traceback" not in screen and "DEBUG" not in screen, screen


@pytest.mark.parametrize("width", WIDTHS)
def test_bench_table_and_conclusion(work, width):
    # the default backend (auto where the fast extra is installed): bm25 and hashing alone get no note about it
    screen = tmux_screen(
        ["bench", "-m", "bm25", "-m", "hashing", "--latency-queries", "10", "-o", "b.json"],
        width,
        work,
        env={"EMBEDPROOF_BACKEND": ""},
    )
    _whole(screen, width)
    runs = json.loads((work / "b.json").read_text())["runs"]
    names = [" ".join(row[0]) for row in table_rows(screen) if row[0]]
    assert names == [BASE, NEW], screen
    for run in runs:
        assert f"{run['metrics']['ndcg@10']:.4f}" in screen
    lines = [line.strip() for line in screen.splitlines()]
    assert any(line.startswith(f"Best: {BASE}") for line in lines), screen
    assert any(line.startswith("Next: embedproof pick --results b.json") for line in lines), screen
    assert "note: encoder backend auto" not in screen and "encoder backends" not in screen


@pytest.mark.parametrize("width", WIDTHS)
def test_compare_shows_difference_interval_p_and_verdict(work, width):
    from embedproof.evaluation.compare import compare_results, settings_for
    from embedproof.evaluation.compare_format import format_p
    from embedproof.evaluation.results_file import load_results

    results = load_results(work / "r.json")
    report = compare_results(results, results, [(BASE, NEW)], 0.5, settings_for(results, results, 0.05))
    screen = tmux_screen(["compare", "r.json", "--pair", f"{BASE}={NEW}", "--latency-ms", "0.5"], width, work)
    _whole(screen, width)
    rows = table_rows(screen)
    assert [row[0][0] for row in rows] == ["ndcg@10", "recall@100", "p99 ms"], screen
    for row, (metric, expected) in zip(rows, report["pairs"][0]["metrics"].items()):
        digits = 2 if metric == "p99_ms" else 4
        delta = " ".join(row[3])
        assert delta.startswith(f"{expected['diff']:+.{digits}f}"), delta
        assert f"[{expected['ci'][0]:+.{digits}f}, {expected['ci'][1]:+.{digits}f}]" in delta.replace(", ", ", "), delta
        if expected["p_value"] is not None:
            assert row[4] == [format_p(expected["p_value"]), f"({format_p(expected['p_holm'])})"]
        assert " ".join(row[5]) == expected["verdict"]


@pytest.mark.parametrize("width", WIDTHS)
def test_pick_reads_as_separate_lines(work, width):
    screen = tmux_screen(["pick", "--results", "busy.json"], width, work)
    _whole(screen, width)
    starts = [line.strip() for line in screen.splitlines()]
    for opening in (
        "Measured on demo",
        "• ⚠ latency was measured on a busy machine",
        "Pick",
        "Why:",
        "Serve it:",
        "Runner-up",
    ):
        assert any(line.startswith(opening) for line in starts), (opening, screen)
    assert "41.0 KiB" in screen  # 175 B × 240 documents, not "0.00 GiB"


@pytest.mark.parametrize("width", WIDTHS)
def test_search_keeps_ids_that_share_a_prefix_apart(work, width):
    screen = tmux_screen(["search", "idx", "query parameters"], width, work)
    _whole(screen, width)
    ids = [row[1][0] for row in table_rows(screen)]
    assert sorted(ids) == ["tutorial/path-params", "tutorial/query-params", "tutorial/query-params-str-validations"]


@pytest.mark.parametrize("width", WIDTHS)
def test_profile(work, width):
    from embedproof.datasets.loading import load_dataset
    from embedproof.pick.profile import profile_corpus

    facts = profile_corpus(load_dataset("demo"))
    screen = tmux_screen(["profile", "demo"], width, work)
    _whole(screen, width)
    rows = {row[0][0]: row for row in table_rows(screen) if row[0]}
    assert rows["documents"][1] == ["240"]
    assert rows["p99"][1:] == [[f"{s['p99']:,.0f}"] for s in facts["tokens"].values()]
    assert rows["over 256 tokens"][1:] == [[f"{s['share_over_256']:.1%}"] for s in facts["tokens"].values()]


@pytest.mark.parametrize("width", WIDTHS)
def test_models_list_shows_every_name_whole(work, width):
    from embedproof.models.card import load_cards

    screen = tmux_screen(["models", "list"], width, work)
    _whole(screen, width)
    shown = {"".join(row[0]) for row in table_rows(screen, key=1)}
    assert {card.name for card in load_cards()} <= shown, shown
    assert "'Represent this sentence for searching relevant passages: '" in " ".join(
        " ".join(row[2]) for row in table_rows(screen, key=1)
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_help_names_every_option_whole(work, width):
    import typer

    bench = typer.main.get_command(app).commands["bench"]
    screen = tmux_screen(["bench", "--help"], width, work)
    _whole(screen, width)
    for param in bench.params:
        for option in [*param.opts, *param.secondary_opts]:
            assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", screen), option
    root = tmux_screen(["--help"], width, work)
    _whole(root, width)
    for name in ("bench", "compare", "pick", "report", "search", "serve", "profile", "models", "index"):
        assert re.search(rf"^\s+{name}\s", root, re.MULTILINE), name


def test_piped_output_honours_columns(work):
    import os
    import subprocess
    import sys

    from tests.cli.terminal import REPO

    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "80"}
    done = subprocess.run(
        [sys.executable, "-m", "embedproof", "models", "list"], capture_output=True, text=True, env=env, cwd=work
    )
    assert done.returncode == 0 and max(len(line) for line in done.stdout.splitlines()) == 80
    env.pop("COLUMNS")
    wide = subprocess.run(
        [sys.executable, "-m", "embedproof", "models", "list"], capture_output=True, text=True, env=env, cwd=work
    )
    assert max(len(line) for line in wide.stdout.splitlines()) > 100  # a file or CI log keeps whole rows


@pytest.mark.parametrize("width", WIDTHS)
def test_encoder_backend_table_keeps_long_names_whole(width):
    from rich.console import Console

    from embedproof.cli.tables import backends_table
    from embedproof.models.remote_providers import display_name

    model = "/home/someone/models/sentence-transformers-all-MiniLM-L6-v2-finetuned"
    runs = [
        {
            "model": model,
            "mode": "dense",
            "precision": "float32",
            "dim": 384,
            "encoder_backend": backend,
            "timings": {"documents_per_s": 812.4 * (i + 1)},
            "metrics": {"ndcg@10": 0.6512 - i / 1000},
            "backend_vs_torch": {}
            if backend == "torch"
            else {"documents_per_s_ratio": i + 1.0, "ndcg@10_retention": 0.995},
        }
        for i, backend in enumerate(["torch", "openvino-int8", "openvino-int8-streams"])
    ]
    console = Console(width=width, record=True, file=open("/dev/null", "w"))
    console.print(backends_table(runs))
    screen = console.export_text()
    _whole(screen, width)
    rows = table_rows(screen, key=2)
    assert ["".join(row[1]) for row in rows] == ["torch", "openvino-int8", "openvino-int8-streams"]
    assert all("".join(row[0]) == display_name(model) for row in rows)
    assert [row[2] for row in rows] == [["812.4"], ["1624.8"], ["2437.2"]]


# What the libraries behind the fast backends print on their own: NNCF's rich bars, tqdm bars, log records,
# the ONNX exporter's lines, Python warnings.
FOREIGN = ("Applying Smooth Quant", "Statistics collection", "it/s]", "%|", "INFO", "WARNING:", "DEBUG", "[torch.onnx]")


@pytest.mark.slow  # exports and quantises four backends of a tiny model: minutes on a busy 2-core machine
def test_a_first_auto_run_shows_only_our_progress_lines(tiny_model_dir, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("nncf")
    from tests.cli.terminal import pty_output

    cache = tmp_path / "fresh-cache"  # nothing exported or calibrated yet
    raw = pty_output(
        ["bench", "-m", str(tiny_model_dir), "--backend", "auto", "--no-latency", "-o", "r.json"]
        + ["--cache-dir", str(cache)],
        100,
        tmp_path,
        env={"EMBEDPROOF_CACHE": str(cache)},
    )
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw)
    for ours in (
        "tiny-bert: auto: building 4 backends",
        "tiny-bert: onnx-int8: export, fuse, quantise",
        "tiny-bert: openvino-int8: export, quantise",
        "tiny-bert: auto: timing torch + 4 backends",
        "eta",
        "wrote r.json",
    ):
        assert ours in text, (ours, text[-3000:])
    assert not [marker for marker in FOREIGN if marker in text], text[-3000:]
    assert "Traceback" not in text
