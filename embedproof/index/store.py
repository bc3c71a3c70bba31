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

from embedproof.errors import EmbedproofError, InvalidInputError
from embedproof.files import safe_name
from embedproof.index.chunks import (
    ChunkJob,
    EncodeChunks,
    chunk_bytes,
    chunk_number,
    chunk_path,
    chunk_prefix,
    convert_int8,
    shrink_payload,
)
from embedproof.index.manifest import Manifest, encoder_options_for, encoder_revision, recipe_components, writer_lock
from embedproof.search.pipeline import Workspace
from embedproof.search.recipe import Recipe
from embedproof.types import Document

# the files an index folder may hold besides the manifest: anything else is left alone by the clean-up
_OURS = re.compile(
    r"(docs(-\d{5})?\.jsonl|(dense|sparse|tokens|float16|binary|int8)-\d{5}\.(npy|npz)|int8-calibration\.npz)"
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
    (see embedproof/index/stored_chunks.py).
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
    """Convert every int8 component's float chunks to codes (see stored_chunks.convert_int8); the caller saves, then
    deletes."""
    superseded = []
    for component in manifest.components.values():
        if component.get("precision") == "int8":
            superseded += convert_int8(manifest, component)
    return superseded


def store_for(recipe: Recipe, store_backend: str | None) -> str:
    """The store that serves `recipe`: the one named, else "edge" for a recipe with engine settings, else "embedded".

    A recipe with engine settings was measured on the Qdrant engine, so the exact embedded store (or a Qdrant
    collection that does not apply them) would serve something else: naming one is an error, never a silent swap.
    """
    if recipe.engine is None:
        return store_backend or "embedded"
    if store_backend not in (None, "edge"):
        raise InvalidInputError(
            f"--backend {store_backend}: recipe {recipe.name!r} carries engine settings (it was measured on the "
            "Qdrant engine); build it with --backend edge, or deploy its edge plan to a server (docs/edge.md)"
        )
    return "edge"


def build_index(
    recipe: Recipe,
    corpus: dict[str, Document],
    out: str | Path,
    encoder_options=None,
    chunk_size: int = 512,
    progress=None,
    encoder_backend: str = "torch",
    store_backend: str | None = None,
    store_options: dict | None = None,
    ray_address: str | None = None,
    encode_chunks: EncodeChunks | None = None,
) -> Manifest:
    """Build (or resume building) the index of `recipe` over `corpus` in `out` with any store; returns the manifest.

    `store_backend` "embedded" (numpy/scipy files), "edge" (a Qdrant Edge shard in the folder) or "qdrant" (a Qdrant
    server collection; `store_options` says where); None chooses by the recipe (`store_for`). `encode_chunks`
    replaces how pending chunks are encoded (the default is in-process, one after another); `ray_address` ("local"
    or a cluster address) encodes them with a Ray Data actor pool instead (embedded store only).
    """
    encoder_options = encoder_options or encoder_options_for(encoder_backend)
    store_backend = store_for(recipe, store_backend)
    if store_backend in {"qdrant", "edge"}:
        if ray_address is not None or encode_chunks is not None:
            raise InvalidInputError(
                f"--ray (and custom chunk encoders) work with the embedded store only, not --backend {store_backend}"
            )
        if store_backend == "qdrant":
            from embedproof.index.qdrant_store import build_qdrant_index as build
        else:
            from embedproof.index.edge_store import build_edge_index as build
        return build(recipe, corpus, out, encoder_options, chunk_size, progress, encoder_backend, store_options)
    if store_backend != "embedded":
        raise InvalidInputError(f"--backend {store_backend}: not a store (known: embedded, edge, qdrant)")

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ids = list(corpus)
    with writer_lock(out):
        manifest = Manifest.read(out)
        if manifest is not None and not manifest.matches(recipe, ids, encoder_backend, {"backend": "embedded"}):
            raise EmbedproofError(
                f"{out}: holds an index of another recipe or corpus; choose an empty folder (or delete it to rebuild)"
            )
        if manifest is not None and manifest.complete:
            return manifest
        remove_uncommitted(out, manifest)
        if manifest is None:
            manifest = Manifest.new(out, recipe, ids, encoder_backend, chunk_size)
            manifest.write_docs("docs.jsonl", corpus.values())
            manifest.save()
        chunk_size = manifest["chunk_size"]
        texts = [corpus[d].full_text for d in ids]
        workspace = Workspace(ids, texts, encoder_options)
        if encode_chunks is None and ray_address is not None:
            from embedproof.index.ray_encode import ray_chunk_encoder

            encode_chunks = ray_chunk_encoder(ray_address, encoder_options)
        encode_chunks = encode_chunks or sequential_chunks(workspace)
        try:
            for model, kind in recipe_components(recipe):
                encode_component(
                    manifest,
                    workspace,
                    model,
                    kind,
                    texts,
                    ids,
                    0,
                    chunk_size,
                    encode_chunks,
                    progress,
                    shrink=recipe.shrink,
                )
        finally:
            getattr(encode_chunks, "close", lambda: None)()  # e.g. stop the local Ray that --ray local started
        superseded = finish_int8(manifest)
        manifest["complete"] = True
        manifest.save()
        for rel in superseded:  # float chunks the int8 codes replaced: no longer listed, so safe to drop now
            (out / rel).unlink(missing_ok=True)
    return manifest
