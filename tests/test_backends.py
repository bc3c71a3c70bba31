"""The encoder backend a command uses when `--backend` names none: auto with the fast extra, torch without."""

import pytest

from embedproof import backends
from embedproof.backends import BACKEND_ENV, default_encoder_backend, split_backends
from embedproof.errors import InvalidInputError


def test_auto_is_the_default_when_the_fast_extra_is_installed(monkeypatch):
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    monkeypatch.setattr(backends, "find_spec", lambda name: object() if name == "openvino" else None)
    assert default_encoder_backend() == "auto"
    assert split_backends(None) == ("auto", "embedded")
    assert split_backends(["edge"]) == ("auto", "edge")


def test_torch_is_the_default_without_it(monkeypatch):
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    monkeypatch.setattr(backends, "find_spec", lambda name: None)
    assert default_encoder_backend() == "torch"


def test_the_environment_pins_the_default(monkeypatch):
    monkeypatch.setattr(backends, "find_spec", lambda name: object())
    monkeypatch.setenv(BACKEND_ENV, " ONNX-int8 ")
    assert default_encoder_backend() == "onnx-int8"
    assert split_backends(["openvino-int8"]) == ("openvino-int8", "embedded")  # a named backend wins
    monkeypatch.setenv(BACKEND_ENV, "gpu-magic")
    with pytest.raises(InvalidInputError, match=r"\$EMBEDPROOF_BACKEND: unknown encoder backend 'gpu-magic'"):
        default_encoder_backend()


def test_the_cli_default_reaches_bench(monkeypatch, tmp_path):
    """With the variable unset and the fast extra present, `bench` records auto (hashing and BM25 run on torch)."""
    from typer.testing import CliRunner

    from embedproof.cli import app

    monkeypatch.delenv(BACKEND_ENV, raising=False)
    monkeypatch.setattr(backends, "find_spec", lambda name: object())
    result = CliRunner().invoke(app, ["bench", "-m", "hashing", "--no-latency", "-o", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    import json

    data = json.loads((tmp_path / "r.json").read_text())
    assert data["settings"]["encoder_backends"] == ["auto"]
