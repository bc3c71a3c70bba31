"""The hashing-trick encoder: the zero-dependency baseline (standard library only).

tokenise → hash each token into one of `dim` buckets with a sign taken from the same hash (signed hashing
keeps collisions unbiased, Weinberger et al. 2009) → L2-normalise. No training, no vocabulary, no numpy.
It is a lexical baseline: it matches words, not meanings. Do not import third-party modules here.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence

from embedproof.errors import InvalidInputError
from embedproof.types import Embeddings

_TOKEN = re.compile(r"\w+", re.UNICODE)
# Vectors are dense: every document holds `dim` floats in memory and in the index (a hashing-99999999999 would ask
# for terabytes). 65,536 buckets is 64 times the default and far past where more buckets stop reducing collisions
# on a passage's few hundred distinct words.
MAX_DIM = 65_536
_SIZED = re.compile(r"hashing-([0-9]+)")


def hashing_dim(name: str) -> int:
    """The bucket count a built-in name asks for: `hashing` → 1024, `hashing-256` → 256; anything else after
    `hashing-`, or a size outside 1..MAX_DIM, is refused naming the model."""
    key = name.strip().lower()
    if key == "hashing":
        return 1024
    match = _SIZED.fullmatch(key)
    if match is None:
        from embedproof.models.card import find_card

        card = find_card(key)
        if card is not None and card.name == "hashing":  # an alias of the registry's card (hashing-trick)
            return 1024
        raise InvalidInputError(
            f"model {name!r}: the built-in hashing model is 'hashing' or 'hashing-DIM', e.g. hashing-256"
        )
    digits = match.group(1).lstrip("0") or "0"
    dim = int(digits) if len(digits) <= 6 else MAX_DIM + 1  # never int() of a 5,000-digit string
    if not 1 <= dim <= MAX_DIM:
        raise InvalidInputError(f"model {name!r}: the hashing dimension must lie in [1, {MAX_DIM:,}]")
    return dim


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def _bucket_and_sign(token: str, dim: int) -> tuple[int, float]:
    # blake2b, not hash(): Python's str hash is salted per process, which would change vectors between runs.
    digest = int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest(), "little")
    return (digest >> 1) % dim, (1.0 if digest & 1 else -1.0)


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Dot product; vectors from `HashingEncoder` are unit length, so this is the cosine."""
    return sum(x * y for x, y in zip(a, b))


class HashingEncoder:
    """Signed hashing-trick bag of words, L2-normalised; symmetric (queries and documents alike)."""

    name = "hashing"
    mode = "dense"

    def __init__(self, dim: int = 1024, sublinear_tf: bool = True):
        if not 1 <= dim <= MAX_DIM:
            raise InvalidInputError(f"dim must lie in [1, {MAX_DIM:,}], got {dim}")
        self.dim = dim
        self.sublinear_tf = sublinear_tf

    def embed_one(self, text: str) -> list[float]:
        counts: dict[int, float] = {}
        for token in tokenize(text):
            bucket, sign = _bucket_and_sign(token, self.dim)
            counts[bucket] = counts.get(bucket, 0.0) + sign
        vector = [0.0] * self.dim
        for bucket, value in counts.items():
            # log(1+tf) damps repeated words, as in tf-idf's sublinear tf.
            vector[bucket] = math.copysign(math.log1p(abs(value)), value) if self.sublinear_tf else value
        norm = math.sqrt(sum(v * v for v in vector))
        return [v / norm for v in vector] if norm > 0 else vector

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [self.embed_one(text) for text in texts]

    def rank(self, query: str, documents: Sequence[str]) -> list[tuple[int, float]]:
        """(document index, cosine) best first; the stdlib-only way to search a small list."""
        q = self.embed_one(query)
        scored = [(i, cosine(q, d)) for i, d in enumerate(self.embed(documents))]
        return sorted(scored, key=lambda pair: (-pair[1], pair[0]))

    def _encode(self, texts: Sequence[str], ids: Sequence[str] | None, side: str, on_progress=None) -> Embeddings:
        rows = self.embed(texts)
        if on_progress:
            on_progress(len(rows))
        try:  # numpy when present (for search); plain rows when the stdlib is all there is
            import numpy as np

            dense = np.asarray(rows, dtype=np.float32).reshape(len(rows), self.dim)
        except ImportError:
            dense = rows
        ids = list(ids) if ids is not None else [str(i) for i in range(len(rows))]
        return Embeddings(ids, side, self.name, dense=dense, info={"dim": self.dim})

    def encode_queries(self, texts: Sequence[str], ids: Sequence[str] | None = None, on_progress=None) -> Embeddings:
        return self._encode(texts, ids, "query", on_progress)

    def encode_documents(self, texts: Sequence[str], ids: Sequence[str] | None = None, on_progress=None) -> Embeddings:
        return self._encode(texts, ids, "document", on_progress)
