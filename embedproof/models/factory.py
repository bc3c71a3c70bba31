"""Pick the encoder for a model name: `bm25` and `hashing` are built in, everything else is a dense model."""

from __future__ import annotations

from collections.abc import Sequence

from embedproof.errors import InvalidInputError
from embedproof.models.card import get_card


def get_encoder(name: str, **options):
    """Build the encoder for `name`; dense options (prefixes, max_tokens, batch_size, cache) pass through."""
    key = name.strip().lower()
    if key == "bm25":
        return _bm25(options)
    if key == "hashing" or key.startswith("hashing-"):
        from embedproof.models.hashing import HashingEncoder, hashing_dim

        return HashingEncoder(dim=hashing_dim(key))
    from embedproof.models.remote_providers import split_remote_name

    if split_remote_name(name) is not None:  # openai-compatible:MODEL@URL, voyage:MODEL, cohere:MODEL, openai:MODEL
        from embedproof.models.remote import remote_encoder

        return remote_encoder(name, **options)
    card = get_card(name)
    if _is_bgem3_folder(name):
        options = _torch_if_auto(options)
        from embedproof.models.bgem3 import BGEM3Encoder

        if options.get("backend", "torch") != "torch":
            from embedproof.backends import UnsupportedBackendError

            raise UnsupportedBackendError(f"{name}: BGE-M3 runs on the torch backend only, not {options['backend']!r}")

        return BGEM3Encoder(name, **options)
    from embedproof.models.onnx_folder import OnnxFolderEncoder, is_onnx_folder_model

    if is_onnx_folder_model(name):  # a shipped ONNX file + tokenizer (`models fetch bge-small-en-v1.5`)
        return OnnxFolderEncoder(name, **options)
    if card.family == "splade" or (not card.known and _is_masked_lm(name)):
        from embedproof.models.splade import SpladeEncoder

        return SpladeEncoder(name, **_torch_if_auto(options))
    if card.hosted:  # the API's key comes from the environment; the error names the variable when it is unset
        from embedproof.models.remote import remote_encoder

        return remote_encoder(name, **options)
    if card.known and "dense" not in card.modes:
        raise InvalidInputError(
            f"{card.name} offers {'/'.join(card.modes)} only, not one dense vector per text; use it as a multi-vector "
            f"first pass (`--mode multivector -m {card.name}`) or a reranker (`--reranker maxsim:{card.name}`)"
        )
    from embedproof.models.dense import DenseEncoder

    return DenseEncoder(name, **options)


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


def _bm25(options: dict):
    from embedproof.models.bm25 import BM25Encoder

    return BM25Encoder()


def resolve_for_recipe(first_pass: Sequence[str], cache_dir: str | None = None) -> tuple[str, dict | None]:
    """(backend, summary) for an index: the choice for its first dense model; torch when it has none.

    One index has one encoder backend (queries must be encoded as its documents were), so the first dense model
    decides for all of them.
    """
    for model in first_pass:
        if model.startswith("maxsim:") or model.strip().lower() in {"bm25"} or model.lower().startswith("hashing"):
            continue
        encoder = get_encoder(model, backend="auto", cache_dir=cache_dir, use_cache=False)
        summary_ = getattr(encoder, "auto_backend", None)
        if summary_ is not None:
            return str(encoder.backend), summary_
    return "torch", None
