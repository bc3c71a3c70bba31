"""Answer queries from a Qdrant-backed index: the recipe's three tiers as one Query API request.

first pass(es) → `prefetch` (limit = recipe.candidates each), fusion → `RrfQuery(rrf=Rrf(k=k + rank_base))`,
MaxSim rerank → the outer query over the token multivector with the fused top `rerank_top` as its prefetch. Queries
are encoded by the same encoders as the embedded path; a cross-encoder rerank runs here on the returned shortlist
(Qdrant cannot run one). The answer has the shape of `LoadedIndex.search`; Qdrant returns only the last stage's
score, so the per-stage scores are "qdrant" (that score) and, for a cross-encoder, the rerank score. Ranks equal
the embedded ones; a MaxSim-reranked score is the raw MaxSim here, where the embedded pipeline adds a per-query
constant that lifts the reranked head above the rest of its candidate list (Qdrant does not return that list).
"""

from __future__ import annotations

import time
import weakref
from pathlib import Path

from embedproof.errors import EmbedproofError, InvalidInputError, require
from embedproof.index.answer import describe_index, search_answer
from embedproof.index.qdrant.bm25 import query_vector
from embedproof.index.qdrant.build import open_client
from embedproof.index.qdrant.query_api import rrf_constant


def _recovered(folder: Path, client):
    """Finish a change a killed writer left in `folder`, if any and if no writer holds the folder now; returns the
    client it opened to do so (or the one given), for the index to reuse: local mode has one client at a time."""
    from contextlib import ExitStack

    from embedproof.index.journal import JOURNAL
    from embedproof.index.manifest import Manifest, writer_lock
    from embedproof.index.qdrant.change import recover

    if not (folder / JOURNAL).exists():
        return client
    with ExitStack() as stack:
        try:
            stack.enter_context(writer_lock(folder))
        except EmbedproofError:  # a live writer holds the folder: it finishes the change itself
            return client
        manifest = Manifest.read(folder)
        if manifest is None or not manifest.complete:
            return client
        client = client or open_client(manifest["store"])
        try:
            recover(manifest, _Held(client))
        except BaseException:
            client.close()
            raise
    return client


class _Held:
    """What `recover` reads of an open index: its client, and a workspace for the BM25 tokenisers."""

    def __init__(self, client) -> None:
        from embedproof.search.pipeline import Workspace

        self.client = client
        self.workspace = Workspace([], [])


