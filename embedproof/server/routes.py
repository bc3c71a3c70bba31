"""The HTTP API of `embedproof serve`: request models and routes, on an `APIRouter` that `create_app` includes.

Routes read the served index (`LiveIndex`, server/live.py), the inference worker and the dense models from
`request.app.state`. Every answer that used the index names the generation it used in `X-Embedproof-Generation`.
"""

# No `from __future__ import annotations`: FastAPI reads the request models' annotations at runtime.
import base64
import json
from collections.abc import Hashable
from importlib.resources import files
from typing import Annotated

import numpy as np
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import AfterValidator, BaseModel, Field

from embedproof.errors import EmbedproofError, InvalidInputError
from embedproof.server.batching import BatchInfo, ClientGone, QueueFull, wait_for
from embedproof.vectors.matryoshka import truncate_matryoshka

try:
    import orjson
except ImportError:  # the standard library writes the same JSON, slower
    orjson = None

MAX_TOP_K = 100
MAX_INPUTS = 256
MAX_CHARS = 20_000

# The search page (package data): one self-contained HTML file, no build step.
PAGE = (files("embedproof.server") / "page.html").read_text(encoding="utf-8")

router = APIRouter()

GENERATION_HEADER = "x-embedproof-generation"


def _valid_unicode(text: str) -> str:
    """Reject lone surrogates, which JSON allows (`"\\ud800"`) but UTF-8 cannot encode, before they reach a model."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"not valid Unicode (lone surrogate at character {exc.start})") from None
    return text


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


def served_model(asked: str | None, dense_models: list[str]) -> str | None:
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


def words(texts) -> int:
    return sum(len(t.split()) for t in texts)


def dumps(content) -> bytes:
    """Compact UTF-8 JSON: orjson when installed (the `serve` extra), the standard library otherwise (same values;
    docs/serving.md has the difference in time)."""
    if orjson is not None:
        try:
            return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)
        except TypeError:  # a type only the standard library writes (a float subclass, say): let it
            pass
    return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def json_response(content, info: BatchInfo, generation: int):
    """JSON without FastAPI's per-field encoder pass, plus where the time went and the generation that answered."""
    from starlette.responses import Response

    return Response(
        dumps(content),
        media_type="application/json",
        headers={
            "x-batch-size": str(info.size),
            "x-queue-time-ms": f"{info.queue_ms:.2f}",
            "x-compute-time-ms": f"{info.compute_ms:.2f}",
            GENERATION_HEADER: str(generation),
        },
    )


def served_json(content, generation: int) -> JSONResponse:
    """An answer that read the served generation outside the worker (health, views, models, writes)."""
    return JSONResponse(content, headers={GENERATION_HEADER: str(generation)})


async def _disconnected(receive) -> None:
    """Returns when the client has gone (after its body, the next ASGI message is the disconnect)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def queued(request: Request, key: Hashable, item, texts: list[str]):
    """Queue one job on the inference thread and await its answer, mapping refusals to HTTP."""
    try:
        job = request.app.state.worker.submit(key, item, len(texts), words(texts))
    except QueueFull as exc:
        raise HTTPException(503, detail=str(exc), headers={"Retry-After": str(exc.retry_after_s)}) from None
    try:
        return await wait_for(job, lambda: _disconnected(request.receive))
    except ClientGone:
        raise HTTPException(499, detail="client closed the request") from None
    except InvalidInputError as exc:  # an override the index cannot answer: the client's to fix
        raise HTTPException(422, detail=str(exc)) from None
    except EmbedproofError as exc:  # what the index relies on failed (a remote encoder, a Qdrant server)
        raise HTTPException(502, detail=f"the index could not answer: {exc}") from None


@router.get("/health")
async def health(request: Request):
    served = request.app.state.live.current
    content = {
        "status": "ok",
        "generation": served.number,
        "documents": served.documents,
        "recipe": served.index.recipe.name,
    }
    return served_json(content, served.number)


@router.post("/search")
async def search(body: SearchRequest, request: Request):
    overrides = body.overrides.model_dump(exclude_none=True) if body.overrides else None
    key = ("search", json.dumps(overrides, sort_keys=True) if overrides else "")
    (generation, answer), info = await queued(request, key, (body.query, body.top_k), [body.query])
    return json_response(answer, info, generation)


@router.get("/views")
async def views(request: Request):
    """The runs the page shows side by side: each first-pass model alone, the fused list, and the reranked one."""
    served = request.app.state.live.current
    index = served.index
    recipe = index.recipe
    out = []
    if index.manifest.get("store", {}).get("backend") == "qdrant":  # one Query API request per recipe, no overrides
        return served_json({"recipe": recipe.name, "views": [{"label": recipe.name, "overrides": None}]}, served.number)
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
    return served_json({"recipe": recipe.name, "views": out}, served.number)


def _model_not_found(asked: str | None, dense_models: list[str]) -> JSONResponse:
    """OpenAI's answer to an unknown model: 404 with its error object, so clients raise NotFoundError."""
    message = f"The model `{asked}` does not exist: this server embeds with {', '.join(dense_models)}"
    error = {"message": message, "type": "invalid_request_error", "param": "model", "code": "model_not_found"}
    return JSONResponse({"error": error, "detail": message}, status_code=404)


