"""Plain ASGI layers in front of the FastAPI app: the size limit and API key, and the `/search` fast path.

Both run before FastAPI's router, as plain ASGI callables: no extra task, no body copy, no dependency solving.
"""

from __future__ import annotations

import hmac
import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Any

OPEN_PATHS = {"/health", "/"}
OWNER_PATH = "/_owner/change"  # the route a command-line change is forwarded to (server/owner.py)
OWNER_HEADER = "x-embedproof-owner-token"


def _given_key(headers: dict[str, str]) -> str:
    given = headers.get("x-api-key") or ""
    bearer = headers.get("authorization") or ""
    if bearer.lower().startswith("bearer "):
        given = given or bearer[7:]
    return given


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _headers(scope: dict, names: tuple[bytes, ...]) -> dict[str, str]:
    """The first value of each named header (ASGI names are lower-case bytes), decoded as HTTP does (latin-1)."""
    found: dict[str, str] = {}
    for name, value in scope["headers"]:
        if name in names and name.decode() not in found:
            found[name.decode()] = value.decode("latin-1")
    return found


DRAIN_BYTES = 64 * 1024  # a refused request body read before the answer, so keep-alive survives


class Guard:
    """Size limit and API key before any parsing: 413 on a declared or counted body over `max_bytes`, 401 without
    the key and 403 with a wrong one on a data endpoint. The owner route takes the owner's token instead of the key
    (401 without, 403 wrong) and no size limit: whoever holds the token can write the index files anyway."""

    def __init__(self, app, api_key: str | None, max_bytes: int, owner_token: str | None = None):
        self.app, self.api_key, self.max_bytes, self.owner_token = app, api_key, max_bytes, owner_token

    async def _refuse(self, scope, receive, send, status: int, detail: str, headers: dict | None = None) -> None:
        from starlette.responses import JSONResponse

        await JSONResponse({"detail": detail}, status_code=status, headers=headers)(scope, receive, send)

    async def _deny(self, scope, receive, send, status: int, detail: str, headers: dict | None = None) -> None:
        """Refuse a key or token: at once (the connection closes) when the declared body is large or unknown, so an
        unauthorised client never makes the server wait for a body; after reading and dropping a small declared
        body (`DRAIN_BYTES`), since a response sent before such a body is read also closes the connection, and a
        client that has already sent its next request on it gets a reset instead of an answer."""
        declared = _headers(scope, (b"content-length",)).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) <= DRAIN_BYTES:
            more = True
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client left
                more = message.get("more_body", False)
        await self._refuse(scope, receive, send, status, detail, headers)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = _headers(scope, (b"content-length", b"x-api-key", b"authorization", OWNER_HEADER.encode()))
        if scope["path"] == OWNER_PATH:
            token = headers.get(OWNER_HEADER) or ""
            if not token or not self.owner_token:
                return await self._deny(scope, receive, send, 401, f"missing {OWNER_HEADER}")
            if not _same(token, self.owner_token):
                return await self._deny(scope, receive, send, 403, f"wrong {OWNER_HEADER}")
            return await self.app(scope, receive, send)
        declared = headers.get("content-length")
        too_big = f"request body over {self.max_bytes:,} bytes"
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(scope, receive, send, 413, too_big)
        if self.api_key and scope["path"] not in OPEN_PATHS:
            given = _given_key(headers)
            if not given:
                return await self._deny(scope, receive, send, 401, "missing API key", {"www-authenticate": "Bearer"})
            if not _same(given, self.api_key):
                return await self._deny(scope, receive, send, 403, "wrong API key")
        if declared is None and scope["method"] in {"POST", "PUT", "PATCH"}:  # chunked: count what actually arrives
            chunks, size, more = [], 0, True
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client left
                chunks.append(message.get("body", b""))
                size += len(chunks[-1])
                if size > self.max_bytes:
                    return await self._refuse(scope, receive, send, 413, too_big)
                more = message.get("more_body", False)
            receive = replay(b"".join(chunks), receive)
        await self.app(scope, receive, send)


def replay(body: bytes, receive):
    """A `receive` that hands over the already-read body once, then the client's later messages (disconnect)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed():
        return pending.pop() if pending else await receive()

    return replayed


def _json_media_type(scope: dict) -> bool:
    """The request says `application/json` (parameters such as charset aside), so FastAPI would parse it as JSON."""
    value = _headers(scope, (b"content-type",)).get("content-type")
    return value is not None and value.split(";", 1)[0].strip().lower() == "application/json"


class SearchFastPath:
    """`POST /search` with a body FastAPI would accept, answered by the route's own endpoint without FastAPI's router.

    The body is parsed and validated as FastAPI does it (`json.loads`, then the route's request model in Python
    mode), the endpoint is the route's own function, and its exceptions go to the app's own handlers (a bug still
    reaches the app's 500 handler through ServerErrorMiddleware). Any other request, and any body that is not JSON
    or not valid, goes to FastAPI unchanged with its body replayed, so every refusal (422 details included) is
    FastAPI's. What this skips per request: routing, dependency solving, the exit stacks and the
    ExceptionMiddleware (docs/serving.md has what that saves).
    """

    def __init__(self, app, model: Any, endpoint: Callable[..., Awaitable[Any]], handlers: dict):
        self.app, self.model, self.endpoint, self.handlers = app, model, endpoint, handlers

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] != "/search" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        parsed = None
        if body and _json_media_type(scope):
            try:
                parsed = self.model.model_validate(json.loads(body))
            except Exception:  # invalid JSON or fields, or JSON nested too deep: FastAPI's answer says which
                parsed = None
        if parsed is None:
            return await self.app(scope, replay(body, receive), send)
        from starlette.requests import Request

        request = Request(scope, receive)
        try:
            response = await self.endpoint(parsed, request)
        except Exception as exc:
            handler = next(
                (self.handlers[cls] for cls in type(exc).__mro__ if cls is not Exception and cls in self.handlers), None
            )
            if handler is None:  # a bug: ServerErrorMiddleware logs it and answers with the app's 500 handler
                raise
            response = handler(request, exc)
            if inspect.isawaitable(response):
                response = await response
        await response(scope, receive, send)
