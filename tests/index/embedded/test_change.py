"""Changing an embedded index (add, replace, remove): only new rows are encoded, the index then searches as a fresh
build of its live documents (BM25 included), and a crash at any point of a change leaves the state before or after."""

import json
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from embedproof.cli import app
from embedproof.datasets.loading import load_dataset
from embedproof.errors import EmbedproofError, InvalidInputError
from embedproof.index.access import build_index, open_index
from embedproof.index.change import apply_change
from embedproof.index.embedded.change import append_documents
from embedproof.index.manifest import KILL_ENV, Manifest
from embedproof.models.hashing import HashingEncoder
from embedproof.models.multivector import TokenEmbeddingEncoder
from embedproof.models.splade import SpladeEncoder
from embedproof.search.recipe import Recipe
from embedproof.types import Document

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


def edited(doc: Document, note: str) -> Document:
    return Document(doc.id, f"{doc.text} {note}", doc.title)


def assert_same_answers(changed, fresh, k: int = 10, rel: float = 1e-9, overrides=None, queries=QUERIES) -> None:
    """The same scores rank by rank and, per document, the same score at every stage (within `rel`, and 1e-6
    absolute): so the same ranking, except among documents tied at the cut-off of the top k, where which ones made
    it may differ (rows are in another order than in a fresh build)."""
    for query in queries:
        a = changed.search(query, k, overrides)["results"]
        f = fresh.search(query, k, overrides)["results"]
        assert len(a) == len(f), query
        for mine, theirs in zip(a, f):
            assert mine["score"] == pytest.approx(theirs["score"], rel=rel, abs=1e-6), (query, mine["rank"])
        last = f[-1]["score"] if f else None
        by_id = {r["id"]: r for r in f}
        for r in a:
            if r["id"] not in by_id:
                assert r["score"] == pytest.approx(last, rel=rel, abs=1e-6), (query, r["id"])  # a tie at the cut-off
                continue
            stages, other = r["stage_scores"], by_id[r["id"]]["stage_scores"]
            assert stages.keys() == other.keys(), (query, r["id"])
            for stage, score in stages.items():
                assert (score is None) == (other[stage] is None), (query, r["id"], stage)
                if score is not None:
                    assert score == pytest.approx(other[stage], rel=rel, abs=1e-6), (query, r["id"], stage)


def after(live: dict, upserts: dict, removes) -> dict:
    """The live documents after a change, in row order: a replaced document's new row comes last. Fresh builds
    take them in this order, so that documents with equal scores rank alike (ties break by row, and RRF fuses
    ranks)."""
    return {d: doc for d, doc in live.items() if d not in removes and d not in upserts} | upserts


def live_texts(folder) -> dict[str, tuple[str, str]]:
    return {d: (doc.title, doc.text) for d, doc in Manifest.read(folder).documents().items()}


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
    assert manifest.generation == 2 and manifest.retired_rows == set()
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


