"""`embedproof serve`: one index over HTTP (FastAPI), on loopback by default; the API is in `server/routes.py`.

docs/serving.md describes the endpoints, the API key, the limits, how every refusal is answered, and the batching.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from embedproof.errors import InvalidInputError, require
from embedproof.server.batching import BatchOptions, BatchWorker
from embedproof.server.limits import ConnectionLimits, bounded_protocol, listening_socket

MAX_REQUEST_BYTES = 1_000_000


def _validation_detail(errors) -> list[dict]:
    """Pydantic's errors without `input`/`ctx`: they can hold NaN or infinity (not JSON) or the whole oversize text."""
    return [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))} for e in errors
    ]


def create_app(
    index_dir: str | Path,
    api_key: str | None = None,
    max_request_bytes: int = MAX_REQUEST_BYTES,
    batching: BatchOptions | None = None,
):
    """A FastAPI app over one index (loaded and verified once, at start-up) and its one inference thread.

    `api_key` (default $EMBEDPROOF_API_KEY) guards every data endpoint; bodies over `max_request_bytes` are a 413.
    """
    fastapi = require("fastapi", "serve")
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    from embedproof.defaults import VERSION
    from embedproof.index.access import live_queries, open_index
    from embedproof.server import routes
    from embedproof.server.asgi import Guard, SearchFastPath

    index = open_index(index_dir)
    live_queries(index)
    worker = BatchWorker(routes.run_batch(index), batching)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        worker.close()

    app = fastapi.FastAPI(title="embedproof", version=VERSION, docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.index, app.state.worker = index, worker
    app.state.dense_models = [
        c["model"] for c in index.manifest["components"].values() if c["kind"] == "first" and c.get("mode") == "dense"
    ]
    app.include_router(routes.router)

    async def invalid(request, exc):
        return JSONResponse({"detail": _validation_detail(exc.errors())}, status_code=422)

    async def refused(request, exc):  # a request value the index cannot use: the client's to fix
        return JSONResponse({"detail": str(exc)}, status_code=422)

    async def failed(request, exc):  # a bug, not the client's fault: say so in JSON, never show a traceback
        return JSONResponse({"detail": f"internal error ({type(exc).__name__})"}, status_code=500)

    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(InvalidInputError, refused)
    app.add_exception_handler(Exception, failed)
    api_key = api_key if api_key is not None else os.environ.get("EMBEDPROOF_API_KEY") or None
    # The last added runs first: the guard, then the /search fast path, then FastAPI's router.
    app.add_middleware(
        SearchFastPath, model=routes.SearchRequest, endpoint=routes.search, handlers=app.exception_handlers
    )
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
    """Serve the index in `index_dir` with uvicorn until interrupted."""
    uvicorn = require("uvicorn", "serve")
    sock = listening_socket(host, port)  # a bad host or a port in use is one line before the index loads
    # Keep-alive outlives clients' idle expiry (httpx and uvicorn both default to 5 s): with equal timeouts a client
    # can reuse a connection the server is closing. No access log: it is per-request work the bench never pays.
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
