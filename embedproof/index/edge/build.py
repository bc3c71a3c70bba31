"""The edge store: a recipe's index as one Qdrant Edge shard inside the index folder, built in chunks that resume.

Layout: manifest.json and docs.jsonl as for the embedded store, and `shard/`, the engine's own folder (segments,
WAL, config). One point per document (id = row number, payload {"id": doc id}) with a named vector per recipe
component, as in the Qdrant store: dense first passes (COSINE for unit-vector models or a truncated dimension, else
DOT), SPLADE rows and BM25 (IDF modifier, see `qdrant.bm25`) as sparse vectors, token matrices as a MaxSim
multivector. A chunk is upserted, flushed, and only then recorded in the manifest (replaced atomically); upserting
the same ids again replaces them, so a killed build re-run with the same arguments resumes after its last recorded
chunk. `optimize()` (HNSW graphs, quantised codes) runs before the manifest says `complete`, so a build killed
while optimising refuses to load and the re-run optimises again. The engine rewrites its own config files when it
opens a shard, so the manifest checksums docs.jsonl and checks the shard by its point count, not file by file.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from embedproof.errors import EmbedproofError
from embedproof.index.manifest import Manifest, crash_point, writer_lock
from embedproof.search.pipeline import Workspace
from embedproof.search.recipe import Recipe
from embedproof.types import Document

SHARD = "shard"
# The engine counts a document in BM25's N only if its sparse vector holds a term; bm25s counts every document.
# A document without any term (all stopwords, empty text) gets this one term, which no query asks for.
EMPTY_TERM, EMPTY_WEIGHT = 2**32 - 1, 1e-30


def vector_spec(kind: str, encoder, emb, recipe: Recipe, first_pass_tokens: bool) -> dict:
    """What the shard stores for one component, from its first encoded chunk (dimension, distance, graph)."""
    if kind == "tokens":
        return {
            "kind": "multivector",
            "size": int(emb.multivector[0].shape[1]),
            "distance": "dot",
            "graph": first_pass_tokens,
        }
    if emb.mode == "sparse":
        return {"kind": "sparse", "idf": False}
    # built-in encoders without the flag (hashing, BGE-M3) emit unit vectors; a truncated dimension is re-normalised
    normalised = getattr(encoder, "normalize", True) or recipe.dim is not None
    return {
        "kind": "dense",
        "size": int(recipe.dim or emb.dense.shape[1]),
        "distance": "cosine" if normalised else "dot",
        "datatype": "float16" if recipe.precision == "float16" else "float32",
    }


def chunk_rows(kind: str, emb, bm25_rows, dim: int | None) -> list:
    """One value per document of the chunk: dense row, (indices, values), token matrix, or None (nothing to store)."""
    if bm25_rows is not None:
        return [(i, v) if len(i) else ([EMPTY_TERM], [EMPTY_WEIGHT]) for i, v in bm25_rows]
    if kind == "tokens":
        return [m.astype(np.float32) if len(m) else None for m in emb.multivector]
    if emb.mode == "dense":
        from embedproof.vectors.matryoshka import truncate_matryoshka

        dense = np.asarray(emb.dense, dtype=np.float32)
        return list(truncate_matryoshka(dense, dim) if dim else dense)
    rows = emb.sparse.tocsr()
    return [(rows.indices[a:b], rows.data[a:b]) for a, b in zip(rows.indptr[:-1], rows.indptr[1:])]


def chunk_points(manifest: Manifest, encoders: dict, texts: list[str], ids: list[str]) -> tuple[dict, dict]:
    """({vector name: one value per document}, {vector name: spec}) of a chunk, each component encoded once."""
    from embedproof.index.qdrant.bm25 import document_vectors

    recipe = manifest.recipe
    first_pass_tokens = {m.split(":", 1)[1] for m in recipe.first_pass if m.startswith("maxsim:")}
    rows, specs = {}, {}
    for key, encoder in encoders.items():
        component = manifest["components"][key]
        bm25 = component.get("bm25")
        if bm25:
            rows[component["vector"]] = chunk_rows("first", None, document_vectors(encoder, texts, bm25["avgdl"]), None)
            specs[component["vector"]] = {"kind": "sparse", "idf": True}
            continue
        emb = encoder.encode_documents(texts, ids)
        dense_first = component["kind"] == "first" and emb.mode == "dense"
        rows[component["vector"]] = chunk_rows(component["kind"], emb, None, recipe.dim if dense_first else None)
        specs[component["vector"]] = vector_spec(
            component["kind"], encoder, emb, recipe, component["model"] in first_pass_tokens
        )
    return rows, specs


def points(rows: dict, ids: list[str], start: int, end: int) -> list[tuple[int, dict, dict]]:
    """The chunk's points: id = row number, the vectors it has (an empty token matrix has none), payload its doc id."""
    return [
        (i, {n: r[i - start] for n, r in rows.items() if r[i - start] is not None}, {"id": ids[i]})
        for i in range(start, end)
    ]


