"""The edge store (Qdrant's engine in process) against the embedded default: same recipe, same top 10."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("qdrant_edge")

from embedproof.datasets.loading import load_dataset  # noqa: E402
from embedproof.errors import EmbedproofError  # noqa: E402
from embedproof.evaluation.engine_parity import agree_up_to_ties, positive  # noqa: E402
from embedproof.index.access import (
    build_index,  # noqa: E402
    open_index,  # noqa: E402
)
from embedproof.index.edge.build import build_edge_index  # noqa: E402
from embedproof.index.edge.search import EdgeIndex  # noqa: E402
from embedproof.index.manifest import KILL_ENV
from embedproof.search.engine import EngineSettings, engine_settings  # noqa: E402
from embedproof.search.fusion import reciprocal_rank_fusion, top  # noqa: E402
from embedproof.search.maxsim import maxsim_each  # noqa: E402
from embedproof.search.recipe import Recipe, standard_recipe  # noqa: E402

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
EXACT = {"exact": True}
# small thresholds: the demo's 240 vectors get an HNSW graph and quantised codes (the defaults would brute-force them)
INDEXED = {"full_scan_threshold_kb": 1, "indexing_threshold_kb": 1, "m": 16, "ef_construct": 100, "ef": 128}


def ranking(index, text, k=10):
    return [(r["id"], r["score"]) for r in index.search(text, k)["results"]]


def ids(ranked):
    return [d for d, _ in ranked]


def edge(recipe, corpus, out, **options):
    return build_edge_index(recipe, corpus, out, lambda model: {}, 64, None, "torch", options)


@pytest.fixture(scope="module")
def demo():
    return load_dataset("demo")


@pytest.fixture(scope="module")
def built(demo, tmp_path_factory, minilm_path):
    """Embedded and edge (exact) indexes of five MiniLM/BM25 recipes over the demo corpus, one private cache."""
    root = tmp_path_factory.mktemp("edge-demo")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EMBEDPROOF_CACHE", str(root / "cache"))
        for recipe in [
            standard_recipe(m, MINILM, "bm25") for m in ("hybrid+rerank", "dense", "sparse", "hybrid", "multivector")
        ]:
            build_index(recipe, demo.corpus, root / f"{recipe.name}-embedded", chunk_size=64)
            edge(recipe, demo.corpus, root / f"{recipe.name}-edge", **EXACT)
        edge(standard_recipe("dense", MINILM, None), demo.corpus, root / "dense-hnsw", **INDEXED)
        for name, quantization in [("int8", "int8"), ("binary", "binary-2"), ("turbo", "turbo-4")]:
            edge(
                standard_recipe("dense", MINILM, None),
                demo.corpus,
                root / f"dense-{name}",
                **INDEXED,
                quantization=quantization,
            )
    return root


def test_dense_exact_top10_identical(built, demo):
    embedded, index = open_index(built / "dense-embedded"), open_index(built / "dense-edge")
    assert isinstance(index, EdgeIndex) and index.settings.exact
    with index:
        for text in demo.queries.values():
            e, q = ranking(embedded, text), ranking(index, text)
            assert ids(e) == ids(q), text
            assert np.allclose([s for _, s in e], [s for _, s in q], atol=1e-5)


def recall_at_10(index, exact, texts) -> float:
    return float(np.mean([len(set(ids(ranking(index, t))) & set(ids(ranking(exact, t)))) / 10 for t in texts]))


def test_hnsw_and_the_engine_quantisers_against_exact(built, demo):
    """HNSW over float32 and over int8 / 2-bit binary / 4-bit TurboQuant codes (rescored), recall@10 against exact.

    Measured on the demo (240 MiniLM vectors, 53 queries, oversampling 4, rescored): HNSW 1.000, int8 1.000,
    binary-2 0.970, turbo-4 1.000 (binary-1, not tested here: 0.945); benchmarks/scale_edge.py measures the same
    settings at 10k-1M vectors.
    """
    texts = list(demo.queries.values())
    exact = open_index(built / "dense-embedded")
    for name in ("hnsw", "int8", "binary", "turbo"):
        with open_index(built / f"dense-{name}") as index:
            manifest = index.manifest
            assert manifest["store"]["shard"]["indexed_vectors"] == 240, name  # the graph (and codes) exist
            assert recall_at_10(index, exact, texts) >= 0.95, name
    quantiser = json.loads((built / "dense-int8" / "manifest.json").read_text())["store"]["collection"]["vectors"]
    assert quantiser[f"first_{MINILM.split('/')[-1]}"]["quantization"] == {"kind": "scalar", "type": "int8"}


def test_bm25_scores_equal_bm25s(built, demo):
    """IDF modifier × saturated tf = bm25s' Lucene BM25: same positive-score documents, same scores (ties aside)."""
    embedded, index = open_index(built / "sparse-embedded"), open_index(built / "sparse-edge")
    with index:
        for text in demo.queries.values():
            e, q = positive(ranking(embedded, text)), ranking(index, text)
            assert agree_up_to_ties(e, q, tol=1e-4), (text, e, q)
        assert len(ranking(index, "Google mobile OS")) == 4 and len(ranking(embedded, "Google mobile OS")) == 4


