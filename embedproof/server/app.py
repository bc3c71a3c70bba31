"""`embedproof serve`: the index over HTTP (FastAPI), on loopback by default.

- `POST /search` {query, top_k}: the index's recipe, per-stage scores and timings (what `embedproof search` prints);
- `GET /v1/models`: the models `/v1/embeddings` serves, in OpenAI's list shape (what OpenAI clients call first);
- `POST /v1/embeddings`: the OpenAI embeddings API shape (model, input as string or list, `dimensions` for
  Matryoshka truncation, `encoding_format` float or base64) over the index's dense model, so the official
  `openai` client works against it;
- `GET /health`; `GET /` a small page to type a query and see the ranked results with every stage's score.

With an API key (`--api-key` or $EMBEDPROOF_API_KEY) every data endpoint needs `Authorization: Bearer KEY` or
`X-API-Key: KEY`, compared in constant time; `/health` and the static page stay open (the page sends the key it
finds in the URL fragment, `/#key=KEY`, which browsers never send to the server). Bodies over
`max_request_bytes` are refused with 413 before they are parsed. No CORS headers are sent.

Every refusal is a 4xx with a JSON `{"detail": ...}` body: validation errors are re-rendered without echoing the
input (which may hold NaN, infinities or a megabyte of text), texts that are not valid Unicode (lone surrogates
from `\ud800` escapes) are a 422, a failure of what the index relies on (a remote encoder's API, a Qdrant server)
is a 502 naming it, and an unexpected failure is a JSON 500 with no traceback. Property-based tests
(tests/server/test_fuzz_server.py) hold the API to that. No endpoint takes a path, and the Swagger/ReDoc pages
(which load scripts from a CDN) are off; `/openapi.json` stays.

Requests are answered by one inference thread with dynamic batching (embedproof/server/batching.py): concurrent
`/search` requests with the same `overrides` run as one batch through the recipe (one encoder call, one matrix
product), and concurrent `/v1/embeddings` requests for the same model and side share one encoder call; each answer is
the one its request would get alone. A full queue is a 503 with `Retry-After`; a client that disconnects has its
queued work dropped. Queries are encoded live, never written to the embedding cache (that is for corpora, and a server
would fill it with every query it ever saw). Responses carry `x-batch-size`, `x-queue-time-ms` and
`x-compute-time-ms`. The size limit, the API key and a valid `POST /search` are handled by plain ASGI layers before
FastAPI's router (embedproof/server/asgi.py); everything else, and every refusal, is FastAPI's.
"""

# No `from __future__ import annotations` here: FastAPI reads the request models' annotations at runtime, and
# the models are defined inside create_app, where string annotations could not be resolved.
import base64
import contextlib
import json
import os
from collections.abc import Hashable
from importlib.resources import files
from pathlib import Path
from typing import Annotated

import numpy as np

from embedproof.errors import EmbedproofError, InvalidInputError, require
from embedproof.server.asgi import Guard, SearchFastPath
from embedproof.server.batching import BatchInfo, BatchOptions, BatchWorker, ClientGone, QueueFull, wait_for
from embedproof.server.limits import ConnectionLimits, bounded_protocol, listening_socket

try:
    import orjson
except ImportError:  # the standard library writes the same JSON, slower
    orjson = None

MAX_TOP_K = 100
MAX_INPUTS = 256
MAX_CHARS = 20_000
MAX_REQUEST_BYTES = 1_000_000

# The search page (package data): one self-contained HTML file, no build step.
PAGE = (files("embedproof.server") / "page.html").read_text(encoding="utf-8")


def _valid_unicode(text: str) -> str:
    """Reject lone surrogates, which JSON allows (`"\\ud800"`) but UTF-8 cannot encode, before they reach a model."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"not valid Unicode (lone surrogate at character {exc.start})") from None
    return text


def _validation_detail(errors) -> list[dict]:
    """Pydantic's errors without `input`/`ctx`: they can hold NaN or infinity (not JSON) or the whole oversize text."""
    return [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))} for e in errors
    ]


def _served_model(asked: str | None, dense_models: list[str]) -> str | None:
    """The index's dense model `asked` names (its hub id, an alias or short name of its card), the first when None."""
    if asked is None:
        return dense_models[0]
    if asked in dense_models:
        return asked
    from embedproof.models.card import find_card

    card = find_card(asked)
    for model in dense_models:
        if card is not None and find_card(model) is card:
            return model
    return None


def openai_models(models: list[str], created: int) -> dict:
    """`GET /v1/models` in OpenAI's shape: the models `/v1/embeddings` serves (the index's dense first passes), each
    `created` when the index was last committed (Unix seconds), owned by embedproof."""
    return {
        "object": "list",
        "data": [{"id": model, "object": "model", "created": created, "owned_by": "embedproof"} for model in models],
    }


def _words(texts) -> int:
    return sum(len(t.split()) for t in texts)