@router.post("/v1/embeddings")
async def embeddings(body: EmbeddingsRequest, request: Request):
    index, dense_models = request.app.state.live.current.index, request.app.state.dense_models
    if not dense_models:
        raise HTTPException(422, detail="this index has no dense model to embed with")
    model = served_model(body.model, dense_models)
    if model is None:
        return _model_not_found(body.model, dense_models)
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not texts:
        raise HTTPException(422, detail="input: give a string or a non-empty list of strings")
    if len(texts) > MAX_INPUTS or any(len(t) > MAX_CHARS for t in texts):
        raise HTTPException(413, detail=f"input: 1 to {MAX_INPUTS} texts of at most {MAX_CHARS} characters")
    width = getattr(index.workspace.encoder(model), "dim", None)
    if body.dimensions is not None and width is not None and body.dimensions > width:
        raise HTTPException(422, detail=f"dimensions must be at most {width}")
    (generation, vectors), info = await queued(request, ("embed", model, body.input_type or "document"), texts, texts)
    if body.dimensions is not None:
        if body.dimensions > vectors.shape[1]:
            raise HTTPException(422, detail=f"dimensions must be at most {vectors.shape[1]}")
        vectors = truncate_matryoshka(vectors, body.dimensions)
    tokens = words(texts)
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
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return json_response({"object": "list", "data": data, "model": model, "usage": usage}, info, generation)


def openai_models(models: list[str], created: int) -> dict:
    """`GET /v1/models` in OpenAI's shape: the models `/v1/embeddings` serves (the index's dense first passes), each
    `created` when the index was last committed (Unix seconds), owned by embedproof."""
    return {
        "object": "list",
        "data": [{"id": model, "object": "model", "created": created, "owned_by": "embedproof"} for model in models],
    }


@router.get("/v1/models")
async def models(request: Request):  # what OpenAI clients list before they embed
    served = request.app.state.live.current
    created = int(served.index.manifest.path.stat().st_mtime)
    return served_json(openai_models(request.app.state.dense_models, created), served.number)


@router.get("/", response_class=HTMLResponse)
async def page():
    return PAGE


def run_batch(live):
    """The worker's job runner: a batch of searches (one recipe run) or of texts to embed (one encoder call), each
    on the generation served when the batch starts (one lease for the batch; each answer is (generation, result)),
    or a change to the index (key "change": one job, a callable, run between batches)."""

    def run(key: Hashable, items: list) -> list:
        if key[0] == "change":
            return [change() for change in items]
        with live.lease() as served:
            index = served.index
            if key[0] == "search":
                overrides = json.loads(key[1]) if key[1] else None
                answers = index.search_many([query for query, _ in items], [top_k for _, top_k in items], overrides)
            else:
                _, model, side = key
                encoder = index.workspace.encoder(model)
                encode = encoder.encode_queries if side == "query" else encoder.encode_documents
                vectors = np.asarray(encode([text for texts in items for text in texts]).dense, dtype=np.float32)
                answers = np.split(vectors, np.cumsum([len(texts) for texts in items])[:-1])
        return [(served.number, answer) for answer in answers]

    return run
