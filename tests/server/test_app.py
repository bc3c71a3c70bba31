import base64
import contextlib
import shutil
import subprocess
import threading
import time

import numpy as np
import pytest

from embedproof.datasets.loading import load_dataset
from embedproof.index.access import build_index
from embedproof.search.recipe import standard_recipe
from tests.conftest import CHROMIUM_FLAGS, serve_in_thread

pytest.importorskip("fastapi")
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
CHROMIUM = shutil.which("chromium")


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory, minilm_path):
    folder = tmp_path_factory.mktemp("served") / "idx"
    build_index(standard_recipe("hybrid", MINILM, "bm25"), load_dataset("demo").corpus, folder, chunk_size=128)
    return folder


@pytest.fixture(scope="module")
def app(index_dir):
    from embedproof.server.app import create_app

    return create_app(index_dir)


@pytest.fixture(scope="module")
def client(app):
    from fastapi.testclient import TestClient

    return TestClient(app)


@pytest.fixture(scope="module")
def live_server(app):
    with serve_in_thread(app) as url:
        yield url


def test_health_and_search_match_the_index(client, index_dir):
    from embedproof.index.access import open_index

    health = client.get("/health")
    assert health.json() == {"status": "ok", "generation": 1, "documents": 240, "recipe": "hybrid"}
    assert health.headers["x-embedproof-generation"] == "1"
    answer = client.post("/search", json={"query": "When was the iPhone released?", "top_k": 5}).json()
    assert answer["results"][0]["id"] == "d001"
    direct = open_index(index_dir).search("When was the iPhone released?", 5)
    assert [r["id"] for r in answer["results"]] == [r["id"] for r in direct["results"]]
    assert client.post("/search", json={"query": "", "top_k": 5}).status_code == 422
    assert client.post("/search", json={"query": "x", "top_k": 1000}).status_code == 422


def test_embeddings_endpoint_shapes_and_limits(client):
    out = client.post("/v1/embeddings", json={"input": ["a cat", "a dog"], "model": MINILM}).json()
    assert out["object"] == "list" and len(out["data"]) == 2 and len(out["data"][0]["embedding"]) == 384
    short = client.post("/v1/embeddings", json={"input": "a cat", "dimensions": 64, "encoding_format": "base64"}).json()
    vector = np.frombuffer(base64.b64decode(short["data"][0]["embedding"]), dtype="<f4")
    assert vector.shape == (64,) and abs(np.linalg.norm(vector) - 1) < 1e-5
    assert client.post("/v1/embeddings", json={"input": ["x"] * 1000}).status_code == 413
    assert client.post("/v1/embeddings", json={"input": "x", "encoding_format": "int4"}).status_code == 422


def test_official_openai_client_against_the_server(live_server):
    from openai import OpenAI

    api = OpenAI(base_url=live_server + "/v1", api_key="not-needed-on-loopback")
    result = api.embeddings.create(
        model=MINILM, input=["The first iPhone launched in 2007.", "Apple released the iPod in 2001."], dimensions=128
    )
    vectors = np.array([d.embedding for d in result.data])
    assert vectors.shape == (2, 128) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    float_default = api.embeddings.create(
        model=MINILM, input="When was the iPhone released?"
    )  # the client asks for base64 by default
    assert len(float_default.data[0].embedding) == 384
    alias = api.embeddings.create(
        model="all-MiniLM-L6-v2", input="iPhone"
    )  # the card's short name names the same model
    assert alias.model == MINILM
    import openai

    for unknown in ("text-embedding-3-small", "bm25"):  # another model, or a model the index has but not dense
        with pytest.raises(openai.NotFoundError) as raised:
            api.embeddings.create(model=unknown, input="iPhone")
        assert raised.value.status_code == 404 and raised.value.body["code"] == "model_not_found"


