"""The embedded persistent index: what a recipe needs on disk, built in atomic chunks that resume after a crash.

Layout of an index folder:
  manifest.json           recipe, model revisions, counts, every file's sha256, and `complete`
  docs.jsonl              ids, titles and texts (the cross-encoder reranker and search results need them);
                          documents appended later go to docs-NNNNN.jsonl segments (manifest "docs" lists them)
  <model>/dense-NNNNN.npy  float32 vectors, one file per chunk of documents
  <model>/sparse-NNNNN.npz SPLADE rows (CSR arrays), one file per chunk
  <model>/tokens-NNNNN.npz token matrices for a MaxSim reranker (float16, with lengths)
Each chunk is written to a temporary name and renamed, then recorded in the manifest (itself replaced
atomically), so a killed build leaves only finished chunks and `build_index` resumes after the last one. BM25 is
not stored: its IDF is a whole-corpus statistic, so it is refitted from the documents when the index loads (about a
second for 5,000 documents); appending documents therefore changes every BM25 score, and only BM25's.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from embedproof.errors import EmbedproofError
from embedproof.files import safe_name
from embedproof.index.embedded.chunks import (
    ChunkJob,
    EncodeChunks,
    chunk_bytes,
    chunk_number,
    chunk_path,
    chunk_prefix,
    component_texts,
    convert_int8,
    shrink_payload,
)
from embedproof.index.manifest import Manifest, encoder_revision, recipe_components
from embedproof.search.pipeline import Workspace

# the files an index folder may hold besides the manifest: anything else is left alone by the clean-up
_OURS = re.compile(
    r"(docs(-\d{5})?\.jsonl|(dense|sparse|tokens|float16|binary|int8|spans)-\d{5}\.(npy|npz)|int8-calibration\.npz)"
)


def remove_uncommitted(out: Path, manifest: Manifest | None) -> list[str]:
    """Delete what a killed writer left: temporary files, and index files the manifest does not list."""
    known = set((manifest or {}).get("files", {}))
    removed = []
    for path in [
        *out.glob(".*.tmp"),
        *out.glob("*/.*.tmp"),
        *out.glob("docs*.jsonl"),
        *out.glob("*/*-?????.np?"),
        *out.glob("*/int8-calibration.npz"),
    ]:
        rel = path.relative_to(out).as_posix()
        if rel not in known and (path.name.endswith(".tmp") or _OURS.fullmatch(path.name)):
            path.unlink(missing_ok=True)
            removed.append(rel)
    return removed


def sequential_chunks(workspace) -> EncodeChunks:
    """The default: encode the pending chunks one after another in this process."""

    def encode(model: str, kind: str, jobs: list[ChunkJob]) -> Iterator[tuple[int, bytes]]:
        encoder = workspace.encoder(model, kind)
        for number, texts, ids in jobs:
            yield number, chunk_bytes(encoder.encode_documents(texts, ids), kind)

    return encode


def encode_component(
    manifest: Manifest,
    workspace,
    model: str,
    kind: str,
    texts: list[str],
    ids: list[str],
    first_number: int,
    chunk_size: int,
    encode_chunks: EncodeChunks,
    progress=None,
    save_each: bool = True,
    shrink: tuple[int | None, str] | None = None,
) -> None:
    """Encode the not-yet-committed chunks of one component and commit each as it arrives (in any order).

    `save_each=False` (appending) leaves the manifest to the caller, so the whole add commits in one rename.
    `shrink` (the recipe's dim, precision) stores a dense first pass in that form
    (see embedproof/index/embedded/chunks.py).
    """
    out = manifest.folder
    encoder = workspace.encoder(model, kind)
    component = manifest["components"].setdefault(
        f"{kind}:{model}",
        {
            "model": model,
            "kind": kind,
            "revision": encoder_revision(encoder),
            "mode": encoder.mode,
            "chunks": [],
        },
    )
    if kind == "first" and encoder.name == "bm25":
        component["stored"] = "refitted from the documents at load (global IDF)"
        return
    shrink = shrink if kind == "first" and component["mode"] == "dense" else None
    if shrink is not None:
        component["precision"] = shrink[1]
    (out / safe_name(model)).mkdir(exist_ok=True)
    advance = progress(f"index {model}: documents ({kind} pass)", len(ids)) if progress else None
    jobs, sizes, rels = [], {}, {}
    for offset, start in enumerate(range(0, len(ids), chunk_size)):
        number = first_number + offset
        rels[number] = chunk_path(model, kind, component["mode"], number)
        if shrink is not None:
            rels[number] = rels[number].replace("/dense-", f"/{chunk_prefix(shrink[1], converted=False)}-")
        sizes[number] = min(chunk_size, len(ids) - start)
        # committed by an earlier (possibly interrupted) build; an int8 chunk already converted counts too
        if rels[number] in manifest["files"] or (
            shrink and rels[number].replace("/dense-", "/int8-") in manifest["files"]
        ):
            if advance:
                advance(sizes[number])
            continue
        jobs.append((number, texts[start : start + chunk_size], ids[start : start + chunk_size]))
    for number, payload in encode_chunks(model, kind, jobs):
        if shrink is not None:
            component.setdefault("dim", shrink[0] or int(np.load(io.BytesIO(payload), allow_pickle=False).shape[1]))
            payload = shrink_payload(payload, *shrink)
        manifest.commit_file(rels[number], payload)
        component["chunks"] = sorted({*component["chunks"], rels[number]}, key=chunk_number)
        if save_each:
            manifest.save()
        if advance:
            advance(sizes[number])
    missing = [
        rel
        for rel in rels.values()
        if rel not in manifest["files"] and rel.replace("/dense-", "/int8-") not in manifest["files"]
    ]
    if missing:
        raise EmbedproofError(f"{out}: chunk encoder returned no {missing[0]} ({len(missing)} chunk(s) missing)")


def finish_int8(manifest: Manifest) -> list[str]:
    """Convert every int8 component's float chunks to codes (see chunks.convert_int8); the caller saves, then
    deletes."""
    superseded = []
    for component in manifest.components.values():
        if component.get("precision") == "int8":
            superseded += convert_int8(manifest, component)
    return superseded


class EmbeddedBuild:
    """The embedded store's part of the resumable build: chunk files per component, int8 codes at the commit."""

    label = "embedded"

    def __init__(self, encoder_options, ray_address: str | None = None, encode_chunks: EncodeChunks | None = None):
        self.encoder_options, self.ray_address, self.encode_chunks = encoder_options, ray_address, encode_chunks
        self.workspace: Workspace | None = None
        self.texts: list[str] = []

    def identity(self) -> dict:
        return {"backend": "embedded"}

    def new_store(self) -> None:
        return None

    def clean(self, out: Path, manifest: Manifest | None) -> None:
        remove_uncommitted(out, manifest)

    def open(self, manifest: Manifest, workspace: Workspace, fresh: bool) -> None:
        self.workspace, self.texts = workspace, workspace.doc_texts
        if self.encode_chunks is None and self.ray_address is not None:
            from embedproof.index.embedded.ray_encode import ray_chunk_encoder

            self.encode_chunks = ray_chunk_encoder(self.ray_address, self.encoder_options)
        self.encode_chunks = self.encode_chunks or sequential_chunks(workspace)

    def encode(self, manifest: Manifest, ids: list[str], progress=None) -> None:
        """Component by component: one model loaded at a time, its chunks committed as they arrive."""
        recipe = manifest.recipe
        for model, kind in recipe_components(recipe):
            # a chunked first pass encodes the chunks (their spans committed first), in the same chunk files
            space, texts, part_ids = component_texts(manifest, self.workspace, recipe, model, kind, 0, 0)
            encode_component(
                manifest,
                space,
                model,
                kind,
                texts,
                part_ids,
                0,
                manifest["chunk_size"],
                self.encode_chunks,
                progress,
                shrink=manifest.recipe.shrink,
            )

    def commit(self, manifest: Manifest) -> list[str]:
        return finish_int8(manifest)

    def close(self) -> None:
        getattr(self.encode_chunks, "close", lambda: None)()  # e.g. stop the local Ray that --ray local started
