"""Append documents to a finished edge index: only the new ones are encoded, into a copy of the shard.

The live shard is never written: it is copied, the new points go into the copy (BM25 rows of the earlier
documents are rewritten there too, see below), the copy is optimised, and the manifest — replaced atomically —
then names the copy, the commit point of the add. A crash before it leaves the previous index loadable and
unchanged, with a stray copy the next add or build removes; the old shard is deleted only after the commit.
Copying costs disk and seconds (1.9 GB for 1M int8 vectors) and saves re-encoding the corpus.

BM25 is a corpus statistic: the engine counts N and df itself (the IDF modifier), but each document's stored
saturated term frequency depends on the average document length, so every earlier document's BM25 row is rewritten
with the new average and the scores equal those of a fresh build over all the documents (a test checks it).
"""

from __future__ import annotations

import shutil

from embedproof.errors import EmbedproofError
from embedproof.index.manifest import Manifest, check_revision, crash_point, ids_digest
from embedproof.search.pipeline import Workspace
from embedproof.types import Document

SHARD_PREFIX = "shard-"


def remove_stray_shards(manifest: Manifest) -> None:
    """Shard copies a crashed add left (every `shard-*` folder the manifest does not name)."""
    live = manifest["store"]["path"]
    for folder in manifest.folder.glob(f"{SHARD_PREFIX}*"):
        if folder.is_dir() and folder.name != live:
            shutil.rmtree(folder)


def append_edge(manifest: Manifest, corpus: dict[str, Document], encoder_options, progress=None) -> Manifest:
    """Add `corpus` to the edge index of `manifest` (checked by the caller: complete, new ids, not empty)."""
    from embedproof.index.edge.build import chunk_points, chunk_rows, points
    from embedproof.index.edge.engine import EdgeShardHandle
    from embedproof.index.qdrant.bm25 import corpus_statistics, document_vectors
    from embedproof.index.qdrant.query_api import engine_components

    out, store, recipe = manifest.folder, manifest["store"], manifest.recipe
    remove_stray_shards(manifest)
    old = manifest.documents()
    old_ids, old_texts = list(old), [d.full_text for d in old.values()]
    ids, texts = list(corpus), [corpus[d].full_text for d in corpus]
    all_ids = old_ids + ids
    copy = out / f"{SHARD_PREFIX}{len(manifest.docs):05d}"
    shutil.copytree(out / store["path"], copy)
    crash_point("edge-add-copied")
    manifest["docs"] = manifest.docs
    manifest.write_docs(f"docs-{len(manifest.docs):05d}.jsonl", corpus.values())
    workspace = Workspace(ids, texts, encoder_options)
    encoders = engine_components(manifest, recipe, workspace, texts)
    try:
        for key, encoder in encoders.items():
            check_revision(out, manifest["components"][key], encoder)
    except EmbedproofError:
        shutil.rmtree(copy)
        raise
    shard = EdgeShardHandle.load(str(copy))
    try:
        for key, encoder in encoders.items():
            component = manifest["components"][key]
            if "bm25" in component:  # the new average length, in every earlier document's row
                component["bm25"] = corpus_statistics(encoder, old_texts + texts)
                for start in range(0, len(old_ids), manifest["chunk_size"]):
                    end = min(start + manifest["chunk_size"], len(old_ids))
                    bm25_rows = document_vectors(encoder, old_texts[start:end], component["bm25"]["avgdl"])
                    rows = chunk_rows("first", None, bm25_rows, None)
                    shard.update_vectors(component["vector"], list(range(start, end)), rows)
        advance = progress(f"edge shard {out.name}: new documents", len(ids)) if progress else None
        for start in range(0, len(ids), manifest["chunk_size"]):
            end = min(start + manifest["chunk_size"], len(ids))
            rows, _ = chunk_points(manifest, encoders, texts[start:end], ids[start:end])
            shard.upsert(points(rows, all_ids, len(old_ids) + start, len(old_ids) + end))
            if advance:
                advance(end - start)
        crash_point("edge-add-upserted")
        shard.optimize()
        shard.flush()
        stats = shard.stats()
    finally:
        shard.close()
    if stats["points"] != len(all_ids):
        raise EmbedproofError(f"{out}: the new shard holds {stats['points']} points, not {len(all_ids)}; add again")
    previous = store["path"]
    store.update(path=copy.name, shard=stats)
    manifest["documents"] = len(all_ids)
    manifest["ids_sha256"] = ids_digest(all_ids)
    manifest.save()  # the commit point: the manifest names the new shard
    shutil.rmtree(out / previous, ignore_errors=True)
    return manifest