def engine_rrf(index, text, ties_by_id=False):
    """embedproof's RRF (k = 60, 1-based ranks) of the engine's own dense and BM25 top 100.

    Each run is ranked in the engine's order, or (`ties_by_id`) re-ordered as embedproof orders a run: by score,
    then document id. Tied BM25 scores are common on the demo's short texts, and a tie's order moves its RRF rank.
    """
    vectors = index.query_vectors([text])[0]
    runs = []
    for key in (f"first:{MINILM}", "first:bm25"):
        c = index.components[key]
        plan = {"limit": 100, "using": c["vector"], "vector": key, "params": {"exact": True}}
        got = [(index.ids[pid], score) for pid, score in index.shard.query(plan, vectors)]
        if ties_by_id:
            got.sort(key=lambda item: (-item[1], item[0]))
        runs.append({"q": {d: -float(i) for i, (d, _) in enumerate(got)}})
    return top(reciprocal_rank_fusion(runs, k=60), 100)["q"]


def test_hybrid_is_rrf_k60_of_the_same_runs(built, demo):
    """The engine's RRF k=61 (0-based) = classic k=60 over its runs; with ties ordered by id, the embedded top 10."""
    embedded, index = open_index(built / "hybrid-embedded"), open_index(built / "hybrid-edge")
    identical = 0
    with index:
        assert index.plan(10)["fusion"]["rrf"] == 61
        for text in demo.queries.values():
            expected = sorted(engine_rrf(index, text).items(), key=lambda item: (-item[1], item[0]))[:10]
            q = ranking(index, text)
            assert agree_up_to_ties(expected, q, tol=1e-6), (text, expected, q)
            by_id = sorted(engine_rrf(index, text, ties_by_id=True).items(), key=lambda item: (-item[1], item[0]))[:10]
            assert ids(by_id) == ids(ranking(embedded, text)), text  # the runs agree; only the order of ties differs
            identical += ids(ranking(embedded, text)) == ids(q)
    assert identical >= 30  # measured 36 of 53: the engine's order of tied BM25 scores is not embedproof's (by id)


