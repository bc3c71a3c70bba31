"""`embedproof judge` on the command line: every bad input is one line and exit 2; the model judge end to end."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from typer.testing import CliRunner

from embedproof.cli import app
from embedproof.judge.log import FolderLock
from tests.judge.conftest import FakeChat

runner = CliRunner()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def places(tmp_path):
    (tmp_path / "empty.txt").write_text("\n# nothing here\n", encoding="utf-8")
    (tmp_path / "q.txt").write_text("When was the iPhone released?\n", encoding="utf-8")
    other = {
        "dataset": {"name": "fastapi-docs", "documents": 155},
        "runs": [{"model": "bm25", "mode": "sparse", "precision": "float32", "metrics": {"ndcg@10": 0.5}}],
    }
    (tmp_path / "other.json").write_text(json.dumps(other), encoding="utf-8")
    return {"dir": str(tmp_path), "out": str(tmp_path / "judged")}


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--questions", "{dir}/empty.txt", "-m", "bm25"], "empty.txt: no questions in this file"),
        (["--results", "{dir}/other.json"], "--results: measured on fastapi-docs (155 documents), not on demo"),
        (["--results", "{dir}/other.json", "-m", "bm25"], "--results: give either a results file or"),
        (["--target-mde", "0", "-m", "bm25"], "--target-mde: must lie in (0, 1]"),
        (["--judge-model", "gpt-4o", "-m", "bm25"], "--judge-model: expected openai-compatible:MODEL@"),
        (["--top-k", "0", "-m", "bm25"], "--top-k"),
        ([], "judge needs set-ups to pool"),
        (["--mode", "fancy", "-m", "bm25"], "--mode: unknown mode 'fancy'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(places, args, expected):
    result = runner.invoke(app, ["judge", "demo", "--out", places["out"], *[a.format(**places) for a in args]])
    assert result.exit_code == 2, result.output
    line = one_error_line(result.stderr)
    assert line.startswith("error: ") and expected in line, line
    assert "Traceback" not in result.output


def test_judging_into_the_corpus_folder_itself_is_refused(tmp_path):
    (tmp_path / "a.md").write_text("# A\n\nsome text\n", encoding="utf-8")
    result = runner.invoke(app, ["judge", str(tmp_path), "--out", str(tmp_path), "-m", "bm25"])
    assert result.exit_code == 2
    assert one_error_line(result.stderr).startswith("error: --out: the corpus folder itself")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.md"]


def test_a_port_in_use_is_one_line_and_exit_2(places):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = runner.invoke(app, ["judge", "demo", "--out", places["out"], "-m", "bm25", "--port", str(port)])
    assert result.exit_code == 2
    assert one_error_line(result.stderr) == f"error: --port: {port} is in use on 127.0.0.1; choose another port"


def test_a_second_judge_on_the_same_folder_is_one_line_and_exit_2(places):
    with FolderLock(places["out"]):
        result = runner.invoke(app, ["judge", "demo", "--out", places["out"], "-m", "bm25", "--port", "1"])
    assert result.exit_code == 2
    line = one_error_line(result.stderr)
    assert line.startswith("error: another `embedproof judge` (pid ") and "judged" in line


def get_state(port: int, deadline: float) -> dict:
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/state", timeout=2) as answer:
                return json.loads(answer.read())
        except OSError:
            assert time.time() < deadline, "the judge page did not come up"
            time.sleep(0.2)


def test_the_model_judge_end_to_end_through_the_command(places):
    fake = FakeChat(answer_word="2007")
    port = free_port()
    with fake.serve() as url:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "EMBEDPROOF_BACKEND": "torch"}
        command = [sys.executable, "-m", "embedproof", "judge", "demo", "--out", places["out"], "-m", "bm25",
                   "--questions", f"{places['dir']}/q.txt", "--top-k", "3", "--port", str(port),
                   "--judge-model", f"openai-compatible:fake-judge@{url}", "--judge", "ann"]  # fmt: skip
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            state = get_state(port, time.time() + 60)
            assert len(fake.requests) == 3 and state["agreement"]["pairs"] == 0
            item = state["item"]
            for grade in (2, 0, 0):
                body = json.dumps({"qid": item["qid"], "doc": item["doc"], "grade": grade}).encode()
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/api/grade", body, {"content-type": "application/json"}
                )
                with urllib.request.urlopen(request, timeout=10) as answer:
                    state = json.loads(answer.read())
                item = state["item"]
            assert state["agreement"]["pairs"] == 3 and state["item"] is None
        finally:
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "judged 3 of 3 pooled documents" in out and "model judge: Cohen's kappa" in out
    assert "(leading:" not in out  # one set-up: nothing to compare
    rows = (os.path.join(places["out"], "grades.tsv"),)
    assert sum(1 for line in open(rows[0]) if "\tmodel:openai-compatible:fake-judge@" in line) == 3
