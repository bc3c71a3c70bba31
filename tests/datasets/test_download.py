"""Tests for BEIR downloads against a loopback HTTP server: download once, extract atomically, fail clearly offline."""

from __future__ import annotations

import functools
import http.server
import json
import socket
import threading
import zipfile
from pathlib import Path

import pytest

from embedproof.datasets.download import BEIR_DATASETS, fetch_beir
from embedproof.datasets.loading import load_dataset
from embedproof.errors import DatasetError

CORPUS = [{"_id": "d1", "title": "Cells", "text": "Cells divide."}, {"_id": "d2", "text": "Proteins fold."}]
QUERIES = [{"_id": "q1", "text": "do cells divide?"}, {"_id": "q2", "text": "how do proteins fold?"}]
QRELS = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n"


def _jsonl(records: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def build_zip(path: Path, top: str | None = "scifact") -> Path:
    prefix = f"{top}/" if top else ""
    with zipfile.ZipFile(path, "w") as zipped:
        zipped.writestr(f"{prefix}corpus.jsonl", _jsonl(CORPUS))
        zipped.writestr(f"{prefix}queries.jsonl", _jsonl(QUERIES))
        zipped.writestr(f"{prefix}qrels/test.tsv", QRELS)
    return path


class CountingHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a directory and records every requested path on the server object."""

    def do_GET(self):  # noqa: N802 (http.server naming)
        self.server.requests.append(self.path)
        super().do_GET()

    def log_message(self, format, *args):  # keep test output clean
        pass


class Server:
    def __init__(self, directory: Path):
        handler = functools.partial(CountingHandler, directory=str(directory))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.requests = []
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def requests(self) -> list[str]:
        return self.httpd.requests

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def serve():
    """Start a loopback server over a directory; every server is shut down after the test."""
    servers: list[Server] = []

    def start(directory: Path) -> Server:
        server = Server(directory)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    """A proxy in the environment must not stand between urllib and the loopback server."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def point_at(monkeypatch, port: int) -> str:
    monkeypatch.setenv("EMBEDPROOF_BEIR_URL", f"http://127.0.0.1:{port}/{{name}}.zip")
    return f"http://127.0.0.1:{port}/scifact.zip"


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def site(tmp_path) -> Path:
    folder = tmp_path / "site"
    folder.mkdir()
    build_zip(folder / "scifact.zip")
    return folder


# ------------------------------------------------------------------------------------------------- success


def test_downloads_extracts_loads_and_caches(tmp_path, site, serve, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a ./scifact folder in the working directory would shadow the name
    server = serve(site)
    point_at(monkeypatch, server.port)
    cache = tmp_path / "cache"

    ds = load_dataset("scifact", cache_dir=cache)
    target = cache / "datasets" / "scifact"
    assert server.requests == ["/scifact.zip"]
    assert (target / "corpus.jsonl").is_file()
    assert (target / "queries.jsonl").is_file()
    assert (target / "qrels" / "test.tsv").is_file()
    assert ds.name == "scifact"
    assert ds.path == str(target)
    assert (len(ds.corpus), len(ds.queries), len(ds.judged_queries)) == (2, 2, 2)
    assert ds.qrels == {"q1": {"d1": 1}, "q2": {"d2": 1}}
    # nothing else (no temporary folder) is left next to the extracted dataset
    assert sorted(p.name for p in (cache / "datasets").iterdir()) == ["scifact"]

    again = load_dataset("scifact", cache_dir=cache)
    assert server.requests == ["/scifact.zip"]  # the second load never touched the server
    assert again.summary() == ds.summary()


def test_fetch_beir_returns_cached_folder_without_network(tmp_path, site, serve, monkeypatch):
    server = serve(site)
    point_at(monkeypatch, server.port)
    cache = tmp_path / "cache"
    first = fetch_beir("scifact", cache)
    assert first == cache / "datasets" / "scifact"
    # even with the server unreachable the cached copy is returned
    point_at(monkeypatch, closed_port())
    assert fetch_beir("scifact", cache) == first
    assert len(server.requests) == 1


def test_name_is_case_insensitive(tmp_path, site, serve, monkeypatch):
    monkeypatch.chdir(tmp_path)
    server = serve(site)
    point_at(monkeypatch, server.port)
    ds = load_dataset("SciFact", cache_dir=tmp_path / "cache")
    assert ds.name == "scifact"
    assert server.requests == ["/scifact.zip"]


def test_uses_embedproof_cache_when_no_cache_dir(tmp_path, site, serve, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EMBEDPROOF_CACHE", str(tmp_path / "envcache"))
    server = serve(site)
    point_at(monkeypatch, server.port)
    ds = load_dataset("scifact")
    assert ds.path == str(tmp_path / "envcache" / "datasets" / "scifact")


def test_zip_without_top_folder(tmp_path, serve, monkeypatch):
    site = tmp_path / "flat"
    site.mkdir()
    build_zip(site / "scifact.zip", top=None)
    server = serve(site)
    point_at(monkeypatch, server.port)
    target = fetch_beir("scifact", tmp_path / "cache")
    assert (target / "corpus.jsonl").is_file()
    assert (target / "qrels" / "test.tsv").is_file()


def test_split_argument_reaches_the_downloaded_folder(tmp_path, site, serve, monkeypatch):
    monkeypatch.chdir(tmp_path)
    server = serve(site)
    point_at(monkeypatch, server.port)
    with pytest.raises(DatasetError, match=r"no judgments for split 'train' \(available splits: test\)"):
        load_dataset("scifact", split="train", cache_dir=tmp_path / "cache")


# -------------------------------------------------------------------------------------------------- errors


def test_non_zip_body(tmp_path, serve, monkeypatch):
    site = tmp_path / "bad"
    site.mkdir()
    (site / "scifact.zip").write_bytes(b"<html>Service temporarily unavailable</html>\n")
    server = serve(site)
    url = point_at(monkeypatch, server.port)
    cache = tmp_path / "cache"
    with pytest.raises(DatasetError, match="not a valid zip") as info:
        fetch_beir("scifact", cache)
    assert info.value.path == url
    assert server.requests == ["/scifact.zip"]
    assert list((cache / "datasets").iterdir()) == []  # temporary download removed, no scifact folder


def test_zip_without_corpus(tmp_path, serve, monkeypatch):
    site = tmp_path / "nocorpus"
    site.mkdir()
    with zipfile.ZipFile(site / "scifact.zip", "w") as zipped:
        zipped.writestr("scifact/queries.jsonl", _jsonl(QUERIES))
    server = serve(site)
    point_at(monkeypatch, server.port)
    cache = tmp_path / "cache"
    with pytest.raises(DatasetError, match="downloaded zip has no corpus.jsonl"):
        fetch_beir("scifact", cache)
    assert list((cache / "datasets").iterdir()) == []


def test_http_404_is_a_dataset_error(tmp_path, serve, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    server = serve(empty)
    url = point_at(monkeypatch, server.port)
    cache = tmp_path / "cache"
    with pytest.raises(DatasetError) as info:
        fetch_beir("scifact", cache)
    assert url in str(info.value)
    assert "--dataset /path/to/scifact" in str(info.value)
    assert list((cache / "datasets").iterdir()) == []


def test_offline_names_the_local_folder_alternative(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    url = point_at(monkeypatch, closed_port())
    cache = tmp_path / "cache"
    with pytest.raises(DatasetError) as info:
        load_dataset("scifact", cache_dir=cache)
    message = str(info.value)
    assert "--dataset /path/to/scifact" in message
    assert url in message
    assert "could not download BEIR dataset 'scifact'" in message
    assert info.value.path == "scifact"
    assert not (cache / "datasets" / "scifact").exists()
    assert list((cache / "datasets").iterdir()) == []  # no partial folder, no temporary leftovers


def test_unknown_beir_name(tmp_path, monkeypatch):
    point_at(monkeypatch, closed_port())
    with pytest.raises(DatasetError, match="unknown BEIR dataset") as info:
        fetch_beir("not-a-beir-set", tmp_path / "cache")
    assert "scifact" in str(info.value)
    assert info.value.path == "not-a-beir-set"
    assert not (tmp_path / "cache").exists()  # rejected before touching the cache or the network


def test_beir_names_include_scifact():
    assert "scifact" in BEIR_DATASETS
    assert "demo" not in BEIR_DATASETS


def test_leftover_folder_without_corpus_in_cache(tmp_path, site, serve, monkeypatch):
    """A stale, non-empty cache/datasets/scifact without a corpus (e.g. a copy interrupted by hand)."""
    server = serve(site)
    point_at(monkeypatch, server.port)
    cache = tmp_path / "cache"
    stale = cache / "datasets" / "scifact"
    (stale / "qrels").mkdir(parents=True)
    (stale / "qrels" / "test.tsv").write_text(QRELS)
    target = fetch_beir("scifact", cache)
    assert (target / "corpus.jsonl").is_file() and (target / "queries.jsonl").is_file()
