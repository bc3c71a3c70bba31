"""`index info` reads like a table and loads no model; `search ""` is refused; Ctrl-C during a build says how to resume."""

import json
import sys

from typer.testing import CliRunner

from embedproof.cli.app import app

runner = CliRunner()


def _build(tmp_path):
    out = tmp_path / "idx"
    result = runner.invoke(app, ["index", "build", "--corpus", "demo", "--mode", "hybrid", "-m", "hashing", "-m", "bm25", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_index_info_is_a_table_and_loads_no_model(tmp_path):
    out = _build(tmp_path)
    table = runner.invoke(app, ["index", "info", str(out)])
    assert table.exit_code == 0 and "checksums verified" in table.output and "components" in table.output
    assert "hashing" in table.output and "240 documents" in table.output
    info = json.loads(runner.invoke(app, ["index", "info", str(out), "--json"]).stdout)
    assert info["documents"] == 240 and info["recipe"]["name"] == "hybrid"


def test_index_info_needs_no_model_stack(tmp_path):
    import subprocess

    out = _build(tmp_path)
    code = ("import sys; from embedproof.index.reader import index_info; index_info(sys.argv[1]); "
            "print(any(m.startswith(('torch', 'sentence_transformers')) for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_empty_query_and_bad_top_k_are_refused(tmp_path):
    out = _build(tmp_path)
    for args, message in (([""], "query: empty"), (["   "], "query: empty"), (["iPhone", "--top-k", "0"], "--top-k")):
        result = runner.invoke(app, ["search", str(out), *args])
        assert result.exit_code == 2 and message in result.output, result.output


def test_ctrl_c_during_a_build_says_how_to_resume(tmp_path, monkeypatch):
    import embedproof.index.store as store

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(store, "build_index", interrupted)
    result = runner.invoke(app, ["index", "build", "--corpus", "demo", "--mode", "dense", "-m", "hashing", "--out", str(tmp_path / "i")])
    assert result.exit_code == 130 and "run the same command again to resume" in result.output
