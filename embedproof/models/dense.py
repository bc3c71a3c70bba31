"""Dense bi-encoders through sentence-transformers, with the model card's prefixes applied for you.

A bge query without "Represent this sentence for searching relevant passages: " loses 3-5 points of recall,
so prefixes come from the card by default; overriding them is possible but recorded and warned about.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from embedproof.backends import ENCODER_BACKENDS
from embedproof.errors import InvalidInputError
from embedproof.models.cache import EmbeddingCache
from embedproof.models.card import get_card
from embedproof.models.loading import load_sentence_transformers
from embedproof.types import Embeddings

CACHE_FORMAT = 1


def config_prompts(model) -> tuple[str, str]:
    """(query, document) prompts from a sentence-transformers model's own config ("" where it names none)."""
    prompts = dict(getattr(model, "prompts", None) or {})
    document = next((prompts[k] for k in ("document", "passage", "corpus") if prompts.get(k)), "")
    return str(prompts.get("query") or ""), str(document)


class CachedDenseEncoding:
    """What every local dense encoder shares: the card's prefixes, and one vector per text cached by content.

    A subclass sets `name`, `card`, `warnings`, `resolved`, `max_tokens`, `dim`, `batch_size`, `backend`,
    `cache_dir` and `use_cache`, and defines `cache_key(prefix)` and `_embed(texts, prefix)`.
    """

    mode = "dense"

    def _prefix(self, side: str, given: str | None, from_card: str) -> str:
        """The prefix given, else the card's; a given one that differs from a known card's is a warning."""
        if given is None:
            return from_card
        if self.card.known and given != from_card:
            self.warnings.append(
                f"{side} prefix {given!r} differs from the model card's {from_card!r} "
                f"(source: {self.card.prefix_source or self.card.source}); "
                "expect lower recall unless this is deliberate"
            )
        return given

    def _encode(self, texts, ids, side, prefix, on_progress) -> Embeddings:
        texts = list(texts)
        ids = list(ids) if ids is not None else [str(i) for i in range(len(texts))]
        fn = lambda batch: self._embed(batch, prefix)  # noqa: E731
        hits, folder = 0, None
        if self.use_cache:
            cache = EmbeddingCache(self.cache_key(prefix), self.cache_dir)
            vectors, hits = cache.encode(texts, fn, chunk_size=max(self.batch_size * 8, 64), on_progress=on_progress)
            folder = str(cache.folder)
        else:
            vectors = fn(texts) if texts else np.zeros((0, self.dim), np.float32)
            if on_progress:
                on_progress(len(texts))
        info = {
            "backend": self.backend,
            "prefix": prefix,
            "max_tokens": self.max_tokens,
            "cache_hits": hits,
            "revision": self.resolved.revision,
            "cache_folder": folder,
        }
        return Embeddings(ids, side, self.name, dense=vectors.reshape(len(texts), self.dim), info=info)

    def encode_queries(
        self, texts: Sequence[str], ids: Sequence[str] | None = None, on_progress: Callable[[int], None] | None = None
    ) -> Embeddings:
        return self._encode(texts, ids, "query", self.query_prefix, on_progress)

    def encode_documents(
        self, texts: Sequence[str], ids: Sequence[str] | None = None, on_progress: Callable[[int], None] | None = None
    ) -> Embeddings:
        return self._encode(texts, ids, "document", self.document_prefix, on_progress)


class DenseEncoder(CachedDenseEncoding):
    """One vector per text from a sentence-transformers model; cached on disk by content."""

    def __init__(
        self,
        name: str,
        *,
        query_prefix: str | None = None,
        document_prefix: str | None = None,
        max_tokens: int | None = None,
        batch_size: int = 32,
        device: str = "cpu",
        cache_dir: str | None = None,
        use_cache: bool = True,
        backend: str = "torch",
    ):
        self.name = name
        if backend not in ENCODER_BACKENDS:
            raise InvalidInputError(f"backend {backend!r}: choose from {', '.join(ENCODER_BACKENDS)}")
        self.backend = backend
        if get_card(name).hosted:
            raise InvalidInputError(
                f"{name!r} is a hosted API model; a local sentence-transformers encoder cannot run it"
            )
        load_sentence_transformers(name, "SentenceTransformer", device, max_tokens).attach(self)
        card_prefixes = (self.card.query_prefix, self.card.document_prefix)
        if not self.card.known:  # the model's own prompts, when its sentence-transformers config names them
            card_prefixes = config_prompts(self.model)
            if any(card_prefixes):
                self.warnings = [w for w in self.warnings if w != self.card.assumption_warning]
                self.warnings.append(
                    f"model {name!r} is not in embedproof's model-card registry: query prompt "
                    f"{card_prefixes[0]!r} and document prompt {card_prefixes[1]!r} from its "
                    "config_sentence_transformers.json; assumed the model's own max length and output dimension, "
                    "cosine similarity on normalised vectors, and no Matryoshka training"
                )
        self.query_prefix = self._prefix("query", query_prefix, card_prefixes[0])
        self.document_prefix = self._prefix("document", document_prefix, card_prefixes[1])
        self.dim = int(self.model.get_embedding_dimension())
        self.batch_size = batch_size
        self.normalize = self.card.normalize
        self.cache_dir = cache_dir
        self.use_cache = use_cache
        self.fast = None
        self.auto_backend: dict | None = None
        model_name = self.card.name if self.card.known else self.name
        if backend == "auto":
            from embedproof.models.auto_backend import resolve_for_model, summary

            self.auto_backend = summary(
                resolve_for_model(self.model, self.resolved.path, model_name, self.resolved.revision, root=cache_dir)
            )
            backend = self.backend = self.auto_backend["backend"]
        if backend != "torch":
            from embedproof.models.onnx_backend import FastTransformer

            self.fast = FastTransformer(
                self.model, self.resolved.path, model_name, self.resolved.revision, backend, root=cache_dir
            )

    def cache_key(self, prefix: str) -> dict:
        key = {
            "format": CACHE_FORMAT,
            "kind": "dense",
            "model": self.card.name if self.card.known else self.name,
            "revision": self.resolved.revision,
            "prefix": prefix,
            "max_tokens": self.max_tokens,
            "normalize": self.normalize,
        }
        if self.fast is not None:  # torch keeps its old key, so existing caches stay valid
            key["backend"] = self.backend
            key["backend_settings"] = self.fast.info["settings"]
            key["runtime_version"] = self.fast.info["runtime_version"]
        return key

    def _embed(self, texts: list[str], prefix: str) -> np.ndarray:
        if self.fast is not None:
            return self.fast.encode(texts, prefix, self.normalize).reshape(len(texts), self.dim)
        vectors = self.model.encode(
            texts,
            prompt=prefix or None,
            batch_size=self.batch_size,
            normalize_embeddings=self.normalize,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)
