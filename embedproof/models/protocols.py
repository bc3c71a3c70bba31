"""The contracts every encoder family and reranker meets, so callers use attributes instead of probing for them.

`Encoder` is what the bench, the recipe pipeline, the index builders and the server hold: a name, the mode of the
`Embeddings` it returns (dense, sparse or multivector) and the two sides of encoding. A `TokenEncoder` is an
`Encoder` whose `Embeddings` carry one matrix per text (MaxSim). A `Reranker` scores passages for one query.
Optional metadata that only some families have (`resolved` model files, `card`, `max_tokens`, `normalize`,
`warnings`, `auto_backend`) is read with a default where it is used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from embedproof.types import Embeddings

Progress = Callable[[int], None]


@runtime_checkable
class Encoder(Protocol):
    name: str
    mode: str  # "dense", "sparse" or "multivector": which field of its Embeddings is filled

    def encode_queries(
        self, texts: Sequence[str], ids: Sequence[str] | None = None, on_progress: Progress | None = None
    ) -> Embeddings: ...

    def encode_documents(
        self, texts: Sequence[str], ids: Sequence[str] | None = None, on_progress: Progress | None = None
    ) -> Embeddings: ...


@runtime_checkable
class TokenEncoder(Encoder, Protocol):
    """An encoder whose Embeddings hold `multivector`: one (tokens, dim) matrix per text."""

    batch_size: int


@runtime_checkable
class Reranker(Protocol):
    name: str

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray: ...
