"""Property-based fuzzing of the HTTP API (FastAPI TestClient over a real hashing+BM25 index of the demo corpus).

Property: every response is a 2xx whose body is what the endpoint promises (ranked results from the corpus, one
finite vector per input of the asked width), or a 4xx with a JSON `detail`; never a 5xx, never a traceback; a
request without the right key never gets data. About 800 generated requests.
"""

import base64
import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from embedproof.datasets.loading import load_dataset
from embedproof.index.access import build_index
from embedproof.search.recipe import standard_recipe

pytest.importorskip("fastapi")
KEY = "k3y-s3cret"
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzzed") / "idx"
    build_index(standard_recipe("hybrid", "hashing", "bm25"), load_dataset("demo").corpus, folder, chunk_size=128)
    return folder


@pytest.fixture(scope="module")
def client(index_dir):
    from fastapi.testclient import TestClient

    from embedproof.server.app import create_app

    return TestClient(create_app(index_dir, api_key=""), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def guarded(index_dir):
    from fastapi.testclient import TestClient

    from embedproof.server.app import create_app

    return TestClient(create_app(index_dir, api_key=KEY, max_request_bytes=50_000), raise_server_exceptions=False)


CORPUS_IDS = set(load_dataset("demo").corpus)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["\ud800", "\x00", "x" * 20_001, "", " ", "float", "base64"])
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)
counts = (
    st.integers(min_value=-5, max_value=10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.booleans()
    | st.text(max_size=4)
    | st.none()
)
search_bodies = st.one_of(  # half near-valid (so the 2xx checks run often), half anything
    st.fixed_dictionaries({"query": st.text(min_size=1, max_size=60)}, optional={"top_k": st.integers(-2, 120)}),
    st.fixed_dictionaries(
        {},
        optional={
            "query": st.text(max_size=60) | json_values,
            "top_k": counts | st.integers(1, 100),
            "extra": json_values,
        },
    ),
)
embedding_bodies = st.fixed_dictionaries(
    {"input": st.text(max_size=40) | st.lists(st.text(max_size=30), min_size=1, max_size=5)},
    optional={
        "dimensions": st.integers(-1, 1100),
        "encoding_format": st.sampled_from(["float", "base64"]),
        "input_type": st.sampled_from(["query", "document"]),
    },
) | st.fixed_dictionaries(
    {},
    optional={
        "input": st.text(max_size=40) | st.lists(st.text(max_size=20), max_size=6) | json_values,
        "model": st.sampled_from(["hashing", "nope", ""]) | json_values,
        "dimensions": counts | st.integers(1, 1100),
        "encoding_format": st.sampled_from(["float", "base64", "int8", ""]) | json_values,
        "input_type": st.sampled_from(["query", "document", "passage"]) | json_values,
    },
)


def _error_or_ok(response) -> dict | None:
    """Assert the property every response must hold; return the body of a 2xx for endpoint-specific checks."""
    assert response.status_code < 500, response.text[:300]
    event(f"HTTP {response.status_code}")
    assert "Traceback" not in response.text and 'File "' not in response.text
    body = response.json()  # 4xx bodies are JSON too
    if response.status_code >= 400:
        assert "detail" in body
        return None
    return body


def _check_search(response, sent: dict) -> None:
    body = _error_or_ok(response)
    if body is None:
        return
    top_k = sent.get("top_k", 10)
    assert (
        isinstance(sent["query"], str)
        and 1 <= len(sent["query"]) <= 20_000
        and type(top_k) is int
        and 1 <= top_k <= 100
    )
    ranks = [r["rank"] for r in body["results"]]
    assert ranks == list(range(1, len(ranks) + 1)) and len(ranks) <= top_k
    assert {r["id"] for r in body["results"]} <= CORPUS_IDS and all(math.isfinite(r["score"]) for r in body["results"])


def _check_embeddings(response, sent: dict) -> None:
    body = _error_or_ok(response)
    if body is None:
        return
    texts = [sent["input"]] if isinstance(sent["input"], str) else sent["input"]
    width = sent.get("dimensions") or 1024
    assert len(body["data"]) == len(texts) and 1 <= len(texts) <= 256
    for item in body["data"]:
        vector = item["embedding"]
        if sent.get("encoding_format") == "base64":
            vector = np.frombuffer(base64.b64decode(vector), dtype="<f4")
        assert len(vector) == width and np.isfinite(vector).all()


@FUZZ
@given(search_bodies)
def test_search_with_random_json_bodies(client, body):
    _check_search(
        client.post("/search", content=json.dumps(body, allow_nan=True), headers={"content-type": "application/json"}),
        body,
    )


@FUZZ
@given(embedding_bodies)
def test_embeddings_with_random_json_bodies(client, body):
    _check_embeddings(
        client.post(
            "/v1/embeddings", content=json.dumps(body, allow_nan=True), headers={"content-type": "application/json"}
        ),
        body,
    )


@FUZZ
@given(
    st.sampled_from(
        [
            "/search",
            "/v1/embeddings",
            "/health",
            "/",
            "/openapi.json",
            "/docs",
            "/../etc/passwd",
            "/search/../../x",
            "/documents",
            "/documents/d001",
            "/_owner/change",
        ]
    ),
    st.binary(max_size=300)
    | st.text(max_size=100).map(str.encode)
    | json_values.map(lambda v: json.dumps(v, allow_nan=True).encode()),
    st.sampled_from(
        [
            "application/json",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
            "",
            "application/json; charset=latin-1",
        ]
    ),
    st.sampled_from(["POST", "GET", "PUT", "DELETE"]),
)
def test_raw_bytes_wrong_content_types_methods_and_paths(client, path, payload, content_type, method):
    response = client.request(method, path, content=payload, headers={"content-type": content_type})
    event(f"HTTP {response.status_code}")
    assert response.status_code < 500 and "Traceback" not in response.text
    if response.status_code >= 400:
        assert "detail" in response.json()
    if path.startswith("/_owner/"):
        assert response.status_code == 401  # no owner token, whatever the method or body
    elif path not in {"/search", "/v1/embeddings", "/health", "/", "/openapi.json"}:
        assert response.status_code in (404, 405)  # nothing serves a file or a folder; a read-only server no write


ascii_header = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(
    st.sampled_from(["authorization", "x-api-key", "Authorization", "X-API-KEY"]),
    st.one_of(
        ascii_header,
        ascii_header.map(lambda t: "Bearer " + t),
        st.sampled_from([KEY[:-1], KEY + " ", "bearer " + KEY.upper(), " " + KEY]),
    ),
    st.sampled_from(["/search", "/v1/embeddings"]),
)
def test_random_api_keys_never_get_data(guarded, header, value, path):
    body = {"query": "iphone", "top_k": 2} if path == "/search" else {"input": "iphone"}
    response = guarded.post(path, json=body, headers={header: value})
    # no key at all (an empty value, an authorization header that is not a bearer) is 401, a wrong one 403
    refusal = {401: "missing API key", 403: "wrong API key"}
    assert response.status_code in refusal and response.json() == {"detail": refusal[response.status_code]}
    assert response.headers.get("www-authenticate") == ("Bearer" if response.status_code == 401 else None)
    right = guarded.post(
        path, json=body, headers={header: ("Bearer " + KEY) if header.lower() == "authorization" else KEY}
    )
    assert right.status_code == 200


def test_examples_that_used_to_fail(client):
    """Concrete cases hypothesis found: NaN/infinity echoed into the 422 body, lone surrogates, `true` as a count."""
    raw = {"content-type": "application/json"}
    for payload in [
        b'{"query": NaN}',
        b'{"query": "x", "top_k": 1e400}',
        b'{"query": "\\ud800"}',
        b'{"input": ["a", "\\udfff"]}',
    ]:
        path = "/v1/embeddings" if b"input" in payload else "/search"
        response = client.post(path, content=payload, headers=raw)
        assert response.status_code == 422 and "detail" in response.json(), payload
    assert client.post("/search", json={"query": "x", "top_k": True}).status_code == 422
    assert client.post("/v1/embeddings", json={"input": []}).status_code == 422
    assert client.get("/docs").status_code == 404


@pytest.fixture(scope="module")
def writable(tmp_path_factory):
    """A writable server over its own copy of the demo index (the fuzzer's valid bodies change it)."""
    from fastapi.testclient import TestClient

    from embedproof.server.app import create_app

    folder = tmp_path_factory.mktemp("fuzz-writes") / "idx"
    build_index(standard_recipe("hybrid", "hashing", "bm25"), load_dataset("demo").corpus, folder, chunk_size=128)
    app = create_app(folder, api_key=KEY, writable=True, max_request_bytes=20_000)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


known_ids = st.sampled_from(["d001", "d002", "d003", "new-1", "new-2"])
ids = known_ids | st.sampled_from(["", " "]) | st.text(max_size=6)
change_bodies = st.one_of(  # half near-valid (so changes are applied often), half anything
    st.fixed_dictionaries(
        {
            "documents": st.lists(
                st.fixed_dictionaries(
                    {"id": known_ids, "text": st.text(max_size=40)}, optional={"title": st.text(max_size=10)}
                ),
                max_size=3,
            )
        },
        optional={"replace": st.booleans(), "remove": st.lists(known_ids, max_size=2)},
    ),
    st.fixed_dictionaries(
        {},
        optional={
            "documents": st.lists(st.dictionaries(st.sampled_from(["id", "title", "text", "x"]), json_values | ids))
            | json_values,
            "replace": st.booleans() | json_values,
            "remove": st.lists(ids, max_size=3) | json_values,
            "extra": json_values,
        },
    ),
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(change_bodies)
def test_random_change_bodies_are_applied_or_refused_in_one_line(writable, body):
    before = writable.get("/health").json()
    response = writable.post("/documents", content=json.dumps(body), headers={"x-api-key": KEY})
    answer = _error_or_ok(response)
    after = writable.get("/health").json()
    if answer is None:  # refused: one line naming what is wrong, and nothing committed
        assert response.status_code in (413, 422) and "\n" not in response.json()["detail"]
        assert after["generation"] == before["generation"]
        return
    assert after["generation"] == answer["generation"] == int(response.headers["x-embedproof-generation"])
    assert answer["generation"] == before["generation"] + (1 if answer["changed"] else 0)
    assert (
        after["documents"] == answer["documents"] == before["documents"] + len(answer["added"]) - len(answer["removed"])
    )
