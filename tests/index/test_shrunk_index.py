"""A recipe's dim/precision: run as the bench sweep measures it, stored shrunk on disk, and served with the same
ranking."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from embedproof.datasets.loading import load_dataset
from embedproof.errors import EmbedproofError
from embedproof.evaluation.metrics import evaluate_run
from embedproof.evaluation.sweep import SweepOptions, sweep_variants
from embedproof.index.access import build_index, open_index
from embedproof.index.manifest import KILL_ENV
from embedproof.models.card import get_card
from embedproof.search.dense import run_from_indices
from embedproof.search.pipeline import Workspace, run_recipe
from embedproof.search.recipe import Recipe

DIM = 256  # the hashing encoder's native 1,024 truncated (the sweep's truncation path, not just quantisation)
QUERY = "When was the iPhone released?"


@pytest.fixture(scope="module")
def demo():
    return load_dataset("demo")


def workspace(demo) -> Workspace:
    ids = list(demo.corpus)
    return Workspace(ids, [demo.corpus[d].full_text for d in ids], lambda model: {})


def ranking(run: dict, k: int = 10) -> list[str]:
    return [d for d, _ in sorted(run.items(), key=lambda item: (-item[1], item[0]))[:k]]


@pytest.mark.parametrize("precision", ["float32", "float16", "int8", "binary"])
def test_recipe_run_scores_what_the_sweep_measured(demo, precision):
    ws = workspace(demo)
    qids = list(demo.queries)
    texts = [demo.queries[q] for q in qids]
    recipe = Recipe("shrunk", ["hashing"], dim=DIM, precision=precision)
    ours = evaluate_run(demo.qrels, run_recipe(recipe, ws, qids, texts)[-1].run)[0]["ndcg@10"]
    docs = ws.documents("hashing").dense
    queries = ws.encoder("hashing").encode_queries(texts, qids).dense
    (variant,) = sweep_variants(
        get_card("hashing"), docs, queries, recipe.candidates, SweepOptions(dims=[DIM], precisions=(precision,))
    )
    bench = evaluate_run(demo.qrels, run_from_indices(qids, ws.doc_ids, variant.indices, variant.scores))[0]["ndcg@10"]
    assert ours == pytest.approx(bench, abs=1e-12) and 0.1 < ours <= 1.0
    # the shrunk documents are derived once and reused by later query batches
    assert ws.shrunk("hashing", DIM, precision) is ws.shrunk("hashing", DIM, precision)


def test_indexes_store_the_shrunk_form_and_rank_as_the_recipe_run(demo, tmp_path):
    sizes = {}
    for precision in ["float32", "int8", "binary"]:
        recipe = Recipe("shrunk", ["hashing", "bm25"], "rrf", {"k": 60}, dim=DIM, precision=precision)
        manifest = build_index(recipe, demo.corpus, tmp_path / precision, chunk_size=64)
        component = manifest["components"]["first:hashing"]
        assert component["precision"] == precision and component["dim"] == DIM and len(component["chunks"]) == 4
        dense_files = [tmp_path / precision / rel for rel in component["chunks"]]
        sizes[precision] = sum(f.stat().st_size for f in dense_files)
        # every listed file is on disk and nothing else of this component is (int8: the float chunks are gone)
        assert sorted(p.name for p in (tmp_path / precision / "hashing").iterdir()) == sorted(
            [f.name for f in dense_files] + (["int8-calibration.npz"] if precision == "int8" else [])
        )
        index = open_index(tmp_path / precision)
        assert "first:hashing" not in index.workspace._docs  # searched from the stored form, never re-encoded
        answer = index.search(QUERY, top_k=10)
        expected = ranking(run_recipe(recipe, workspace(demo), ["q"], [QUERY])[-1].run["q"])
        assert [r["id"] for r in answer["results"]] == expected and expected[0] == "d001"
    stored = {
        p: np.load(
            tmp_path / p / "hashing" / "int8-00000.npy"
            if p == "int8"
            else tmp_path / p / "hashing" / f"{'dense' if p == 'float32' else p}-00000.npy"
        )
        for p in sizes
    }
    assert (
        stored["float32"].dtype == np.float32
        and stored["int8"].dtype == np.int8
        and stored["binary"].shape == (64, DIM // 8)
    )
    # the payloads: 4 bytes → 1 byte → 1 bit per dimension (each .npy file adds a 128-byte header)
    header = 4 * 128
    assert (
        (sizes["float32"] - header) == 4 * (sizes["int8"] - header) == 32 * (sizes["binary"] - header) == 240 * DIM * 4
    )


def test_a_build_killed_during_the_int8_conversion_does_not_load_and_resumes(demo, tmp_path):
    recipe = Recipe("int8", ["hashing"], dim=DIM, precision="int8")
    recipe_file = tmp_path / "int8.json"
    recipe_file.write_text(json.dumps(recipe.to_dict()))
    out = tmp_path / "idx"
    env = {k: v for k, v in os.environ.items() if k != KILL_ENV} | {
        KILL_ENV: "int8-renamed:3"
    }  # calibration + 2 of 4 chunks
    cmd = [
        sys.executable,
        "-m",
        "embedproof",
        "index",
        "build",
        "--corpus",
        "demo",
        "--recipe",
        str(recipe_file),
        "--chunk-size",
        "64",
        "--out",
        str(out),
    ]
    killed = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    with pytest.raises(EmbedproofError, match="did not finish"):
        open_index(out)
    listed = json.loads((out / "manifest.json").read_text())["components"]["first:hashing"]["chunks"]
    assert all("/dense-" in rel for rel in listed)  # the conversion never reached the manifest
    build_index(recipe, demo.corpus, out, chunk_size=64)
    whole = build_index(recipe, demo.corpus, tmp_path / "whole", chunk_size=64)
    assert json.loads((out / "manifest.json").read_text())["files"] == whole["files"]  # byte-identical files
    assert not list(out.rglob("dense-*.npy")) and not list(out.rglob("*.tmp"))
    assert [r["id"] for r in open_index(out).search(QUERY)["results"]] == [
        r["id"] for r in open_index(tmp_path / "whole").search(QUERY)["results"]
    ]


def test_qdrant_store_refuses_a_shrunk_recipe(demo, tmp_path):
    from embedproof.index.supports import check_supports, supports

    shrunk = Recipe("q", ["hashing"], precision="binary")
    with pytest.raises(EmbedproofError, match="embedded store only"):
        check_supports(shrunk, "qdrant")
    assert supports(shrunk, "embedded") and not supports(shrunk, "qdrant")


def test_appending_to_an_int8_index_reuses_its_calibration(demo, tmp_path):
    from embedproof.index.embedded.change import append_documents

    recipe = Recipe("int8", ["hashing"], dim=DIM, precision="int8")
    ids = list(demo.corpus)
    built = build_index(recipe, {d: demo.corpus[d] for d in ids[:180]}, tmp_path / "idx", chunk_size=64)
    calibration = built["components"]["first:hashing"]["calibration"]
    digest = built["files"][calibration]
    grown = append_documents(tmp_path / "idx", {d: demo.corpus[d] for d in ids[180:]})
    assert grown["files"][calibration] == digest  # not refitted: the stored codes stay valid
    assert grown["components"]["first:hashing"]["chunks"][-1] == "hashing/int8-00003.npy" and not list(
        (tmp_path / "idx").rglob("dense-*")
    )
    index = open_index(tmp_path / "idx")
    assert index.workspace.shrunk("hashing", DIM, "int8").stored.shape == (240, DIM)
    assert index.search(QUERY)["results"][0]["id"] == "d001"