def build_edge_index(
    recipe: Recipe,
    corpus: dict[str, Document],
    out: str | Path,
    encoder_options,
    chunk_size: int = 512,
    progress=None,
    encoder_backend: str = "torch",
    store_options: dict | None = None,
) -> Manifest:
    """Build (or resume) the edge shard of `recipe` over `corpus` in `out`; returns the manifest."""
    from embedproof.index.edge.engine import EdgeShardHandle
    from embedproof.index.qdrant.plan import check_recipe, collection_plan
    from embedproof.index.qdrant.query_api import engine_components
    from embedproof.search.engine import engine_settings

    check_recipe(recipe)
    settings = engine_settings(recipe, store_options)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ids = list(corpus)
    with writer_lock(out):
        manifest = Manifest.read(out)
        if manifest is not None and not manifest.matches(recipe, ids, encoder_backend, {"engine": settings.to_dict()}):
            raise EmbedproofError(
                f"{out}: holds an index of another recipe, corpus or engine setting; "
                "choose an empty folder (or delete it to rebuild)"
            )
        if manifest is not None and manifest.complete:
            return manifest
        for stray in out.glob(".*.tmp"):
            stray.unlink(missing_ok=True)
        if manifest is None:
            store = {"backend": "edge", "path": SHARD, "engine": settings.to_dict(), "chunks": [], "vectors": {}}
            manifest = Manifest.new(out, recipe, ids, encoder_backend, chunk_size, store)
            manifest.write_docs("docs.jsonl", corpus.values())
            manifest.save()
        store, chunk_size = manifest["store"], manifest["chunk_size"]
        texts = [corpus[d].full_text for d in ids]
        workspace = Workspace(ids, texts, encoder_options)
        encoders = engine_components(manifest, recipe, workspace, texts)
        manifest.save()

        shard_dir = out / SHARD
        if not store["chunks"] and shard_dir.exists():
            shutil.rmtree(shard_dir)  # created (or half-created) by a build killed before its first chunk was recorded
        shard = EdgeShardHandle.load(str(shard_dir)) if store["chunks"] else None
        try:
            advance = progress(f"edge shard {out.name}", len(ids)) if progress else None
            for number, start in enumerate(range(0, len(ids), chunk_size)):
                name, end = f"{number:05d}", min(start + chunk_size, len(ids))
                if name in store["chunks"]:
                    if advance:
                        advance(end - start)
                    continue
                rows, specs = chunk_points(manifest, encoders, texts[start:end], ids[start:end])
                if shard is None:
                    store["vectors"], store["collection"] = specs, collection_plan(specs, settings)
                    shard = EdgeShardHandle.create(str(shard_dir), store["collection"])
                    crash_point("edge-created")
                shard.upsert(points(rows, ids, start, end))
                shard.flush()
                crash_point("edge-upserted")  # a kill here leaves points the manifest does not record: upserted again
                store["chunks"].append(name)
                for component in manifest["components"].values():
                    component["chunks"].append(name)
                manifest.save()
                if advance:
                    advance(end - start)
            if shard is None:
                raise EmbedproofError(f"{out}: an empty corpus has nothing to index")
            crash_point("edge-optimize")
            shard.optimize()
            shard.flush()
            stats = shard.stats()
        finally:
            if shard is not None:
                shard.close()
        if stats["points"] != len(ids):
            raise EmbedproofError(
                f"{out}: the edge shard holds {stats['points']} points, the corpus {len(ids)}; delete {out} and rebuild"
            )
        store["shard"] = stats
        manifest["complete"] = True
        manifest.save()
    return manifest
