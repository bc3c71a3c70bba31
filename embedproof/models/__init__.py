"""Encoders behind one interface (`encode_queries`, `encode_documents` → `Embeddings`) and their model cards.

Names resolve on first use (`embedproof.lazy`), so importing the package stays fast and light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from embedproof.lazy import lazy_exports

_NAMES = {
    "Encoder": "embedproof.models.protocols",
    "TokenEncoder": "embedproof.models.protocols",
    "Reranker": "embedproof.models.protocols",
    "EmbeddingCache": "embedproof.models.cache",
    "ModelCard": "embedproof.models.card",
    "get_card": "embedproof.models.card",
    "load_cards": "embedproof.models.card",
    "HashingEncoder": "embedproof.models.hashing",
    "BM25Encoder": "embedproof.models.bm25",
    "DenseEncoder": "embedproof.models.dense",
    "SpladeEncoder": "embedproof.models.splade",
    "MultiVectorModelEncoder": "embedproof.models.multivector",
    "TokenEmbeddingEncoder": "embedproof.models.multivector",
    "BGEM3Encoder": "embedproof.models.bgem3",
    "CrossEncoderReranker": "embedproof.models.crossencoder",
    "RemoteEncoder": "embedproof.models.remote",
    "get_encoder": "embedproof.models.factory",
    "resolve_model": "embedproof.models.resolve",
}

__all__ = [
    "Encoder",
    "Reranker",
    "TokenEncoder",
    "EmbeddingCache",
    "BGEM3Encoder",
    "BM25Encoder",
    "CrossEncoderReranker",
    "DenseEncoder",
    "HashingEncoder",
    "ModelCard",
    "MultiVectorModelEncoder",
    "RemoteEncoder",
    "SpladeEncoder",
    "TokenEmbeddingEncoder",
    "get_card",
    "get_encoder",
    "load_cards",
    "resolve_model",
]
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)

if TYPE_CHECKING:
    from embedproof.models.bgem3 import BGEM3Encoder
    from embedproof.models.bm25 import BM25Encoder
    from embedproof.models.cache import EmbeddingCache
    from embedproof.models.card import ModelCard, get_card, load_cards
    from embedproof.models.crossencoder import CrossEncoderReranker
    from embedproof.models.dense import DenseEncoder
    from embedproof.models.factory import get_encoder
    from embedproof.models.hashing import HashingEncoder
    from embedproof.models.multivector import MultiVectorModelEncoder, TokenEmbeddingEncoder
    from embedproof.models.protocols import Encoder, Reranker, TokenEncoder
    from embedproof.models.remote import RemoteEncoder
    from embedproof.models.resolve import resolve_model
    from embedproof.models.splade import SpladeEncoder
