"""Remote encoders: against `embedproof serve` on loopback, and Voyage/Cohere/OpenAI shapes through a mock transport.

Nothing here reaches the internet: hosted APIs are answered by `httpx.MockTransport` handlers that assert the
documented request shape and return the documented response shape.
"""

import base64
import contextlib
import json
import socket
import time

import numpy as np
import pytest

from embedproof.datasets.loading import load_dataset
from embedproof.errors import EmbedproofError
from embedproof.models.factory import get_encoder
from embedproof.models.hashing import HashingEncoder
from embedproof.models.remote import RetryPolicy, parse_retry_after, plan_batches, remote_encoder
from embedproof.models.remote_providers import display_name, split_remote_name, unpack_bits

from ..conftest import serve_in_thread

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

TEXTS = [f"passage {i} about the iPhone, the iPod and Android phones number {i}" for i in range(10)]


@contextlib.contextmanager
def _serve(app):
    """uvicorn on a free loopback port in a thread; yields the OpenAI-style base URL."""
    with serve_in_thread(app) as base:
        yield base + "/v1"


@pytest.fixture(scope="module")
def hashing_index(tmp_path_factory):
    from embedproof.index.access import build_index
    from embedproof.search.recipe import Recipe

    folder = tmp_path_factory.mktemp("remote") / "idx"
    build_index(Recipe("dense", ["hashing"]), load_dataset("demo").corpus, folder, chunk_size=128)
    return folder


@pytest.fixture(scope="module")
def served(hashing_index):
    from embedproof.server.app import create_app

    with _serve(create_app(hashing_index)) as url:
        yield url


class Recording(httpx.HTTPTransport):
    """A real HTTP transport that keeps each request body, to count requests and check their order."""

    def __init__(self):
        super().__init__()
        self.bodies = []

    def handle_request(self, request):
        self.bodies.append(json.loads(request.content))
        return super().handle_request(request)


def test_vectors_from_embedproof_serve_equal_the_local_encoder_in_batches_in_order(served):
    wire = Recording()
    remote = get_encoder(f"openai-compatible:hashing@{served}", batch_size=3, use_cache=False, transport=wire)
    got = remote.encode_documents(TEXTS, [f"d{i}" for i in range(10)])
    assert [b["input"] for b in wire.bodies] == [TEXTS[0:3], TEXTS[3:6], TEXTS[6:9], TEXTS[9:10]]
    assert all(b["model"] == "hashing" and b["encoding_format"] == "base64" for b in wire.bodies)
    local = HashingEncoder().encode_documents(TEXTS).dense
    assert got.dense.shape == (10, 1024) and got.ids[3] == "d3"
    np.testing.assert_array_equal(got.dense, local)  # base64 float32: bit-identical, so cosine is exactly 1
    cosine = (got.dense * local).sum(1) / (np.linalg.norm(got.dense, axis=1) * np.linalg.norm(local, axis=1))
    assert np.allclose(cosine, 1.0, atol=1e-6)
    assert got.info["requests"] == 4 and got.info["retries"] == 0 and got.info["provider"] == "openai-compatible"
    assert remote.card.name == "hashing" and remote.query_prefix == "" and remote.dim == 1024


def test_cache_and_matryoshka_dimensions_through_the_server(served):
    from embedproof.vectors.matryoshka import truncate_matryoshka

    wire = Recording()
    remote = get_encoder(f"openai-compatible:hashing@{served}[dimensions=128]", transport=wire)
    first = remote.encode_queries(TEXTS)
    again = remote.encode_queries(TEXTS)
    assert len(wire.bodies) == 1 and wire.bodies[0]["dimensions"] == 128
    assert first.info["cache_hits"] == 0 and again.info["cache_hits"] == 10 and again.info["requests"] == 0
    expected = truncate_matryoshka(HashingEncoder().encode_queries(TEXTS).dense, 128)
    np.testing.assert_allclose(again.dense, expected, atol=1e-6)


