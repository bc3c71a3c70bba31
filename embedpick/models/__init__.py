"""Encoders behind one interface (`encode_queries`, `encode_documents` → `Embeddings`) and their model cards.

Imports are lazy: `embedpick.models.hashing` must import with the standard library alone.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "ModelCard": "embedpick.models.card",
    "get_card": "embedpick.models.card",
    "load_cards": "embedpick.models.card",
    "HashingEncoder": "embedpick.models.hashing",
    "BM25Encoder": "embedpick.models.bm25",
    "DenseEncoder": "embedpick.models.dense",
    "RemoteEncoder": "embedpick.models.remote",
    "get_encoder": "embedpick.models.factory",
    "resolve_model": "embedpick.models.resolve",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'embedpick.models' has no attribute {name!r}")
