"""An index's chunk files: the bytes every encoding path writes, their names, and the dense stored forms.

Each component of a recipe is stored in chunks of documents; `chunk_bytes` is the one definition of a chunk file's
bytes, whether the chunk was encoded in process or by Ray workers. A recipe's dense first pass is stored at its
dim and precision, chunk by chunk.

The stored form itself (truncation, float16, int8 codes with a corpus calibration, packed bits) is defined once in
`embedproof.vectors.stored_form` and shared with the bench sweep, so a recipe served from an index ranks as the
bench measured it. On disk (per dense component of the recipe):
  float32  <model>/dense-NNNNN.npy   float32 at `dim`
  float16  <model>/float16-NNNNN.npy float16 at `dim`
  binary   <model>/binary-NNNNN.npy  packed sign bits (uint8, dim/8 per vector)
  int8     <model>/int8-NNNNN.npy    int8 codes, plus <model>/int8-calibration.npz (per-dimension low/high)
int8 needs the whole corpus for its calibration, so its chunks are first stored as float32 at `dim` (resumable as
usual) and converted in one step once all are committed; the manifest then lists only the int8 files.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from embedproof.errors import EmbedproofError
from embedproof.files import safe_name
from embedproof.index.manifest import Manifest
from embedproof.search.chunking import Chunks
from embedproof.types import Embeddings

if TYPE_CHECKING:
    from embedproof.search.pipeline import Workspace
    from embedproof.search.recipe import Recipe
from embedproof.vectors.quantize import Int8Calibration, quantize_int8
from embedproof.vectors.stored_form import CALIBRATION_SAMPLE, StoredForm, store_form, truncate

CALIBRATION_FILE = "int8-calibration.npz"

# (chunk number, texts, ids) for each chunk still to encode → yields (chunk number, bytes of the chunk file), any order
ChunkJob = tuple[int, list[str], list[str]]
EncodeChunks = Callable[[str, str, list[ChunkJob]], Iterable[tuple[int, bytes]]]


def chunk_bytes(emb: Embeddings, kind: str) -> bytes:
    """The bytes of one chunk file (.npy dense, .npz sparse or tokens): the same for every encoding path
    (Ray included)."""
    buffer = io.BytesIO()
    if kind == "tokens":
        np.savez(
            buffer,
            lengths=np.array([len(m) for m in emb.multivector]),
            tokens=np.concatenate(emb.multivector).astype(np.float16),
        )
    elif emb.mode == "dense":
        np.save(buffer, np.asarray(emb.dense, dtype=np.float32), allow_pickle=False)
    else:
        m = sp.csr_matrix(emb.sparse, dtype=np.float32)
        np.savez(buffer, data=m.data, indices=m.indices, indptr=m.indptr, shape=np.array(m.shape))
    return buffer.getvalue()


def chunk_path(model: str, kind: str, mode: str | None, number: int) -> str:
    prefix = "tokens" if kind == "tokens" else ("dense" if mode == "dense" else "sparse")
    return f"{safe_name(model)}/{prefix}-{number:05d}.{'npy' if prefix == 'dense' else 'npz'}"


def chunk_number(rel: str) -> int:
    return int(rel.rsplit("-", 1)[1].split(".")[0])


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


def convert_int8(manifest: Manifest, component: dict) -> list[str]:
    """Turn a component's float32 (at dim) chunks into int8 codes; returns the float files the manifest no longer lists.

    The calibration is fitted once, over the whole corpus as the bench does, when the build's chunks are all in;
    documents appended later are quantised with the stored calibration (refitting would change every stored code).
    The caller saves the manifest (the commit point) and then deletes the returned files: a kill before that leaves
    the float chunks listed and the conversion simply runs again.
    """
    out = manifest.folder
    folder = component["chunks"][0].rsplit("/", 1)[0] if component["chunks"] else None
    pending = [rel for rel in component["chunks"] if rel.rsplit("/", 1)[1].startswith("dense-")]
    if not pending:
        return []
    calibration_rel = component.get("calibration") or f"{folder}/{CALIBRATION_FILE}"
    if component.get("calibration"):
        calibration = Int8Calibration.load(out / calibration_rel)
    else:
        # the whole corpus (at dim) in memory once, as the bench holds it: the sample must be the bench's sample
        calibration = Int8Calibration.fit(
            np.vstack([np.load(out / rel, allow_pickle=False) for rel in pending]), CALIBRATION_SAMPLE
        )
        manifest.commit_file(calibration_rel, calibration_bytes(calibration), "int8")
        component["calibration"] = calibration_rel
    for rel in pending:
        codes = quantize_int8(np.load(out / rel, allow_pickle=False), calibration)
        new_rel = rel.replace("/dense-", "/int8-")
        manifest.commit_file(new_rel, npy_bytes(codes), "int8")
        component["chunks"] = [new_rel if r == rel else r for r in component["chunks"]]
        del manifest["files"][rel]
    return pending


def load_component(folder, component: dict, rows: np.ndarray | None = None) -> StoredForm:
    """The stored form of a shrunk dense component, as `Workspace.preload_shrunk` takes it (only `rows`, if given)."""
    stored = np.vstack([np.load(folder / rel, allow_pickle=False) for rel in component["chunks"]])
    if rows is not None:
        stored = stored[rows]
    precision = component["precision"]
    if precision == "int8":
        if any(rel.rsplit("/", 1)[1].startswith("dense-") for rel in component["chunks"]) or not component.get(
            "calibration"
        ):
            raise EmbedproofError(
                f"{folder}: the int8 conversion did not finish; run `embedproof index build` again to resume"
            )
        return StoredForm(stored.shape[1], precision, stored, Int8Calibration.load(folder / component["calibration"]))
    dim = component["dim"]
    return StoredForm(dim, precision, stored)


def component_texts(
    manifest: Manifest, workspace: Workspace, recipe: Recipe, model: str, kind: str, first_number: int, row_offset: int
) -> tuple[Workspace, list[str], list[str]]:
    """What a component encodes: the documents, or for a chunked recipe's first pass their chunks (cut as the bench
    cut them, search/chunking.py), whose owners and spans are committed first as <model>/spans-NNNNN.npy (owner
    row, start and end character in the owner's text; `row_offset` shifts the owners of appended documents)."""
    if kind != "first" or recipe.chunking is None:
        return workspace, workspace.doc_texts, workspace.doc_ids
    space = workspace.chunked(model, recipe.chunking)
    rel = f"{safe_name(model)}/spans-{first_number:05d}.npy"
    table = np.column_stack([space.chunks.owners + row_offset, space.chunks.spans]).astype(np.int64)
    (manifest.folder / safe_name(model)).mkdir(exist_ok=True)
    manifest.commit_file(rel, npy_bytes(table))
    spans = manifest.data.setdefault("chunk_spans", {}).setdefault(f"{kind}:{model}", [])
    if rel not in spans:
        spans.append(rel)
    return space, space.doc_texts, space.doc_ids


def load_chunks(folder, rels: list[str], texts: list[str]) -> Chunks:
    """A chunked component's chunks: owners and spans from its spans files, texts cut from the documents' texts."""
    table = np.vstack([np.load(folder / rel, allow_pickle=False) for rel in sorted(rels, key=chunk_number)])
    owners, spans = table[:, 0], table[:, 1:]
    return Chunks([texts[o][a:b] for o, (a, b) in zip(owners.tolist(), spans.tolist())], owners, spans)
