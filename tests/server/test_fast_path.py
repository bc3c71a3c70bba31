"""`POST /search` with a valid JSON body skips FastAPI's router (embedproof/server/asgi.py) and answers as the route
does."""

import json

import pytest

from embedproof.datasets.loading import load_dataset
from embedproof.index.access import build_index
from embedproof.search.recipe import standard_recipe

pytest.importorskip("fastapi")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from embedproof.server.app import create_app

    folder = tmp_path_factory.mktemp("fast") / "idx"
    build_index(standard_recipe("hybrid", "hashing", "bm25"), load_dataset("demo").corpus, folder, chunk_size=128)
    return create_app(folder)


@pytest.fixture(scope="module")
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        yield client


@pytest.fixture
def routed(app, client, monkeypatch):
    """Counts the requests the fast path hands on to FastAPI's router."""
    from embedproof.server.asgi import SearchFastPath

    client.get("/health")  # the middleware stack is built on the first request
    layer = app.middleware_stack
    while not isinstance(layer, SearchFastPath):
        layer = layer.app
    calls, router = [], layer.app

    async def counted(scope, receive, send):
        calls.append(scope["path"])
        await router(scope, receive, send)

    monkeypatch.setattr(layer, "app", counted)
    return calls


def _without_timings(answer: dict) -> dict:
    return {k: v for k, v in answer.items() if k != "timings_ms"}


def test_a_valid_json_search_skips_the_router_and_answers_as_the_route(client, routed):
    body = {"query": "When was the iPhone released?", "top_k": 7, "overrides": {"first_pass": ["bm25"]}}
    fast = client.post("/search", json=body)
    assert fast.status_code == 200 and routed == []
    assert fast.headers["content-type"] == "application/json" and fast.headers["x-batch-size"] == "1"
    # `+json` media types are FastAPI's to parse: the same request through the route gives the same answer
    through_route = client.post(
        "/search", content=json.dumps(body), headers={"content-type": "application/vnd.api+json"}
    )
    assert through_route.status_code == 200 and routed == ["/search"]
    assert _without_timings(fast.json()) == _without_timings(through_route.json())
    assert len(fast.json()["results"]) == 7


@pytest.mark.parametrize(
    "content, content_type, status",
    [
        (b'{"query": ""}', "application/json", 422),  # a field out of range
        (b'{"query": "x", "top_k": 2.0}', "application/json", 422),  # strict count
        (b'{"query": "x",', "application/json", 422),  # not JSON
        (b'{"query": "x"}', "text/plain", 422),  # not a JSON media type
        (b'{"query": "x"}', None, 422),  # no media type
        (b"", "application/json", 422),  # no body
        (b"[" * 100_000, "application/json", 400),  # nested too deep for json.loads
    ],
)
def test_what_the_fast_path_does_not_accept_gets_fastapis_own_answer(client, routed, content, content_type, status):
    headers = {"content-type": content_type} if content_type else {}
    response = client.post("/search", content=content, headers=headers)
    assert response.status_code == status, response.text[:300]
    assert routed == ["/search"]  # FastAPI answered it, with the details it always gives
    assert "detail" in response.json()


def test_endpoint_errors_go_to_the_apps_handlers(client, routed):
    refused = client.post("/search", json={"query": "cells", "overrides": {"first_pass": ["not-in-the-index"]}})
    assert refused.status_code == 422 and "overrides.first_pass" in refused.json()["detail"]
    assert routed == []  # the body was valid: the endpoint ran on the fast path and raised


def test_other_paths_and_methods_are_fastapis(client, routed):
    assert client.get("/search").status_code == 405
    assert client.get("/health").json()["status"] == "ok"
    assert client.post("/v1/embeddings", json={"input": "cells"}).status_code == 200
    assert routed == ["/search", "/health", "/v1/embeddings"]
