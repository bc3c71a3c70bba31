"""`index info` reads like a table and loads no model; `search ""` is refused; Ctrl-C during a build says how to
resume."""

import json
import sys

from typer.testing import CliRunner

from embedproof.cli import app

runner = CliRunner()


def _build(tmp_path):
    out = tmp_path / "idx"
    result = runner.invoke(
        app,
        ["index", "build", "--corpus", "demo", "--mode", "hybrid", "-m", "hashing", "-m", "bm25", "--out", str(out)],
    )
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
    code = (
        "import sys; from embedproof.index.access import index_info; index_info(sys.argv[1]); "
        "print(any(m.startswith(('torch', 'sentence_transformers')) for m in sys.modules))"
    )
    assert (
        subprocess.run(
            [sys.executable, "-c", code, str(out)], capture_output=True, text=True, check=True
        ).stdout.strip()
        == "False"
    )


def test_empty_query_and_bad_top_k_are_refused(tmp_path):
    out = _build(tmp_path)
    for args, message in (([""], "query: empty"), (["   "], "query: empty"), (["iPhone", "--top-k", "0"], "--top-k")):
        result = runner.invoke(app, ["search", str(out), *args])
        assert result.exit_code == 2 and message in result.output, result.output


def test_ctrl_c_during_a_build_says_how_to_resume(tmp_path, monkeypatch):
    import embedproof.index.access as store

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(store, "build_index", interrupted)
    result = runner.invoke(
        app, ["index", "build", "--corpus", "demo", "--mode", "dense", "-m", "hashing", "--out", str(tmp_path / "i")]
    )
    assert result.exit_code == 130 and "run the same command again to resume" in result.output


def test_search_writes_no_query_vectors_to_the_embedding_cache(tmp_path, tiny_model_dir):
    """`search` encodes its query live, as the server does: the cache (for corpora) gains no file and no byte."""
    from embedproof.datasets.loading import load_dataset
    from embedproof.files import cache_root
    from embedproof.index.access import build_index, open_index
    from embedproof.search.recipe import Recipe

    out = tmp_path / "idx"
    recipe = Recipe("dense", [str(tiny_model_dir)])
    build_index(recipe, load_dataset("demo").corpus, out)

    def snapshot():
        return {str(p): p.stat().st_size for p in cache_root().rglob("*") if p.is_file()}

    before = snapshot()
    assert before  # the build cached the corpus: the folder a query would land in exists
    result = runner.invoke(app, ["search", str(out), "a query seen for the first time", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["results"]
    assert snapshot() == before
    open_index(out).search("another query seen for the first time")  # without live queries it would be written
    assert snapshot() != before


def test_serve_passes_the_batching_options_and_refuses_bad_ones_in_one_line(tmp_path, monkeypatch):
    import embedproof.server.app
    from embedproof.server.batching import BatchOptions

    called = []
    monkeypatch.setattr(embedproof.server.app, "serve", lambda *args, **kwargs: called.append(kwargs["batching"]))
    result = runner.invoke(
        app,
        [
            "serve",
            str(tmp_path),
            "--max-batch",
            "64",
            "--max-tokens",
            "4096",
            "--max-wait-ms",
            "0.5",
            "--max-queue",
            "32",
            "--threads",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["serve", str(tmp_path)]).exit_code == 0
    assert called == [
        BatchOptions(max_batch=64, max_tokens=4096, max_wait_ms=0.5, max_queue=32, threads=1),
        BatchOptions(),
    ]
    for option, value in (
        ("--max-batch", "0"),
        ("--max-tokens", "-3"),
        ("--max-wait-ms", "-1"),
        ("--max-wait-ms", "nan"),
        ("--max-wait-ms", "inf"),
        ("--max-queue", "0"),
        ("--threads", "0"),
    ):
        result = runner.invoke(app, ["serve", str(tmp_path), option, value])
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith(f"error: {option}: "), (
            option,
            value,
            result.output,
        )
    assert len(called) == 2  # no server was started for a bad value
    help_text = " ".join(runner.invoke(app, ["serve", "--help"]).output.split())  # the help wraps its lines
    defaults = BatchOptions()
    for name in ("max_batch", "max_tokens", "max_wait_ms", "max_queue"):  # the help shows BatchOptions' own defaults
        assert f"(default {getattr(defaults, name)})" in help_text, name


def test_index_build_and_add_read_markup_as_bench_does_and_drop_code(tmp_path):
    """The index holds the documents bench measured: markup stripped, code dropped when asked."""
    from embedproof.index.manifest import Manifest

    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "a.md").write_text("# Alpha { #alpha }\n\nBread rises in [ovens](https://x).\n\n```\nbake()\n```\n")
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "b.html").write_text("<title>Beta</title><p>Yeast <b>feeds</b>.</p><pre>ferment()</pre>")
    out = tmp_path / "idx"
    base = ["index", "build", "--corpus", str(pages), "--mode", "sparse", "--drop-code", "--out", str(out)]
    assert runner.invoke(app, base).exit_code == 0
    added = runner.invoke(app, ["index", "add", str(out), "--corpus", str(tmp_path / "more"), "--drop-code"])
    assert added.exit_code == 0, added.output
    docs = Manifest.open(out).documents()
    assert {d: (doc.title, doc.text) for d, doc in docs.items()} == {
        "a": ("Alpha", "Bread rises in ovens."),
        "b": ("Beta", "Yeast feeds."),
    }
