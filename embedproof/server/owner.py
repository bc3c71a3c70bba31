"""Who serves an index folder, and forwarding a change to that server.

An edge shard and Qdrant's local mode allow one opener at a time, so while `embedproof serve` holds such an index,
the command line cannot open it to change it: the server must apply the change (through the index it serves,
server/live.py). While it serves, the server writes `FOLDER/.serving.json` (mode 0600: its pid, a URL on this
machine, a random token) and removes it when it exits; `forward_change` finds it and sends the change to the
server's owner route, authorised by the token, which the server accepts even without `--writable`: whoever can read
the 0600 file can write the index files anyway, so the token gives nothing the file system did not.
"""

from __future__ import annotations

import json
import os
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from embedproof.errors import EmbedproofError, InvalidInputError
from embedproof.files import atomic_open
from embedproof.index.change import ChangeResult
from embedproof.server.asgi import OWNER_HEADER, OWNER_PATH
from embedproof.types import Document

SERVING = ".serving.json"
FORWARD_TIMEOUT_S = 3600.0  # a forwarded change encodes its documents before the server answers


def claim(folder: str | Path, url: str, token: str) -> Path:
    """Write FOLDER/.serving.json for this process (readable by its owner only)."""
    path = Path(folder) / SERVING
    text = json.dumps({"pid": os.getpid(), "url": url, "token": token})
    with atomic_open(path, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)  # before the token is written and the file renamed into place
        handle.write(text)
    return path


def release(folder: str | Path, token: str) -> None:
    """Remove FOLDER/.serving.json if it is still this server's (another server may have claimed the folder since)."""
    path = Path(folder) / SERVING
    holder = _read(path)
    if holder is not None and secrets.compare_digest(str(holder.get("token", "")), token):
        path.unlink(missing_ok=True)


@contextmanager
def serving(folder: str | Path, url: str, token: str) -> Iterator[Path]:
    """`claim` for the duration of the block, then `release`."""
    path = claim(folder, url, token)
    try:
        yield path
    finally:
        release(folder, token)


def local_url(host: str, port: int) -> str:
    """The URL a process on this machine reaches a server listening on `host`:`port` at (a wildcard address means
    every interface, loopback included)."""
    if host in {"", "0.0.0.0"}:
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _read(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _alive(pid: object) -> bool:
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def serving_owner(folder: str | Path) -> dict | None:
    """The live server's record in FOLDER/.serving.json ({pid, url, token}), or None when no live process holds it
    (no file, an unreadable one, or its pid is gone: a server killed with SIGKILL leaves its file behind)."""
    holder = _read(Path(folder) / SERVING)
    if holder is None or not _alive(holder.get("pid")):
        return None
    if not isinstance(holder.get("url"), str) or not isinstance(holder.get("token"), str):
        return None
    return holder


def forward_change(
    folder: str | Path,
    upserts: Mapping[str, Document],
    removes: Iterable[str] = (),
    replace: bool = False,
    source: str = "the new documents",
) -> ChangeResult | None:
    """Send a change to the server that holds `folder`, if one does, and return its result; None when none does
    (then the caller applies the change itself). The server's refusals come back as the errors `apply_change`
    raises: an `InvalidInputError` for what the request asks (its message names `source`), else `EmbedproofError`.

    A record whose server does not answer (its port closed: a reused pid) counts as no server.
    """
    holder = serving_owner(folder)
    if holder is None:
        return None
    body = {
        "documents": [{"id": d.id, "title": d.title, "text": d.text} for d in upserts.values()],
        "remove": list(removes),
        "replace": replace,
        "source": source,
    }
    request = urllib.request.Request(
        holder["url"].rstrip("/") + OWNER_PATH,
        data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
        headers={"content-type": "application/json", OWNER_HEADER: holder["token"]},
        method="POST",
    )
    try:
        # no proxy: the server is on this machine, whatever $http_proxy says
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=FORWARD_TIMEOUT_S) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = _detail(exc)
        if exc.code == 422:
            raise InvalidInputError(detail) from None
        raise EmbedproofError(
            f"{folder}: the server at {holder['url']} refused the change (HTTP {exc.code}: {detail})"
        ) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, ConnectionRefusedError):
            return None
        raise EmbedproofError(f"{folder}: the server at {holder['url']} did not answer ({exc.reason})") from None
    except ConnectionRefusedError:
        return None
    fields = {k: answer[k] for k in ("generation", "documents", "added", "replaced", "removed", "unchanged", "absent")}
    return ChangeResult(Path(folder), **fields)


def _detail(exc: urllib.error.HTTPError) -> str:
    try:
        detail = json.loads(exc.read()).get("detail")
    except (OSError, ValueError, AttributeError):
        detail = None
    return str(detail) if detail is not None else exc.reason