class QdrantIndex:
    """An index whose vectors live in a Qdrant collection; docs.jsonl and the manifest stay in the folder.

    Point ids are rows (`Manifest.row_ids`): a retired row's point is deleted by the change that retires it, and an
    answer never names one. Opening recovers a change a killed writer left (`qdrant.change.recover`) when no writer
    holds the folder. `refreshed()` makes the object of the folder's current generation on this object's client
    (local mode allows one) and hands it the client: the newest object owns it and closes it; closing an older one
    releases nothing.
    """

    def __init__(self, folder: str | Path, encoder_options=None, verify: bool = True, workspace=None, client=None):
        """`workspace` lends loaded encoders over this index's live documents, `client` an open client of its
        store to use (and own) instead of opening one (both for `refreshed`)."""
        from embedproof.index.manifest import Manifest, encoder_options_for
        from embedproof.search.pipeline import Workspace

        self.folder = Path(folder)
        self.qm = require("qdrant_client.models", "qdrant")
        client = _recovered(self.folder, client)
        try:
            self.manifest = Manifest.open(self.folder, verify)
        except BaseException:
            if client is not None:
                client.close()
            raise
        manifest_path = self.folder / "manifest.json"
        self.store = self.manifest["store"]
        self.recipe = self.manifest.recipe
        self.docs = self.manifest.documents()  # live documents, in row order
        self.ids = list(self.docs)
        self.row_ids = self.manifest.row_ids()  # point id → document id (None: a retired row)
        self.workspace = workspace or Workspace(
            self.ids,
            [d.full_text for d in self.docs.values()],
            encoder_options or encoder_options_for(self.manifest.get("encoder_backend", "torch")),
        )
        self.client = client or open_client(self.store)
        # closed at interpreter exit while modules still exist (the client's own __del__ runs too late for local mode)
        self._closer = weakref.finalize(self, self.client.close)
        try:
            count = self.client.count(self.store["collection"], exact=True).count
        except Exception as exc:  # a missing collection is a ValueError locally, an HTTP error from a server
            self.client.close()
            raise EmbedproofError(
                f"{manifest_path}: Qdrant collection {self.store['collection']!r} cannot be read at "
                f"{self.store.get('url') or self.store.get('path')} ({exc})"
            ) from exc
        if count != len(self.docs):
            self.client.close()
            raise EmbedproofError(
                f"{manifest_path}: Qdrant collection {self.store['collection']!r} holds {count} points, "
                f"the index {len(self.docs)} live documents"
            )
        for c in self.manifest["components"].values():
            self.workspace.encoder(c["model"], c["kind"])  # load models now: the first query's time is query time
        if len(self.recipe.first_pass) > 1:
            self.rrf = self.qm.RrfQuery(rrf=self.qm.Rrf(k=rrf_constant(self.recipe), weights=self.recipe.weights))

    def refreshed(self) -> QdrantIndex:
        """The index of the folder's current manifest on this object's client and loaded encoders (after a change
        applied through this object, `apply_change(..., held=self)`); the new object owns the client."""
        from embedproof.index.manifest import Manifest

        docs = Manifest.open(self.folder, verify=False).documents()
        workspace = self.workspace.sharing_encoders(list(docs), [d.full_text for d in docs.values()])
        fresh = QdrantIndex(self.folder, verify=False, workspace=workspace, client=self.client)
        self._closer.detach()
        return fresh

    def close(self) -> None:
        """Release the client (in local mode, the folder's lock) if this object owns it; see the class docstring."""
        self._closer()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _vector(self, key: str, text: str):
        """(vector name, query vector) of one component, encoded the way the embedded path encodes queries."""
        c = self.manifest["components"][key]
        encoder = self.workspace.encoder(c["model"], c["kind"])
        if "bm25" in c:
            indices, values = query_vector(encoder, text)
            return c["vector"], self.qm.SparseVector(indices=indices, values=values)
        emb = encoder.encode_queries([text], ["q"])
        if c["kind"] == "tokens":
            return c["vector"], emb.multivector[0].astype("float32")
        if emb.mode == "dense":
            return c["vector"], emb.dense[0].astype("float32")
        row = emb.sparse.tocsr()
        return c["vector"], self.qm.SparseVector(indices=row.indices.tolist(), values=row.data.astype(float).tolist())

    def _first_tier(self, vectors: dict[str, tuple]) -> dict:
        """query_points arguments for the first pass, fused by RRF when there are several."""
        keys = [c.key for c in self.recipe.components() if c.stage == "first_pass"]
        if len(keys) == 1:
            name, vector = vectors[keys[0]]
            return {"query": vector, "using": name}
        prefetch = [
            self.qm.Prefetch(query=vectors[k][1], using=vectors[k][0], limit=self.recipe.candidates) for k in keys
        ]
        return {"prefetch": prefetch, "query": self.rrf}

    def _query(self, limit: int, **request) -> dict[str, float]:
        points = self.client.query_points(self.store["collection"], limit=limit, with_payload=False, **request).points
        rows = self.row_ids  # a point this generation does not know (a later row, or one it retired) is left out
        return {rows[p.id]: float(p.score) for p in points if p.id < len(rows) and rows[p.id] is not None}

    def search(self, query: str, top_k: int = 10, overrides: dict | None = None) -> dict:
        """Ranked documents, the Qdrant score (and a cross-encoder's), and the time spent encoding and in Qdrant."""
        if overrides:
            raise InvalidInputError(
                "overrides: a Qdrant-backed index answers with its whole recipe only (one Query API request)"
            )
        from embedproof.search.pipeline import place_on_top, rerank_shortlist

        start = time.perf_counter()
        vectors = {key: self._vector(key, query) for key in self.manifest["components"]}
        encoded = time.perf_counter()
        first = self._first_tier(vectors)
        kind, model = self.recipe.reranker or (None, None)
        rerank_scores = None
        if kind == "maxsim":
            name, tokens = vectors[f"tokens:{model}"]
            head = self._query(
                min(top_k, self.recipe.rerank_top),
                prefetch=self.qm.Prefetch(**first, limit=self.recipe.rerank_top),
                query=tokens,
                using=name,
            )
            fetched = final = head
            if (
                top_k > self.recipe.rerank_top
            ):  # the rest comes from the fused list, below the reranked head (as embedded)
                rest = self._query(min(top_k, self.recipe.candidates), **first)
                fetched, final = {**rest, **head}, place_on_top({"q": head}, {"q": rest})["q"]
            searched = time.perf_counter()
        else:
            # one document past the shortlist: the embedded pipeline lifts reranked scores above the best of the rest
            fetched = final = self._query(
                min(max(top_k, self.recipe.rerank_top + 1 if kind else 0), self.recipe.candidates), **first
            )
            searched = time.perf_counter()
            if kind == "cross-encoder":
                reranked, _ = rerank_shortlist(self.workspace, self.recipe, {"q": fetched}, {}, ["q"], [query])
                final = rerank_scores = reranked["q"]
        total_ms = 1000 * (time.perf_counter() - start)
        timings = {"encode": 1000 * (encoded - start), "qdrant": 1000 * (searched - encoded)}
        if rerank_scores is not None:
            timings[f"rerank:{self.recipe.rerank}"] = total_ms - timings["encode"] - timings["qdrant"]
        store = {"backend": "qdrant", "collection": self.store["collection"]}
        return search_answer(
            query,
            self.recipe.name,
            self.docs,
            final,
            top_k,
            lambda d: {
                "encode": None,
                "qdrant": fetched.get(d),
                **({f"rerank:{self.recipe.rerank}": final[d]} if rerank_scores is not None else {}),
            },
            {**timings, "total": total_ms},
            store,
        )

    def search_many(self, queries: list[str], top_k: int | list[int] = 10, overrides: dict | None = None) -> list[dict]:
        """One Query API request per query (the server's Query API takes no batch of recipes), answers in order."""
        top_ks = top_k if isinstance(top_k, list) else [top_k] * len(queries)
        return [self.search(query, k, overrides) for query, k in zip(queries, top_ks)]

    def info(self) -> dict:
        store = {k: v for k, v in self.store.items() if k != "chunks"} | {"chunks": len(self.store["chunks"])}
        return describe_index(self.manifest, store, Path(self.store["path"]) if self.store.get("path") else None)