def test_bench_through_the_remote_encoder_gives_the_local_scores(served):
    from embedproof.evaluation.bench_options import BenchOptions
    from embedproof.evaluation.model_runs import bench_model

    data = load_dataset("demo")
    options = BenchOptions(latency=False)
    local = bench_model(data, "hashing", options)[0]
    remote = bench_model(data, f"openai-compatible:hashing@{served}", options)[0]
    assert remote["metrics"]["ndcg@10"] == local["metrics"]["ndcg@10"] > 0.3
    assert remote["metrics"] == local["metrics"] and remote["card"] == "hashing"


def test_server_api_key_comes_from_the_environment_and_never_shows(hashing_index, monkeypatch):
    from embedproof.server.app import create_app

    secret = "sk-loopback-5ecret-value"
    with _serve(create_app(hashing_index, api_key=secret)) as url:
        monkeypatch.delenv("OPENAI_COMPATIBLE_API_KEY", raising=False)
        with pytest.raises(EmbedproofError) as refused:
            get_encoder(f"openai-compatible:hashing@{url}", use_cache=False).encode_queries(["iphone"])
        assert "HTTP 401" in str(refused.value) and "OPENAI_COMPATIBLE_API_KEY" in str(refused.value)
        monkeypatch.setenv("OPENAI_COMPATIBLE_API_KEY", secret)
        encoder = get_encoder(f"openai-compatible:hashing@{url}", use_cache=False)
        assert encoder.encode_queries(["iphone"]).dense.shape == (1, 1024)
        assert (
            secret not in repr(encoder)
            and secret not in repr(encoder.client)
            and "OPENAI_COMPATIBLE_API_KEY" in repr(encoder)
        )


def test_embedproof_scheme_lets_the_server_apply_its_cards_prefixes(tmp_path):
    """An e5-named model behind `embedproof serve`: `embedproof:` sends input_type and gets exactly the local vectors;
    plain `openai-compatible:` would add "query: " on the client and "passage: " on the server."""
    pytest.importorskip("sentence_transformers")
    from embedproof.index.access import build_index
    from embedproof.models.dense import DenseEncoder
    from embedproof.search.recipe import Recipe
    from embedproof.server.app import create_app
    from embedproof.testing import tiny_bert

    model = str(tiny_bert(tmp_path / "e5-small-v2"))
    corpus = dict(list(load_dataset("demo").corpus.items())[:8])
    build_index(Recipe("dense", [model]), corpus, tmp_path / "idx")
    local = DenseEncoder(model, use_cache=False)
    assert local.query_prefix == "query: " and local.document_prefix == "passage: "
    wire = Recording()
    with _serve(create_app(tmp_path / "idx")) as url:
        remote = get_encoder(f"embedproof:{model}@{url}", use_cache=False, transport=wire)
        queries, documents = (
            remote.encode_queries(["when was the iphone released"]),
            remote.encode_documents(["The first iPhone."]),
        )
        doubled = get_encoder(f"openai-compatible:{model}@{url}", use_cache=False).encode_queries(
            ["when was the iphone released"]
        )
    assert [b["input_type"] for b in wire.bodies] == ["query", "document"] and wire.bodies[0]["input"] == [
        "when was the iphone released"
    ]
    np.testing.assert_allclose(queries.dense, local.encode_queries(["when was the iphone released"]).dense, atol=1e-6)
    np.testing.assert_allclose(documents.dense, local.encode_documents(["The first iPhone."]).dense, atol=1e-6)
    assert not np.allclose(doubled.dense, queries.dense, atol=1e-3)


def test_a_413_halves_the_batch_and_keeps_the_order():
    sizes = []

    def capped(request):
        texts = json.loads(request.content)["input"]
        sizes.append(len(texts))
        if len(texts) > 5:
            return httpx.Response(413, json={"detail": "input: 1 to 5 texts"})
        return httpx.Response(
            200, json={"data": [{"index": i, "embedding": [float(t.split()[-1])] * 2} for i, t in enumerate(texts)]}
        )

    encoder = _encoder(capped, batch_size=10)
    got = encoder.encode_documents([f"text {i}" for i in range(13)])
    assert sizes == [10, 5, 5, 3] and got.dense[:, 0].tolist() == list(range(13)) and encoder.batch_size == 5
    assert any("(413)" in w for w in encoder.warnings)


