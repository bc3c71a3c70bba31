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
from embedproof.index.build import resumable_build
from embedproof.index.manifest import Manifest, crash_point
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
    first_pass_tokens = {c.model for c in recipe.components() if c.stage == "first_pass" and c.kind == "tokens"}
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


class EdgeBuild:
    """The edge store's part of the resumable build: points upserted into the shard, optimised at the commit."""

    def __init__(self, recipe: Recipe, store_options: dict | None = None) -> None:
        from embedproof.index.supports import check_supports
        from embedproof.search.engine import engine_settings

        check_supports(recipe, "edge")
        self.settings = engine_settings(recipe, store_options)
        self.shard = None
        self.label = "edge shard"

    def identity(self) -> dict:
        return {"engine": self.settings.to_dict()}

    def new_store(self) -> dict:
        return {"backend": "edge", "path": SHARD, "engine": self.settings.to_dict(), "chunks": [], "vectors": {}}

    def clean(self, out: Path, manifest: Manifest | None) -> None:
        for stray in out.glob(".*.tmp"):
            stray.unlink(missing_ok=True)

    def open(self, manifest: Manifest, workspace: Workspace, fresh: bool) -> None:
        from embedproof.index.edge.engine import EdgeShardHandle
        from embedproof.index.qdrant.query_api import engine_components

        self.label = f"edge shard {manifest.folder.name}"
        self.texts, self.ids = workspace.doc_texts, workspace.doc_ids
        self.encoders = engine_components(manifest, manifest.recipe, workspace, self.texts)
        manifest.save()
        self.shard_dir = manifest.folder / SHARD
        if not manifest["store"]["chunks"] and self.shard_dir.exists():
            shutil.rmtree(self.shard_dir)  # created (or half-created) by a build killed before its first chunk
        self.shard = EdgeShardHandle.load(str(self.shard_dir)) if manifest["store"]["chunks"] else None

    def write_chunk(self, manifest: Manifest, start: int, end: int) -> None:
        from embedproof.index.edge.engine import EdgeShardHandle
        from embedproof.index.qdrant.plan import collection_plan

        store = manifest["store"]
        rows, specs = chunk_points(manifest, self.encoders, self.texts[start:end], self.ids[start:end])
        if self.shard is None:
            store["vectors"], store["collection"] = specs, collection_plan(specs, self.settings)
            self.shard = EdgeShardHandle.create(str(self.shard_dir), store["collection"])
            crash_point("edge-created")
        self.shard.upsert(points(rows, self.ids, start, end))
        self.shard.flush()
        crash_point("edge-upserted")  # a kill here leaves points the manifest does not record: upserted again

    def commit(self, manifest: Manifest) -> list[str]:
        """Optimise (HNSW graphs, quantised codes) and check the shard holds every document."""
        if self.shard is None:
            raise EmbedproofError(f"{manifest.folder}: an empty corpus has nothing to index")
        crash_point("edge-optimize")
        self.shard.optimize()
        self.shard.flush()
        stats = self.shard.stats()
        if stats["points"] != len(self.ids):
            raise EmbedproofError(
                f"{manifest.folder}: the edge shard holds {stats['points']} points, the corpus {len(self.ids)}; "
                f"delete {manifest.folder} and rebuild"
            )
        manifest["store"]["shard"] = stats
        return []

    def close(self) -> None:
        if self.shard is not None:
            self.shard.close()
            self.shard = None


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
    store = EdgeBuild(recipe, store_options)
    return resumable_build(store, recipe, corpus, out, encoder_options, chunk_size, progress, encoder_backend)
