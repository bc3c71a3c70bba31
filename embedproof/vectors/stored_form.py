"""The stored form of dense vectors at a Matryoshka dim and a precision: the one definition bench and index share.

What was measured is what is served only if the bench sweep and the index derive a variant the same way, so both
call `StoredForm.from_float`: truncate with re-normalisation (only below the native dim), then float16 vectors,
int8 codes with a calibration fitted on a sample of up to `CALIBRATION_SAMPLE` corpus vectors (never on queries),
or packed sign bits. The float views search needs (widened codes, rescoring vectors) are built once, here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from embedproof.errors import InvalidInputError
from embedproof.vectors.matryoshka import truncate_matryoshka
from embedproof.vectors.quantize import (
    PRECISIONS,
    Int8Calibration,
    dequantize_int8,
    quantize_binary,
    quantize_int8,
    unpack_binary,
)

# Corpus vectors the int8 ranges are fitted on (a seeded sample when the corpus is larger).
CALIBRATION_SAMPLE = 10_000


def truncate(vectors: np.ndarray, dim: int | None) -> np.ndarray:
    """First `dim` dimensions re-normalised; native width (or None) leaves the vectors as they are.

    Whether a dim is safe to use is decided where the dim is chosen (`check_dimension` for the bench, `Recipe`
    for an index), not here.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    native = vectors.shape[1]
    if dim is None or dim == native:
        return vectors
    if dim > native:
        raise InvalidInputError(f"dim {dim} is larger than the model's {native} dimensions")
    return truncate_matryoshka(vectors, dim)


def store_form(vectors: np.ndarray, precision: str) -> np.ndarray:
    """What is written to disk for already-truncated vectors, except int8 (its codes need the corpus calibration)."""
    if precision == "float16":
        return vectors.astype(np.float16)
    if precision == "binary":
        return quantize_binary(vectors)
    return np.asarray(vectors, dtype=np.float32)  # float32, and int8 before its conversion


@dataclass
class StoredForm:
    """Documents in their stored form plus the float views search needs (built once, then reused per query)."""

    dim: int
    precision: str
    stored: np.ndarray  # float32, float16, int8 codes or packed bits
    calibration: Int8Calibration | None = None
    widened: np.ndarray | None = field(init=False, repr=False)  # what the first pass multiplies (None: binary)
    rescore: np.ndarray | None = field(init=False, repr=False)  # float vectors for rescoring int8/binary candidates

    def __post_init__(self):
        if self.precision == "float32":
            self.widened, self.rescore = np.asarray(self.stored, np.float32), None
        elif self.precision == "float16":
            self.widened, self.rescore = self.stored.astype(np.float32), None  # CPU BLAS has no fp16: compute in fp32
        elif self.precision == "int8":
            if self.calibration is None:
                raise InvalidInputError("int8 documents need their corpus calibration")
            self.widened, self.rescore = self.stored.astype(np.float32), dequantize_int8(self.stored, self.calibration)
        elif self.precision == "binary":
            self.widened, self.rescore = None, unpack_binary(self.stored, self.dim)
        else:
            raise InvalidInputError(f"unknown precision {self.precision!r} (known: {', '.join(PRECISIONS)})")

    @classmethod
    def from_float(
        cls,
        docs: np.ndarray,
        dim: int | None,
        precision: str,
        calibration: Int8Calibration | None = None,
        calibration_sample: int = CALIBRATION_SAMPLE,
    ) -> StoredForm:
        """Derive the stored form from float document vectors; int8 fits its calibration here unless one is given."""
        docs = truncate(docs, dim)
        if precision == "int8":
            calibration = calibration or Int8Calibration.fit(docs, calibration_sample)
            return cls(docs.shape[1], precision, quantize_int8(docs, calibration), calibration)
        return cls(docs.shape[1], precision, store_form(docs, precision))
