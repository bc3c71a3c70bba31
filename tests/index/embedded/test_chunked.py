"""A chunked recipe builds, appends and serves: each answer carries its document's best chunk, as bench scored it."""

import numpy as np
import pytest

import embedproof
from embedproof.datasets.loading import load_dataset
from embedproof.errors import InvalidInputError
from embedproof.evaluation.metrics import evaluate_run
from embedproof.flow import Choice
from embedproof.index import append_documents, build_index, open_index
from embedproof.search.recipe import Recipe

QUERY = "When was the iPhone released?"


@pytest.fixture(scope="module")
def demo():
    return load_dataset("demo")


def test_a_pick_from_a_chunked_bench_serves_the_benched_ndcg(demo, tmp_path):
    results = embedproof.bench(demo, models=["hashing"], chunk_tokens=16, chunk_overlap=4, latency=False)
    run = results.run("hashing dense chunks 16/4 d1024 float32")
    index = Choice(run, "", {}, results).build(tmp_path / "idx")
    queries = demo.judged_queries
    answers = index.search_many(list(queries.values()), top_k=100)
    served = {qid: {hit["id"]: hit["score"] for hit in a["results"]} for qid, a in zip(queries, answers)}
    assert evaluate_run(demo.qrels, served)[0]["ndcg@10"] == pytest.approx(run.metrics["ndcg@10"], abs=1e-12)
    for answer in answers[:5]:
        for hit in answer["results"]:
            chunk, text = hit["chunk"], demo.corpus[hit["id"]].full_text
            assert text[chunk["start"] : chunk["end"]] == chunk["text"] and chunk["score"] == hit["score"]
            assert len(chunk["text"].split()) <= 16


def test_appending_to_a_chunked_index_ranks_as_building_it_whole(demo, tmp_path):
    ids = list(demo.corpus)
    recipe = Recipe("c", ["hashing", "bm25"], chunk_tokens=16, chunk_overlap=4)
    build_index(recipe, {d: demo.corpus[d] for d in ids[:150]}, tmp_path / "a")
    append_documents(tmp_path / "a", {d: demo.corpus[d] for d in ids[150:]})
    build_index(recipe, demo.corpus, tmp_path / "b")
    a, b = open_index(tmp_path / "a"), open_index(tmp_path / "b")
    assert a.manifest["documents"] == 240 and len(a.manifest["chunk_spans"]["first:hashing"]) == 2
    left, right = a.search(QUERY, top_k=10)["results"], b.search(QUERY, top_k=10)["results"]
    assert [(h["id"], h["chunk"]["start"]) for h in left] == [(h["id"], h["chunk"]["start"]) for h in right]
    assert np.allclose([h["score"] for h in left], [h["score"] for h in right])


def test_a_chunked_recipe_is_refused_by_the_engine_stores(tmp_path, demo):
    recipe = Recipe("c", ["hashing"], chunk_tokens=16)
    for store in ("edge", "qdrant"):
        with pytest.raises(InvalidInputError, match="chunked"):
            build_index(recipe, demo.corpus, tmp_path / store, store_backend=store)
    with pytest.raises(InvalidInputError, match="chunk_overlap"):
        Recipe("c", ["hashing"], chunk_tokens=16, chunk_overlap=16)
