"""Search documents in a stored form: exact for float32/float16, first pass plus rescoring for int8 and binary."""

from __future__ import annotations

import numpy as np

from embedproof.search.dense import exact_search
from embedproof.search.quantized import binary_search, int8_search
from embedproof.vectors.stored_form import StoredForm, truncate


def search_stored(
    form: StoredForm, queries: np.ndarray, k: int, rescore_multiplier: int
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k rows for float queries (truncated to the form's dim the same way as its documents).

    `rescore_multiplier` 0 returns the int8/binary first pass alone, which shows what rescoring buys.
    """
    queries = truncate(queries, form.dim)
    if form.precision in {"float32", "float16"}:
        return exact_search(queries, form.widened, k)
    if form.precision == "int8":
        return int8_search(
            queries,
            form.stored,
            form.calibration,
            k,
            rescore_multiplier,
            rescore_vectors=form.rescore,
            codes_as_float=form.widened,
        )
    return binary_search(queries, form.stored, form.dim, k, rescore_multiplier, rescore_vectors=form.rescore)
