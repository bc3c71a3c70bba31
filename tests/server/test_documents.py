"""A served index follows its changes (embedproof/server/live.py) and takes them over HTTP (server/documents.py):
a live uvicorn server over an embedded hashing + BM25 index of 40 demo documents."""

import json
import subprocess
import sys
import threading
import time

import httpx
import pytest

from embedproof.datasets.loading import load_dataset
from embedproof.index.access import build_index
from embedproof.index.change import apply_change
from embedproof.search.recipe import standard_recipe
from tests.conftest import serve_in_thread

pytest.importorskip("fastapi")
KEY = {"X-API-Key": "s3cret"}
QUERY = "When was the iPhone released?"  # d001 is the first answer of the demo collection


@pytest.fixture
def index_dir(tmp_path):
    folder = tmp_path / "idx"
    corpus = dict(list(load_dataset("demo").corpus.items())[:40])
    build_index(standard_recipe("hybrid", "hashing", "bm25"), corpus, folder, chunk_size=16)
    return folder


@pytest.fixture
def writable(index_dir):
    from embedproof.server.app import create_app

    app = create_app(index_dir, api_key="s3cret", writable=True, max_request_bytes=4_000, poll_s=0.05)
    with serve_in_thread(app) as url:
        yield app, url


def _ids(answer: httpx.Response) -> list[str]:
    return [r["id"] for r in answer.json()["results"]]


def _wait_for_generation(url: str, generation: int, seconds: float = 3.0) -> dict:
    deadline = time.time() + seconds
    while True:
        health = httpx.get(url + "/health").json()
        if health["generation"] == generation:
            return health
        assert time.time() < deadline, f"still generation {health['generation']} after {seconds} s"
        time.sleep(0.02)


