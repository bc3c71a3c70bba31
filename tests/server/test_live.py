"""`LiveIndex` (embedproof/server/live.py): leases, the swap to a new committed generation, the watcher, and the
refreshed successor of a store that changes in place. These tests open stand-in indexes over a real manifest (no
model is loaded); tests/server/test_documents.py serves a real index through its changes."""

import json
import logging
import threading
import time

import pytest

from embedproof.index.manifest import Manifest
from embedproof.server.live import LiveIndex, changes_in_place

RECIPE = {"name": "bm25", "first_pass": ["bm25"]}


class StandIn:
    """What LiveIndex reads of an opened index: its manifest and ids; it records being closed."""

    opened: list["StandIn"] = []

    def __init__(self, folder, refreshed_from=None):
        self.manifest = Manifest.read(folder)
        self.ids = [f"d{i}" for i in range(self.manifest["documents"])]
        self.closed = 0
        self.engine = refreshed_from.engine if refreshed_from is not None else object()
        StandIn.opened.append(self)

    def close(self):
        self.closed += 1

    def refreshed(self):
        return StandIn(self.manifest.folder, refreshed_from=self)


def _folder(tmp_path, backend="embedded", documents=3):
    folder = tmp_path / "idx"
    folder.mkdir()
    data = {
        "format": 1,
        "recipe": RECIPE,
        "documents": documents,
        "ids_sha256": "x",
        "files": {},
        "docs": ["docs.jsonl"],
        "components": {"first:bm25": {"model": "bm25", "kind": "first", "stored": "docs", "chunks": []}},
        "store": {"backend": backend},
        "complete": True,
        "generation": 1,
    }
    (folder / "manifest.json").write_text(json.dumps(data))
    return folder


def _commit(folder, documents=None, complete=True):
    """What a committed change does to the manifest: the next generation, replaced in one rename."""
    manifest = Manifest.read(folder)
    manifest["generation"] = manifest.generation + 1
    manifest["complete"] = complete
    if documents is not None:
        manifest["documents"] = documents
    manifest.save()


def _live(folder, **kwargs):
    return LiveIndex(folder, open_index=StandIn, prepare=lambda index: None, **kwargs)


def _wait_until(condition, seconds=5.0):
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, "condition not reached"
        time.sleep(0.01)


def test_a_lease_keeps_its_generation_open_across_a_swap_and_the_last_lease_closes_it(tmp_path):
    folder = _folder(tmp_path)
    live = _live(folder)
    first = live.current
    assert (first.number, first.documents, live.in_place) == (1, 3, False)
    with live.lease() as held, live.lease() as again:
        assert held is again is first and first.leases == 2
        _commit(folder, documents=5)
        assert live.refresh() is True
        assert (live.current.number, live.current.documents) == (2, 5)
        assert held.index.closed == 0 and held.retired  # still answering the requests that started on it
    assert first.index.closed == 1 and first.leases == 0
    assert live.refresh() is False  # nothing new committed: no open, no swap
    second = live.current
    live.close()
    assert second.index.closed == 1 and len(StandIn.opened) >= 2


def test_an_unfinished_or_unchanged_manifest_is_not_opened(tmp_path):
    folder = _folder(tmp_path)
    live = _live(folder)
    opened = len(StandIn.opened)
    _commit(folder, complete=False)  # a build being resumed in the folder
    assert live.refresh() is False and len(StandIn.opened) == opened and live.current.number == 1


def test_the_watcher_serves_a_commit_from_another_writer_and_retries_a_failed_open(tmp_path, caplog):
    folder = _folder(tmp_path)
    failures = []

    def flaky(path):
        if Manifest.read(path).generation == 2 and len(failures) < 2:
            failures.append(path)
            raise OSError("chunk file missing")
        return StandIn(path)

    live = LiveIndex(folder, open_index=flaky, prepare=lambda index: None, poll_s=0.02)
    live.watch()
    try:
        with caplog.at_level(logging.INFO, logger="uvicorn.error"):
            _commit(folder, documents=4)
            _wait_until(lambda: live.current.number == 2)
        assert len(failures) == 2 and live.current.documents == 4 and live.failure is None
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1  # the same failure is said once, not at every retry
        assert "OSError: chunk file missing" in warnings[0] and "still serving generation 1" in warnings[0]
        assert any("serving generation 2 (4 documents)" in r.getMessage() for r in caplog.records)
    finally:
        live.close()


def test_a_store_that_changes_in_place_swaps_to_its_refreshed_index_and_never_closes_the_shared_engine(tmp_path):
    folder = _folder(tmp_path, backend="edge")
    live = _live(folder)
    assert live.in_place and changes_in_place(Manifest.read(folder))
    first = live.current
    _commit(folder, documents=4)
    assert live.refresh() is True
    second = live.current
    assert second.index.engine is first.index.engine and second.documents == 4
    assert first.index.closed == 0 and not first.owns_engine  # the successor answers with the same engine
    live.close()
    assert second.index.closed == 1


def test_leases_from_many_threads_are_counted_exactly(tmp_path):
    folder = _folder(tmp_path)
    live = _live(folder)
    first = live.current
    barrier = threading.Barrier(8)

    def work():
        for _ in range(200):
            with live.lease():
                pass
        barrier.wait()

    threads = [threading.Thread(target=work) for _ in range(8)]
    with live.lease():
        for t in threads:
            t.start()
        _commit(folder)
        live.refresh()
        for t in threads:
            t.join()
        assert first.index.closed == 0
    assert first.leases == 0 and first.index.closed == 1 and live.current.leases == 0
    live.close()


@pytest.fixture(autouse=True)
def _forget_opened():
    StandIn.opened = []
    yield