def test_empty_texts_are_not_sent_and_get_zero_vectors():
    sent = []

    def handler(request):
        texts = json.loads(request.content)["input"]
        sent.append(texts)
        return httpx.Response(
            200, json={"data": [{"index": i, "embedding": [1.0, float(len(t))]} for i, t in enumerate(texts)]}
        )

    encoder = _encoder(handler)
    got = encoder.encode_documents(["ab", "", "  ", "abc"])
    assert sent == [["ab", "abc"]] and got.dense.tolist() == [[1.0, 2.0], [0.0, 0.0], [0.0, 0.0], [1.0, 3.0]]
    assert any("2 empty text(s) not sent" in w for w in encoder.warnings)


# --- retries, back-off, Retry-After, rate limit ------------------------------------------------------------------


def _openai_answer(n, dim=4):
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": [float(i)] * dim} for i in range(n)],
    }


def _scripted(statuses, retry_after=None):
    """A handler answering the given statuses in turn (then 200), recording when each attempt arrived."""
    calls = []

    def handler(request):
        calls.append(time.monotonic())
        status = statuses[len(calls) - 1] if len(calls) <= len(statuses) else 200
        if status == 200:
            return httpx.Response(200, json=_openai_answer(len(json.loads(request.content)["input"])))
        headers = {"retry-after": retry_after} if retry_after else {}
        return httpx.Response(status, json={"error": "busy"}, headers=headers)

    return handler, calls


def _encoder(handler, **options):
    return remote_encoder(
        "openai-compatible:m@http://embeddings.invalid/v1",
        use_cache=False,
        transport=httpx.MockTransport(handler),
        **options,
    )


def test_429_with_retry_after_is_honoured_then_succeeds():
    handler, calls = _scripted([429], retry_after="1")
    got = _encoder(handler).encode_documents(["a", "b"])
    assert len(calls) == 2 and calls[1] - calls[0] >= 0.95
    assert got.info["requests"] == 2 and got.info["retries"] == 1 and got.dense[1].tolist() == [1.0] * 4


def test_500_then_200_backs_off_and_succeeds():
    handler, calls = _scripted([500, 503])
    got = _encoder(handler, retry=RetryPolicy(max_retries=3, base_delay=0.05)).encode_documents(["a"])
    assert len(calls) == 3 and got.info["retries"] == 2
    assert calls[1] - calls[0] >= 0.025 and calls[2] - calls[1] >= 0.05  # [d/2, d] with d = 0.05, then 0.1


def test_gives_up_after_max_retries_with_a_clear_error():
    handler, calls = _scripted([503] * 10)
    with pytest.raises(
        EmbedproofError, match=r"POST http://embeddings.invalid/v1/embeddings failed after 3 attempts; last: HTTP 503"
    ):
        _encoder(handler, retry=RetryPolicy(max_retries=2, base_delay=0.01)).encode_documents(["a"])
    assert len(calls) == 3


def test_client_errors_are_not_retried_and_huge_retry_after_fails_fast():
    handler, calls = _scripted([422])
    with pytest.raises(EmbedproofError, match="HTTP 422"):
        _encoder(handler).encode_documents(["a"])
    assert len(calls) == 1
    handler, calls = _scripted([429], retry_after="3600")
    with pytest.raises(EmbedproofError, match="retry after 3600 s"):
        _encoder(handler).encode_documents(["a"])
    assert len(calls) == 1