def test_a_change_committed_by_another_process_is_served_without_a_restart(writable, index_dir):
    app, url = writable
    before = httpx.post(url + "/search", json={"query": QUERY, "top_k": 5}, headers=KEY)
    assert _ids(before)[0] == "d001" and before.headers["x-embedproof-generation"] == "1"
    change = (
        "from embedproof.index.change import apply_change; from embedproof.types import Document; "
        f"print(apply_change({str(index_dir)!r}, {{'new': Document('new', 'The iPhone was released in 2007 by Apple.',"
        " 'iPhone release')}, ['d001']).summary())"
    )
    done = subprocess.run([sys.executable, "-c", change], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    began = time.time()
    health = _wait_for_generation(url, 2)
    assert health["documents"] == 40 and time.time() - began < 2
    after = httpx.post(url + "/search", json={"query": QUERY, "top_k": 5}, headers=KEY)
    assert after.headers["x-embedproof-generation"] == "2"
    assert _ids(after)[0] == "new" and "d001" not in _ids(after)
    assert app.state.live.current.number == 2


def test_a_request_that_started_before_the_swap_finishes_on_its_generation(writable, index_dir):
    """A batch takes its lease when it starts: the running one finishes on generation 1, while the requests queued
    behind it (not started yet at the swap) run together, as one batch, on generation 2."""
    app, url = writable
    first = app.state.live.current
    real, entered, release = first.index.search_many, threading.Event(), threading.Event()

    def held(queries, top_k=10, overrides=None):  # the first batch waits inside generation 1 until released
        entered.set()
        assert release.wait(30)
        return real(queries, top_k, overrides)

    first.index.search_many = held
    answers = {}

    def search(name):
        answers[name] = httpx.post(url + "/search", json={"query": QUERY}, headers=KEY, timeout=60)

    threads = [threading.Thread(target=search, args=("running",))]
    threads[0].start()
    assert entered.wait(30)
    threads += [threading.Thread(target=search, args=(f"queued {n}",)) for n in range(4)]
    for t in threads[1:]:
        t.start()
    deadline = time.time() + 10
    while app.state.worker.queued < 4:
        assert time.time() < deadline
        time.sleep(0.01)
    result = apply_change(index_dir, {}, ["d001"])  # committed while the first request runs
    assert result.removed == ["d001"] and result.generation == 2
    _wait_for_generation(url, 2)
    assert first.retired and first.leases == 1 and not first.closed  # held by the running batch
    release.set()
    for t in threads:
        t.join(30)
    old = answers.pop("running")
    assert old.status_code == 200 and old.headers["x-embedproof-generation"] == "1" and _ids(old)[0] == "d001"
    assert first.leases == 0 and first.closed  # the last lease closed it
    for answer in answers.values():
        assert answer.headers["x-embedproof-generation"] == "2" and answer.headers["x-batch-size"] == "4"
        assert _ids(answer)[0] != "d001" and "d001" not in _ids(answer)


def test_writes_over_http_are_one_generation_each_and_served_before_the_answer(writable):
    app, url = writable
    doc = {"id": "lh", "title": "Lighthouse", "text": "A lighthouse keeper counts the passing ships at night."}
    added = httpx.post(url + "/documents", json={"documents": [doc], "remove": ["d002", "gone"]}, headers=KEY)
    assert added.status_code == 200 and added.headers["x-embedproof-generation"] == "2"
    assert added.json() == {
        "generation": 2,
        "documents": 40,
        "changed": True,
        "added": ["lh"],
        "replaced": [],
        "removed": ["d002"],
        "unchanged": [],
        "absent": ["gone"],
    }
    found = httpx.post(url + "/search", json={"query": "lighthouse keeper ships", "top_k": 3}, headers=KEY)
    assert _ids(found)[0] == "lh" and found.headers["x-embedproof-generation"] == "2"  # no wait: swapped already
    again = httpx.post(url + "/documents", json={"documents": [doc]}, headers=KEY)  # a retried add
    assert again.status_code == 200 and again.json()["unchanged"] == ["lh"] and again.json()["generation"] == 2
    edited = {**doc, "text": "A lighthouse keeper logs storms and ships."}
    refused = httpx.post(url + "/documents", json={"documents": [edited]}, headers=KEY)
    assert refused.status_code == 422 and refused.json()["detail"].startswith(
        "POST /documents: document id 'lh' already in the index"
    )
    assert refused.json()["detail"].endswith('with a different text; send "replace": true to replace them')
    replaced = httpx.post(url + "/documents", json={"documents": [edited], "replace": True}, headers=KEY)
    assert replaced.json()["replaced"] == ["lh"] and replaced.json()["generation"] == 3
    storms = httpx.post(url + "/search", json={"query": "storms", "top_k": 1}, headers=KEY).json()["results"]
    assert storms[0]["id"] == "lh" and "storms" in storms[0]["text"]
    removed = httpx.delete(url + "/documents/lh", headers=KEY)
    assert removed.status_code == 200 and removed.json()["removed"] == ["lh"] and removed.json()["documents"] == 39
    absent = httpx.delete(url + "/documents/lh", headers=KEY)
    assert absent.json()["absent"] == ["lh"] and absent.json()["generation"] == 4 and not absent.json()["changed"]
    assert httpx.get(url + "/health").json()["documents"] == 39


def test_every_refusal_names_what_is_wrong(writable, index_dir):
    app, url = writable
    body = {"documents": [{"id": "a", "text": "x"}]}
    missing = httpx.post(url + "/documents", json=body)
    assert missing.status_code == 401 and missing.json() == {"detail": "missing API key"}
    wrong = httpx.post(url + "/documents", json=body, headers={"X-API-Key": "nope"})
    assert wrong.status_code == 403 and wrong.json() == {"detail": "wrong API key"}
    assert httpx.delete(url + "/documents/d001", headers={"Authorization": "Bearer nope"}).status_code == 403
    too_big = httpx.post(url + "/documents", json={"documents": [{"id": "a", "text": "x" * 5_000}]}, headers=KEY)
    assert too_big.status_code == 413 and too_big.json() == {"detail": "request body over 4,000 bytes"}
    for sent, detail in [
        ({"documents": [{"id": "a"}]}, "documents[0].text: Field required"),
        ({"documents": [{"id": " ", "text": "x"}]}, "documents[0].id: a document id must not be empty"),
        ({"documents": [{"id": 7, "text": "x"}]}, "documents[0].id: Input should be a valid string"),
        ({"documents": [{"id": "a", "txt": "x", "text": "x"}]}, "documents[0].txt: Extra inputs are not permitted"),
        ({"documents": [{"id": "a", "text": "x"}], "replace": "yes"}, "replace: Input should be a valid boolean"),
        ({"remove": [""]}, "remove[0]: a document id must not be empty"),
        ({}, "documents, remove: give at least one document to add or replace, or one id to remove"),
        (
            {"documents": [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}]},
            "documents[1].id: 'a' is given twice (first at documents[0])",
        ),
        ({"documents": [{"id": "a", "text": "x"}], "remove": ["a"]}, "POST /documents: document id 'a' is both"),
        ([1, 2], "body: expected a JSON object with `documents`, `replace` and `remove`"),
    ]:
        answer = httpx.post(url + "/documents", json=sent, headers=KEY)
        assert answer.status_code == 422 and answer.json()["detail"].startswith(detail), (sent, answer.text)
    lone = httpx.post(
        url + "/documents",
        content=b'{"documents": [{"id": "a", "text": "\\ud800"}]}',
        headers={**KEY, "content-type": "application/json"},
    )
    assert lone.status_code == 422 and lone.json()["detail"].startswith("documents[0].text: not valid Unicode")
    assert httpx.get(url + "/health").json()["generation"] == 1  # nothing refused was applied
    assert httpx.get(url + "/documents", headers=KEY).status_code == 405


