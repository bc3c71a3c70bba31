"""Scalar (int8) and binary quantisation of embeddings, plus fp16, and what each costs in bytes.

int8 ranges are calibrated per dimension on a sample of the *corpus* and stored with the index: calibrating on
the query alone collapses most values to one code (sentence-transformers #2837). Rescoring happens on
dequantised vectors, never raw codes, which would drop the per-dimension scale (sentence-transformers PR #4058).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedproof.errors import EmbedproofError, InvalidInputError
from embedproof.files import atomic_open

PRECISIONS = ("float32", "float16", "int8", "binary")


def bytes_per_vector(dim: int, precision: str) -> float:
    """Payload bytes of one vector: fp32 4·d, fp16 2·d, int8 d, binary d/8 (rounded up to whole bytes)."""
    if precision == "float32":
        return 4.0 * dim
    if precision == "float16":
        return 2.0 * dim
    if precision == "int8":
        return float(dim)
    if precision == "binary":
        return float((dim + 7) // 8)
    raise InvalidInputError(f"unknown precision {precision!r} (known: {', '.join(PRECISIONS)})")


@dataclass(frozen=True)
class Int8Calibration:
    """Per-dimension [low, high] ranges mapped onto the 256 int8 codes."""

    low: np.ndarray
    high: np.ndarray
    sample_size: int

    @classmethod
    def fit(cls, corpus_vectors: np.ndarray, sample_size: int = 10_000, seed: int = 0) -> Int8Calibration:
        """Ranges from a random sample of corpus vectors (min and max per dimension)."""
        corpus_vectors = np.asarray(corpus_vectors, dtype=np.float32)
        if len(corpus_vectors) == 0:
            raise EmbedproofError("int8 calibration needs at least one corpus vector")
        rows = corpus_vectors
        if len(rows) > sample_size:
            rows = rows[np.random.default_rng(seed).choice(len(rows), sample_size, replace=False)]
        return cls(rows.min(axis=0), rows.max(axis=0), len(rows))

    @property
    def dim(self) -> int:
        return int(self.low.shape[0])

    @property
    def steps(self) -> np.ndarray:
        width = self.high - self.low
        return np.where(width > 0, width / 255.0, 1.0).astype(np.float32)

    def save(self, path: str | os.PathLike) -> Path:
        with atomic_open(path, "wb") as handle:
            np.savez(handle, low=self.low, high=self.high, sample_size=np.int64(self.sample_size))
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Int8Calibration:
        try:
            with np.load(path, allow_pickle=False) as data:
                return cls(data["low"].astype(np.float32), data["high"].astype(np.float32), int(data["sample_size"]))
        except Exception as exc:
            raise EmbedproofError(f"{path}: not a readable int8 calibration file ({exc})") from exc


def quantize_int8(vectors: np.ndarray, calibration: Int8Calibration) -> np.ndarray:
    """Codes in [-128, 127]; values outside the calibrated range are clipped."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.shape[1] != calibration.dim:
        raise ValueError(f"calibration is for {calibration.dim} dimensions, vectors have {vectors.shape[1]}")
    codes = np.floor((vectors - calibration.low) / calibration.steps) - 128
    return np.clip(codes, -128, 127).astype(np.int8)


def dequantize_int8(codes: np.ndarray, calibration: Int8Calibration) -> np.ndarray:
    """Back to floats at the centre of each code's bucket, restoring each dimension's own scale."""
    return ((codes.astype(np.float32) + 128.5) * calibration.steps + calibration.low).astype(np.float32)


def quantize_binary(vectors: np.ndarray) -> np.ndarray:
    """One sign bit per dimension (1 where > 0), packed 8 to a byte."""
    return np.packbits(np.asarray(vectors) > 0, axis=1)


def unpack_binary(packed: np.ndarray, dim: int) -> np.ndarray:
    """Packed bits back to ±1 floats, the document side of binary rescoring."""
    bits = np.unpackbits(packed, axis=1, count=dim)
    return bits.astype(np.float32) * 2.0 - 1.0


def to_float16(vectors: np.ndarray) -> np.ndarray:
    return np.asarray(vectors, dtype=np.float16)
