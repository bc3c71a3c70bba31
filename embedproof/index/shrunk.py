"""A recipe's dense first pass at its chosen dim and precision: the searchable form, and how an index stores it.

The derivation and the search are exactly the bench sweep's (embedproof/evaluation/sweep.py): truncate with
re-normalisation (only below the native dim), then float16 vectors, int8 codes with a calibration fitted on a
sample of up to 10,000 corpus vectors (`Int8Calibration.fit(docs, 10_000)`, default seed), or packed sign bits;
int8 and binary are searched with rescoring. So a recipe served from an index ranks as the bench measured it.

On disk (per dense component of the recipe):
  float32  <model>/dense-NNNNN.npy   float32 at `dim`
  float16  <model>/float16-NNNNN.npy float16 at `dim`
  binary   <model>/binary-NNNNN.npy  packed sign bits (uint8, dim/8 per vector)
  int8     <model>/int8-NNNNN.npy    int8 codes, plus <model>/int8-calibration.npz (per-dimension low/high)
int8 needs the whole corpus for its calibration, so its chunks are first stored as float32 at `dim` (resumable as
usual) and converted in one step once all are committed; the manifest then lists only the int8 files.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from embedproof.errors import EmbedproofError
from embedproof.search.dense import exact_search
from embedproof.search.quantized import binary_search, int8_search
from embedproof.vectors.quantize import Int8Calibration, dequantize_int8, quantize_binary, quantize_int8, unpack_binary
from embedproof.vectors.matryoshka import MIN_SAFE_DIM, truncate_matryoshka

CALIBRATION_SAMPLE = 10_000  # what the sweep fits on (SweepOptions.calibration_sample), so bench numbers match
CALIBRATION_FILE = "int8-calibration.npz"


def truncate(vectors: np.ndarray, dim: int | None) -> np.ndarray:
    """The sweep's truncation: first `dim` dimensions re-normalised; native (or None) leaves vectors as they are."""
    vectors = np.asarray(vectors, dtype=np.float32)
    native = vectors.shape[1]
    if dim is None or dim == native:
        return vectors
    if dim > native:
        raise EmbedproofError(f"recipe dim {dim} is larger than the model's {native} dimensions")
    if dim < MIN_SAFE_DIM:
        raise EmbedproofError(f"recipe dim {dim} is below {MIN_SAFE_DIM}: refused without validation on your data")
    return truncate_matryoshka(vectors, dim)