def test_replace_and_remove_search_like_a_fresh_build_of_the_live_documents(
    demo, tmp_path, monkeypatch, tiny_mlm_dir, tiny_model_dir
):
    """Dense, SPLADE, BM25 and a MaxSim reranker after add → replace + remove → re-add of a removed id."""
    old, new, union = demo
    recipe = Recipe(
        "all-kinds",
        ["hashing", str(tiny_mlm_dir), "bm25"],
        "rrf",
        {"k": 60},
        rerank=f"maxsim:{tiny_model_dir}",
        rerank_top=20,
    )
    out = tmp_path / "idx"
    build_index(recipe, old, out, chunk_size=50)
    apply_change(out, new)
    ids = list(union)
    replaced = {d: edited(union[d], "black holes and neutron stars") for d in (ids[2], ids[200])}
    encoded: list[str] = []
    for cls in (HashingEncoder, SpladeEncoder, TokenEmbeddingEncoder):
        count_texts(monkeypatch, cls, encoded)
    result = apply_change(out, replaced, removes=[ids[0], ids[210], "no-such-id"], replace=True)
    assert sorted(encoded) == sorted(list(replaced) * 3)  # the new texts only; a removal encodes nothing
    monkeypatch.undo()
    assert (result.replaced, result.removed, result.absent) == (list(replaced), [ids[0], ids[210]], ["no-such-id"])
    assert (result.generation, result.documents) == (3, 238)
    manifest = Manifest.read(out)
    assert manifest.retired_rows == {0, 2, 200, 210} and len(manifest.rows()) == 242  # rows are appended
    back = {ids[0]: Document(ids[0], "Baking soda is sodium bicarbonate, a base.", "Baking soda")}
    assert apply_change(out, back).added == [ids[0]]  # a removed id comes back as a new row

    gone = {ids[0], ids[210], *replaced}
    live = {d: doc for d, doc in union.items() if d not in gone} | replaced | back  # in row order
    assert live_texts(out) == {d: (doc.title, doc.text) for d, doc in live.items()}
    build_index(recipe, live, tmp_path / "fresh", chunk_size=50)
    changed, fresh = open_index(out), open_index(tmp_path / "fresh")
    assert changed.generation == 4 and changed.info()["generation"] == 4 and changed.info()["retired_rows"] == 4
    assert changed.ids == fresh.ids and len(changed.ids) == 239
    for model in ("hashing", str(tiny_mlm_dir)):
        mine, theirs = changed.workspace.documents(model), fresh.workspace.documents(model)
        if mine.dense is not None:
            assert np.array_equal(mine.dense, theirs.dense)
        else:
            assert np.allclose(mine.sparse.toarray(), theirs.sparse.toarray(), atol=1e-5)
    # the first passes and their fusion exactly; MaxSim within float16 rounding of the stored token vectors (a
    # document's token vectors move in the last bits with the batch it was encoded in)
    assert_same_answers(changed, fresh, k=20, overrides={"rerank": False})
    assert_same_answers(changed, fresh, k=20, rel=1e-3)
    # BM25 alone: the scores of a fresh build of the 239 live documents (IDF and average length refitted)
    bm25 = {"first_pass": ["bm25"], "rerank": False}
    for query in QUERIES:
        a = changed.search(query, 239, bm25)["results"]
        f = {r["id"]: r["score"] for r in fresh.search(query, 239, bm25)["results"]}
        assert {r["id"]: r["score"] for r in a} == pytest.approx(f, abs=1e-9)


@pytest.mark.parametrize(
    "recipe",
    [
        Recipe("chunked", ["hashing", "bm25"], "rrf", {"k": 60}, chunk_tokens=16, chunk_overlap=4),
        Recipe("binary", ["hashing"], dim=256, precision="binary"),
        Recipe("float16", ["hashing-256", "bm25"], "rrf", {"k": 60}, precision="float16"),
    ],
    ids=lambda r: r.name,
)
def test_every_step_of_a_change_sequence_searches_like_a_fresh_build(demo, tmp_path, recipe):
    """Chunked first passes (their spans belong to their rows) and shrunk forms, after each committed change."""
    old, new, union = demo
    ids = list(union)
    out = tmp_path / "idx"
    build_index(recipe, old, out, chunk_size=40)
    live = dict(old)
    steps = [
        (dict(new), [], False),
        ({d: edited(union[d], "HTTP 404 not found") for d in (ids[5], ids[185])}, [ids[7]], True),
        ({}, [ids[5], ids[100], ids[239]], False),
        ({ids[5]: edited(union[ids[5]], "inflation"), ids[7]: union[ids[7]]}, [], False),
    ]
    for number, (upserts, removes, replace) in enumerate(steps, 2):
        result = apply_change(out, upserts, removes, replace)
        assert result.generation == number
        live = after(live, upserts, removes)
        assert live_texts(out) == {d: (doc.title, doc.text) for d, doc in live.items()}
        fresh = tmp_path / f"fresh-{number}"
        build_index(recipe, live, fresh, chunk_size=40)
        assert_same_answers(open_index(out), open_index(fresh))
        if recipe.chunk_tokens:
            answer = open_index(out).search(QUERIES[1], 5)["results"]
            for hit in answer:  # the best chunk is cut from the live text of its document
                chunk, text = hit["chunk"], live[hit["id"]].full_text
                assert text[chunk["start"] : chunk["end"]] == chunk["text"]


