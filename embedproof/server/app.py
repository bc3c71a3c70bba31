"""`embedproof serve`: one index over HTTP (FastAPI), on loopback by default; the API is in `server/routes.py`.

docs/serving.md describes the endpoints, the API key, the limits, how every refusal is answered, and the batching.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from embedproof.errors import InvalidInputError, require
from embedproof.server.batching import BatchOptions, BatchWorker
from embedproof.server.limits import ConnectionLimits, bounded_protocol, listening_socket
from embedproof.server.live import POLL_S, LiveIndex

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
    writable: bool = False,
    poll_s: float = POLL_S,
    owner_url: str | None = None,
):
    """A FastAPI app over one index (opened and verified at start-up, then followed from generation to generation,
    server/live.py) and its one inference thread.

    `api_key` (default $EMBEDPROOF_API_KEY) guards every data endpoint; bodies over `max_request_bytes` are a 413.
    `writable` adds the write API (server/documents.py) and needs an API key. The app's `owner_token` authorises
    changes forwarded from this machine's command line (server/owner.py); with `owner_url` (where this machine
    reaches the server) the app writes the folder's `.serving.json` while it runs. The watcher of new generations
    runs while the app's lifespan does (polling every `poll_s` seconds).
    """
    fastapi = require("fastapi", "serve")
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    from embedproof.defaults import VERSION
    from embedproof.server import documents, owner, routes
    from embedproof.server.asgi import Guard, SearchFastPath

    api_key = api_key if api_key is not None else os.environ.get("EMBEDPROOF_API_KEY") or None
    if writable and not api_key:
        raise InvalidInputError(
            "--writable: needs an API key (--api-key or $EMBEDPROOF_API_KEY); without one anyone who reaches the "
            "server could change the index"
        )
    live = LiveIndex(index_dir, poll_s=poll_s)
    worker = BatchWorker(routes.run_batch(live), batching)
    writer = documents.writer_thread()

    @contextlib.asynccontextmanager
    async def lifespan(app):
        # Removed at shutdown here, not after uvicorn returns: uvicorn re-raises the SIGTERM it shut down for.
        claimed = owner.serving(index_dir, owner_url, app.state.owner_token) if owner_url else contextlib.nullcontext()
        with claimed:
            live.watch()
            yield
            worker.close()
            writer.shutdown(wait=True)
            live.close()

    app = fastapi.FastAPI(title="embedproof", version=VERSION, docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.live, app.state.worker, app.state.writer = live, worker, writer
    app.state.writable, app.state.changes_pending = writable, 0
    app.state.owner_token = secrets.token_urlsafe(32)
    manifest = live.current.index.manifest
    app.state.dense_models = [
        c["model"] for c in manifest["components"].values() if c["kind"] == "first" and c.get("mode") == "dense"
    ]
    app.include_router(routes.router)
    app.include_router(documents.router)

    async def invalid(request, exc):
        return JSONResponse({"detail": _validation_detail(exc.errors())}, status_code=422)

    async def refused(request, exc):  # a request value the index cannot use: the client's to fix
        return JSONResponse({"detail": str(exc)}, status_code=422)

    async def failed(request, exc):  # a bug, not the client's fault: say so in JSON, never show a traceback
        return JSONResponse({"detail": f"internal error ({type(exc).__name__})"}, status_code=500)

    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(InvalidInputError, refused)
    app.add_exception_handler(Exception, failed)
    # The last added runs first: the guard, then the /search fast path, then FastAPI's router.
    app.add_middleware(
        SearchFastPath, model=routes.SearchRequest, endpoint=routes.search, handlers=app.exception_handlers
    )
    app.add_middleware(Guard, api_key=api_key, max_bytes=max_request_bytes, owner_token=app.state.owner_token)
    return app


def serve(
    index_dir: str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key: str | None = None,
    batching: BatchOptions | None = None,
    limits: ConnectionLimits = ConnectionLimits(),
    writable: bool = False,
) -> None:
    """Serve the index in `index_dir` with uvicorn until interrupted (`writable`: with the write API)."""
    uvicorn = require("uvicorn", "serve")
    from embedproof.server.owner import local_url

    sock = listening_socket(host, port)  # a bad host or a port in use is one line before the index loads
    # Keep-alive outlives clients' idle expiry (httpx and uvicorn both default to 5 s): with equal timeouts a client
    # can reuse a connection the server is closing. No access log: it is per-request work the bench never pays.
    # The protocol bounds header size and the time to send headers and body (server/limits.py).
    # .serving.json says which server holds the folder, so a command-line change is forwarded to it (owner.py)
    url = local_url(host, sock.getsockname()[1])
    app = create_app(index_dir, api_key, batching=batching, writable=writable, owner_url=url)
    config = uvicorn.Config(
        app, log_level="info", access_log=False, timeout_keep_alive=75, http=bounded_protocol(limits)
    )
    with sock:
        uvicorn.Server(config).run(sockets=[sock])