def _run_batch(index):
    """The worker's job runner: a batch of searches (one recipe run) or of texts to embed (one encoder call)."""

    def run(key: Hashable, items: list) -> list:
        if key[0] == "search":
            overrides = json.loads(key[1]) if key[1] else None
            return index.search_many([query for query, _ in items], [top_k for _, top_k in items], overrides)
        _, model, side = key
        encoder = index.workspace.encoder(model)
        encode = encoder.encode_queries if side == "query" else encoder.encode_documents
        vectors = np.asarray(encode([text for texts in items for text in texts]).dense, dtype=np.float32)
        ends = np.cumsum([len(texts) for texts in items])
        return np.split(vectors, ends[:-1])

    return run


def _dumps(content) -> bytes:
    """Compact UTF-8 JSON: orjson when installed (the `serve` extra), the standard library otherwise.

    orjson writes a 10-result /search answer in 4 µs where json.dumps takes about 65 µs (6% of a hashing query's
    time in the server); both give the same values (floats as their shortest round-trip text).
    """
    if orjson is not None:
        try:
            return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)
        except TypeError:  # a type only the standard library writes (a float subclass, say): let it
            pass
    return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def _json(content, info: BatchInfo):
    """JSON without FastAPI's per-field encoder pass, plus where the time went."""
    from starlette.responses import Response

    body = _dumps(content)
    return Response(
        body,
        media_type="application/json",
        headers={
            "x-batch-size": str(info.size),
            "x-queue-time-ms": f"{info.queue_ms:.2f}",
            "x-compute-time-ms": f"{info.compute_ms:.2f}",
        },
    )


