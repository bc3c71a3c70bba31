"""Files: atomic writes (temporary name in the same folder, fsync, rename) and where the caches live.

A reader (or a resumed run) therefore sees either the old file or the complete new one, never half of one.
Caches (embeddings, downloaded datasets) live under $EMBEDPROOF_CACHE or ~/.cache/embedproof.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from embedproof.errors import DatasetError

# A user's JSON file (results, recipe, profile) past this size is refused before it is read: the largest results.json
# bench writes (per-query scores for every run) is a few MiB, and reading stops here even on /dev/zero.
MAX_JSON_BYTES = 256 * 1024 * 1024


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None) -> Iterator[IO]:
    """Open a temporary file next to `path`; on success it replaces `path`, on error it is removed."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        # mkstemp creates 0600; the file a user asked for gets the mode open() would give it (0666 less the umask)
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError) and exc.errno != errno.EPIPE and str(target) not in str(exc):
            # a full disk says "No space left on device", numpy's short write "245760 requested and 2016 written":
            # neither names the file, so the one error line would not say what failed to be written
            named = OSError(f"cannot write {target}: {exc.strerror or exc}")
            named.errno = exc.errno
            raise named from exc
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def read_user_text(path: str | os.PathLike, what: str, limit: int | None = None) -> str:
    """A user's UTF-8 text file, read without ever holding more than `limit` (default MAX_JSON_BYTES) + 1 bytes, a
    FIFO or /dev/zero too."""
    path = Path(path)
    limit = MAX_JSON_BYTES if limit is None else limit
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise DatasetError(f"cannot read {what} ({exc.strerror or exc})", path) from exc
    if len(data) > limit:
        raise DatasetError(f"over the {limit:,}-byte limit for {what}: not a {what}", path)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"not a readable {what} (not UTF-8 at byte {exc.start})", path) from exc


def read_json_file(path: str | os.PathLike, what: str, limit: int | None = None) -> Any:
    """A user's JSON file, parsed; anything that is not one bounded JSON document is a DatasetError naming the file.

    Bounded before it is parsed: more than `limit` bytes is refused without reading past the limit (a FIFO or
    /dev/zero too); nesting deeper than the parser's recursion limit (about 1,000 levels) and integers longer than
    Python's int-string limit (4,300 digits) are refused as not readable, never a crash.
    """
    path = Path(path)
    text = read_user_text(path, what, limit)
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        ends_early = exc.pos >= len(text.rstrip()) - 2 or exc.msg.startswith("Unterminated string")
        hint = " (the file ends early: truncated?)" if ends_early else ""
        raise DatasetError(f"not valid JSON: {exc.msg}{hint}", path, exc.lineno) from exc
    except RecursionError:
        raise DatasetError(f"not a readable {what}: JSON nested too deeply", path) from None
    except ValueError:  # an integer past the int-string conversion limit
        raise DatasetError(f"not a readable {what}: an integer with more than 4,300 digits", path) from None
    if "\\u" in text and lone_surrogate(parsed):
        raise DatasetError(f"not valid Unicode: {UNICODE_RULE}", path)
    return parsed


# The one rule for text that is not valid Unicode, in every reader: refused, naming the file (and line where there
# are lines). UTF-8 bytes cannot encode a lone surrogate, so in practice this is a JSON escape such as "\\ud800".
UNICODE_RULE = "a string holds a lone surrogate escape (such as \\ud800), which is not a character; fix the writer"


def lone_surrogate(value: Any) -> bool:
    """True when any string in `value` (a parsed JSON document: keys too) holds a lone UTF-16 surrogate."""
    stack = [value]
    while stack:  # a loop, not recursion: the document may be nested as deep as the parser allows
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def safe_name(name: str) -> str:
    """A model or run name as one file-name component: anything but letters, digits, '-', '_', '.' becomes '_'."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def cache_root(override: str | os.PathLike | None = None) -> Path:
    if override is not None:
        return Path(override).expanduser()
    env = os.environ.get("EMBEDPROOF_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "embedproof"


def disk_bytes(path: str | os.PathLike, allocated: bool = False) -> int:
    """Bytes of a file, or of every file under a folder: their apparent size, or (`allocated`) the blocks they use
    (an engine that pre-allocates sparse files looks far larger by the first than by the second)."""
    path = Path(path)
    files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
    return sum(p.stat().st_blocks * 512 if allocated else p.stat().st_size for p in files)
