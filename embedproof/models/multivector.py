"""Late interaction: one vector per token, scored by MaxSim (ColBERT, Khattab & Zaharia 2020).

Two sources of token vectors behind the same interface:
- `TokenEmbeddingEncoder`: the token embeddings of any dense sentence-transformers model (normalised per token),
  a cheap late-interaction reranker that needs no extra model;
- `MultiVectorModelEncoder`: ColBERT-style checkpoints through sentence-transformers 6.2's MultiVectorEncoder
  (it loads PyLate/ColBERT checkpoints; pylate itself does not install beside transformers 5).
Document token matrices are kept as float16 (half the memory; MaxSim is computed in float32).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from embedproof.backends import ENCODER_BACKENDS, UnsupportedBackendError
from embedproof.errors import InvalidInputError
from embedproof.models.cache import EmbeddingCache
from embedproof.models.loading import load_sentence_transformers
from embedproof.types import Embeddings

CACHE_FORMAT = 1


def _normalise_tokens(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


class _TokenEncoderBase:
    mode = "multivector"
    st_class = "SentenceTransformer"
    fast_backends = False  # ColBERT checkpoints add heads and markers the ONNX export does not carry

    def __init__(
        self,
        name: str,
        *,
        batch_size: int = 32,
        max_tokens: int | None = None,
        cache_dir: str | None = None,
        use_cache: bool = True,
        backend: str = "torch",
    ):
        if backend not in ENCODER_BACKENDS:
            raise InvalidInputError(f"backend {backend!r}: choose from {', '.join(ENCODER_BACKENDS)}")
        backend = "torch" if backend == "auto" else backend  # auto's calibration measures pooled vectors only
        if backend != "torch" and not self.fast_backends:
            raise UnsupportedBackendError(
                f"{name}: {type(self).__name__} runs on the torch backend only, not {backend!r}"
            )
        self.name, self.backend, self.fast = name, backend, None
        load_sentence_transformers(name, self.st_class, "cpu", max_tokens).attach(self)
        self.batch_size = batch_size
        self.cache_dir, self.use_cache = cache_dir, use_cache
        self.query_prefix, self.document_prefix = self.card.query_prefix, self.card.document_prefix
        if backend != "torch":
            from embedproof.models.onnx_backend import FastTransformer

            model_name = self.card.name if self.card.known else self.name
            self.fast = FastTransformer(
                self.model, self.resolved.path, model_name, self.resolved.revision, backend, root=cache_dir
            )

    def _token_matrices(self, texts: list[str], side: str) -> list[np.ndarray]:
        raise NotImplementedError

    def _backend_key(self) -> dict:
        """What the cache key says about the backend; torch says nothing, so existing caches stay valid."""
        if self.fast is None:
            return {}
        return {
            "backend": self.backend,
            "backend_settings": self.fast.info["settings"],
            "runtime_version": self.fast.info["runtime_version"],
        }

    def _encode(self, texts, ids, side, on_progress) -> Embeddings:
        texts = list(texts)
        fn = lambda batch: [m.astype(np.float16) for m in self._token_matrices(batch, side)]  # noqa: E731
        hits = 0
        if self.use_cache and texts:
            key = {
                "format": CACHE_FORMAT,
                "kind": f"tokens-{type(self).__name__}",
                "model": self.card.name if self.card.known else self.name,
                "revision": self.resolved.revision,
                "side": side,
                "max_tokens": self.max_tokens,
            }
            key.update(self._backend_key())
            matrices, hits = EmbeddingCache(key, self.cache_dir).encode(
                texts, fn, chunk_size=max(self.batch_size * 8, 64), on_progress=on_progress
            )
        else:
            matrices = fn(texts) if texts else []
            if on_progress:
                on_progress(len(texts))
        ids = list(ids) if ids is not None else [str(i) for i in range(len(texts))]
        tokens = int(sum(len(m) for m in matrices))
        dim = int(matrices[0].shape[1]) if matrices else 0
        info = {
            "backend": self.backend,
            "cache_hits": hits,
            "revision": self.resolved.revision,
            "max_tokens": self.max_tokens,
            "tokens": tokens,
            "bytes_float16": tokens * dim * 2,
            "mean_tokens": tokens / max(len(matrices), 1),
        }
        return Embeddings(ids, side, self.name, multivector=list(matrices), info=info)

    def encode_queries(
        self, texts: Sequence[str], ids: Sequence[str] | None = None, on_progress: Callable[[int], None] | None = None
    ) -> Embeddings:
        return self._encode(texts, ids, "query", on_progress)

    def encode_documents(
        self, texts: Sequence[str], ids: Sequence[str] | None = None, on_progress: Callable[[int], None] | None = None
    ) -> Embeddings:
        return self._encode(texts, ids, "document", on_progress)


class TokenEmbeddingEncoder(_TokenEncoderBase):
    """Per-token output of a dense bi-encoder (padding dropped, each token L2-normalised)."""

    st_class = "SentenceTransformer"
    fast_backends = True

    def _token_matrices(self, texts, side):
        prefix = self.query_prefix if side == "query" else self.document_prefix
        if self.fast is not None:
            return [_normalise_tokens(t) for t in self.fast.token_embeddings([prefix + t for t in texts])]
        out = self.model.encode(
            texts,
            prompt=prefix or None,
            batch_size=self.batch_size,
            output_value="token_embeddings",
            show_progress_bar=False,
        )
        return [_normalise_tokens(t.float().numpy()) for t in out]


class OnnxFolderTokenEncoder(_TokenEncoderBase):
    """Per-token output of an ONNX model folder (models/onnx_folder.py), each token L2-normalised."""

    def __init__(
        self,
        name: str,
        *,
        batch_size: int = 32,
        max_tokens: int | None = None,
        cache_dir: str | None = None,
        use_cache: bool = True,
        backend: str = "torch",
    ):
        from embedproof.models.onnx_folder import load_onnx_folder

        loaded, self.backend, _ = load_onnx_folder(name, max_tokens, backend)
        loaded.attach(self)
        self.name, self.fast, self.batch_size = name, None, batch_size
        self.cache_dir, self.use_cache = cache_dir, use_cache
        self.query_prefix, self.document_prefix = self.card.query_prefix, self.card.document_prefix

    def _token_matrices(self, texts, side):
        prefix = self.query_prefix if side == "query" else self.document_prefix
        return [_normalise_tokens(t) for t in self.model.token_embeddings([prefix + t for t in texts])]

    def _backend_key(self) -> dict:
        """A folder can hold two files (a fetched int8 file and its dequantised form): the key names the one run."""
        return {"backend": self.backend, "file": self.model.path.relative_to(self.model.folder).as_posix()}


def token_encoder(name: str, **options) -> _TokenEncoderBase:
    """The `TokenEncoder` for a model: its own multi-vector head, an ONNX folder's or a dense model's token output."""
    from embedproof.models.card import get_card
    from embedproof.models.onnx_folder import is_onnx_folder_model

    if "multivector" in get_card(name).modes:
        return MultiVectorModelEncoder(name, **options)
    if is_onnx_folder_model(name):
        return OnnxFolderTokenEncoder(name, **options)
    return TokenEmbeddingEncoder(name, **options)


class MultiVectorModelEncoder(_TokenEncoderBase):
    """A ColBERT-style model (query/document markers and masks applied by the model itself)."""

    st_class = "MultiVectorEncoder"

    def _token_matrices(self, texts, side):
        encode = self.model.encode_query if side == "query" else self.model.encode_document
        out = encode(texts, batch_size=self.batch_size, show_progress_bar=False)
        return [np.asarray(t.float().numpy() if hasattr(t, "float") else t, dtype=np.float32) for t in out]


def shares_forward_pass(dense, tokens) -> bool:
    """Whether `tokens` (token vectors) can come from the same forward pass as `dense` (pooled vectors) for queries.

    True for a TokenEmbeddingEncoder over the same sentence-transformers model on torch with the same query prefix
    and window: then one pass gives both, instead of encoding the query twice (the three-tier recipe's rerank).
    """
    return (
        isinstance(tokens, TokenEmbeddingEncoder)
        and tokens.backend == "torch" == getattr(dense, "backend", None)
        and getattr(dense, "model", None) is not None
        and getattr(dense, "resolved", None) is not None
        and dense.resolved.path == tokens.resolved.path
        and dense.query_prefix == tokens.query_prefix
        and dense.max_tokens == tokens.max_tokens
    )


def encode_pooled_and_tokens(
    dense, tokens, texts: Sequence[str], ids: Sequence[str] | None = None
) -> tuple[Embeddings, Embeddings]:
    """Queries through one forward pass: (the dense encoder's Embeddings, the token encoder's Embeddings).

    Equal (to float tolerance) to `dense.encode_queries` and `tokens.encode_queries` run separately; padding is
    cut from the token matrices by the attention mask, as sentence-transformers does for `token_embeddings`.
    """
    texts = list(texts)
    ids = list(ids) if ids is not None else [str(i) for i in range(len(texts))]
    out = dense.model.encode(
        texts,
        prompt=dense.query_prefix or None,
        batch_size=dense.batch_size,
        output_value=None,
        show_progress_bar=False,
    )
    pooled = (
        np.stack([o["sentence_embedding"].float().numpy() for o in out]).astype(np.float32)
        if out
        else np.zeros((0, dense.dim), np.float32)
    )
    if dense.normalize and len(pooled):
        pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
    matrices = [
        _normalise_tokens(o["token_embeddings"][o["attention_mask"].bool()].float().numpy()).astype(np.float16)
        for o in out
    ]
    info = {
        "backend": "torch",
        "revision": dense.resolved.revision,
        "max_tokens": dense.max_tokens,
        "cache_hits": 0,
        "shared_pass": True,
    }
    return (
        Embeddings(ids, "query", dense.name, dense=pooled, info={**info, "prefix": dense.query_prefix}),
        Embeddings(ids, "query", tokens.name, multivector=matrices, info=dict(info)),
    )