def test_connection_errors_are_retried_then_reported():
    with socket.socket() as s:  # a loopback port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    encoder = remote_encoder(
        f"openai-compatible:m@http://127.0.0.1:{port}/v1",
        use_cache=False,
        retry=RetryPolicy(max_retries=2, base_delay=0.01),
    )
    with pytest.raises(
        EmbedproofError, match=rf"127.0.0.1:{port}/v1/embeddings failed after 3 attempts; last: ConnectError"
    ):
        encoder.encode_documents(["a"])
    assert encoder.client.requests == 3


def test_retry_after_forms_and_client_side_rate_limit():
    assert parse_retry_after("7") == 7.0 and parse_retry_after("0.5") == 0.5 and parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == pytest.approx(10.0)
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0 and parse_retry_after("soon") is None
    handler, calls = _scripted([])
    _encoder(handler, batch_size=1, requests_per_minute=600).encode_documents(["a", "b", "c", "d"])
    assert len(calls) == 4 and calls[3] - calls[0] >= 0.29  # 600/min: one request per 0.1 s


def test_batches_split_by_count_and_characters_in_order():
    assert plan_batches(["x"] * 10, 3, 10_000) == [(0, 3), (3, 6), (6, 9), (9, 10)]
    assert plan_batches(["aaaa", "bbbb", "cccc", "d" * 20, "e"], 100, 9) == [(0, 2), (2, 3), (3, 4), (4, 5)]
    assert plan_batches([], 3, 10) == []


def test_api_key_never_appears_in_errors_or_repr(monkeypatch):
    secret = "pa-VOYAGE-very-secret-key-123"
    monkeypatch.setenv("VOYAGE_API_KEY", secret)

    status = [401]

    def echo(
        request,
    ):  # a hostile or buggy server that echoes the Authorization header back, near the 300-character cut
        return httpx.Response(status[0], text="x" * 275 + "bad key " + request.headers["authorization"])  # key at 290..

    encoder = get_encoder(
        "voyage-3",
        use_cache=False,
        transport=httpx.MockTransport(echo),
        retry=RetryPolicy(max_retries=1, base_delay=0.01),
    )
    for status[0], names_the_variable in ((401, True), (500, False)):
        with pytest.raises(EmbedproofError) as err:
            encoder.encode_queries(["q"])
        text = str(err.value)
        assert secret[:8] not in text and "***" in text and f"HTTP {status[0]}" in text
        assert ("VOYAGE_API_KEY" in text) is names_the_variable
    assert (
        secret not in repr(encoder)
        and secret not in repr(encoder.client)
        and secret not in repr(encoder.__dict__.get("card"))
    )


# --- Voyage, Cohere and OpenAI request/response shapes -------------------------------------------------------------


def _bits(rng, n, dim):
    return np.where(rng.standard_normal((n, dim)) > 0, 1.0, -1.0).astype(np.float32)


def test_voyage_request_shape_and_int8_and_binary_parsing(monkeypatch):
    monkeypatch.setenv("VOYAGE_API_KEY", "voyage-test-key")
    int8 = [[-128, 0, 5, 127], [1, 2, 3, 4], [-1, -2, -3, -4]]
    signs = _bits(np.random.default_rng(0), 3, 256)
    packed = np.packbits(signs > 0, axis=1).astype(np.int16) - 128  # "binary": offset binary, high bit first
    seen = []

    def voyage(request):
        body = json.loads(request.content)
        seen.append(body)
        assert str(request.url) == "https://api.voyageai.com/v1/embeddings" and request.method == "POST"
        assert request.headers["authorization"] == "Bearer voyage-test-key"
        assert set(body) == {"input", "model", "input_type", "truncation", "output_dtype", "output_dimension"}
        assert body["model"] == "voyage-3-large" and body["output_dimension"] == 256 and body["truncation"] is True
        rows = int8 if body["output_dtype"] == "int8" else packed.tolist()
        data = [{"object": "embedding", "embedding": rows[i], "index": i} for i in range(len(body["input"]))][
            ::-1
        ]  # out of order
        return httpx.Response(
            200, json={"object": "list", "data": data, "model": body["model"], "usage": {"total_tokens": 9}}
        )

    encoder = get_encoder(
        "voyage-3-large",
        dimensions=256,
        output_dtype="int8",
        query_prefix="ignored: ",
        transport=httpx.MockTransport(voyage),
    )
    queries = encoder.encode_queries(["q1", "q2", "q3"])
    documents = encoder.encode_documents(["d1", "d2", "d3"])
    assert [b["input_type"] for b in seen] == ["query", "document"] and seen[0]["input"] == ["q1", "q2", "q3"]
    assert (
        queries.dense.tolist() == [[float(v) for v in row] for row in int8] and documents.info["output_dtype"] == "int8"
    )
    assert queries.info["precision"] == "int8 (from the API)" and any(
        "prefixes are ignored" in w for w in encoder.warnings
    )
    binary = get_encoder(
        "voyage:voyage-3-large[output_dtype=binary,dimensions=256]", transport=httpx.MockTransport(voyage)
    )
    np.testing.assert_array_equal(binary.encode_documents(["a", "b", "c"]).dense, signs)
    assert binary.card.name == "voyage/voyage-3-large"