async def _disconnected(receive) -> None:
    """Returns when the client has gone (after its body, the next ASGI message is the disconnect)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def create_app(
    index_dir: str | Path,
    api_key: str | None = None,
    max_request_bytes: int = MAX_REQUEST_BYTES,
    batching: BatchOptions | None = None,
):
    """A FastAPI app over one index (loaded and verified once, at start-up) and its one inference thread."""
    fastapi = require("fastapi", "serve")
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from pydantic import AfterValidator, BaseModel, Field

    from embedproof.index.access import live_queries, open_index
    from embedproof.vectors.matryoshka import truncate_matryoshka

    index = open_index(index_dir)
    live_queries(index)
    dense_models = [
        c["model"] for c in index.manifest["components"].values() if c["kind"] == "first" and c.get("mode") == "dense"
    ]
    worker = BatchWorker(_run_batch(index), batching)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        worker.close()

    app = fastapi.FastAPI(title="embedproof", version="0.1.0", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.index, app.state.worker = index, worker
    api_key = api_key if api_key is not None else os.environ.get("EMBEDPROOF_API_KEY") or None

    @app.exception_handler(RequestValidationError)
    async def invalid(request, exc):
        return JSONResponse({"detail": _validation_detail(exc.errors())}, status_code=422)

    @app.exception_handler(InvalidInputError)
    async def refused(request, exc):  # a request value the index cannot use: the client's to fix
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(Exception)
    async def failed(request, exc):  # a bug, not the client's fault: say so in JSON, never show a traceback
        return JSONResponse({"detail": f"internal error ({type(exc).__name__})"}, status_code=500)

    async def queued(request, key: Hashable, item, texts: list[str]):
        """Queue one job on the inference thread and await its answer, mapping refusals to HTTP."""
        try:
            job = worker.submit(key, item, len(texts), _words(texts))
        except QueueFull as exc:
            raise fastapi.HTTPException(503, detail=str(exc), headers={"Retry-After": str(exc.retry_after_s)}) from None
        try:
            return await wait_for(job, lambda: _disconnected(request.receive))
        except ClientGone:
            raise fastapi.HTTPException(499, detail="client closed the request") from None
        except InvalidInputError as exc:  # an override the index cannot answer: the client's to fix
            raise fastapi.HTTPException(422, detail=str(exc)) from None
        except EmbedproofError as exc:  # what the index relies on failed (a remote encoder, a Qdrant server)
            raise fastapi.HTTPException(502, detail=f"the index could not answer: {exc}") from None

    Text = Annotated[str, AfterValidator(_valid_unicode)]

    class SearchOverrides(BaseModel):
        """What one query may change in the index's recipe (the index checks it against the stored data)."""

        model_config = {"extra": "forbid"}
        first_pass: list[str] | None = Field(default=None, min_length=1, max_length=8)
        rerank: bool | None = Field(default=None, strict=True)
        rerank_top: int | None = Field(default=None, ge=1, le=1000, strict=True)
        rrf_k: int | None = Field(default=None, ge=1, le=10_000, strict=True)

    class SearchRequest(BaseModel):
        query: Text = Field(min_length=1, max_length=MAX_CHARS)
        top_k: int = Field(default=10, ge=1, le=MAX_TOP_K, strict=True)  # strict: `true` or `2.0` is not a count
        overrides: SearchOverrides | None = None

    class EmbeddingsRequest(BaseModel):
        input: Text | list[Text]
        model: str | None = None
        dimensions: int | None = Field(default=None, ge=1, strict=True)
        encoding_format: str = Field(default="float", pattern="^(float|base64)$")
        # embedproof's extension (remote scheme `embedproof:`): the side, so the server applies its card's prefix
        input_type: str | None = Field(default=None, pattern="^(query|document)$")

    @app.get("/health")
    async def health():
        return {"status": "ok", "documents": len(index.ids), "recipe": index.recipe.name}

    @app.post("/search")
    async def search(body: SearchRequest, request: fastapi.Request):
        overrides = body.overrides.model_dump(exclude_none=True) if body.overrides else None
        key = ("search", json.dumps(overrides, sort_keys=True) if overrides else "")
        answer, info = await queued(request, key, (body.query, body.top_k), [body.query])
        return _json(answer, info)

    @app.get("/views")
    async def views():
        """The runs the page shows side by side: each first-pass model alone, the fused list, and the reranked one."""
        recipe = index.recipe
        out = []
        if index.manifest.get("store", {}).get("backend") == "qdrant":  # one Query API request per recipe, no overrides
            return {"recipe": recipe.name, "views": [{"label": recipe.name, "overrides": None}]}
        if len(recipe.first_pass) > 1 or recipe.rerank:
            out += [
                {
                    "label": m.split("/")[-1],
                    "overrides": {"first_pass": [m], "rerank": False} if recipe.rerank else {"first_pass": [m]},
                }
                for m in recipe.first_pass
            ]
        if len(recipe.first_pass) > 1 and recipe.rerank:
            out.append({"label": f"{recipe.fusion} fusion", "overrides": {"rerank": False}})
        out.append({"label": recipe.name, "overrides": None})
        return {"recipe": recipe.name, "views": out}

    @app.post("/v1/embeddings")
    async def embeddings(body: EmbeddingsRequest, request: fastapi.Request):
        if not dense_models:
            raise fastapi.HTTPException(422, detail="this index has no dense model to embed with")
        model = _served_model(body.model, dense_models)
        if (
            model is None
        ):  # OpenAI's answer to an unknown model: 404 with its error object, so clients raise NotFoundError
            message = f"The model `{body.model}` does not exist: this server embeds with {', '.join(dense_models)}"
            return JSONResponse(
                {
                    "error": {
                        "message": message,
                        "type": "invalid_request_error",
                        "param": "model",
                        "code": "model_not_found",
                    },
                    "detail": message,
                },
                status_code=404,
            )
        texts = [body.input] if isinstance(body.input, str) else body.input
        if not texts:
            raise fastapi.HTTPException(422, detail="input: give a string or a non-empty list of strings")
        if len(texts) > MAX_INPUTS or any(len(t) > MAX_CHARS for t in texts):
            raise fastapi.HTTPException(413, detail=f"input: 1 to {MAX_INPUTS} texts of at most {MAX_CHARS} characters")
        width = getattr(index.workspace.encoder(model), "dim", None)
        if body.dimensions is not None and width is not None and body.dimensions > width:
            raise fastapi.HTTPException(422, detail=f"dimensions must be at most {width}")
        vectors, info = await queued(request, ("embed", model, body.input_type or "document"), texts, texts)
        if body.dimensions is not None:
            if body.dimensions > vectors.shape[1]:
                raise fastapi.HTTPException(422, detail=f"dimensions must be at most {vectors.shape[1]}")
            vectors = truncate_matryoshka(vectors, body.dimensions)
        tokens = _words(texts)
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": base64.b64encode(v.astype("<f4").tobytes()).decode()
                if body.encoding_format == "base64"
                else v.tolist(),
            }
            for i, v in enumerate(vectors)
        ]
        return _json(
            {
                "object": "list",
                "data": data,
                "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
            info,
        )

    @app.get("/v1/models")
    async def models():  # what OpenAI clients list before they embed
        return openai_models(dense_models, int(index.manifest.path.stat().st_mtime))

    @app.get("/", response_class=fastapi.responses.HTMLResponse)
    async def page():
        return PAGE

    # The last added runs first: the guard, then the /search fast path, then FastAPI's router.
    app.add_middleware(SearchFastPath, model=SearchRequest, endpoint=search, handlers=app.exception_handlers)
    app.add_middleware(Guard, api_key=api_key, max_bytes=max_request_bytes)
    return app


def serve(
    index_dir: str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key: str | None = None,
    batching: BatchOptions | None = None,
    limits: ConnectionLimits = ConnectionLimits(),
) -> None:
    uvicorn = require("uvicorn", "serve")
    sock = listening_socket(host, port)  # a bad host or a port in use is one line before the index loads
    # Keep-alive longer than clients' idle expiry (httpx: 5 s, uvicorn's default is also 5 s): with equal timeouts a
    # client can reuse a connection the server is closing, and that request fails (seen once in the load test).
    # No access log: one line per request is per-request work (formatting, a write) the bench never pays.
    # The protocol bounds header size and the time to send headers and body (server/limits.py).
    config = uvicorn.Config(
        create_app(index_dir, api_key, batching=batching),
        log_level="info",
        access_log=False,
        timeout_keep_alive=75,
        http=bounded_protocol(limits),
    )
    with sock:
        uvicorn.Server(config).run(sockets=[sock])
