"""Every cheaper variant of one encode: Matryoshka dims × precisions, searched, scored and sized.

The corpus is encoded once per model; truncation, quantisation and rescoring are derived from those float
vectors (`StoredForm`, the same derivation an index stores), so a 12-variant sweep costs little more than the
plain run. Index bytes are measured by writing each
variant's stored form to disk, not just computed.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedproof.defaults import RESCORE_MULTIPLIER
from embedproof.errors import InvalidInputError
from embedproof.models.card import ModelCard
from embedproof.search.stored import search_stored
from embedproof.vectors.matryoshka import check_dimension, truncate_matryoshka
from embedproof.vectors.quantize import PRECISIONS, Int8Calibration, bytes_per_vector
from embedproof.vectors.stored_form import CALIBRATION_SAMPLE, StoredForm


@dataclass
class SweepOptions:
    dims: list[int] | None = None  # None: native only
    precisions: tuple[str, ...] = ("float32",)
    rescore_multiplier: int = RESCORE_MULTIPLIER
    allow_unvalidated_dims: bool = False
    calibration_sample: int = CALIBRATION_SAMPLE
    calibration_dir: str | None = None  # where int8 ranges are stored and reused


@dataclass
class Variant:
    """One searched variant: its identity, ranking, sizes and notes."""

    dim: int
    precision: str
    indices: np.ndarray
    scores: np.ndarray
    bytes_per_vector: float
    index_bytes: int
    search_s: float
    validated: bool
    warnings: list[str]
    first_pass: tuple[np.ndarray, np.ndarray] | None = None  # int8/binary ranking before rescoring
    calibration_file: str | None = None
    queries: np.ndarray | None = None  # the variant's float queries (truncated, re-normalised)
    search_fn: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None  # queries -> top k, for latency


def _disk_bytes(array: np.ndarray, folder: Path, name: str) -> int:
    path = folder / f"{name}.npy"
    np.save(path, array, allow_pickle=False)
    return path.stat().st_size


def _calibration(docs: np.ndarray, dim: int, options: SweepOptions) -> tuple[Int8Calibration, str | None]:
    """Fit on the corpus (never the queries); reuse a stored calibration for the same vectors when there is one."""
    if options.calibration_dir is None:
        return Int8Calibration.fit(docs, options.calibration_sample), None
    path = Path(options.calibration_dir) / f"int8-calibration-d{dim}-s{options.calibration_sample}.npz"
    if path.is_file():
        return Int8Calibration.load(path), str(path)
    calibration = Int8Calibration.fit(docs, options.calibration_sample)
    calibration.save(path)
    return calibration, str(path)


def sweep_variants(
    card: ModelCard, docs: np.ndarray, queries: np.ndarray, k: int, options: SweepOptions
) -> list[Variant]:
    """Search every requested (dim, precision) variant derived from float `docs` and `queries`."""
    native = docs.shape[1]
    dims = list(dict.fromkeys(options.dims or [native]))  # a dim or precision named twice is one variant
    precisions = list(dict.fromkeys(options.precisions))
    unknown = [p for p in precisions if p not in PRECISIONS]
    if unknown:
        raise InvalidInputError(f"unknown precision {unknown[0]!r} (known: {', '.join(PRECISIONS)})")
    checked = {
        dim: check_dimension(card, dim, native, options.allow_unvalidated_dims) for dim in dims
    }  # refuse before any work
    variants: list[Variant] = []
    with tempfile.TemporaryDirectory(prefix="embedproof-sweep-") as tmp:
        folder = Path(tmp)
        for dim in dims:
            validated, warnings = checked[dim]
            d_docs = truncate_matryoshka(docs, dim) if dim != native else docs
            d_queries = truncate_matryoshka(queries, dim) if dim != native else queries
            for precision in precisions:
                variants.append(_one(d_docs, d_queries, dim, precision, k, options, folder, validated, list(warnings)))
    return variants


def _one(docs, queries, dim, precision, k, options, folder, validated, warnings) -> Variant:
    calibration, calibration_file = (None, None)
    if precision == "int8":
        calibration, calibration_file = _calibration(docs, dim, options)
    form = StoredForm.from_float(docs, dim, precision, calibration, options.calibration_sample)
    start = time.perf_counter()
    idx, scores = search_stored(form, queries, k, options.rescore_multiplier)
    search_s = time.perf_counter() - start
    # The same first pass without rescoring, to show what rescoring buys (and compare with published anchors).
    first_pass = search_stored(form, queries, k, 0) if precision in {"int8", "binary"} else None
    index_bytes = _disk_bytes(form.stored, folder, f"d{dim}-{precision}")
    if calibration is not None:
        index_bytes += 2 * dim * 4  # the calibration ranges (low, high) stored with the index
    return Variant(
        dim,
        precision,
        idx,
        scores,
        bytes_per_vector(dim, precision),
        index_bytes,
        search_s,
        validated,
        warnings,
        first_pass,
        calibration_file,
        queries,
        lambda q: search_stored(form, q, k, options.rescore_multiplier),
    )