def test_cohere_request_shape_batches_of_96_and_all_output_types(monkeypatch):
    monkeypatch.delenv("CO_API_KEY", raising=False)
    monkeypatch.setenv("COHERE_API_KEY", "cohere-test-key")
    rng = np.random.default_rng(1)
    signs = _bits(rng, 100, 512)
    seen = []

    def cohere(request):
        body = json.loads(request.content)
        seen.append(body)
        assert (
            str(request.url) == "https://api.cohere.com/v2/embed"
            and request.headers["authorization"] == "Bearer cohere-test-key"
        )
        assert body["model"] == "embed-v4.0" and body["output_dimension"] == 512 and body["truncate"] == "END"
        (kind,) = body["embedding_types"]
        start = int(body["texts"][0].split()[-1])
        rows = signs[start : start + len(body["texts"])]
        out = {
            "float": rows.tolist(),
            "int8": (rows * 3).astype(int).tolist(),
            "ubinary": np.packbits(rows > 0, axis=1).tolist(),
            "binary": (np.packbits(rows > 0, axis=1).astype(np.int16) - 128).tolist(),
        }[kind]
        return httpx.Response(
            200,
            json={
                "id": "x",
                "embeddings": {kind: out},
                "texts": body["texts"],
                "meta": {"api_version": {"version": "2"}},
                "response_type": "embeddings_by_type",
            },
        )

    texts = [f"text {i}" for i in range(100)]
    for kind, expected in [("float", signs), ("int8", signs * 3), ("binary", signs), ("ubinary", signs)]:
        seen.clear()
        encoder = get_encoder(
            "cohere-embed-v4", dimensions=512, output_dtype=kind, use_cache=False, transport=httpx.MockTransport(cohere)
        )
        got = encoder.encode_documents(texts)
        assert [len(b["texts"]) for b in seen] == [96, 4] and all(b["input_type"] == "search_document" for b in seen)
        np.testing.assert_array_equal(got.dense, expected)
    encoder.encode_queries(["text 0"])
    assert seen[-1]["input_type"] == "search_query" and seen[-1]["texts"] == ["text 0"]


