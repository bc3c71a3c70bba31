"""Which server holds an index folder (`.serving.json`) and forwarding a change to it (embedproof/server/owner.py)."""

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time

import httpx
import pytest

from embedproof.datasets.loading import load_dataset
from embedproof.errors import EmbedproofError, InvalidInputError
from embedproof.index.access import build_index
from embedproof.search.recipe import standard_recipe
from embedproof.server.owner import SERVING, claim, forward_change, local_url, release, serving_owner
from embedproof.types import Document

pytest.importorskip("fastapi")


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_record_is_the_owners_alone_and_only_its_writer_removes_it(tmp_path):
    path = claim(tmp_path, "http://127.0.0.1:8123", "tok")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"pid": os.getpid(), "url": "http://127.0.0.1:8123", "token": "tok"}
    assert serving_owner(tmp_path)["url"] == "http://127.0.0.1:8123"
    release(tmp_path, "another server's token")
    assert path.exists()
    release(tmp_path, "tok")
    assert not path.exists() and serving_owner(tmp_path) is None


def test_no_live_server_means_the_caller_applies_the_change_itself(tmp_path):
    docs = {"x": Document("x", "text")}
    assert forward_change(tmp_path, docs) is None  # no record
    (tmp_path / SERVING).write_text("{not json")
    assert forward_change(tmp_path, docs) is None
    claim(tmp_path, "http://127.0.0.1:9", "tok")
    record = json.loads((tmp_path / SERVING).read_text())
    (tmp_path / SERVING).write_text(json.dumps({**record, "pid": _dead_pid()}))  # a server killed with SIGKILL
    assert forward_change(tmp_path, docs) is None
    claim(tmp_path, f"http://127.0.0.1:{_free_port()}", "tok")  # a live pid that is not a server: nothing listens
    assert forward_change(tmp_path, docs) is None


def test_local_url_reaches_a_wildcard_address_on_loopback():
    assert local_url("0.0.0.0", 8000) == "http://127.0.0.1:8000"
    assert local_url("::", 8000) == "http://[::1]:8000"
    assert local_url("127.0.0.1", 81) == "http://127.0.0.1:81"
    assert local_url("::1", 81) == "http://[::1]:81"


@pytest.fixture(params=["embedded", "edge", "qdrant"])
def served(request, tmp_path):
    """`embedproof serve` (read-only, no key) over a hashing + BM25 index of 40 demo documents, in a subprocess;
    an edge shard and Qdrant's local mode allow one opener, so there the server is the only way to change the index
    while it runs."""
    if request.param == "edge":
        pytest.importorskip("qdrant_edge")
    options = None
    if request.param == "qdrant":
        pytest.importorskip("qdrant_client")
        options = {"path": str(tmp_path / "qdrant-local")}
    folder = tmp_path / "idx"
    corpus = dict(list(load_dataset("demo").corpus.items())[:40])
    recipe = standard_recipe("hybrid", "hashing", "bm25")
    build_index(recipe, corpus, folder, chunk_size=16, store_backend=request.param, store_options=options)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "EMBEDPROOF_API_KEY"}
    log = open(tmp_path / "serve.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "embedproof", "serve", str(folder), "--port", str(port)], stdout=log, stderr=log, env=env
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        assert process.poll() is None, (tmp_path / "serve.log").read_text()
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.time() < deadline, "the server did not start"
        time.sleep(0.1)
    try:
        yield folder, url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        log.close()


def test_a_change_is_forwarded_to_the_server_that_holds_the_folder(served):
    folder, url, process = served
    record = json.loads((folder / SERVING).read_text())
    assert record["pid"] == process.pid and record["url"] == url and len(record["token"]) >= 32
    assert stat.S_IMODE((folder / SERVING).stat().st_mode) == 0o600
    new = {"new-1": Document("new-1", "A lighthouse keeper counts the ships.", "Lighthouse")}
    result = forward_change(folder, new, ["d002", "not-there"], source="new.jsonl")
    assert result is not None and result.folder == folder
    assert (result.generation, result.documents) == (2, 40)
    assert (result.added, result.removed, result.absent) == (["new-1"], ["d002"], ["not-there"])
    health = httpx.get(url + "/health").json()  # served before the forwarded call returned
    assert (health["generation"], health["documents"]) == (2, 40)
    top = httpx.post(url + "/search", json={"query": "lighthouse keeper ships", "top_k": 3})
    assert top.json()["results"][0]["id"] == "new-1" and top.headers["x-embedproof-generation"] == "2"
    again = forward_change(folder, new)  # a retried add: nothing to do, the generation stays
    assert again.unchanged == ["new-1"] and again.generation == 2 and not again.changed
    with pytest.raises(InvalidInputError, match=r"^new\.jsonl: document id 'new-1' already in the index"):
        forward_change(folder, {"new-1": Document("new-1", "another text")}, source="new.jsonl")
    wrong = {**record, "token": "not-the-token"}
    (folder / SERVING).write_text(json.dumps(wrong))
    with pytest.raises(EmbedproofError, match="HTTP 403"):
        forward_change(folder, new)
    (folder / SERVING).write_text(json.dumps(record))
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == -signal.SIGTERM  # uvicorn shuts down, then re-raises the signal
    assert not (folder / SERVING).exists()  # removed at shutdown


def test_the_command_line_changes_an_engine_index_through_the_server_holding_it(served, tmp_path):
    """`index add`/`index remove` on an edge or Qdrant local-mode index the server holds: the engine allows one
    opener, so the CLI hands the change to the server; an embedded index is changed by the CLI and followed."""
    folder, url, _ = served
    new = tmp_path / "new.jsonl"
    new.write_text(json.dumps({"_id": "new-1", "title": "Lighthouse", "text": "A lighthouse keeper counts ships."}))
    run = [sys.executable, "-m", "embedproof", "index"]
    added = subprocess.run([*run, "add", str(folder), "--corpus", str(new)], capture_output=True, text=True)
    assert added.returncode == 0, added.stderr
    engine = (
        json.loads((folder / "manifest.json").read_text()).get("store", {}).get("backend", "embedded") != "embedded"
    )
    assert ("(applied by the server serving it)" in added.stdout) == engine, added.stdout
    assert "added 1; generation 2, 41 documents" in added.stdout
    removed = subprocess.run([*run, "remove", str(folder), "d002"], capture_output=True, text=True)
    assert removed.returncode == 0 and "removed 1; generation 3, 40 documents" in removed.stdout, removed.stderr
    deadline = time.time() + 20  # an embedded index: the server's watcher opens generation 3 beside generation 2
    while httpx.get(url + "/health").json()["generation"] != 3:
        assert time.time() < deadline, "the server did not follow the index"
        time.sleep(0.2)
    top = httpx.post(url + "/search", json={"query": "lighthouse keeper ships", "top_k": 3})
    assert top.json()["results"][0]["id"] == "new-1" and top.headers["x-embedproof-generation"] == "3"
    edited = tmp_path / "edited.jsonl"
    edited.write_text(json.dumps({"_id": "new-1", "text": "Another text."}))
    refused = subprocess.run([*run, "add", str(folder), "--corpus", str(edited)], capture_output=True, text=True)
    assert refused.returncode == 2 and refused.stderr.strip().endswith("pass --replace to replace them")
    assert len(refused.stderr.strip().splitlines()) == 1
