"""Open an index built by `build_index`, verify it, and answer queries with the same recipe code bench uses."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from embedproof.errors import InvalidInputError
from embedproof.index.answer import describe_index, search_answer
from embedproof.index.embedded.chunks import load_chunks, load_component
from embedproof.index.manifest import Manifest, encoder_options_for
from embedproof.search.chunking import Chunks
from embedproof.search.pipeline import Workspace
from embedproof.search.recipe import Recipe
from embedproof.types import Embeddings


class LoadedIndex:
    """A verified index: every file's checksum matches the manifest, and the build finished.

    It serves the live rows only: every row's stored data is read and the retired rows (removed documents, old texts
    of replaced ones) are dropped, so it searches as a fresh build of the live documents would (BM25 refitted over
    them), in row order.
    """

    def __init__(self, folder: str | Path, encoder_options=None, verify: bool = True):
        self.folder = Path(folder)
        self.manifest = Manifest.open(self.folder, verify)
        self.recipe = self.manifest.recipe
        rows = self.manifest.rows()
        retired = self.manifest.retired_rows
        self._live = np.array([r for r in range(len(rows)) if r not in retired], dtype=np.int64)
        self._row_texts = [d.full_text for d in rows]
        self.docs = {rows[r].id: rows[r] for r in self._live.tolist()}
        self.ids = list(self.docs)
        self.workspace = Workspace(
            self.ids,
            [self._row_texts[r] for r in self._live.tolist()],
            encoder_options or encoder_options_for(self.manifest.encoder_backend),
        )
        for key, component in self.manifest["components"].items():
            self._load_component(component, self.manifest.get("chunk_spans", {}).get(key))
            # load the model now, so the first query's timings are query time, not start-up
            self.workspace.encoder(component["model"], component["kind"])
        del self._row_texts

    @property
    def generation(self) -> int:
        return self.manifest.generation

    def _live_chunks(self, spans: list[str]) -> tuple[Chunks, np.ndarray | None]:
        """The chunks of the live rows (owners renumbered to live positions), and which stored chunks they are
        (None: all)."""
        chunks = load_chunks(self.folder, spans, self._row_texts)
        if len(self._live) == len(self._row_texts):
            return chunks, None
        position = np.full(len(self._row_texts), -1, dtype=np.int64)
        position[self._live] = np.arange(len(self._live))
        keep = np.flatnonzero(position[chunks.owners] >= 0)
        texts = [chunks.texts[i] for i in keep.tolist()]
        return Chunks(texts, position[chunks.owners[keep]], chunks.spans[keep]), keep

    def _load_component(self, c: dict, spans: list[str] | None = None) -> None:
        """Preload one component's stored vectors (the live rows'); a chunked first pass's go to the workspace of
        its chunks."""
        model, kind = c["model"], c["kind"]
        workspace, ids = self.workspace, self.ids
        keep = None if len(self._live) == len(self._row_texts) else self._live  # stored rows to serve (None: all)
        if spans:
            chunks, keep = self._live_chunks(spans)
            workspace = self.workspace.preload_chunks(model, self.recipe.chunking, chunks)
            ids = workspace.doc_ids
        if "stored" in c:  # BM25: refit on the live texts
            workspace.documents(model, kind)
            return
        files = [self.folder / rel for rel in c["chunks"]]
        if kind == "tokens":
            matrices = []
            for f in files:
                with np.load(f, allow_pickle=False) as data:
                    matrices += np.split(data["tokens"], np.cumsum(data["lengths"])[:-1])
            if keep is not None:
                matrices = [matrices[r] for r in keep.tolist()]
            workspace.preload(model, Embeddings(ids, "document", model, multivector=matrices), "tokens")
        elif c.get("precision"):  # the recipe's dim/precision form (int8 codes, sign bits, float16 or float32 at dim)
            workspace.preload_shrunk(model, self.recipe.dim, c["precision"], load_component(self.folder, c, keep))
        elif c["mode"] == "dense":
            dense = np.vstack([np.load(f, allow_pickle=False) for f in files])
            workspace.preload(model, Embeddings(ids, "document", model, dense=dense if keep is None else dense[keep]))
        else:
            blocks = []
            for f in files:
                with np.load(f, allow_pickle=False) as data:
                    blocks.append(
                        sp.csr_matrix((data["data"], data["indices"], data["indptr"]), shape=tuple(data["shape"]))
                    )
            sparse = sp.vstack(blocks).tocsr()
            sparse = sparse if keep is None else sparse[keep]
            workspace.preload(model, Embeddings(ids, "document", model, sparse=sparse))

    def search(self, query: str, top_k: int = 10, overrides: dict | None = None) -> dict:
        """Ranked documents with the score of every stage, and each stage's time (`overrides`: see
        `override_recipe`)."""
        return self.search_many([query], top_k, overrides)[0]

    def search_many(self, queries: list[str], top_k: int | list[int] = 10, overrides: dict | None = None) -> list[dict]:
        """`search` for several queries in one run of the recipe: one encoder call and one matrix product per stage.

        Each answer is what `search` returns for its query alone; `timings_ms` are the batch's (the stages ran once
        for all of them). `top_k` is one count for all or one per query: it only cuts the recipe's final ranking.
        """
        from embedproof.search.pipeline import best_chunk, run_recipe

        recipe = override_recipe(self.recipe, overrides) if overrides else self.recipe
        if not queries:
            return []
        counts = [top_k] * len(queries) if isinstance(top_k, int) else list(top_k)
        query_ids = [str(i) for i in range(len(queries))]
        start = time.perf_counter()
        stages = run_recipe(recipe, self.workspace, query_ids, list(queries))
        total_ms = 1000 * (time.perf_counter() - start)
        ranking = [s for s in stages if s.run is not None]  # query-encoding stages carry a time, not a run
        timings = {**{s.name: 1000 * s.seconds for s in stages}, "total": total_ms}
        answers = []
        for qid, query, k in zip(query_ids, queries, counts):
            per_stage = {s.name: s.run.get(qid, {}) for s in ranking}
            answers.append(
                search_answer(
                    query,
                    recipe.name,
                    self.docs,
                    ranking[-1].run.get(qid, {}),
                    k,
                    lambda d: {name: run.get(d) for name, run in per_stage.items()},
                    timings,
                    best_chunk=(lambda d, q=qid: best_chunk(self.workspace, recipe, stages, q, d))
                    if recipe.chunking
                    else None,
                )
            )
        return answers

    def info(self) -> dict:
        return describe_index(self.manifest)


OVERRIDES = ("first_pass", "rerank", "rerank_top", "rrf_k")


def override_recipe(recipe: Recipe, overrides: dict) -> Recipe:
    """The index's recipe narrowed for one query: only what the stored data can answer.

    `first_pass`: a subset of the recipe's first-pass models (one alone = that model's run, no fusion); `rerank`:
    false skips the reranker; `rerank_top`: how many fused documents it reorders (≤ candidates); `rrf_k`: the RRF
    constant. Anything that would need data the index does not hold (another model, a reranker it did not store) is
    refused, naming the field, so the page can show dense, sparse, hybrid and reranked runs of one index side by side.
    """
    unknown = sorted(set(overrides) - set(OVERRIDES))
    if unknown:
        raise InvalidInputError(f"overrides.{unknown[0]}: not a recipe override (known: {', '.join(OVERRIDES)})")
    changes: dict = {}
    first = overrides.get("first_pass")
    if first is not None:
        if not first or any(m not in recipe.first_pass for m in first) or len(set(first)) != len(first):
            raise InvalidInputError(
                f"overrides.first_pass: choose distinct models among the index's {recipe.first_pass}"
            )
        order = [m for m in recipe.first_pass if m in first]
        changes["first_pass"] = order
        if recipe.weights is not None:
            changes["weights"] = [w for m, w in zip(recipe.first_pass, recipe.weights) if m in first]
    if overrides.get("rerank") is False:
        changes["rerank"] = None
    elif overrides.get("rerank") is True and recipe.rerank is None:
        raise InvalidInputError("overrides.rerank: this index's recipe has no reranker")
    if overrides.get("rerank_top") is not None:
        top = overrides["rerank_top"]
        if recipe.rerank is None or not 1 <= top <= recipe.candidates:
            raise InvalidInputError(f"overrides.rerank_top: 1 to {recipe.candidates}, for a recipe with a reranker")
        changes["rerank_top"] = top
    if overrides.get("rrf_k") is not None:
        if recipe.fusion != "rrf":
            raise InvalidInputError(f"overrides.rrf_k: this index fuses by {recipe.fusion!r}, not RRF")
        changes["fusion_params"] = {**recipe.fusion_params, "k": overrides["rrf_k"]}
    if not changes:
        return recipe
    label = ", ".join(f"{k}={v}" for k, v in overrides.items() if v is not None)
    return replace(recipe, name=f"{recipe.name} [{label}]", **changes)
