"""The judging page over HTTP (FastAPI), on loopback: one page, and a small JSON API it calls.

- `GET /` the page (package data `judge/page.html`: plain HTML and JS, no external assets);
- `GET /api/state` the next document, progress, the power summary and the model judge's agreement;
- `POST /api/grade` {qid, doc, grade 0|1|2, note?, seconds?}, `POST /api/skip` {qid, doc, note?, seconds?},
  `POST /api/undo` {}, `POST /api/question` {text}: each answers the new state.

A body that is not a JSON object, a field of the wrong kind, or a document or question outside the pool is a 422
naming the field; a body over 64 KiB is a 413; a body not sent as `application/json` is a 415 (so another web page
open in the same browser cannot post judgments: a cross-site JSON post needs a CORS preflight, never answered).
Requests are served one at a time (a lock): the log has one writer.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' `Request` annotations at runtime.
import threading
from importlib.resources import files

from embedproof.errors import InvalidInputError, require
from embedproof.judge.session import JudgeSession

__all__ = ["PAGE", "create_judge_app", "MAX_BODY"]

PAGE = (files("embedproof.judge") / "page.html").read_text(encoding="utf-8")
MAX_BODY = 64 * 1024


def create_judge_app(session: JudgeSession):
    fastapi = require("fastapi", "serve")
    from fastapi import Request
    from fastapi.responses import HTMLResponse, JSONResponse

    app = fastapi.FastAPI(title="embedproof judge", docs_url=None, redoc_url=None)
    lock = threading.Lock()

    @app.exception_handler(InvalidInputError)
    async def invalid(request, exc):
        return JSONResponse({"detail": str(exc)}, status_code=422)

    async def body(request) -> dict:
        # JSON only: a cross-site form or no-cors fetch cannot send application/json without a CORS preflight,
        # which this app never answers, so another web page in the browser cannot post judgments here
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            raise fastapi.HTTPException(415, detail="content-type: application/json is required")
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise fastapi.HTTPException(413, detail=f"request body over {MAX_BODY} bytes")
        import json

        try:
            data = json.loads(raw or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise InvalidInputError("body: not JSON") from None
        if not isinstance(data, dict):
            raise InvalidInputError("body: a JSON object is expected")
        return data

    def answer(change=None):
        with lock:
            if change is not None:
                change()
            return session.view()

    @app.get("/", response_class=HTMLResponse)
    def page():
        return HTMLResponse(PAGE, headers={"cache-control": "no-store"})

    @app.get("/api/state")
    def state():
        return answer()

    @app.post("/api/grade")
    async def grade(request: Request):
        d = await body(request)
        return answer(
            lambda: session.grade(d.get("qid"), d.get("doc"), d.get("grade"), d.get("note"), d.get("seconds"))
        )

    @app.post("/api/skip")
    async def skip(request: Request):
        d = await body(request)
        return answer(lambda: session.skip(d.get("qid"), d.get("doc"), d.get("note"), d.get("seconds")))

    @app.post("/api/undo")
    async def undo(request: Request):
        await body(request)
        return answer(session.undo)

    @app.post("/api/question")
    async def question(request: Request):
        d = await body(request)
        return answer(lambda: session.add_question(d.get("text")))

    return app