def test_openai_hosted_request_shape_and_base64_or_float_answers(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    vectors = np.random.default_rng(2).standard_normal((3, 512)).astype(np.float32)

    def openai(request):
        body = json.loads(request.content)
        assert (
            str(request.url) == "https://api.openai.com/v1/embeddings"
            and request.headers["authorization"] == "Bearer sk-test-openai"
        )
        assert body == {
            "model": "text-embedding-3-small",
            "input": ["a", "b", "c"],
            "encoding_format": "base64",
            "dimensions": 512,
        }
        encode = (
            (lambda v: base64.b64encode(v.astype("<f4").tobytes()).decode())
            if request.headers.get("x-floats") is None
            else (lambda v: v.tolist())
        )
        return httpx.Response(
            200, json={"object": "list", "data": [{"index": i, "embedding": encode(vectors[i])} for i in (2, 0, 1)]}
        )

    encoder = get_encoder(
        "text-embedding-3-small", dimensions=512, transport=httpx.MockTransport(openai), use_cache=False
    )
    np.testing.assert_array_equal(encoder.encode_documents(["a", "b", "c"]).dense, vectors)
    assert encoder.card.name == "openai/text-embedding-3-small" and encoder.max_tokens == 8191


def test_card_prefixes_are_applied_where_the_api_has_no_input_type():
    sent = []

    def handler(request):
        texts = json.loads(request.content)["input"]
        sent.extend(texts)
        return httpx.Response(200, json=_openai_answer(len(texts)))

    encoder = _encoder(handler)
    bge = remote_encoder(
        "openai-compatible:BAAI/bge-small-en-v1.5@http://tei.invalid/v1",
        use_cache=False,
        transport=httpx.MockTransport(handler),
    )
    bge.encode_queries(["iphone"])
    bge.encode_documents(["The first iPhone."])
    assert sent == ["Represent this sentence for searching relevant passages: iphone", "The first iPhone."]
    assert encoder.card.known is False and any("not in embedproof's model-card registry" in w for w in encoder.warnings)


def test_remote_names_and_missing_keys():
    from embedproof.models.card import get_card

    name = split_remote_name(
        "openai-compatible:sentence-transformers/all-MiniLM-L6-v2@http://127.0.0.1:8000/v1[dimensions=128,max_retries=2]"
    )
    assert (name.scheme, name.model, name.base_url, name.options) == (
        "openai-compatible",
        "sentence-transformers/all-MiniLM-L6-v2",
        "http://127.0.0.1:8000/v1",
        {"dimensions": "128", "max_retries": "2"},
    )
    assert split_remote_name("voyage:voyage-3.5") == split_remote_name("voyage:voyage-3.5")
    assert (
        split_remote_name("voyage:voyage-3.5").base_url is None and split_remote_name("BAAI/bge-small-en-v1.5") is None
    )
    assert (
        get_card("openai-compatible:all-MiniLM-L6-v2@http://127.0.0.1:8000/v1").name
        == "sentence-transformers/all-MiniLM-L6-v2"
    )
    assert unpack_bits([[0b10000001 - 128]], signed=True).tolist() == [[1, -1, -1, -1, -1, -1, -1, 1]]
    tuned = remote_encoder(
        "openai-compatible:m@http://x.invalid/v1[batch_size=5,requests_per_minute=120,max_retries=0]", batch_size=32
    )
    assert tuned.batch_size == 5 and tuned.client.min_interval == 0.5 and tuned.client.retry.max_retries == 0
    assert display_name("openai-compatible:hashing@http://127.0.0.1:8000/v1") == "openai-compatible:hashing"
    assert display_name("sentence-transformers/all-MiniLM-L6-v2") == "all-MiniLM-L6-v2"
    with pytest.raises(EmbedproofError, match="unknown option 'colour'"):
        remote_encoder("openai-compatible:m@http://x.invalid/v1[colour=red]")
    with pytest.raises(EmbedproofError, match="needs a base URL"):
        remote_encoder("openai-compatible:m")


@pytest.mark.parametrize(
    "model, variables",
    [
        ("voyage-3", "VOYAGE_API_KEY"),
        ("embed-v4.0", "CO_API_KEY or \\$COHERE_API_KEY"),
        ("text-embedding-3-large", "OPENAI_API_KEY"),
    ],
)
def test_hosted_cards_route_to_their_api_and_name_the_missing_key(model, variables, monkeypatch):
    for var in ("VOYAGE_API_KEY", "CO_API_KEY", "COHERE_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(EmbedproofError, match=rf"hosted API model: set \${variables} to call it"):
        get_encoder(model)
    with pytest.raises(EmbedproofError, match="no remote API"):
        get_encoder("gemini-embedding-001")
