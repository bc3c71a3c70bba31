import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from embedproof.datasets.loading import load_dataset
from embedproof.errors import EmbedproofError
from embedproof.index.access import build_index, open_index
from embedproof.search.pipeline import Workspace, run_recipe
from embedproof.search.recipe import Recipe, standard_recipe
from tests.conftest import DATASETS

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def demo():
    return load_dataset("demo")


def chunk_digests(folder: Path) -> dict:
    manifest = json.loads((folder / "manifest.json").read_text())
    return {rel: digest for rel, digest in manifest["files"].items()}


def test_build_search_and_same_ranking_as_the_recipe_run(demo, tmp_path, minilm_path):
    recipe = standard_recipe("hybrid+rerank", MINILM, "bm25")
    manifest = build_index(recipe, demo.corpus, tmp_path / "idx", chunk_size=64)
    assert manifest["complete"] and manifest["documents"] == 240
    index = open_index(tmp_path / "idx")
    answer = index.search("When was the iPhone released?", top_k=10)
    assert answer["results"][0]["id"] == "d001"
    assert set(answer["results"][0]["stage_scores"]) == {
        f"first_pass:{MINILM}",
        "first_pass:bm25",
        "fusion:rrf",
        f"rerank:maxsim:{MINILM}",
    }
    assert answer["timings_ms"]["total"] > 0
    # the same recipe run from scratch (what bench measures) ranks the same way
    ids = list(demo.corpus)
    fresh = run_recipe(
        recipe,
        Workspace(ids, [demo.corpus[d].full_text for d in ids], lambda m: {}),
        ["q"],
        ["When was the iPhone released?"],
    )[-1].run["q"]
    expected = [d for d, _ in sorted(fresh.items(), key=lambda item: (-item[1], item[0]))[:10]]
    assert [r["id"] for r in answer["results"]] == expected
    info = index.info()
    assert (
        info["components"][f"first:{MINILM}"]["chunks"] == 4
        and "refitted" in info["components"]["first:bm25"]["stored"]
    )


