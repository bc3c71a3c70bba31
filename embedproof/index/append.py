"""Append documents to a finished embedded index: only the new documents are encoded, into new chunks.

The new documents go to a `docs-NNNNN.jsonl` segment and new chunk files; the manifest (counts, ids digest, every
file's sha256) is replaced last, in one atomic rename, so a crash during `index add` leaves the previous index
loadable and unchanged (a re-run of the same add overwrites what the crashed one left). Dense, SPLADE and token
chunks of the earlier documents are untouched: their vectors do not depend on other documents. BM25 does: its IDF
and average length are corpus statistics, so BM25 is refitted over all documents at the next load and every BM25
score changes after an add (that is why it is never stored). Duplicate ids are refused.
"""

from __future__ import annotations

import json
from pathlib import Path

from embedproof.errors import EmbedproofError
from embedproof.datasets.readers import read_corpus
from embedproof.types import Document
from embedproof.index.store import (MANIFEST, EncodeChunks, _components, chunk_number, encode_component, encoder_options_for, exclusive,
                                   finish_int8, ids_digest, remove_uncommitted, save_manifest, sequential_chunks, write_docs)


def indexed_ids(folder: Path, manifest: dict) -> list[str]:
    """The ids of an index's documents, in stored order (docs.jsonl, then each appended segment)."""
    ids: list[str] = []
    for rel in manifest.get("docs", ["docs.jsonl"]):
        ids += list(read_corpus(folder / rel, []))
    return ids


def append_documents(folder: str | Path, corpus: dict[str, Document], source: str = "the new corpus", encoder_options=None,
                     progress=None, encode_chunks: EncodeChunks | None = None) -> dict:
    """Add `corpus` (from `source`, named in errors) to the index in `folder`; returns the new manifest."""
    from embedproof.search.pipeline import Workspace
    from embedproof.search.recipe import Recipe

    out = Path(folder)
    manifest_path = out / MANIFEST
    if not manifest_path.is_file():
        raise EmbedproofError(f"{out}: not an embedproof index (no {MANIFEST})")
    with exclusive(out):
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("store", {}).get("backend", "embedded") != "embedded":
            raise EmbedproofError(f"{out}: `index add` appends to the embedded store only (this index is in {manifest['store']['backend']})")
        if not manifest.get("complete"):
            raise EmbedproofError(f"{out}: the build did not finish; resume it with `embedproof index build` before adding documents")
        old_ids = indexed_ids(out, manifest)
        known = set(old_ids)
        for doc_id in corpus:
            if doc_id in known:
                raise EmbedproofError(f"{source}: document id {doc_id!r} is already in the index {out}; ids must be unique (remove or rename it)")
        if not corpus:
            return manifest
        remove_uncommitted(out, manifest)  # what an interrupted add left behind
        manifest.setdefault("docs", ["docs.jsonl"])
        recipe = Recipe(**manifest["recipe"])
        ids = list(corpus)
        texts = [corpus[d].full_text for d in ids]
        write_docs(out, manifest, f"docs-{len(manifest['docs']):05d}.jsonl", corpus.values())
        workspace = Workspace(ids, texts, encoder_options or encoder_options_for(manifest.get("encoder_backend", "torch")))
        for model, kind in _components(recipe):
            component = manifest["components"][f"{kind}:{model}"]
            if "stored" in component:  # BM25: refitted over old + new documents at load
                continue
            revision = getattr(getattr(workspace.encoder(model, kind), "resolved", None), "revision", None)
            if revision != component["revision"]:
                raise EmbedproofError(f"{out}: {model} is now revision {revision}, the index was built with {component['revision']}; "
                                     "mixing them would make scores incomparable, so rebuild the index")
            first = max((chunk_number(rel) for rel in component["chunks"]), default=-1) + 1
            encode_component(out, manifest, manifest_path, workspace, model, kind, texts, ids, first, manifest["chunk_size"],
                             encode_chunks or sequential_chunks(workspace), progress, save_each=False, shrink=recipe.shrink)
        superseded = finish_int8(out, manifest)  # new int8 chunks use the calibration stored at build time
        manifest["documents"] = len(old_ids) + len(ids)
        manifest["ids_sha256"] = ids_digest(old_ids + ids)
        save_manifest(manifest_path, manifest)  # the commit point of the whole add
        for rel in superseded:
            (out / rel).unlink(missing_ok=True)
    return manifest