def test_maxsim_first_pass_and_rerank(built, demo):
    embedded, index = open_index(built / "multivector-embedded"), open_index(built / "multivector-edge")
    with index:
        for text in list(demo.queries.values())[:20]:
            e, q = ranking(embedded, text), ranking(index, text)
            assert ids(e) == ids(q) and np.allclose([s for _, s in e], [s for _, s in q], atol=1e-2), text
    reranked = open_index(built / "hybrid+rerank-embedded")
    tokens = reranked.workspace.token_rows(MINILM, list(range(len(reranked.ids))))
    position = {d: i for i, d in enumerate(reranked.ids)}
    texts = list(demo.queries.values())[:20]
    queries = (
        reranked.workspace.encoder(MINILM, "tokens").encode_queries(texts, [str(i) for i in range(20)]).multivector
    )
    with open_index(built / "hybrid+rerank-edge") as index:
        for text, q_tokens in zip(texts, queries):
            shortlist = list(top({"q": engine_rrf(index, text)}, 50)["q"])
            scores = maxsim_each(q_tokens, [tokens[position[d]] for d in shortlist])
            expected = sorted(zip(shortlist, scores.tolist()), key=lambda item: (-item[1], item[0]))[:10]
            got = ranking(index, text)
            assert ids(got) == ids(expected) and np.allclose(
                [s for _, s in got], [s for _, s in expected], atol=1e-2
            ), text
        long = ranking(index, texts[0], 70)
        assert (
            len(long) == 70
            and len({d for d, _ in long}) == 70
            and min(s for _, s in long[:50]) > max(s for _, s in long[50:])
        )
        many = index.search_many(texts[:3], [5, 10, 60])
        assert [len(a["results"]) for a in many] == [5, 10, 60] and ids(ranking(index, texts[1])) == [
            r["id"] for r in many[1]["results"]
        ]


def test_splade_rows_and_cross_encoder_rerank(demo, tmp_path, tiny_mlm_dir, tiny_model_dir, tiny_cross_encoder_dir):
    """SPLADE rows as plain sparse vectors; a cross-encoder reranks the engine's shortlist (tiny random models)."""
    splade = Recipe("splade", [str(tiny_mlm_dir)])
    reranked = Recipe("ce", [str(tiny_model_dir)], rerank=f"cross-encoder:{tiny_cross_encoder_dir}", rerank_top=20)
    texts = list(demo.queries.values())[:15]
    for recipe in (splade, reranked):
        build_index(recipe, demo.corpus, tmp_path / f"{recipe.name}-e", chunk_size=100)
        edge(recipe, demo.corpus, tmp_path / f"{recipe.name}-edge", **EXACT)
        embedded = open_index(tmp_path / f"{recipe.name}-e")
        with open_index(tmp_path / f"{recipe.name}-edge") as index:
            for text in texts:
                e, q = ranking(embedded, text), ranking(index, text)
                if recipe is splade:
                    assert agree_up_to_ties(positive(e), q, tol=1e-4), (text, e, q)
                else:
                    assert ids(e) == ids(q) and np.allclose([s for _, s in e], [s for _, s in q], atol=1e-4), (
                        text,
                        e,
                        q,
                    )
            answer = index.search(texts[0], 5)
    assert list(answer["timings_ms"]) == ["encode", "edge", f"rerank:cross-encoder:{tiny_cross_encoder_dir}", "total"]
    assert answer["results"][0]["stage_scores"]["edge"] is not None


def test_settings_from_recipe_and_options():
    assert engine_settings(Recipe("d", ["hashing"]), None) == EngineSettings()
    int8 = engine_settings(Recipe("d", ["hashing"], precision="int8", rescore_multiplier=3), {"m": 32})
    assert (int8.quantization, int8.oversampling, int8.rescore, int8.m) == ("int8", 3.0, True, 32)
    assert engine_settings(Recipe("d", ["hashing"], precision="binary", rescore_multiplier=0), {}).rescore is False
    with pytest.raises(EmbedproofError, match="not edge quantization"):
        engine_settings(Recipe("d", ["hashing"], precision="int8"), {"quantization": "turbo-4"})
    with pytest.raises(EmbedproofError, match="choose from"):
        engine_settings(Recipe("d", ["hashing"]), {"quantization": "pq"})
    with pytest.raises(EmbedproofError, match="no Qdrant equivalent"):
        build_edge_index(Recipe("w", ["hashing", "bm25"], fusion="wsum"), {}, "unused", lambda m: {})


