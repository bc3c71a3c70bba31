"""The scale-out store: a recipe's index as one Qdrant collection, built in committed chunks that resume.

One point per document (point id = row number in docs.jsonl, payload `{"id": doc id}`) carrying a named vector
per recipe component: dense vectors (COSINE for models that emit unit vectors, else DOT, so the ranking is
embedproof's dot product), SPLADE rows as plain sparse vectors, BM25 as a sparse vector with `Modifier.IDF`
(see `qdrant.bm25`), and token matrices as a multivector compared with MAX_SIM. The index folder keeps
manifest.json and docs.jsonl as for the embedded store, with `"store": {"backend": "qdrant", ...}`; chunk
numbers are recorded there only after Qdrant acknowledged every point of the chunk (`wait=True`), and upserts
of the same ids are idempotent, so a killed build re-run with the same arguments resumes after the last chunk.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from embedproof.errors import EmbedproofError, InvalidInputError, require
from embedproof.files import safe_name
from embedproof.index.manifest import Manifest, ids_digest
from embedproof.index.qdrant.query_api import engine_components
from embedproof.index.supports import check_supports
from embedproof.search.pipeline import Workspace
from embedproof.search.recipe import Recipe

POINTS_PER_REQUEST = 256  # one HTTP request to a server; token matrices go 16 at a time (≈ 240 × 384 floats each)
TOKENS_PER_REQUEST = 16


def open_client(store: dict):
    """A QdrantClient for a server/cluster URL or a local-mode folder ($QDRANT_API_KEY is sent to a server if set)."""
    qdrant = require("qdrant_client", "qdrant")
    try:
        if store.get("url"):
            return qdrant.QdrantClient(url=store["url"], api_key=os.environ.get("QDRANT_API_KEY") or None, timeout=120)
        return qdrant.QdrantClient(path=store["path"])
    except RuntimeError as exc:  # local mode takes an exclusive lock on its folder
        raise EmbedproofError(
            f"{store.get('path')}: {exc} (local mode allows one client at a time; use a Qdrant server to share it)"
        ) from exc


def _collection_name(out: Path, ids_digest: str, recipe: Recipe) -> str:
    """Deterministic, so a resumed build finds its collection: index folder name + recipe + corpus digest."""
    digest = hashlib.sha256((recipe.name + ids_digest).encode()).hexdigest()[:10]
    return f"embedproof_{safe_name(out.resolve().name)[:40]}_{digest}"


def _store_settings(options: dict, out: Path, ids_digest: str, recipe: Recipe) -> dict:
    url, path = options.get("url"), options.get("path")
    if bool(url) == bool(path):
        raise InvalidInputError(
            "--backend qdrant needs exactly one of --qdrant-url (a server or cluster) or --qdrant-path (local mode)"
        )
    shards, replicas = int(options.get("shards") or 1), int(options.get("replicas") or 1)
    if shards < 1 or replicas < 1:
        raise InvalidInputError(f"--qdrant-shards and --qdrant-replicas must be ≥ 1, got {shards} and {replicas}")
    store = {
        "backend": "qdrant",
        "collection": options.get("collection") or _collection_name(out, ids_digest, recipe),
        "shards": shards,
        "replicas": replicas,
    }
    store["url" if url else "path"] = url or str(Path(path).expanduser().resolve())
    return store


def _vector_params(qm, kind: str, encoder, emb, first_pass_tokens: bool):
    """Qdrant vector settings for one component, from the first encoded chunk (its dimension)."""
    if kind == "tokens":
        # token vectors only rescore a shortlist unless MaxSim is itself a first pass: no HNSW graph for them then
        return qm.VectorParams(
            size=int(emb.multivector[0].shape[1]),
            distance=qm.Distance.DOT,
            multivector_config=qm.MultiVectorConfig(comparator=qm.MultiVectorComparator.MAX_SIM),
            hnsw_config=None if first_pass_tokens else qm.HnswConfigDiff(m=0),
        )
    normalised = getattr(
        encoder, "normalize", True
    )  # built-in encoders without the flag (hashing, BGE-M3) emit unit vectors
    return qm.VectorParams(size=int(emb.dense.shape[1]), distance=qm.Distance.COSINE if normalised else qm.Distance.DOT)


def _chunk_vectors(qm, kind: str, emb, bm25_rows) -> list:
    """One Qdrant vector per document of the chunk (None: the document has no token to store)."""
    if bm25_rows is not None:
        return [qm.SparseVector(indices=i, values=v) for i, v in bm25_rows]
    if kind == "tokens":
        return [m.astype("float32") if len(m) else None for m in emb.multivector]
    if emb.mode == "dense":
        return list(emb.dense.astype("float32"))
    rows = emb.sparse.tocsr()
    return [
        qm.SparseVector(indices=rows.indices[a:b].tolist(), values=rows.data[a:b].astype(float).tolist())
        for a, b in zip(rows.indptr[:-1], rows.indptr[1:])
    ]


def chunk_vectors(qm, manifest: Manifest, encoders: dict, texts: list[str], ids: list[str]) -> tuple[dict, dict, dict]:
    """Encode documents for the collection: ({vector name: one value per document, None where there is none},
    {dense or token vector name: (kind, encoder, embeddings, model)} to size a new collection by,
    {sparse vector name: its SparseVectorParams})."""
    from embedproof.index.qdrant.bm25 import document_vectors

    vectors, params, sparse = {}, {}, {}
    for key, encoder in encoders.items():
        component = manifest["components"][key]
        bm25 = component.get("bm25")
        emb = None if bm25 else encoder.encode_documents(texts, ids)
        vectors[component["vector"]] = _chunk_vectors(
            qm, component["kind"], emb, document_vectors(encoder, texts, bm25["avgdl"]) if bm25 else None
        )
        if bm25 or (component["kind"] == "first" and emb.mode == "sparse"):
            sparse[component["vector"]] = qm.SparseVectorParams(modifier=qm.Modifier.IDF if bm25 else None)
        else:
            params[component["vector"]] = (component["kind"], encoder, emb, component["model"])
    return vectors, params, sparse


def upsert_points(client, manifest: Manifest, points: list) -> None:
    """Upsert PointStructs in requests of a size a server takes, each acknowledged (`wait=True`) before the next."""
    tokens = any(c["kind"] == "tokens" for c in manifest["components"].values())
    step = TOKENS_PER_REQUEST if tokens else POINTS_PER_REQUEST
    for s in range(0, len(points), step):
        client.upsert(manifest["store"]["collection"], points[s : s + step], wait=True)


class QdrantBuild:
    """The Qdrant store's part of the resumable build: points upserted into a collection, counted at the commit."""

    def __init__(self, recipe: Recipe, ids: list[str], out: Path, store_options: dict | None = None) -> None:
        check_supports(recipe, "qdrant")
        self.qm = require("qdrant_client.models", "qdrant")
        self.store = _store_settings(store_options or {}, out, ids_digest(ids), recipe)
        self.named_collection = bool((store_options or {}).get("collection"))
        self.client = None
        self.label = f"qdrant {self.store['collection']}"

    def identity(self) -> dict:
        same_store = {k: self.store.get(k) for k in ("backend", "url", "path", "shards", "replicas")}
        if self.named_collection:
            same_store["collection"] = self.store["collection"]
        return same_store

    def new_store(self) -> dict:
        return self.store | {"chunks": [], "vectors": {}}

    def clean(self, out: Path, manifest: Manifest | None) -> None:
        return None  # the collection's points are upserted again; nothing is left in the folder

    def open(self, manifest: Manifest, workspace: Workspace, fresh: bool) -> None:
        store = manifest["store"]
        self.label = f"qdrant {store['collection']}"
        self.texts, self.ids = workspace.doc_texts, workspace.doc_ids
        recipe = manifest.recipe
        self.first_pass_tokens = {
            c.model for c in recipe.components() if c.stage == "first_pass" and c.kind == "tokens"
        }
        self.encoders = engine_components(manifest, recipe, workspace, self.texts)
        manifest.save()
        self.client = open_client(store)
        self.exists = self.client.collection_exists(store["collection"])
        if self.exists and fresh:
            raise EmbedproofError(
                f"Qdrant collection {store['collection']!r} already exists at "
                f"{store.get('url') or store.get('path')}; delete it, or give another --out folder name"
            )
        if not self.exists and store["chunks"]:
            raise EmbedproofError(
                f"Qdrant collection {store['collection']!r} is gone but {manifest.path} records committed chunks; "
                f"delete {manifest.folder} and rebuild"
            )

    def write_chunk(self, manifest: Manifest, start: int, end: int) -> None:
        qm, store = self.qm, manifest["store"]
        vectors, params, sparse = chunk_vectors(qm, manifest, self.encoders, self.texts[start:end], self.ids[start:end])
        if not self.exists:
            params = {
                name: _vector_params(qm, kind, encoder, emb, model in self.first_pass_tokens)
                for name, (kind, encoder, emb, model) in params.items()
            }
            self.client.create_collection(
                store["collection"],
                vectors_config=params,
                sparse_vectors_config=sparse,
                shard_number=store["shards"],
                replication_factor=store["replicas"],
            )
            store["vectors"] = {
                **{n: "multivector" if p.multivector_config else "dense" for n, p in params.items()},
                **{n: "sparse" for n in sparse},
            }
            self.exists = True
        points = [
            qm.PointStruct(
                id=start + i,
                payload={"id": self.ids[start + i]},
                vector={n: rows[i] for n, rows in vectors.items() if rows[i] is not None},
            )
            for i in range(end - start)
        ]
        upsert_points(self.client, manifest, points)

    def commit(self, manifest: Manifest) -> list[str]:
        """Check the collection holds every document."""
        collection = manifest["store"]["collection"]
        count = self.client.count(collection, exact=True).count
        if count != len(self.ids):
            raise EmbedproofError(
                f"Qdrant collection {collection!r} holds {count} points, the corpus {len(self.ids)}; "
                f"delete {manifest.folder} and the collection, and rebuild"
            )
        return []

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