def test_interrupted_build_resumes_and_equals_an_uninterrupted_one(demo, tmp_path, monkeypatch):
    recipe = Recipe("dense", ["hashing"])
    build_index(recipe, demo.corpus, tmp_path / "whole", chunk_size=50)
    from embedproof.models.hashing import HashingEncoder

    original = HashingEncoder.encode_documents
    calls = []

    def crash_on_third(self, texts, ids=None, on_progress=None):
        calls.append(len(texts))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(self, texts, ids, on_progress)

    monkeypatch.setattr(HashingEncoder, "encode_documents", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        build_index(recipe, demo.corpus, tmp_path / "resumed", chunk_size=50)
    with pytest.raises(EmbedproofError, match="did not finish"):
        open_index(tmp_path / "resumed")
    calls.clear()
    monkeypatch.setattr(HashingEncoder, "encode_documents", original)
    build_index(recipe, demo.corpus, tmp_path / "resumed", chunk_size=50)
    assert chunk_digests(tmp_path / "resumed") == chunk_digests(tmp_path / "whole")
    assert not list((tmp_path / "resumed").rglob("*.tmp"))


def test_sigkill_mid_build_then_resume_equals_uninterrupted(tmp_path, minilm_path):
    cmd = [
        sys.executable,
        "-m",
        "embedproof",
        "index",
        "build",
        "--corpus",
        "demo",
        "--mode",
        "dense",
        "-m",
        MINILM,
        "--chunk-size",
        "8",
    ]
    env = {**os.environ, "EMBEDPROOF_CACHE": str(tmp_path / "cache-a")}  # no cache shared with the reference build
    proc = subprocess.Popen(
        [*cmd, "--out", str(tmp_path / "killed")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    manifest = tmp_path / "killed" / "manifest.json"
    deadline = time.time() + 120
    while time.time() < deadline:
        if manifest.is_file() and len(json.loads(manifest.read_text())["files"]) >= 4:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = json.loads(manifest.read_text())
    assert not done["complete"] and 4 <= len(done["files"]) < 31
    subprocess.run([*cmd, "--out", str(tmp_path / "killed")], env=env, check=True, capture_output=True)
    subprocess.run(
        [*cmd, "--out", str(tmp_path / "whole")],
        env={**os.environ, "EMBEDPROOF_CACHE": str(tmp_path / "cache-b")},
        check=True,
        capture_output=True,
    )
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    assert set(chunk_digests(killed)) == set(chunk_digests(whole)) and len(chunk_digests(whole)) == 31
    for rel in chunk_digests(whole):  # same vectors (bit-identical, or within float noise of a different batch split)
        if rel.endswith(".npy"):
            assert np.allclose(np.load(killed / rel), np.load(whole / rel), atol=1e-5)
    assert (
        open_index(killed).search("iPhone 2007", top_k=1)["results"][0]["id"]
        == open_index(whole).search("iPhone 2007", top_k=1)["results"][0]["id"]
    )


def test_corruption_and_foreign_folders_are_detected(demo, tmp_path):
    build_index(Recipe("dense", ["hashing"]), demo.corpus, tmp_path / "idx", chunk_size=100)
    chunk = next((tmp_path / "idx").rglob("dense-00001.npy"))
    data = bytearray(chunk.read_bytes())
    data[-1] ^= 0xFF
    chunk.write_bytes(bytes(data))
    with pytest.raises(EmbedproofError, match="dense-00001.npy: missing or corrupted"):
        open_index(tmp_path / "idx")
    with pytest.raises(EmbedproofError, match="another recipe, corpus or store"):
        build_index(Recipe("other", ["bm25"]), demo.corpus, tmp_path / "idx")
    with pytest.raises(EmbedproofError, match="not an embedproof index"):
        open_index(tmp_path)


# SciFact (5,183 abstracts) with the real all-MiniLM-L6-v2 + BM25: SIGKILL mid-build, resume, compare (slow).
# One full MiniLM encode of SciFact is the cost (about 4 min on 2 idle cores): the embedding cache (content-hashed)
# is shared by the killed build, its resume and the uninterrupted reference, so MiniLM runs over each abstract once.
# The reference therefore holds exactly the vectors the killed and resumed processes computed: the file-level
# comparison checks that resume put every vector in the right chunk, in order, with nothing lost or doubled; that
# the stored rows are the right documents' vectors is checked against a fresh, uncached encode of a random sample.
SCIFACT = DATASETS / "scifact"


@pytest.mark.slow
@pytest.mark.skipif(not SCIFACT.is_dir(), reason="SciFact (BEIR layout) not in shared/datasets")
def test_scifact_sigkill_mid_build_then_resume_equals_uninterrupted(tmp_path, minilm_path):
    from embedproof.models.dense import DenseEncoder

    recipe = standard_recipe("hybrid", MINILM, "bm25")
    (tmp_path / "hybrid.json").write_text(json.dumps(recipe.to_dict()))
    cmd = [
        sys.executable,
        "-m",
        "embedproof",
        "index",
        "build",
        "--corpus",
        str(SCIFACT),
        "--recipe",
        str(tmp_path / "hybrid.json"),
        "--chunk-size",
        "512",
        "--out",
        str(tmp_path / "killed"),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    manifest = tmp_path / "killed" / "manifest.json"
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:  # kill once 3 of the 11 MiniLM chunks are committed
        if (
            manifest.is_file()
            and len(json.loads(manifest.read_text())["components"].get(f"first:{MINILM}", {}).get("chunks", [])) >= 3
        ):
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    before = json.loads(manifest.read_text())
    assert not before["complete"] and 3 <= len(before["components"][f"first:{MINILM}"]["chunks"]) < 11
    with pytest.raises(EmbedproofError, match="did not finish"):
        open_index(tmp_path / "killed")

    subprocess.run(cmd, check=True, capture_output=True)  # resume
    corpus = load_dataset(SCIFACT).corpus
    whole = build_index(recipe, corpus, tmp_path / "whole", chunk_size=512)  # uninterrupted, from the shared cache
    resumed = json.loads(manifest.read_text())
    assert resumed["complete"] and resumed["documents"] == 5183 == whole["documents"]
    assert resumed["files"] == whole["files"] and len(whole["files"]) == 12  # docs.jsonl + 11 chunks, same sha256
    assert resumed["components"] == whole["components"]
    assert not list((tmp_path / "killed").rglob("*.tmp"))

    index = open_index(tmp_path / "killed")
    dense = index.workspace.documents(MINILM).dense
    assert dense.shape == (5183, 384)
    rows = sorted(random.Random(7).sample(range(5183), 24))
    ids = list(corpus)
    fresh = DenseEncoder(MINILM, use_cache=False).encode_documents([corpus[ids[r]].full_text for r in rows]).dense
    assert np.allclose(dense[rows], fresh, atol=1e-5)  # the stored rows are those documents' vectors
    query = "0-dimensional biomaterials show inductive properties."
    assert [r["id"] for r in index.search(query, 10)["results"]] == [
        r["id"] for r in open_index(tmp_path / "whole").search(query, 10)["results"]
    ]