def test_server_request_describes_the_edge_request(demo, tmp_path, tiny_model_dir):
    """One plan, two translations: the Qdrant server's collection + Query API request say what the edge shard does.

    Then the server kwargs run in qdrant-client's local mode and rank as the edge shard (exact search, MaxSim rerank).
    """
    qdrant_client = pytest.importorskip("qdrant_client")
    from embedproof.index.edge.engine import describe_edge, edge_config, edge_request
    from embedproof.index.qdrant.server_collection import describe_server, server_collection, server_query, server_setup

    tiny = str(tiny_model_dir)
    recipe = Recipe("h", [tiny, "bm25"], "rrf", {"k": 60}, rerank=f"maxsim:{tiny}", rerank_top=20)
    for options in [
        {"quantization": "int8", "m": 24, "ef": 64, "vectors_on_disk": True},
        {"quantization": "binary-1.5", "oversampling": 3.0},
        {"quantization": "turbo-4", "rescore": False},
        {"exact": True},
    ]:
        folder = tmp_path / options.get("quantization", "exact")
        edge(recipe, demo.corpus, folder, **options)
        with open_index(folder) as index:
            vectors = index.query_vectors(["iPhone release"])[0]
            plan, collection_plan = index.plan(10), index.store["collection"]
            assert describe_edge(edge_config(collection_plan), edge_request(plan, vectors)) == describe_server(
                server_collection(collection_plan), server_query(plan, vectors)
            ), options
    with open_index(tmp_path / "exact") as index:
        collection, request = server_setup(index, "iPhone release", 10)
        client = qdrant_client.QdrantClient(":memory:")
        client.create_collection("c", **collection)
        models = qdrant_client.models
        # the shard's own stored vectors, moved to the server collection as a snapshot restore would
        for pid, vectors, payload in index.shard.points(list(range(len(index.ids)))):
            client.upsert(
                "c",
                [
                    models.PointStruct(
                        id=pid,
                        payload=payload,
                        vector={
                            n: models.SparseVector(indices=v[0], values=v[1]) if isinstance(v, tuple) else v
                            for n, v in vectors.items()
                        },
                    )
                ],
            )
        served = client.query_points("c", **request).points
        assert [index.ids[p.id] for p in served] == ids(ranking(index, "iPhone release"))
        assert np.allclose([p.score for p in served], [s for _, s in ranking(index, "iPhone release")], atol=1e-4)


def component_runs(index, text, limit=100) -> dict[str, list[tuple[str, float]]]:
    """Each first-pass component's own top `limit` from the engine, ties ordered by document id.

    Scores are rounded to 5 decimals: the engine sums a sparse score's terms in its internal point order, so the
    same score can differ in the last float32 bit between two shards holding the same points.
    """
    vectors = index.query_vectors([text])[0]
    runs = {}
    for key, c in index.components.items():
        plan = {"limit": limit, "using": c["vector"], "vector": key}
        got = [(index.ids[pid], round(score, 5)) for pid, score in index.shard.query(plan, vectors)]
        runs[key] = sorted(got, key=lambda item: (-item[1], item[0]))
    return runs


def fused_by_id(runs: dict) -> list[str]:
    fused = reciprocal_rank_fusion(
        [{"q": {d: -float(i) for i, (d, _) in enumerate(run)}} for run in runs.values()], k=60
    )
    return list(top(fused, 10)["q"])


