"""A folder of .txt/.md files as an unlabeled corpus: ids, titles, warnings, errors, links, and the CLI paths."""

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from embedproof.datasets.loading import load_dataset
from embedproof.datasets.readers import read_corpus
from embedproof.errors import DatasetError


def _folder(tmp_path: Path, files: dict[str, bytes | str]) -> Path:
    root = tmp_path / "notes"
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return root


def test_ids_titles_order_and_counted_warnings(tmp_path):
    root = _folder(
        tmp_path,
        {
            "b.txt": "Second file.\nWith two lines.",
            "a/z.md": "# The heading\n\nBody of the markdown file.",
            "a/plain.md": "no heading here",
            "bom.txt": b"\xef\xbb\xbfStarts with a BOM",
            "empty.txt": "  \n\n",
            "image.png": b"\x89PNG",
            ".git/config": "hidden, skipped silently",
        },
    )
    data = load_dataset(root)
    assert list(data.corpus) == ["a/plain", "a/z", "b", "bom"]
    assert data.corpus["a/z"].title == "The heading" and data.corpus["a/z"].text == "Body of the markdown file."
    assert data.corpus["a/plain"].title == "" and data.corpus["a/plain"].text == "no heading here"
    assert data.corpus["b"].text == "Second file.\nWith two lines."
    assert data.corpus["bom"].text == "Starts with a BOM"
    assert data.name == "notes" and data.queries == {} and data.qrels == {}
    kinds = {w.kind: w.message for w in data.warnings}
    assert kinds == {
        "empty_file": "1 empty file skipped (empty.txt)",
        "ignored_file": "1 file not .txt/.md/.html ignored (image.png)",
    }
    assert read_corpus(root, []) == data.corpus


def test_undecodable_and_binary_files_name_the_file_and_line(tmp_path):
    root = _folder(tmp_path, {"ok.txt": "fine", "latin.txt": "line one\ncaf\xe9".encode("latin-1")})
    with pytest.raises(DatasetError, match=r"latin\.txt, line 2: not valid UTF-8 at byte 12") as info:
        load_dataset(root)
    assert info.value.line == 2
    (root / "latin.txt").unlink()
    (root / "blob.txt").write_bytes(b"abc\x00def")
    with pytest.raises(DatasetError, match=r"blob\.txt, line 1: NUL byte at byte 3"):
        load_dataset(root)


def test_two_files_with_one_id_and_an_all_empty_folder_are_errors(tmp_path):
    root = _folder(tmp_path, {"a.txt": "one", "a.md": "two"})
    with pytest.raises(DatasetError, match=r"a\.txt: two files give the same document id 'a' \(the other is a\.md\)"):
        load_dataset(root)
    empty = _folder(tmp_path / "e", {"x.txt": "", "y.md": "\n"})
    with pytest.raises(DatasetError, match="no documents"):
        load_dataset(empty)


def test_links_outside_the_folder_are_refused_and_inside_ones_are_not_read_twice(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("outside")
    root = _folder(tmp_path, {"a.txt": "inside", "sub/b.txt": "nested"})
    os.symlink(root / "sub", root / "again")  # a folder link inside: skipped, its files are read once
    os.symlink(root / "a.txt", root / "alias.txt")  # a file link inside: read
    data = load_dataset(root)
    assert sorted(data.corpus) == ["a", "alias", "sub/b"]
    assert any(w.kind == "ignored_file" and "again/" in w.message for w in data.warnings)
    os.symlink(secret, root / "leak.txt")
    with pytest.raises(DatasetError, match=r"leak\.txt: symbolic link points outside the corpus folder"):
        load_dataset(root)
    (root / "leak.txt").unlink()
    os.symlink(tmp_path, root / "up")
    with pytest.raises(DatasetError, match="up: symbolic link points outside"):
        load_dataset(root)


def test_a_beir_folder_still_wins_and_a_folder_with_neither_is_an_error(tmp_path):
    root = _folder(tmp_path, {"corpus.jsonl": '{"_id": "1", "text": "beir"}\n', "readme.txt": "not a document"})
    assert list(load_dataset(root).corpus) == ["1"]
    other = _folder(tmp_path / "o", {"data.csv": "a,b"})
    with pytest.raises(DatasetError, match=r"no corpus\.jsonl .* and no \.txt/\.md files"):
        load_dataset(other)


def test_profile_and_index_build_take_a_text_folder(tmp_path):
    from embedproof.cli import app

    texts = {
        f"topic{i % 3}/doc{i:02d}.txt": f"Passage {i} about {['phones', 'stars', 'bread'][i % 3]} and more words {i}."
        for i in range(12)
    }
    root = _folder(tmp_path, texts)
    runner = CliRunner()
    profiled = runner.invoke(app, ["profile", str(root), "--json", str(tmp_path / "p.json")])
    assert profiled.exit_code == 0, profiled.output
    assert '"documents": 12' in (tmp_path / "p.json").read_text()
    built = runner.invoke(
        app,
        ["index", "build", "--corpus", str(root), "--mode", "dense", "-m", "hashing", "--out", str(tmp_path / "idx")],
    )
    assert built.exit_code == 0, built.output
    found = runner.invoke(app, ["search", str(tmp_path / "idx"), "bread", "--top-k", "3", "--json"])
    assert found.exit_code == 0 and "topic2/doc" in found.output


def test_a_bad_file_stops_index_build_before_anything_is_written(tmp_path):
    from embedproof.cli import app

    root = _folder(tmp_path, {"good.txt": "a passage", "bad.txt": b"\xff\xfe\x00broken"})
    result = CliRunner().invoke(
        app,
        ["index", "build", "--corpus", str(root), "--mode", "dense", "-m", "hashing", "--out", str(tmp_path / "idx")],
    )
    assert result.exit_code != 0 and "bad.txt" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "idx").exists()  # never a partial index


def test_bench_corpus_takes_a_text_folder_and_benches_on_pseudo_queries(tmp_path):
    import json

    from embedproof.cli import app

    demo = load_dataset("demo").corpus
    # titled passages as Markdown with a `# title` line, so the folder holds what corpus.jsonl holds
    root = _folder(
        tmp_path,
        {
            f"{d.id[:2]}/{d.id}.md" if d.title else f"{d.id[:2]}/{d.id}.txt": f"# {d.title}\n\n{d.text}"
            if d.title
            else d.text
            for d in demo.values()
        },
    )
    loaded = {i.split("/")[1]: (doc.title, doc.text) for i, doc in load_dataset(root).corpus.items()}
    assert loaded == {i: (doc.title, doc.text) for i, doc in demo.items() if i != "d240"}
    out = tmp_path / "r.json"
    result = CliRunner().invoke(
        app, ["bench", "--corpus", str(root), "--pseudo-queries", "40", "-m", "bm25", "--no-latency", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    # the demo's one empty passage (d240) becomes an empty file: skipped and counted
    assert data["dataset"]["documents"] == 239 and data["dataset"]["labels"] == "pseudo (inverse cloze)"
    assert any("1 empty file skipped (d2/d240.txt)" in w for w in data["dataset"]["warnings"])
    assert data["runs"][0]["metrics"]["ndcg@10"] > 0.5


def test_an_empty_file_is_skipped_before_ids_are_compared(tmp_path):
    """Found by the fuzzer: an empty A.txt beside A.md gives no document, so it cannot collide with A.md's."""
    (tmp_path / "A.md").write_text("0")
    (tmp_path / "A.txt").write_text("")
    data = load_dataset(str(tmp_path))
    assert list(data.corpus) == ["A"] and any("1 empty file skipped" in w.message for w in data.warnings)