def test_models_lists_the_served_model_in_openai_shape(client, live_server, index_dir):
    from openai import OpenAI

    listed = client.get("/v1/models").json()
    manifest_time = int((index_dir / "manifest.json").stat().st_mtime)
    assert listed == {
        "object": "list",
        "data": [{"id": MINILM, "object": "model", "created": manifest_time, "owned_by": "embedproof"}],
    }
    api = OpenAI(base_url=live_server + "/v1", api_key="not-needed-on-loopback")
    assert [model.id for model in api.models.list()] == [MINILM]  # the official client reads the same answer


def test_overrides_run_one_stage_of_the_recipe_like_its_own_recipe(client, index_dir):
    """`first_pass: [bm25]` answers as a BM25-only recipe over the same stored data; what the index lacks is a 422."""
    from embedproof.index.access import open_index
    from embedproof.search.pipeline import run_recipe

    query = "When was the iPhone released?"
    index = open_index(index_dir)
    for model, mode in ((MINILM, "dense"), ("bm25", "sparse")):
        answer = client.post("/search", json={"query": query, "top_k": 10, "overrides": {"first_pass": [model]}}).json()
        alone = run_recipe(standard_recipe(mode, MINILM, "bm25"), index.workspace, ["q"], [query])[-1].run["q"]
        expected = sorted(alone.items(), key=lambda item: (-item[1], item[0]))[:10]
        assert [(r["id"], round(r["score"], 5)) for r in answer["results"]] == [(d, round(v, 5)) for d, v in expected]
        ranking_stages = [
            name for name in answer["timings_ms"] if not name.startswith("encode:")
        ]  # encoders: own stages
        assert answer["recipe"] == f"hybrid [first_pass=['{model}']]" and ranking_stages[:-1] == [f"first_pass:{model}"]
    fused = client.post("/search", json={"query": query, "overrides": {"rrf_k": 1}}).json()
    assert fused["results"][0]["id"] == "d001" and fused["recipe"] == "hybrid [rrf_k=1]"
    for bad, field in (
        ({"first_pass": ["bge-m3"]}, "overrides.first_pass"),
        ({"rerank": True}, "overrides.rerank"),
        ({"rerank_top": 5}, "overrides.rerank_top"),
    ):
        refused = client.post("/search", json={"query": query, "overrides": bad})
        assert refused.status_code == 422 and field in refused.json()["detail"], bad
    assert client.post("/search", json={"query": query, "overrides": {"model": "x"}}).status_code == 422  # unknown key
    views = client.get("/views").json()["views"]
    assert [v["label"] for v in views] == ["all-MiniLM-L6-v2", "bm25", "hybrid"]


