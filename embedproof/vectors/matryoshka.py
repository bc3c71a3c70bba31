"""Matryoshka truncation: keep the first N dimensions and re-normalise, with guard rails (docs/shrinking.md).

Matryoshka-trained models (Kusupati et al. 2022) pack the most information into the leading dimensions, so a
prefix is a usable embedding on its own. Models not trained that way degrade sharply, and anything below 64
dimensions is unsafe until measured on the user's own data.
"""

from __future__ import annotations

import numpy as np

from embedproof.errors import EmbedproofError, InvalidInputError
from embedproof.models.card import ModelCard

MIN_SAFE_DIM = 64


class UnsafeDimensionError(EmbedproofError):
    """A truncation not to make without validation on the user's data (docs/shrinking.md)."""


def normalize(vectors: np.ndarray) -> np.ndarray:
    """L2-normalise rows; all-zero rows stay zero instead of becoming NaN."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


def truncate_matryoshka(vectors: np.ndarray, dim: int) -> np.ndarray:
    """First `dim` dimensions, re-normalised (always: a truncated unit vector is no longer unit length)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if not 0 < dim <= vectors.shape[1]:
        raise InvalidInputError(f"cannot truncate {vectors.shape[1]}-dimensional vectors to {dim}")
    return normalize(vectors[:, :dim])


def matryoshka_ladder(card: ModelCard, native_dim: int) -> list[int]:
    """The dimensions worth measuring: the card's Matryoshka dims, else powers of two from native down to 64."""
    if card.matryoshka_dims:
        return [d for d in card.matryoshka_dims if d <= native_dim and d >= MIN_SAFE_DIM] or [native_dim]
    ladder, d = [native_dim], 1 << (native_dim.bit_length() - 1)
    while d >= MIN_SAFE_DIM:
        if d < native_dim:
            ladder.append(d)
        d //= 2
    return ladder


def check_dimension(
    card: ModelCard, dim: int, native_dim: int, allow_unvalidated: bool = False
) -> tuple[bool, list[str]]:
    """Decide whether truncating to `dim` is allowed; returns (validated, warnings) or raises.

    Below 64 dimensions is refused unless `allow_unvalidated`, and then the variant is labelled unvalidated
    until a bench on the user's data has measured it.
    """
    warnings: list[str] = []
    if dim > native_dim:
        raise InvalidInputError(f"{card.name}: dimension {dim} is larger than the model's {native_dim}")
    if dim == native_dim:
        return True, warnings
    if dim < MIN_SAFE_DIM and not allow_unvalidated:
        raise UnsafeDimensionError(
            f"{card.name}: truncating to {dim} dimensions (< {MIN_SAFE_DIM}) is refused without validation on "
            f"your data; pass --allow-unvalidated-dims to measure it anyway (the result is labelled 'unvalidated')"
        )
    if not card.matryoshka:
        warnings.append(
            f"{card.name} was not trained with Matryoshka representation learning: truncating {native_dim} -> {dim} "
            "dimensions usually costs much more quality than for a Matryoshka model; measure before using it"
        )
    elif dim not in card.matryoshka_dims:
        warnings.append(f"{card.name}: {dim} is not one of the card's Matryoshka dimensions {card.matryoshka_dims}")
    if dim < MIN_SAFE_DIM:
        warnings.append(
            f"{dim} dimensions is below {MIN_SAFE_DIM}: unvalidated until this bench has measured it on your data"
        )
        return False, warnings
    return True, warnings
