"""`index add` on an edge index: the new documents go into a copy of the shard, committed by the manifest."""

import json
import os
import signal
import subprocess
import sys

import pytest

pytest.importorskip("qdrant_edge")

from embedproof.datasets.loading import load_dataset  # noqa: E402
from embedproof.evaluation.engine_parity import agree_up_to_ties  # noqa: E402
from embedproof.index.access import (
    build_index,  # noqa: E402
    open_index,  # noqa: E402
)
from embedproof.index.embedded.change import append_documents  # noqa: E402
from embedproof.index.manifest import KILL_ENV  # noqa: E402
from embedproof.search.recipe import Recipe  # noqa: E402

# exact search and an int8 quantiser with a graph built: the answers are deterministic, the codes exercised
ENGINE = {"exact": True, "quantization": "int8", "full_scan_threshold_kb": 1, "indexing_threshold_kb": 1}
RECIPE = Recipe("hybrid", ["hashing", "bm25"], fusion_params={"k": 60}, engine=ENGINE)


@pytest.fixture(scope="module")
def demo():
    return load_dataset("demo")


def split(demo, n=160):
    ids = list(demo.corpus)
    return {d: demo.corpus[d] for d in ids[:n]}, {d: demo.corpus[d] for d in ids[n:]}


def answers(folder, queries, k=10):
    index = open_index(folder)
    try:
        return [[(r["id"], r["score"]) for r in a["results"]] for a in index.search_many(queries, k)]
    finally:
        index.close()


def test_an_added_index_answers_as_a_fresh_build_of_all_documents(demo, tmp_path):
    first, rest = split(demo)
    build_index(RECIPE, first, tmp_path / "added", chunk_size=64)  # several chunks on both sides of the add
    before = json.loads((tmp_path / "added" / "manifest.json").read_text())
    append_documents(tmp_path / "added", rest, encoder_options=lambda m: {})
    build_index(RECIPE, demo.corpus, tmp_path / "whole")
    manifest = json.loads((tmp_path / "added" / "manifest.json").read_text())
    assert manifest["documents"] == 240 and manifest["store"]["shard"]["points"] == 240
    assert manifest["store"]["path"] != before["store"]["path"]  # the copy is live, the old shard is gone
    assert not (tmp_path / "added" / before["store"]["path"]).exists()
    bm25 = next(c for c in manifest["components"].values() if "bm25" in c)
    whole = json.loads((tmp_path / "whole" / "manifest.json").read_text())
    assert bm25["bm25"]["avgdl"] == next(c for c in whole["components"].values() if "bm25" in c)["bm25"]["avgdl"]
    queries = list(demo.queries.values())
    for got, want in zip(answers(tmp_path / "added", queries), answers(tmp_path / "whole", queries)):
        assert agree_up_to_ties(got, want, tol=1e-5), (got, want)


def test_a_killed_add_leaves_the_previous_index_and_the_next_add_finishes(demo, tmp_path):
    first, rest = split(demo)
    folder = tmp_path / "idx"
    build_index(RECIPE, first, folder)
    queries = list(demo.queries.values())[:10]
    previous = answers(folder, queries)
    new_docs = tmp_path / "new.jsonl"
    new_docs.write_text(
        "".join(json.dumps({"_id": d.id, "title": d.title, "text": d.text}) + "\n" for d in rest.values())
    )
    command = [sys.executable, "-m", "embedproof", "index", "add", str(folder), "--corpus", str(new_docs)]
    env = {k: v for k, v in os.environ.items() if k != KILL_ENV} | {"HF_HUB_OFFLINE": "1"}
    for kill in ("edge-add-copied:1", "edge-add-upserted:1", "manifest-written:1"):
        killed = subprocess.run(command, env=env | {KILL_ENV: kill}, capture_output=True, text=True, timeout=300)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        assert answers(folder, queries) == previous  # loads, unchanged
        assert json.loads((folder / "manifest.json").read_text())["documents"] == 160
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["documents"] == 240
    assert [p.name for p in folder.glob("shard*")] == [manifest["store"]["path"]]  # strays removed
    build_index(RECIPE, demo.corpus, tmp_path / "whole")
    for got, want in zip(answers(folder, queries), answers(tmp_path / "whole", queries)):
        assert agree_up_to_ties(got, want, tol=1e-5)
