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


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def _generation(folder) -> int:
    return json.loads((folder / "manifest.json").read_text()).get("generation", 1)


def test_add_replace_and_remove_report_what_changed_and_a_retry_succeeds(tmp_path):
    """Every change prints one summary line; a retry (or a removal of an absent id) needs nothing and exits 0
    without a new generation; a different text is refused in one line unless --replace."""
    from embedproof.datasets.loading import load_dataset
    from embedproof.index.manifest import Manifest

    corpus = load_dataset("demo").corpus
    ids = list(corpus)
    out = tmp_path / "idx"
    built = runner.invoke(
        app, ["index", "build", "--corpus", "demo", "--mode", "dense", "-m", "hashing", "--out", str(out)]
    )
    assert built.exit_code == 0, built.output
    new = tmp_path / "new.jsonl"
    new.write_text(
        json.dumps({"_id": "n1", "title": "Sourdough", "text": "A starter of wild yeast leavens the bread."})
        + "\n"
        + json.dumps({"_id": ids[0], "title": corpus[ids[0]].title, "text": corpus[ids[0]].text})  # as it is
        + "\n"
    )
    add = ["index", "add", str(out), "--corpus", str(new)]
    first = runner.invoke(app, add)
    assert first.exit_code == 0, first.output
    assert _lines(first.stdout) == [
        f"{out}: added 1 (1 already in the index with the same text); generation 2, 241 documents"
    ]
    saved = (out / "manifest.json").read_bytes()
    retry = runner.invoke(app, add)
    assert retry.exit_code == 0 and _lines(retry.stdout) == [
        f"{out}: nothing to change (2 already in the index with the same text); generation 2, 241 documents"
    ]
    assert (out / "manifest.json").read_bytes() == saved  # no commit, no new generation

    new.write_text(json.dumps({"_id": "n1", "title": "Sourdough", "text": "Rye flour and water, fed daily."}) + "\n")
    refused = runner.invoke(app, add)
    assert refused.exit_code == 2 and _lines(refused.stderr) == [
        f"error: {new}: document id 'n1' already in the index {out} with a different text; "
        "pass --replace to replace them"
    ]
    assert (out / "manifest.json").read_bytes() == saved
    replaced = runner.invoke(app, [*add, "--replace"])
    assert replaced.exit_code == 0 and _lines(replaced.stdout) == [f"{out}: replaced 1; generation 3, 241 documents"]
    assert Manifest.read(out).documents()["n1"].text == "Rye flour and water, fed daily."

    absent = runner.invoke(app, ["index", "remove", str(out), "no-such-id"])
    assert absent.exit_code == 0 and _lines(absent.stdout) == [
        f"{out}: nothing to change (1 to remove not in the index); generation 3, 241 documents"
    ]
    ids_file = tmp_path / "gone.txt"
    ids_file.write_text(f"{ids[1]}\n\n  {ids[2]}  \nno-such-id\n\n")
    removed = runner.invoke(app, ["index", "remove", str(out), "n1", "--ids-file", str(ids_file)])
    assert removed.exit_code == 0 and _lines(removed.stdout) == [
        f"{out}: removed 3 (1 to remove not in the index); generation 4, 238 documents"
    ]
    again = runner.invoke(app, ["index", "remove", str(out), "n1", "--ids-file", str(ids_file)])
    assert again.exit_code == 0 and "nothing to change" in again.stdout and _generation(out) == 4
    live = Manifest.read(out).documents()
    assert len(live) == 238 and not {"n1", ids[1], ids[2]} & set(live)
    info = json.loads(runner.invoke(app, ["index", "info", str(out), "--json"]).stdout)
    assert (info["documents"], info["generation"], info["retired_rows"]) == (238, 4, 4)
    assert (
        "238 documents, generation 4 (4 retired rows on disk)" in runner.invoke(app, ["index", "info", str(out)]).stdout
    )


def test_remove_refuses_bad_ids_in_one_line(tmp_path):
    out = tmp_path / "idx"
    built = runner.invoke(
        app, ["index", "build", "--corpus", "demo", "--mode", "dense", "-m", "hashing", "--out", str(out)]
    )
    assert built.exit_code == 0, built.output
    saved = (out / "manifest.json").read_bytes()
    binary = tmp_path / "ids.bin"
    binary.write_bytes(b"d001\n\xff\xfe\n")
    for args, line in [
        ([], "error: index remove: give the ids of the documents to remove (ID ... or --ids-file)"),
        ([""], "error: ID: empty; give the id of a document to remove"),
        (["--ids-file", str(tmp_path / "missing.txt")], f"error: --ids-file: cannot read {tmp_path / 'missing.txt'}: "),
        (["--ids-file", str(tmp_path)], f"error: --ids-file: cannot read {tmp_path}: "),
        (["--ids-file", str(binary)], f"error: {binary}, line 2: not valid UTF-8"),
        (["d001", "d001"], "error: the ids to remove: document id 'd001' is named twice for removal"),
    ]:
        result = runner.invoke(app, ["index", "remove", str(out), *args])
        assert result.exit_code == 2 and len(_lines(result.stderr)) == 1, (args, result.output)
        assert _lines(result.stderr)[0].startswith(line), (args, result.stderr)
    assert (out / "manifest.json").read_bytes() == saved
    no_index = runner.invoke(app, ["index", "remove", str(tmp_path), "d001"])
    assert no_index.exit_code == 2 and _lines(no_index.stderr) == [
        f"error: {tmp_path}: not an embedproof index (no manifest.json)"
    ]


def test_build_refuses_a_folder_of_other_files_and_an_empty_out(tmp_path, monkeypatch):
    mine = tmp_path / "my documents"
    mine.mkdir()
    (mine / "notes.txt").write_text("my own notes\n")
    build = ["index", "build", "--corpus", "demo", "--mode", "dense", "-m", "hashing", "--out"]
    refused = runner.invoke(app, [*build, str(mine)])
    assert refused.exit_code == 2 and _lines(refused.stderr) == [
        f"error: {mine}: holds files and is not an embedproof index (no manifest.json; first: notes.txt); "
        "choose a new or empty folder for the index"
    ]
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]  # nothing written, not even a lock
    monkeypatch.chdir(mine)
    empty = runner.invoke(app, [*build, ""])
    assert empty.exit_code == 2 and _lines(empty.stderr) == ["error: --out: empty; give a value"]
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    killed = tmp_path / "killed"  # what a build killed before its first manifest leaves: a lock, a temporary file
    killed.mkdir()
    (killed / ".lock").touch()
    (killed / ".manifest.json.x1y2.tmp").write_text("{")
    done = runner.invoke(app, [*build, str(killed)])
    assert done.exit_code == 0, done.output
    assert sorted(p.name for p in killed.iterdir()) == [".lock", "docs.jsonl", "hashing", "manifest.json"]
    again = runner.invoke(app, [*build, str(killed)])  # an index: the same build returns it as it is
    assert again.exit_code == 0, again.output