def test_a_read_only_server_says_how_to_make_it_writable(index_dir):
    from fastapi.testclient import TestClient

    from embedproof.errors import InvalidInputError
    from embedproof.server.app import create_app

    with TestClient(create_app(index_dir)) as client:
        for answer in (
            client.post("/documents", json={"documents": [{"id": "a", "text": "x"}]}),
            client.delete("/documents/d001"),
        ):
            assert answer.status_code == 405 and "--writable" in answer.json()["detail"]
        assert client.get("/health").json()["generation"] == 1
    with pytest.raises(InvalidInputError, match=r"^--writable: needs an API key"):
        create_app(index_dir, writable=True, api_key="")


def test_serve_refuses_writable_without_a_key(index_dir, monkeypatch):
    from typer.testing import CliRunner

    from embedproof.cli.commands import app

    monkeypatch.delenv("EMBEDPROOF_API_KEY", raising=False)
    result = CliRunner().invoke(app, ["serve", str(index_dir), "--writable", "--port", "1"])
    assert result.exit_code == 2 and "--writable: needs an API key" in result.output
    assert json.loads((index_dir / "manifest.json").read_text())["generation"] == 1


def test_writes_to_an_edge_index_go_through_the_shard_the_server_holds(tmp_path):
    """The edge shard allows one opener: the server changes it through the index it serves, between two batches,
    and serves the refreshed index before it answers."""
    pytest.importorskip("qdrant_edge")
    from embedproof.server.app import create_app

    folder = tmp_path / "edge"
    corpus = dict(list(load_dataset("demo").corpus.items())[:40])
    build_index(standard_recipe("hybrid", "hashing", "bm25"), corpus, folder, chunk_size=16, store_backend="edge")
    app = create_app(folder, api_key="s3cret", writable=True)
    assert app.state.live.in_place
    with serve_in_thread(app) as url:
        doc = {"id": "lh", "title": "Lighthouse", "text": "A lighthouse keeper counts the passing ships at night."}
        added = httpx.post(url + "/documents", json={"documents": [doc], "remove": ["d001"]}, headers=KEY)
        assert added.status_code == 200 and added.json()["generation"] == 2, added.text
        found = httpx.post(url + "/search", json={"query": "lighthouse keeper ships", "top_k": 3}, headers=KEY)
        assert _ids(found)[0] == "lh" and found.headers["x-embedproof-generation"] == "2"
        iphone = httpx.post(url + "/search", json={"query": QUERY, "top_k": 10}, headers=KEY)
        assert "d001" not in _ids(iphone)
        assert httpx.get(url + "/health").json() == {
            "status": "ok",
            "generation": 2,
            "documents": 40,
            "recipe": "hybrid",
        }


def test_the_owner_route_takes_the_token_alone_and_no_size_limit(writable):
    app, url = writable
    body = {"documents": [{"id": "big", "text": "lighthouse " * 1_000}], "source": "big.jsonl"}  # over 4,000 bytes
    assert httpx.post(url + "/_owner/change", json=body, headers=KEY).status_code == 401  # the API key is not it
    wrong = httpx.post(url + "/_owner/change", json=body, headers={"x-embedproof-owner-token": "nope"})
    assert wrong.status_code == 403
    done = httpx.post(url + "/_owner/change", json=body, headers={"x-embedproof-owner-token": app.state.owner_token})
    assert done.status_code == 200 and done.json()["added"] == ["big"] and done.json()["generation"] == 2
    again = httpx.post(
        url + "/_owner/change",
        json={"documents": [{"id": "big", "text": "other"}], "source": "big.jsonl"},
        headers={"x-embedproof-owner-token": app.state.owner_token},
    )
    assert again.status_code == 422 and again.json()["detail"].startswith("big.jsonl: document id 'big'")