def test_int8_codes_of_new_rows_use_the_calibration_stored_at_build_time(demo, tmp_path):
    """Refitting the calibration would change every stored code; new rows are quantised with the build's, exactly
    as the bench's int8 form of those vectors would be with that calibration."""
    from embedproof.vectors.quantize import Int8Calibration, quantize_int8
    from embedproof.vectors.stored_form import truncate

    old, new, union = demo
    ids = list(union)
    recipe = Recipe("int8", ["hashing"], dim=256, precision="int8")
    out = tmp_path / "idx"
    built = build_index(recipe, old, out, chunk_size=64)
    rel = built.components["first:hashing"]["calibration"]
    digest, calibration = built.files[rel], Int8Calibration.load(out / rel)
    swap = {ids[3]: edited(union[ids[3]], "neutron stars")}
    apply_change(out, new)
    apply_change(out, swap, removes=[ids[4]], replace=True)
    assert Manifest.read(out).files[rel] == digest  # not refitted
    changed = open_index(out)
    live = after(union, swap, [ids[4]])
    assert changed.ids == list(live)
    vectors = changed.workspace.encoder("hashing").encode_documents([d.full_text for d in live.values()]).dense
    expected = quantize_int8(truncate(vectors, 256), calibration)
    assert np.array_equal(changed.workspace.shrunk("hashing", 256, "int8").stored, expected)
    assert not list(out.rglob("dense-*")) and not list(out.rglob("*.tmp"))
    assert changed.search(QUERIES[0], 1)["results"][0]["id"] == "d001"


def test_refusals_name_the_source_and_write_nothing(demo, tmp_path):
    old, new, union = demo
    recipe = Recipe("dense", ["hashing"])
    out = tmp_path / "idx"
    build_index(recipe, old, out, chunk_size=50)
    saved = (out / "manifest.json").read_text()
    with pytest.raises(InvalidInputError, match=r"clash.jsonl: document id 'd005' already in the index .*--replace"):
        append_documents(out, {**new, "d005": edited(union["d005"], "changed")}, source="clash.jsonl")
    assert (out / "manifest.json").read_text() == saved and sorted(p.name for p in out.iterdir()) == [
        ".lock",
        "docs.jsonl",
        "hashing",
        "manifest.json",
    ]
    built_with = json.loads(saved)
    built_with["components"]["first:hashing"]["revision"] = "0123abcd"  # as if the model had been updated since
    (out / "manifest.json").write_text(json.dumps(built_with))
    with pytest.raises(EmbedproofError, match="hashing is now revision None, the index was built with 0123abcd"):
        append_documents(out, new)
    (out / "manifest.json").write_text(saved.replace('"complete": true', '"complete": false'))
    with pytest.raises(EmbedproofError, match="build did not finish; resume it"):
        append_documents(out, new)


# -- kill -9 inside a change: the index opens as it was before or as it is after, and the retry finishes it --------

CRASH_RECIPE = Recipe("crash", ["hashing", "bm25"], "rrf", {"k": 60})
CRASH_CHUNK = 25  # the 60 added documents → 3 chunk files


