"""Append documents to a finished embedded index: only the new documents are encoded, into new chunks (an edge
index appends through `edge.change`).

The new documents go to a `docs-NNNNN.jsonl` segment and new chunk files; the manifest (counts, ids digest, every
file's sha256) is replaced last, in one atomic rename, so a crash during `index add` leaves the previous index
loadable and unchanged (a re-run of the same add overwrites what the crashed one left). Dense, SPLADE and token
chunks of the earlier documents are untouched: their vectors do not depend on other documents. BM25 does: its IDF
and average length are corpus statistics, so BM25 is refitted over all documents at the next load and every BM25
score changes after an add (that is why it is never stored). Duplicate ids are refused.
"""

from __future__ import annotations

from pathlib import Path

from embedproof.errors import EmbedproofError
from embedproof.index.embedded.build import encode_component, finish_int8, remove_uncommitted, sequential_chunks
from embedproof.index.embedded.chunks import EncodeChunks, chunk_number, component_texts
from embedproof.index.manifest import (
    MANIFEST,
    Manifest,
    check_revision,
    encoder_options_for,
    ids_digest,
    recipe_components,
    writer_lock,
)
from embedproof.search.pipeline import Workspace
from embedproof.types import Document


def append_documents(
    folder: str | Path,
    corpus: dict[str, Document],
    source: str = "the new corpus",
    encoder_options=None,
    progress=None,
    encode_chunks: EncodeChunks | None = None,
) -> dict:
    """Add `corpus` (from `source`, named in errors) to the index in `folder`; returns the new manifest."""
    out = Path(folder)
    if not (out / MANIFEST).is_file():  # before the lock, which would leave a .lock in a folder that is no index
        raise EmbedproofError(f"{out}: not an embedproof index (no {MANIFEST})")
    with writer_lock(out):
        manifest = Manifest.read(out)
        if manifest.backend not in ("embedded", "edge"):
            raise EmbedproofError(
                f"{out}: `index add` appends to the embedded and edge stores (this index is in {manifest.backend})"
            )
        if not manifest.complete:
            raise EmbedproofError(
                f"{out}: the build did not finish; resume it with `embedproof index build` before adding documents"
            )
        old_ids = list(manifest.documents())
        known = set(old_ids)
        for doc_id in corpus:
            if doc_id in known:
                raise EmbedproofError(
                    f"{source}: document id {doc_id!r} is already in the index {out}; "
                    "ids must be unique (remove or rename it)"
                )
        if not corpus:
            return manifest
        if manifest.backend == "edge":
            from embedproof.index.edge.change import append_edge

            return append_edge(
                manifest, corpus, encoder_options or encoder_options_for(manifest.encoder_backend), progress
            )
        remove_uncommitted(out, manifest)  # what an interrupted add left behind
        manifest["docs"] = manifest.docs
        recipe = manifest.recipe
        ids = list(corpus)
        texts = [corpus[d].full_text for d in ids]
        manifest.write_docs(f"docs-{len(manifest.docs):05d}.jsonl", corpus.values())
        workspace = Workspace(ids, texts, encoder_options or encoder_options_for(manifest.encoder_backend))
        for model, kind in recipe_components(recipe):
            key = f"{kind}:{model}"
            component = manifest["components"][key]
            # a chunked first pass: the new documents' chunks, their spans committed as the next spans file
            spans_number = len(manifest.get("chunk_spans", {}).get(key, []))
            space, part_texts, part_ids = component_texts(
                manifest, workspace, recipe, model, kind, spans_number, len(old_ids)
            )
            if "stored" in component:  # BM25: refitted over old + new documents (or chunks) at load
                continue
            check_revision(out, component, workspace.encoder(model, kind))
            first = max((chunk_number(rel) for rel in component["chunks"]), default=-1) + 1
            encode_component(
                manifest,
                space,
                model,
                kind,
                part_texts,
                part_ids,
                first,
                manifest["chunk_size"],
                encode_chunks or sequential_chunks(space),
                progress,
                save_each=False,
                shrink=recipe.shrink,
            )
        superseded = finish_int8(manifest)  # new int8 chunks use the calibration stored at build time
        manifest["documents"] = len(old_ids) + len(ids)
        manifest["ids_sha256"] = ids_digest(old_ids + ids)
        manifest.save()  # the commit point of the whole add
        for rel in superseded:
            (out / rel).unlink(missing_ok=True)
    return manifest
