"""The model registry: which encoder class serves a model, by its card family; one table for every factory.

`get_encoder(name, kind)` is the one way to an encoder: the first pass ("first": bm25 and hashing are built in,
SPLADE and BGE-M3 have their own classes, hosted and remote names go over HTTP, everything else is a dense
sentence-transformers model), a model's token vectors for MaxSim ("tokens") or a cross-encoder reranker.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence

from embedproof.errors import InvalidInputError
from embedproof.models.card import ModelCard, get_card

BUILT_IN = ("bm25", "hashing")  # run with no weights: no download, no extra


def is_built_in(name: str) -> bool:
    """`bm25`, `hashing` and `hashing-<dim>`."""
    key = name.strip().lower()
    if key.startswith("hashing-"):
        from embedproof.models.hashing import hashing_dim

        hashing_dim(key)  # a malformed or absurd size is refused here, naming the model
        return True
    return key in BUILT_IN


def _import(path: str):
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def _bm25(name: str, options: dict):
    return _import("embedproof.models.bm25:BM25Encoder")()


def _hashing(name: str, options: dict):
    from embedproof.models.hashing import hashing_dim

    return _import("embedproof.models.hashing:HashingEncoder")(dim=hashing_dim(name.strip().lower()))


def _remote(name: str, options: dict):
    # the API's key comes from the environment; the error names the variable when it is unset
    return _import("embedproof.models.remote:remote_encoder")(name, **options)


def _bgem3(name: str, options: dict):
    options = _torch_if_auto(options)
    if options.get("backend", "torch") != "torch":
        from embedproof.backends import UnsupportedBackendError

        raise UnsupportedBackendError(f"{name}: BGE-M3 runs on the torch backend only, not {options['backend']!r}")
    return _import("embedproof.models.bgem3:BGEM3Encoder")(name, **options)


def _splade(name: str, options: dict):
    return _import("embedproof.models.splade:SpladeEncoder")(name, **_torch_if_auto(options))


def _dense(name: str, options: dict):
    card = get_card(name)
    from embedproof.models.onnx_folder import OnnxFolderEncoder, is_onnx_folder_model

    if is_onnx_folder_model(name):  # a shipped ONNX file + tokenizer (`models fetch bge-small-en-v1.5`)
        return OnnxFolderEncoder(name, **options)
    if card.known and "dense" not in card.modes:
        raise InvalidInputError(
            f"{card.name} offers {'/'.join(card.modes)} only, not one dense vector per text; use it as a multi-vector "
            f"first pass (`--mode multivector -m {card.name}`) or a reranker (`--reranker maxsim:{card.name}`)"
        )
    return _import("embedproof.models.dense:DenseEncoder")(name, **options)


# encoder family → what builds its first-pass encoder from (name, options)
FIRST_PASS: dict[str, Callable[[str, dict], object]] = {
    "bm25": _bm25,
    "hashing": _hashing,
    "remote": _remote,
    "bge-m3": _bgem3,
    "splade": _splade,
    "dense": _dense,
}
TOKEN_OPTIONS = {"batch_size", "max_tokens", "cache_dir", "use_cache", "backend"}
CROSS_ENCODER = "embedproof.models.crossencoder:CrossEncoderReranker"


def encoder_family(name: str, card: ModelCard | None = None) -> str:
    """The `FIRST_PASS` key for `name`: by name for built-in and remote models, by checkpoint for local folders
    (BGE-M3 heads, a masked-LM head), else by its card."""
    from embedproof.models.remote_providers import split_remote_name

    key = name.strip().lower()
    if key == "bm25":
        return "bm25"
    if key == "hashing" or key.startswith("hashing-"):
        return "hashing"
    if split_remote_name(name) is not None:  # openai-compatible:MODEL@URL, voyage:MODEL, cohere:MODEL, openai:MODEL
        return "remote"
    card = card or get_card(name)
    if _is_bgem3_folder(name):
        return "bge-m3"
    if card.family == "splade" or (not card.known and _is_masked_lm(name)):
        return "splade"
    if card.hosted:
        return "remote"
    return "dense"


def get_encoder(name: str, kind: str = "first", **options):
    """The encoder of `name` for `kind`: "first" (the model in its own mode), "tokens" (its token vectors, for
    MaxSim) or "cross-encoder" (a `Reranker`). Options (prefixes, max_tokens, batch_size, cache, backend) pass
    through to the class."""
    if kind == "tokens":  # a multi-vector model's own head, an ONNX folder's or a dense model's token output
        token_encoder = _import("embedproof.models.multivector:token_encoder")
        return token_encoder(name, **{k: v for k, v in options.items() if k in TOKEN_OPTIONS})
    if kind == "cross-encoder":
        return _import(CROSS_ENCODER)(name)
    if kind != "first":
        raise InvalidInputError(f"encoder kind {kind!r}: choose first, tokens or cross-encoder")
    return FIRST_PASS[encoder_family(name)](name, options)


def _torch_if_auto(options: dict) -> dict:
    """`auto` chooses among the fast backends of dense models; families that run only on torch take torch."""
    return {**options, "backend": "torch"} if options.get("backend") == "auto" else options


def _is_bgem3_folder(name: str) -> bool:
    """A BGE-M3 checkpoint folder: an encoder plus the ColBERT and sparse heads beside it."""
    from pathlib import Path

    folder = Path(name).expanduser()
    return (folder / "colbert_linear.pt").is_file() and (folder / "sparse_linear.pt").is_file()


def _is_masked_lm(name: str) -> bool:
    """A local folder holding a *ForMaskedLM checkpoint is a SPLADE-style sparse model."""
    import json
    from pathlib import Path

    config = Path(name).expanduser() / "config.json"
    try:
        return any(a.endswith("ForMaskedLM") for a in json.loads(config.read_text()).get("architectures", []))
    except (OSError, ValueError):
        return False


def resolve_for_models(models: Sequence[str], cache_dir: str | None = None) -> tuple[str, dict | None]:
    """(backend, summary) for an index: the choice for its first dense model; torch when it has none.

    One index has one encoder backend (queries must be encoded as its documents were), so the first dense model
    decides for all of them.
    """
    for model in models:  # a recipe's first-pass models in their own mode (`Recipe.first_pass_models`)
        if is_built_in(model):
            continue
        encoder = get_encoder(model, backend="auto", cache_dir=cache_dir, use_cache=False)
        summary_ = getattr(encoder, "auto_backend", None)
        if summary_ is not None:
            return str(encoder.backend), summary_
    return "torch", None
