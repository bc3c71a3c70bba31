"""Answer queries from an edge index: the recipe's tiers as one request to the in-process Qdrant engine.

The request comes from `qdrant.plan.query_plan` (the same plan `qdrant.server_collection` sends to a Qdrant
server). Queries are encoded by the embedded path's encoders; a cross-encoder reranks the engine's shortlist
here. Scores and ranks follow the Qdrant store's conventions: the last stage's score per document ("edge"), and
for MaxSim reranking the raw MaxSim with the rest of the fused list below it when more than `rerank_top`
results are asked for.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from embedproof.errors import EmbedproofError, InvalidInputError
from embedproof.index.answer import describe_index, search_answer
from embedproof.index.qdrant.bm25 import query_vector
from embedproof.search.recipe import Recipe


def _recovered(folder: Path, shard):
    """Finish a change a killed writer left in `folder`, if any and if no writer holds the folder now; returns the
    shard handle it opened to do so (or the one given), for the index to reuse: the shard has one opener."""
    from contextlib import ExitStack

    from embedproof.index.edge.change import recover
    from embedproof.index.journal import JOURNAL
    from embedproof.index.manifest import Manifest, writer_lock

    if not (folder / JOURNAL).exists():
        return shard
    with ExitStack() as stack:
        try:
            stack.enter_context(writer_lock(folder))
        except EmbedproofError:  # a live writer holds the folder: it finishes the change itself
            return shard
        manifest = Manifest.read(folder)
        if manifest is None or not manifest.complete:
            return shard
        if shard is None:
            from embedproof.index.edge.engine import EdgeShardHandle

            shard = EdgeShardHandle.load(str(folder / manifest["store"]["path"]))
        try:
            recover(manifest, _Held(shard))
        except BaseException:
            shard.close()
            raise
    return shard


class _Held:
    """What `recover` reads of an open index: its shard, and a workspace for the BM25 tokenisers."""

    def __init__(self, shard) -> None:
        from embedproof.search.pipeline import Workspace

        self.shard = shard
        self.workspace = Workspace([], [])


class EdgeIndex:
    """An index whose vectors live in an Edge shard in the index folder (docs.jsonl and the manifest beside it).

    Point ids are rows (`Manifest.row_ids`): a retired row's point is deleted by the change that retires it, and
    an answer never names one. Opening recovers a change a killed writer left (`edge.change.recover`) when no
    writer holds the folder. The shard allows one opener: `refreshed()` makes the object of the folder's current
    generation on this object's open shard, and hands it the shard — the newest object owns it and closes it;
    closing an older one releases nothing (requests still running on it finish on the shared shard).
    """

    def __init__(
        self,
        folder: str | Path,
        encoder_options=None,
        verify: bool = True,
        workspace=None,
        shard=None,
    ):
        """`workspace` lends the query encoders of another index over the same documents (bench opens one index
        per engine recipe and loads each model once); by default the index loads its own. `shard` is an open
        handle of this folder's shard to use (and own) instead of opening it (`refreshed`)."""
        from embedproof.index.manifest import Manifest, encoder_options_for
        from embedproof.search.engine import EngineSettings
        from embedproof.search.pipeline import Workspace

        self.folder = Path(folder)
        shard = _recovered(self.folder, shard)
        try:
            self.manifest = Manifest.open(self.folder, verify)
        except BaseException:
            if shard is not None:
                shard.close()
            raise
        self.store = self.manifest["store"]
        self.recipe = Recipe(**self.manifest["recipe"])
        self.settings = EngineSettings(**self.store["engine"])
        self.docs = self.manifest.documents()  # live documents, in row order
        self.ids = list(self.docs)
        self.row_ids = self.manifest.row_ids()  # point id → document id (None: a retired row)
        if workspace is not None and list(workspace.doc_ids) != self.ids:
            if shard is not None:
                shard.close()
            raise EmbedproofError(f"{self.folder}: the lent workspace holds other documents than this index")
        self.workspace = workspace or Workspace(
            self.ids,
            [d.full_text for d in self.docs.values()],
            encoder_options or encoder_options_for(self.manifest.get("encoder_backend", "torch")),
        )
        self.components = {key: {**c, "key": key} for key, c in self.manifest["components"].items()}
        for c in self.manifest["components"].values():
            self.workspace.encoder(c["model"], c["kind"])  # load models now: the first query's time is query time
        if shard is None:
            from embedproof.index.edge.engine import EdgeShardHandle

            shard = EdgeShardHandle.load(str(self.folder / self.store["path"]))
        self.shard = shard
        self.owns_shard = True
        count = self.shard.count()
        if count != len(self.docs):
            self.shard.close()
            raise EmbedproofError(
                f"{self.folder}: the edge shard holds {count} points, the index {len(self.docs)} live documents; "
                "rebuild the index"
            )
        self.quantized = {name for name, v in self.store["collection"]["vectors"].items() if v["quantization"]}

    def refreshed(self) -> EdgeIndex:
        """The index of the folder's current manifest on this object's open shard and loaded encoders (after a
        change applied through this object, `apply_change(..., held=self)`); the new object owns the shard."""
        from embedproof.index.manifest import Manifest

        manifest = Manifest.open(self.folder, verify=False)
        docs = manifest.documents()
        workspace = self.workspace.sharing_encoders(list(docs), [d.full_text for d in docs.values()])
        fresh = EdgeIndex(self.folder, verify=False, workspace=workspace, shard=self.shard)
        self.owns_shard = False
        return fresh

    def close(self) -> None:
        """Release the shard if this object owns it (its files stay as they are); see the class docstring."""
        if self.owns_shard:
            self.owns_shard = False
            self.shard.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def plan(self, limit: int) -> dict:
        """The request plan for `limit` results (what `server_collection.server_query` sends to a server)."""
        from embedproof.index.qdrant.plan import query_plan

        return query_plan(self.recipe, self.components, self.settings, limit, self.quantized)

    def first_plan(self, limit: int) -> dict:
        from embedproof.index.qdrant.plan import first_tier

        return first_tier(self.recipe, self.components, self.settings, limit, self.quantized)

    def query_vectors(self, texts: list[str]) -> list[dict]:
        """Each query's vector per component key, encoded the way the embedded path encodes queries (one call each)."""
        out: list[dict] = [{} for _ in texts]
        qids = [str(i) for i in range(len(texts))]
        for key, c in self.components.items():
            encoder = self.workspace.encoder(c["model"], c["kind"])
            if "bm25" in c:
                for i, text in enumerate(texts):
                    out[i][key] = tuple(query_vector(encoder, text))
                continue
            emb = encoder.encode_queries(list(texts), qids)
            if c["kind"] == "tokens":
                values = [m.astype(np.float32) for m in emb.multivector]
            elif emb.mode == "dense":
                dense = np.asarray(emb.dense, dtype=np.float32)
                if self.recipe.dim and c["kind"] == "first":
                    from embedproof.vectors.matryoshka import truncate_matryoshka

                    dense = truncate_matryoshka(dense, self.recipe.dim)
                values = list(dense)
            else:
                rows = emb.sparse.tocsr()
                values = [(rows.indices[a:b], rows.data[a:b]) for a, b in zip(rows.indptr[:-1], rows.indptr[1:])]
            for i, value in enumerate(values):
                out[i][key] = value
        return out

    def _named(self, answers: list[list[tuple[int, float]]]) -> list[dict[str, float]]:
        """Point ids as document ids; a point this generation does not know (a later change's row, on a shard that
        changed while this object served) or has retired is left out."""
        rows = self.row_ids
        return [
            {rows[pid]: score for pid, score in answer if pid < len(rows) and rows[pid] is not None}
            for answer in answers
        ]

    def search(self, query: str, top_k: int = 10, overrides: dict | None = None) -> dict:
        """Ranked documents, the engine's score (and a cross-encoder's), and the time spent encoding and searching."""
        return self.search_many([query], top_k, overrides)[0]

    def search_many(self, queries: list[str], top_k: int | list[int] = 10, overrides: dict | None = None) -> list[dict]:
        """`search` for several queries: one encoder call per component and one batch request to the engine."""
        if overrides:
            raise InvalidInputError(
                "overrides: an edge index answers with its whole recipe only (one Query API request)"
            )
        from embedproof.search.pipeline import place_on_top, rerank_shortlist

        if not queries:
            return []
        counts = [top_k] * len(queries) if isinstance(top_k, int) else list(top_k)
        start = time.perf_counter()
        vectors = self.query_vectors(list(queries))
        encoded = time.perf_counter()
        kind, _ = self.recipe.reranker or (None, None)
        if kind == "maxsim":
            fetched = final = self._named(self.shard.query_batch([self.plan(k) for k in counts], vectors))
            longer = [i for i, k in enumerate(counts) if k > self.recipe.rerank_top]
            if longer:  # the rest comes from the fused list, below the reranked head (as the embedded pipeline does)
                rest = self._named(
                    self.shard.query_batch(
                        [self.first_plan(min(counts[i], self.recipe.candidates)) for i in longer],
                        [vectors[i] for i in longer],
                    )
                )
                fetched, final = list(fetched), list(final)
                for i, r in zip(longer, rest):
                    fetched[i], final[i] = {**r, **final[i]}, place_on_top({"q": final[i]}, {"q": r})["q"]
        else:
            # one document past the shortlist: the embedded pipeline lifts reranked scores above the best of the rest
            limits = [min(max(k, self.recipe.rerank_top + 1 if kind else 0), self.recipe.candidates) for k in counts]
            fetched = final = self._named(self.shard.query_batch([self.first_plan(n) for n in limits], vectors))
        searched = time.perf_counter()
        timings = {"encode": 1000 * (encoded - start), "edge": 1000 * (searched - encoded)}
        if kind == "cross-encoder":
            qids = [str(i) for i in range(len(queries))]
            reranked, _ = rerank_shortlist(
                self.workspace, self.recipe, dict(zip(qids, fetched)), {}, qids, list(queries)
            )
            final = [reranked[q] for q in qids]
            timings[f"rerank:{self.recipe.rerank}"] = 1000 * (time.perf_counter() - searched)
        timings["total"] = 1000 * (time.perf_counter() - start)
        store = {"backend": "edge", "engine": self.settings.to_dict()}
        reranked = kind == "cross-encoder"
        return [
            search_answer(
                query,
                self.recipe.name,
                self.docs,
                scores,
                k,
                lambda d, got=got, scores=scores: {
                    "encode": None,
                    "edge": got.get(d),
                    **({f"rerank:{self.recipe.rerank}": scores[d]} if reranked else {}),
                },
                timings,
                store,
            )
            for query, k, got, scores in zip(queries, counts, fetched, final)
        ]

    def info(self) -> dict:
        store = {k: v for k, v in self.store.items() if k != "chunks"} | {
            "chunks": len(self.store["chunks"]),
            "live": self.shard.stats(),
        }
        return describe_index(self.manifest, store, self.folder / self.store["path"])