@pytest.mark.skipif(CHROMIUM is None, reason="Debian package chromium not installed (.ci/run installs it)")
def test_page_shows_results_in_headless_chromium(live_server, tmp_path):
    flags = [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    url = live_server + "/?q=When%20was%20the%20iPhone%20released%3F"
    dom = subprocess.run(
        [CHROMIUM, *flags, "--virtual-time-budget=10000", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert 'data-results="10"' in dom and "d001" in dom and "first_pass:bm25" in dom
    # dense, sparse and hybrid side by side, each with its own list and time
    assert 'data-views="3"' in dom and all(f"<h3>{label} · " in dom for label in ("all-MiniLM-L6-v2", "bm25", "hybrid"))
    shot = tmp_path / "page.png"
    subprocess.run(
        [CHROMIUM, *flags, "--virtual-time-budget=10000", "--window-size=1300,900", f"--screenshot={shot}", url],
        capture_output=True,
        timeout=120,
    )
    assert shot.read_bytes()[:4] == b"\x89PNG"


def test_api_key_is_required_except_on_health_and_the_page(index_dir, monkeypatch):
    from fastapi.testclient import TestClient

    from embedproof.server.app import create_app

    monkeypatch.setenv("EMBEDPROOF_API_KEY", "s3cret")
    guarded = TestClient(create_app(index_dir, max_request_bytes=2_000))
    body = {"query": "iphone", "top_k": 3}
    assert guarded.get("/health").status_code == 200 and guarded.get("/").status_code == 200
    assert guarded.post("/search", json=body).status_code == 401
    wrong = guarded.post("/search", json=body, headers={"Authorization": "Bearer wrong"})
    assert wrong.status_code == 403 and wrong.json() == {"detail": "wrong API key"}
    assert guarded.post("/search", json=body, headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert guarded.post("/search", json=body, headers={"X-API-Key": "s3cret"}).status_code == 200
    assert guarded.post("/v1/embeddings", json={"input": "x"}).status_code == 401
    assert guarded.get("/v1/models").status_code == 401
    big = guarded.post("/search", json={"query": "x" * 5_000}, headers={"X-API-Key": "s3cret"})
    assert big.status_code == 413 and "over 2,000 bytes" in big.json()["detail"]
    assert (
        "access-control-allow-origin" not in guarded.get("/health", headers={"Origin": "http://evil.example"}).headers
    )


def _post_all(url: str, bodies: list[tuple[str, dict]]) -> list:
    """Send every request at once from its own thread; the responses in the order of `bodies`."""
    import httpx

    out: list = [None] * len(bodies)

    def send(i: int, path: str, body: dict) -> None:
        out[i] = httpx.post(url + path, json=body, timeout=60)

    threads = [threading.Thread(target=send, args=(i, path, body)) for i, (path, body) in enumerate(bodies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


@contextlib.contextmanager
def _held_worker(app, monkeypatch):
    """Hold the inference thread inside its next search batch until the block exits; records each batch's queries."""
    index = app.state.live.current.index
    real = index.search_many
    entered, release, calls = threading.Event(), threading.Event(), []

    def held(queries, top_k=10, overrides=None):
        calls.append(list(queries))
        if len(calls) == 1:
            entered.set()
            assert release.wait(30)
        return real(queries, top_k, overrides)

    monkeypatch.setattr(index, "search_many", held)
    try:
        yield entered, calls
    finally:
        release.set()


def _wait_until(condition, seconds: float = 10.0) -> None:
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.01)


def test_concurrent_requests_are_batched_and_each_gets_its_own_answer(app, live_server, monkeypatch):
    """16 searches (mixed top_k and overrides) and 4 embedding requests at once: the same rankings and vectors as
    each request alone, to float tolerance, from batches that really held several requests."""
    queries = list(load_dataset("demo").queries.values())[:16]
    searches = [
        ("/search", {"query": q, "top_k": 3 + i % 5} | ({"overrides": {"first_pass": ["bm25"]}} if i % 4 == 3 else {}))
        for i, q in enumerate(queries)
    ]
    passages = [d.full_text for d in load_dataset("demo").corpus.values()]
    embeds = [("/v1/embeddings", {"input": passages[i : i + 1 + i % 3], "model": MINILM}) for i in range(4)]
    first = ("/search", {"query": "held first", "top_k": 1})
    with _held_worker(app, monkeypatch) as (entered, calls):
        import httpx

        opener = threading.Thread(target=lambda: httpx.post(live_server + first[0], json=first[1], timeout=60))
        opener.start()
        assert entered.wait(30)
        pending = threading.Thread(target=lambda: answers.extend(_post_all(live_server, searches + embeds)))
        answers: list = []
        pending.start()
        _wait_until(lambda: app.state.worker.queued == len(searches) + len(embeds))
    pending.join()
    opener.join()
    assert all(r.status_code == 200 for r in answers)
    assert sorted(len(c) for c in calls[1:]) == [4, 12]  # the held batch, then one per distinct recipe
    alone = app.state.live.current.index  # the same model instance, now one request at a time
    for (_, body), response in zip(searches, answers):
        expected = alone.search(body["query"], body["top_k"], body.get("overrides"))["results"]
        got = response.json()["results"]
        assert [r["id"] for r in got] == [r["id"] for r in expected]
        assert np.allclose([r["score"] for r in got], [r["score"] for r in expected], atol=1e-5)
        assert int(response.headers["x-batch-size"]) in (4, 12)
    encoder = alone.workspace.encoder(MINILM)
    for (_, body), response in zip(embeds, answers[len(searches) :]):
        vectors = np.array([d["embedding"] for d in response.json()["data"]])
        assert np.allclose(vectors, encoder.encode_documents(body["input"]).dense, atol=1e-5)
        assert response.headers["x-batch-size"] == "4"


@pytest.fixture(scope="module")
def hashing_app(tmp_path_factory):
    """A small hashing + BM25 index behind a server whose queue holds 2 requests."""
    from embedproof.server.app import create_app
    from embedproof.server.batching import BatchOptions

    folder = tmp_path_factory.mktemp("queue") / "idx"
    build_index(standard_recipe("hybrid", "hashing", "bm25"), load_dataset("demo").corpus, folder, chunk_size=128)
    app = create_app(folder, batching=BatchOptions(max_queue=2))
    with serve_in_thread(app) as url:
        yield app, url


def test_a_full_queue_answers_503_with_retry_after(hashing_app, monkeypatch):
    app, url = hashing_app
    import httpx

    with _held_worker(app, monkeypatch) as (entered, _):
        held = threading.Thread(target=lambda: httpx.post(url + "/search", json={"query": "held"}, timeout=60))
        held.start()
        assert entered.wait(30)
        queued = threading.Thread(target=lambda: _post_all(url, [("/search", {"query": f"q{i}"}) for i in range(2)]))
        queued.start()
        _wait_until(lambda: app.state.worker.queued == 2)
        refused = [
            httpx.post(url + "/search", json={"query": "one too many"}, timeout=10),
            httpx.post(url + "/v1/embeddings", json={"input": "one too many"}, timeout=10),
        ]
    queued.join()
    held.join()
    for response in refused:
        assert response.status_code == 503 and int(response.headers["retry-after"]) >= 1
        assert "2 requests queued" in response.json()["detail"]
    assert httpx.post(url + "/search", json={"query": "after the rush"}, timeout=10).status_code == 200


def test_a_disconnected_clients_queued_search_never_runs(hashing_app, monkeypatch):
    app, url = hashing_app
    import httpx

    cancelled = app.state.worker.stats["cancelled"]
    with _held_worker(app, monkeypatch) as (entered, calls):
        held = threading.Thread(target=lambda: httpx.post(url + "/search", json={"query": "held"}, timeout=60))
        held.start()
        assert entered.wait(30)
        with pytest.raises(httpx.ReadTimeout):  # the client gives up and closes its connection
            httpx.post(url + "/search", json={"query": "impatient"}, timeout=0.3)
        _wait_until(lambda: app.state.worker.queued == 1)
        time.sleep(0.2)  # the disconnect reaches the server
    held.join()
    _wait_until(lambda: app.state.worker.stats["cancelled"] == cancelled + 1)
    assert all("impatient" not in batch for batch in calls) and app.state.worker.queued == 0


def test_a_failing_dependency_is_a_502_and_a_bad_override_a_422(index_dir):
    """The client is told whose fault it is: an override the index cannot use is theirs (422); a remote encoder or
    Qdrant server that fails is upstream's (502, naming it), never a 422 that sends them looking at their request."""
    from fastapi.testclient import TestClient

    from embedproof.errors import EmbedproofError
    from embedproof.server.app import create_app

    app = create_app(index_dir)
    index = app.state.live.current.index

    def upstream_down(*args, **kwargs):
        raise EmbedproofError("POST https://api.example/v1/embeddings failed: HTTP 503")

    index.search_many = upstream_down
    with TestClient(app) as client:
        for body in ({"query": "iphone"}, {"query": "iphone", "top_k": 3, "overrides": {"rerank": False}}):
            failed = client.post("/search", json=body)
            assert failed.status_code == 502 and "HTTP 503" in failed.json()["detail"], failed.text
