"""The write API of `embedproof serve --writable` (`POST /documents`, `DELETE /documents/{id}`) and the owner route
that a command-line change is forwarded to (server/owner.py).

Every change is `LiveIndex.apply`, which is the CLI's `apply_change`: one change at a time, off the event loop (on
a writer thread; for a store that changes in place, on the inference thread between two batches), committed as one
generation that the server serves before it answers, so the next request sees it. The answer is the change's
`ChangeResult.to_dict()`. A change runs to its end even if the client leaves: it cannot be half applied.
"""

# No `from __future__ import annotations`: pydantic reads the request models' annotations at runtime.
import asyncio
import itertools
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request
from pydantic import AfterValidator, BaseModel, Field, ValidationError

from embedproof.errors import EmbedproofError, InvalidInputError
from embedproof.server.asgi import OWNER_PATH
from embedproof.server.batching import QueueFull
from embedproof.server.live import NotServed
from embedproof.server.routes import Text, served_json
from embedproof.types import Document

MAX_PENDING_CHANGES = 16  # changes queued behind the running one; more is a 503 (each may hold a 1 MB body)

router = APIRouter()
_numbers = itertools.count()


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("a document id must not be empty")  # as a corpus file's reader says
    return value


Id = Annotated[Text, AfterValidator(_not_blank)]


class DocumentIn(BaseModel):
    model_config = {"extra": "forbid"}
    id: Id
    title: Text = ""
    text: Text


class ChangeRequest(BaseModel):
    model_config = {"extra": "forbid"}
    documents: list[DocumentIn] = []
    replace: bool = Field(default=False, strict=True)
    remove: list[Id] = []


class OwnerChangeRequest(ChangeRequest):
    source: str = "the forwarded change"  # what the CLI names in its messages (the corpus file)


def _where(loc) -> str:
    """A pydantic error location as the field path a client wrote: `documents[2].text`."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


async def _parse(request: Request, model: type[ChangeRequest]) -> ChangeRequest:
    """The body as `model`; anything else is one line naming the field (422)."""
    body = await request.body()
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict):
        raise InvalidInputError("body: expected a JSON object with `documents`, `replace` and `remove`")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")  # a validator's own message reads on its own
        raise InvalidInputError(f"{_where(first['loc'])}: {message}") from None


def _upserts(change: ChangeRequest) -> dict[str, Document]:
    upserts: dict[str, Document] = {}
    first: dict[str, int] = {}
    for n, doc in enumerate(change.documents):
        if doc.id in upserts:
            twice = f"{doc.id!r} is given twice (first at documents[{first[doc.id]}])"
            raise InvalidInputError(f"documents[{n}].id: {twice}")
        upserts[doc.id], first[doc.id] = Document(doc.id, doc.text, doc.title), n
    if not upserts and not change.remove:
        raise InvalidInputError("documents, remove: give at least one document to add or replace, or one id to remove")
    return upserts


def _require_writable(request: Request) -> None:
    if not request.app.state.writable:
        raise HTTPException(
            405,
            detail="this server is read-only: start it with `embedproof serve --writable` (an API key is required) "
            "to change the index over HTTP",
            headers={"allow": ""},
        )


async def apply(
    request: Request,
    upserts: dict[str, Document],
    removes: list[str],
    replace: bool,
    source: str,
    replace_hint: str | None = None,
):
    """Run one change through the served `LiveIndex` and answer with its result and the generation now served."""
    state = request.app.state
    live = state.live

    def change():
        return live.apply(upserts, removes, replace, source, replace_hint)

    if state.changes_pending >= MAX_PENDING_CHANGES:
        busy = f"server busy: {state.changes_pending} changes queued; retry later"
        raise HTTPException(503, detail=busy, headers={"Retry-After": "1"})
    state.changes_pending += 1
    try:
        if live.in_place:  # the engine changes in place: run between two batches, where searches run
            job = state.worker.submit(("change", next(_numbers)), change)
            result, _ = await job.future
        else:
            result = await asyncio.get_running_loop().run_in_executor(state.writer, change)
    except QueueFull as exc:
        raise HTTPException(503, detail=str(exc), headers={"Retry-After": str(exc.retry_after_s)}) from None
    except InvalidInputError:
        raise  # the app's handler: 422 with the message
    except NotServed as exc:
        raise HTTPException(500, detail=str(exc)) from None
    except EmbedproofError as exc:  # another writer holds the folder, a changed model revision, ...
        raise HTTPException(409, detail=f"the index cannot take this change: {exc}") from None
    finally:
        state.changes_pending -= 1
    return served_json(result.to_dict(), result.generation)


@router.post("/documents")
async def post_documents(request: Request):
    """Add, replace (`"replace": true`) and remove (`"remove": [ids]`) documents, as one generation."""
    _require_writable(request)
    change = await _parse(request, ChangeRequest)
    hint = 'send "replace": true to replace them'
    return await apply(request, _upserts(change), change.remove, change.replace, "POST /documents", hint)


@router.delete("/documents/{doc_id:path}")
async def delete_document(doc_id: str, request: Request):
    """Remove one document (an id the index does not hold is reported as absent, not refused)."""
    _require_writable(request)
    return await apply(request, {}, [doc_id], False, f"DELETE /documents/{doc_id}")


@router.post(OWNER_PATH, include_in_schema=False)
async def owner_change(request: Request):
    """A change forwarded by `embedproof index add`/`remove` on this machine (authorised by the token of
    `.serving.json`, checked by the Guard), accepted even without --writable: see server/owner.py."""
    change = await _parse(request, OwnerChangeRequest)
    return await apply(request, _upserts(change), change.remove, change.replace, change.source)


def writer_thread() -> ThreadPoolExecutor:
    """Where changes to a store that opens beside the served generation run: one at a time, off the event loop."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedproof-writer")
