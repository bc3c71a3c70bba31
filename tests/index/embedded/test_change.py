"""`index add`: only new documents are encoded, the result searches like a fresh build of the union, and a crash
during an add leaves the previous index loadable."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from embedproof.cli import app
from embedproof.datasets.loading import load_dataset
from embedproof.errors import EmbedproofError
from embedproof.index.access import build_index, open_index
from embedproof.index.embedded.change import append_documents
from embedproof.index.manifest import KILL_ENV
from embedproof.models.hashing import HashingEncoder
from embedproof.models.multivector import TokenEmbeddingEncoder
from embedproof.models.splade import SpladeEncoder
from embedproof.search.recipe import Recipe

QUERIES = [
    "When was the iPhone released?",
    "HTTP 404",
    "black holes and neutron stars",
    "how does baking soda work",
    "inflation and interest rates",
]


@pytest.fixture(scope="module")
def demo():
    corpus = load_dataset("demo").corpus
    ids = list(corpus)
    return {d: corpus[d] for d in ids[:180]}, {d: corpus[d] for d in ids[180:]}, corpus


def write_jsonl(path, docs):
    path.write_text("".join(json.dumps({"_id": d.id, "title": d.title, "text": d.text}) + "\n" for d in docs.values()))
    return path


def count_texts(monkeypatch, cls, seen: list):
    original = cls.encode_documents

    def counting(self, texts, ids=None, on_progress=None):
        seen.extend(ids if ids is not None else texts)
        return original(self, texts, ids, on_progress)

    monkeypatch.setattr(cls, "encode_documents", counting)


def test_add_encodes_only_new_documents_and_searches_like_a_fresh_build(
    demo, tmp_path, monkeypatch, tiny_mlm_dir, tiny_model_dir
):
    old, new, union = demo
    recipe = Recipe(
        "all-kinds",
        ["hashing", str(tiny_mlm_dir), "bm25"],
        "rrf",
        {"k": 60},
        rerank=f"maxsim:{tiny_model_dir}",
        rerank_top=20,
    )
    build_index(recipe, old, tmp_path / "idx", chunk_size=50)
    before = open_index(tmp_path / "idx")
    bm25_before = before.search(QUERIES[0], 5)["results"][0]
    old_files = json.loads((tmp_path / "idx" / "manifest.json").read_text())["files"]

    encoded: list[str] = []
    for cls in (HashingEncoder, SpladeEncoder, TokenEmbeddingEncoder):
        count_texts(monkeypatch, cls, encoded)
    manifest = append_documents(tmp_path / "idx", new, source="new.jsonl")
    assert sorted(encoded) == sorted(
        list(new) * 3
    )  # each of the 3 stored models saw the 60 new documents, and nothing else
    monkeypatch.undo()
    assert manifest["documents"] == 240 and manifest["docs"] == ["docs.jsonl", "docs-00001.jsonl"]
    assert all(manifest["files"][rel] == digest for rel, digest in old_files.items())  # old chunks untouched
    assert manifest["components"]["first:hashing"]["chunks"][-2:] == [
        "hashing/dense-00004.npy",
        "hashing/dense-00005.npy",
    ]

    build_index(recipe, union, tmp_path / "fresh", chunk_size=50)
    added, fresh = open_index(tmp_path / "idx"), open_index(tmp_path / "fresh")
    assert added.ids == fresh.ids == list(union)
    assert np.array_equal(added.workspace.documents("hashing").dense, fresh.workspace.documents("hashing").dense)
    for query in QUERIES:
        a, f = added.search(query, 10)["results"], fresh.search(query, 10)["results"]
        assert [r["id"] for r in a] == [r["id"] for r in f]
        assert np.allclose([r["score"] for r in a], [r["score"] for r in f], atol=1e-6)
    # BM25 is refitted over all 240 documents: the same document's BM25 score changed (IDF moved)
    after = next(r for r in added.search(QUERIES[0], 240)["results"] if r["id"] == bm25_before["id"])
    assert after["stage_scores"]["first_pass:bm25"] != pytest.approx(
        bm25_before["stage_scores"]["first_pass:bm25"], abs=1e-9
    )


def test_duplicate_ids_and_unfinished_indexes_are_refused(demo, tmp_path):
    old, new, union = demo
    recipe = Recipe("dense", ["hashing"])
    build_index(recipe, old, tmp_path / "idx", chunk_size=50)
    clash = write_jsonl(tmp_path / "clash.jsonl", {**new, "d005": union["d005"]})
    result = CliRunner().invoke(app, ["index", "add", str(tmp_path / "idx"), "--corpus", str(clash)])
    assert result.exit_code != 0
    message = " ".join((result.output + str(result.stderr if result.stderr_bytes is not None else "")).split())
    assert "'d005' is already in the index" in message and "clash.jsonl" in message
    assert open_index(tmp_path / "idx").manifest["documents"] == 180  # nothing was written
    manifest = tmp_path / "idx" / "manifest.json"
    saved = manifest.read_text()
    built_with = json.loads(saved)
    built_with["components"]["first:hashing"]["revision"] = (
        "0123abcd"  # as if the model had been updated since the build
    )
    manifest.write_text(json.dumps(built_with))
    with pytest.raises(EmbedproofError, match="hashing is now revision None, the index was built with 0123abcd"):
        append_documents(tmp_path / "idx", new)
    manifest.write_text(saved.replace('"complete": true', '"complete": false'))
    with pytest.raises(EmbedproofError, match="build did not finish; resume it"):
        append_documents(tmp_path / "idx", new)


@pytest.mark.parametrize("kill", ["docs-written:1", "chunk-renamed:2", "manifest-written:1"])
def test_a_crash_during_add_leaves_the_previous_index_and_a_rerun_completes(demo, tmp_path, kill):
    old, new, union = demo
    recipe = Recipe("dense", ["hashing", "hashing-256"], "rrf", {"k": 60})
    build_index(recipe, old, tmp_path / "idx", chunk_size=25)
    before = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    cmd = [
        sys.executable,
        "-m",
        "embedproof",
        "index",
        "add",
        str(tmp_path / "idx"),
        "--corpus",
        str(write_jsonl(tmp_path / "new.jsonl", new)),
    ]
    proc = subprocess.run(cmd, env={**os.environ, KILL_ENV: kill}, capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    index = open_index(tmp_path / "idx")  # the previous index, whole
    assert index.manifest == before and len(index.ids) == 180
    subprocess.run(cmd, check=True, capture_output=True, env={k: v for k, v in os.environ.items() if k != KILL_ENV})
    build_index(recipe, union, tmp_path / "fresh", chunk_size=25)
    added, fresh = open_index(tmp_path / "idx"), open_index(tmp_path / "fresh")
    assert added.ids == fresh.ids
    assert not list((tmp_path / "idx").rglob("*.tmp"))
    for model in recipe.first_pass:
        assert np.array_equal(added.workspace.documents(model).dense, fresh.workspace.documents(model).dense)
