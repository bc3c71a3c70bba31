"""The index a server answers from, following the folder's committed generations without a restart.

`LiveIndex` holds the served generation (an opened index and its manifest's generation number). Work on the index
takes a lease on the generation that is current when it starts and finishes on it; a new generation is opened
beside the served one and swapped in between two pieces of work, and the old one is closed when its last lease ends
(an opened embedded index holds its data in memory, so the files a later change deletes are not read again).

New generations come from three places, all through `refresh`: a watcher thread that polls `manifest.json` (a
committed change or build in another process), a change this server applies itself (`apply`, which swaps before it
returns, so the next request sees it), and a change another process forwards to it (`server/owner.py`).

Stores that keep their points in an engine (edge, qdrant) change them in place and allow one opener (an edge shard,
Qdrant's local mode): their next generation is `index.refreshed()`, a new index object over the same engine handle,
and a change the server applies runs where searches run (the inference thread), so no search sees half a change.
A failed open is logged and retried; the served generation keeps answering.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embedproof.errors import EmbedproofError
from embedproof.index.manifest import MANIFEST, Manifest
from embedproof.types import Document

# uvicorn configures this logger (level and format) for the server it runs; a swap is one line among its own
log = logging.getLogger("uvicorn.error")

POLL_S = 0.25
MAX_RETRY_S = 5.0


class NotServed(EmbedproofError):
    """A change was committed, but the server could not open its generation (it keeps serving the previous one)."""

    def __init__(self, result, served: int, cause: Exception):
        super().__init__(
            f"the change is committed as generation {result.generation}, but this server could not open it "
            f"({type(cause).__name__}: {cause}); it still serves generation {served} and keeps trying"
        )
        self.result = result


def manifest_state(manifest: Mapping[str, Any]) -> tuple:
    """What identifies a committed state: its generation, live ids and files. A change adds 1 to the generation; a
    folder deleted and built again restarts at 1 with other ids or files, which this still tells apart."""
    files = tuple(sorted((manifest.get("files") or {}).items()))
    return manifest.get("generation", 1), manifest.get("ids_sha256"), files


def changes_in_place(manifest: Manifest) -> bool:
    """The store changes its points in place (an engine: edge, qdrant), so the next generation reuses the open
    engine (`index.refreshed()`) instead of opening beside it, and a change must not run beside a search."""
    return manifest.backend != "embedded"


@dataclass(eq=False)
class Generation:
    """One opened generation and who still uses it."""

    index: Any
    number: int
    state: tuple
    leases: int = 0
    retired: bool = False
    closed: bool = False
    owns_engine: bool = True  # False once a refreshed successor shares its engine handle: closing would close theirs

    @property
    def documents(self) -> int:
        return len(self.index.ids)


class LiveIndex:
    """The served generation of the index in `folder`, its leases, and the swap to the next one (module docstring).

    `open_index(folder)` opens a generation and `prepare(index)` readies it for serving (both injectable for tests);
    `poll_s` is the watcher's interval.
    """

    def __init__(
        self,
        folder: str | Path,
        open_index: Callable[[Path], Any] | None = None,
        prepare: Callable[[Any], None] | None = None,
        poll_s: float = POLL_S,
    ):
        from embedproof.index.access import live_queries
        from embedproof.index.access import open_index as open_folder

        self.folder = Path(folder)
        self._open = open_index or open_folder
        self._prepare = prepare or live_queries
        self.poll_s = poll_s
        self._lock = threading.Lock()  # the current generation and every lease count
        self._refreshing = threading.Lock()  # one open and swap at a time (watcher, writes)
        self._writing = threading.Lock()  # one change at a time from this server
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self.current = self._generation(self._open(self.folder))
        self.in_place = changes_in_place(self.current.index.manifest)
        self.failure: str | None = None  # the last failed open, until a later one succeeds

    def _generation(self, index: Any) -> Generation:
        self._prepare(index)
        manifest = index.manifest
        return Generation(index, int(manifest.get("generation", 1)), manifest_state(manifest))

    # -- leases ----------------------------------------------------------------------------------------------------
    @contextmanager
    def lease(self):
        """The current generation, kept open until the block ends (even if a newer one is swapped in meanwhile)."""
        with self._lock:
            generation = self.current
            generation.leases += 1
        try:
            yield generation
        finally:
            self._release(generation)

    def _release(self, generation: Generation) -> None:
        with self._lock:
            generation.leases -= 1
            close = generation.retired and generation.leases == 0 and not generation.closed
            generation.closed = generation.closed or close
        if close:
            self._close(generation)

    def _swap(self, new: Generation) -> None:
        with self._lock:
            old, self.current = self.current, new
            old.retired = True
            close = old.leases == 0 and not old.closed
            old.closed = old.closed or close
        if close:
            self._close(old)
        log.info("%s: serving generation %d (%d documents)", self.folder, new.number, new.documents)

    @staticmethod
    def _close(generation: Generation) -> None:
        close = getattr(generation.index, "close", None)
        if generation.owns_engine and close is not None:
            close()

    # -- new generations -------------------------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Serve the folder's committed generation if it is not the served one; True when it swapped.

        Raises what opening it raised (the served generation stays)."""
        with self._refreshing:
            manifest = Manifest.read(self.folder)
            if manifest is None or not manifest.complete or manifest_state(manifest) == self.current.state:
                return False
            old = self.current
            if self.in_place:
                new = self._generation(old.index.refreshed())
                old.owns_engine = False
            else:
                new = self._generation(self._open(self.folder))
            self._swap(new)
            self.failure = None
            return True

    def apply(
        self,
        upserts: Mapping[str, Document],
        removes: Iterable[str] = (),
        replace: bool = False,
        source: str = "",
        replace_hint: str | None = None,
    ):
        """Apply one change through `apply_change` (the CLI's code) and serve its generation before returning.

        An in-place store's change is given the served index (`held`: its engine allows one opener); the caller runs
        it where searches run. Returns the `ChangeResult`."""
        from embedproof.index.change import apply_change

        with self._writing:
            with self.lease() as served:
                held = served.index if self.in_place else None
                hint = {"replace_hint": replace_hint} if replace_hint else {}
                result = apply_change(
                    self.folder, upserts, removes, replace, source or "the request", held=held, **hint
                )
            if result.generation != self.current.number:
                try:
                    self.refresh()
                except Exception as exc:  # committed all the same: the watcher goes on trying to open it
                    raise NotServed(result, self.current.number, exc) from exc
        return result

    def watch(self) -> None:
        """Start the watcher thread (stopped by `close`)."""
        if self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, name="embedproof-generations", daemon=True)
            self._watcher.start()

    def _watch(self) -> None:
        path, seen, retry_s = self.folder / MANIFEST, _stat(self.folder / MANIFEST), self.poll_s
        pending = False
        while not self._stop.wait(retry_s if pending else self.poll_s):
            now = _stat(path)
            if now == seen and not pending:
                continue
            seen = now
            # An in-place store's engine is mid-change while this server applies one: look again afterwards
            if self.in_place and not self._writing.acquire(blocking=False):
                pending = True
                continue
            try:
                self.refresh()
            except Exception as exc:  # serving goes on with the served generation; the next poll tries again
                message = f"{type(exc).__name__}: {exc}"
                if message != self.failure:
                    log.warning(
                        "%s: the committed generation could not be opened (%s); still serving generation %d, retrying",
                        self.folder,
                        message,
                        self.current.number,
                    )
                self.failure, pending = message, True
                retry_s = min(MAX_RETRY_S, retry_s * 2)
            else:
                pending, retry_s = False, self.poll_s
            finally:
                if self.in_place:
                    self._writing.release()

    def close(self) -> None:
        """Stop the watcher and close the served generation (and any retired one nobody holds)."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        with self._lock:
            current = self.current
            current.retired = True
            close = current.leases == 0 and not current.closed
            current.closed = current.closed or close
        if close:
            self._close(current)


def _stat(path: Path) -> tuple | None:
    """What changes when the manifest is replaced (a commit renames a new file over it)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size