@dataclass
class Shrunk:
    """Documents in their stored form plus the float views search needs (built once, then reused per query)."""

    dim: int
    precision: str
    stored: np.ndarray  # float32, float16, int8 codes or packed bits
    calibration: Int8Calibration | None = None

    def __post_init__(self):
        if self.precision == "float32":
            self._widened, self._rescore = np.asarray(self.stored, np.float32), None
        elif self.precision == "float16":
            self._widened, self._rescore = self.stored.astype(np.float32), None  # CPU BLAS has no fp16: compute in fp32
        elif self.precision == "int8":
            if self.calibration is None:
                raise EmbedproofError("int8 documents need their corpus calibration")
            self._widened, self._rescore = self.stored.astype(np.float32), dequantize_int8(self.stored, self.calibration)
        elif self.precision == "binary":
            self._widened, self._rescore = None, unpack_binary(self.stored, self.dim)
        else:
            raise EmbedproofError(f"unknown precision {self.precision!r}")

    @classmethod
    def from_float(cls, docs: np.ndarray, dim: int | None, precision: str) -> "Shrunk":
        """Derive the stored form from float document vectors, as the sweep does."""
        docs = truncate(docs, dim)
        if precision == "int8":
            calibration = Int8Calibration.fit(docs, CALIBRATION_SAMPLE)
            return cls(docs.shape[1], precision, quantize_int8(docs, calibration), calibration)
        return cls(docs.shape[1], precision, store_form(docs, precision))

    def search(self, queries: np.ndarray, k: int, rescore_multiplier: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k rows for float queries (truncated here the same way as the documents)."""
        queries = truncate(queries, self.dim)
        if self.precision in {"float32", "float16"}:
            return exact_search(queries, self._widened, k)
        if self.precision == "int8":
            return int8_search(queries, self.stored, self.calibration, k, rescore_multiplier,
                               rescore_vectors=self._rescore, codes_as_float=self._widened)
        return binary_search(queries, self.stored, self.dim, k, rescore_multiplier, rescore_vectors=self._rescore)


def store_form(vectors: np.ndarray, precision: str) -> np.ndarray:
    """The per-chunk stored form of already-truncated vectors (int8 is converted later, with the whole corpus)."""
    if precision == "float16":
        return vectors.astype(np.float16)
    if precision == "binary":
        return quantize_binary(vectors)
    return np.asarray(vectors, dtype=np.float32)  # float32, and int8 before its conversion


def chunk_prefix(precision: str | None, converted: bool = True) -> str:
    """File prefix of a dense chunk: dense (float32, and int8 before conversion), float16, binary, int8."""
    if precision in {None, "float32"} or (precision == "int8" and not converted):
        return "dense"
    return precision


def shrink_payload(payload: bytes, dim: int | None, precision: str) -> bytes:
    """A float32 dense chunk file's bytes → the bytes of its stored form at `dim` (any chunk encoder, Ray included)."""
    vectors = np.load(io.BytesIO(payload), allow_pickle=False)
    buffer = io.BytesIO()
    np.save(buffer, store_form(truncate(vectors, dim), precision), allow_pickle=False)
    return buffer.getvalue()


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def calibration_bytes(calibration: Int8Calibration) -> bytes:
    """The calibration file's bytes (the same arrays `Int8Calibration.save` writes)."""
    buffer = io.BytesIO()
    np.savez(buffer, low=calibration.low, high=calibration.high, sample_size=np.int64(calibration.sample_size))
    return buffer.getvalue()


def convert_int8(out, manifest: dict, component: dict) -> list[str]:
    """Turn a component's float32 (at dim) chunks into int8 codes; returns the float files the manifest no longer lists.

    The calibration is fitted once, over the whole corpus as the bench does, when the build's chunks are all in;
    documents appended later are quantised with the stored calibration (refitting would change every stored code).
    The caller saves the manifest (the commit point) and then deletes the returned files: a kill before that leaves
    the float chunks listed and the conversion simply runs again.
    """
    from embedproof.index.store import commit_file

    folder = component["chunks"][0].rsplit("/", 1)[0] if component["chunks"] else None
    pending = [rel for rel in component["chunks"] if rel.rsplit("/", 1)[1].startswith("dense-")]
    if not pending:
        return []
    calibration_rel = component.get("calibration") or f"{folder}/{CALIBRATION_FILE}"
    if component.get("calibration"):
        calibration = Int8Calibration.load(out / calibration_rel)
    else:
        # the whole corpus (at dim) in memory once, as the bench holds it: the sample must be the bench's sample
        calibration = Int8Calibration.fit(np.vstack([np.load(out / rel, allow_pickle=False) for rel in pending]), CALIBRATION_SAMPLE)
        commit_file(out, manifest, calibration_rel, calibration_bytes(calibration), "int8")
        component["calibration"] = calibration_rel
    for rel in pending:
        codes = quantize_int8(np.load(out / rel, allow_pickle=False), calibration)
        new_rel = rel.replace("/dense-", "/int8-")
        commit_file(out, manifest, new_rel, npy_bytes(codes), "int8")
        component["chunks"] = [new_rel if r == rel else r for r in component["chunks"]]
        del manifest["files"][rel]
    return pending


def load_component(folder, component: dict) -> Shrunk:
    """The stored form of a shrunk dense component, as `Workspace.preload_shrunk` takes it."""
    stored = np.vstack([np.load(folder / rel, allow_pickle=False) for rel in component["chunks"]])
    precision = component["precision"]
    if precision == "int8":
        if any(rel.rsplit("/", 1)[1].startswith("dense-") for rel in component["chunks"]) or not component.get("calibration"):
            raise EmbedproofError(f"{folder}: the int8 conversion did not finish; run `embedproof index build` again to resume")
        return Shrunk(stored.shape[1], precision, stored, Int8Calibration.load(folder / component["calibration"]))
    dim = component["dim"]
    return Shrunk(dim, precision, stored)