@pytest.fixture(scope="module")
def states(demo, tmp_path_factory):
    """The index before and after each change (built by the changes themselves), and fresh builds of each state."""
    old, new, union = demo
    ids = list(union)
    root = tmp_path_factory.mktemp("states")
    files = {
        "add": write_jsonl(root / "new.jsonl", new),
        "replace": write_jsonl(
            root / "edited.jsonl", {d: edited(union[d], "baking soda") for d in (ids[1], ids[190], ids[220])}
        ),
    }
    commands = {
        "add": ["index", "add", "{folder}", "--corpus", str(files["add"])],
        "replace": ["index", "add", "{folder}", "--corpus", str(files["replace"]), "--replace"],
        "remove": ["index", "remove", "{folder}", ids[9], ids[190], ids[230]],
    }
    build_index(CRASH_RECIPE, old, root / "add-before", chunk_size=CRASH_CHUNK)
    live = [dict(old)]
    for step, following, upserts, removes, replace in [
        ("add", "replace", new, [], False),
        ("replace", "remove", {d: edited(union[d], "baking soda") for d in (ids[1], ids[190], ids[220])}, [], True),
        ("remove", None, {}, [ids[9], ids[190], ids[230]], False),
    ]:
        shutil.copytree(root / f"{step}-before", root / f"{step}-after")
        apply_change(root / f"{step}-after", upserts, removes, replace)
        live.append(after(live[-1], upserts, removes))
        if following is not None:
            shutil.copytree(root / f"{step}-after", root / f"{following}-before")
    fresh = []
    for n, docs in enumerate(live):
        build_index(CRASH_RECIPE, docs, root / f"fresh-{n}", chunk_size=CRASH_CHUNK)
        fresh.append(root / f"fresh-{n}")
    order = ["add", "replace", "remove"]
    return {
        step: (root / f"{step}-before", commands[step], fresh[i], fresh[i + 1], live[i], live[i + 1])
        for i, step in enumerate(order)
    }


# (change, crash point, is the change committed when the process dies?)
CRASHES = [
    ("add", "docs-written:1", False),
    ("add", "docs-renamed:1", False),
    ("add", "chunk-written:2", False),
    ("add", "chunk-renamed:3", False),
    ("add", "manifest-written:1", False),
    ("add", "manifest-saved:1", True),
    ("replace", "docs-renamed:1", False),
    ("replace", "chunk-renamed:1", False),
    ("replace", "manifest-written:1", False),
    ("replace", "manifest-saved:1", True),
    ("remove", "manifest-written:1", False),
    ("remove", "manifest-saved:1", True),
]


@pytest.mark.parametrize("change,kill,committed", CRASHES, ids=[f"{c}-{k}" for c, k, _ in CRASHES])
def test_sigkill_inside_a_change_leaves_before_or_after_and_a_retry_finishes_it(
    states, tmp_path, change, kill, committed
):
    before, command, fresh_before, fresh_after, live_before, live_after = states[change]
    out = tmp_path / "idx"
    shutil.copytree(before, out)
    generation = Manifest.read(out).generation
    args = [a.format(folder=out) for a in command]
    env = {k: v for k, v in os.environ.items() if k != KILL_ENV} | {KILL_ENV: kill}
    killed = subprocess.run([sys.executable, "-m", "embedproof", *args], env=env, capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]

    index = open_index(out)  # opens, checksums verified, and serves one whole state
    state, reference = (live_after, fresh_after) if committed else (live_before, fresh_before)
    assert live_texts(out) == {d: (doc.title, doc.text) for d, doc in state.items()}
    assert index.generation == generation + committed
    assert_same_answers(index, open_index(reference))

    retry = CliRunner().invoke(app, args)
    assert retry.exit_code == 0, retry.output
    assert ("nothing to change" in retry.output) == committed
    assert Manifest.read(out).generation == generation + 1
    assert live_texts(out) == {d: (doc.title, doc.text) for d, doc in live_after.items()}
    assert_same_answers(open_index(out), open_index(fresh_after))
    listed = set(Manifest.read(out).files) | {"manifest.json", ".lock"}
    assert {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} == listed  # nothing stray