@pytest.mark.parametrize("kill", ["edge-created:1", "edge-upserted:2", "manifest-written:3", "edge-optimize:1"])
def test_killed_build_refuses_to_load_and_resumes_to_the_same_ranking(demo, tmp_path, kill):
    recipe_file = tmp_path / "hybrid.json"
    recipe_file.write_text(
        json.dumps({"name": "hybrid", "first_pass": ["hashing", "bm25"], "fusion_params": {"k": 60}})
    )
    env = {k: v for k, v in os.environ.items() if k != KILL_ENV} | {"HF_HUB_OFFLINE": "1"}
    command = [
        sys.executable,
        "-m",
        "embedproof",
        "index",
        "build",
        "--corpus",
        "demo",
        "--recipe",
        str(recipe_file),
        "--backend",
        "edge",
        "--chunk-size",
        "50",
        "--edge-m",
        "8",
        "--edge-ef",
        "32",
    ]
    whole = subprocess.run(
        [*command, "--out", str(tmp_path / "whole")], env=env, capture_output=True, text=True, timeout=300
    )
    assert whole.returncode == 0, whole.stderr
    killed = subprocess.run(
        [*command, "--out", str(tmp_path / "resumed")],
        env=env | {KILL_ENV: kill},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    with pytest.raises(EmbedproofError, match="did not finish|not an embedproof index"):
        open_index(tmp_path / "resumed")
    resumed = subprocess.run(
        [*command, "--out", str(tmp_path / "resumed")], env=env, capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr
    texts = list(demo.queries.values())[:15]
    with open_index(tmp_path / "whole") as a, open_index(tmp_path / "resumed") as b:
        everything = list(range(240))
        assert sorted(a.shard.points(everything)) == sorted(b.shard.points(everything))  # the same points, bit for bit
        for text in texts:
            runs_a, runs_b = component_runs(a, text, 240), component_runs(b, text, 240)
            assert runs_a == runs_b, text
            # the same ranking once tied scores are ordered alike: the engine orders ties by its internal point
            # order, which differs between a resumed shard and one built in one go (and between two builds)
            assert fused_by_id(runs_a) == fused_by_id(runs_b), text
        assert b.manifest["store"]["engine"]["m"] == 8 and b.manifest["store"]["shard"]["points"] == 240


def test_cli_search_info_serve_and_a_retried_add(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    base = [sys.executable, "-m", "embedproof"]
    out = str(tmp_path / "idx")
    build = subprocess.run(
        [
            *base,
            "index",
            "build",
            "--corpus",
            "demo",
            "--mode",
            "dense",
            "-m",
            "hashing",
            "--backend",
            "edge",
            "--edge-quantization",
            "int8",
            "--out",
            out,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    found = json.loads(
        subprocess.run(
            [*base, "search", out, "When was the iPhone released?", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        ).stdout
    )
    assert (
        found["results"][0]["id"] == "d001"
        and found["store"]["backend"] == "edge"
        and set(found["timings_ms"]) == {"encode", "edge", "total"}
    )
    info = json.loads(
        subprocess.run(
            [*base, "index", "info", out, "--json"], env=env, capture_output=True, text=True, timeout=300
        ).stdout
    )
    assert (
        info["store"]["engine"]["quantization"] == "int8"
        and info["store"]["live"]["points"] == 240
        and info["bytes_on_disk"] > 0
    )
    added = subprocess.run(
        [*base, "index", "add", out, "--corpus", "demo"], env=env, capture_output=True, text=True, timeout=300
    )
    # the same documents again: a retried add, which needs nothing and commits nothing
    assert added.returncode == 0 and "nothing to change (240 already in the index with the same text)" in added.stdout
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from embedproof.server.app import create_app

    with TestClient(create_app(out)) as client:
        answer = client.post("/search", json={"query": "When was the iPhone released?", "top_k": 3}).json()
        assert [r["id"] for r in answer["results"]][0] == "d001" and len(answer["results"]) == 3


def test_the_commands_in_docs_edge_md_run(tmp_path, minilm_path):
    """Every `embedproof` line of docs/edge.md's first bash block (but `serve`, which blocks) runs and succeeds."""
    import shlex
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[3] / "docs" / "edge.md").read_text(encoding="utf-8")
    block = doc.split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [c.split("#")[0].strip() for c in block.replace("\\\n", " ").splitlines() if c.startswith("embedproof ")]
    assert len(commands) == 5
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    for command in commands:
        if command.startswith("embedproof serve"):
            continue
        done = subprocess.run(
            [sys.executable, "-m", "embedproof", *shlex.split(command)[1:]],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, (command, done.stderr)
    manifest = json.loads((tmp_path / "idx-int8" / "manifest.json").read_text())
    assert (
        manifest["store"]["engine"] | {"quantization": "int8", "oversampling": 4.0, "ef": 64}
        == manifest["store"]["engine"]
    )
