"""Bench a recipe through the Qdrant engine that serves it: build its edge index, query it as served, score it.

The index is built by `index.edge.build.build_edge_index` from the bench's own encoder options (so the embedding
cache the bench just filled answers every document) and queried with `index.edge.search.EdgeIndex.search_many`,
the path `embedproof search` and `serve` take: the numbers are the served index's, not a re-implementation's.
Beside the recipe's metrics a run records what the engine trades: recall@10 against exact search over the same
vectors (the embedded pipeline's ranking of the recipe at float32 — what HNSW and the quantiser give up), build
seconds, bytes on disk, and the memory the shard keeps resident while it answers (measured in a fresh process).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from embedproof.datasets.loading import Dataset
from embedproof.errors import EmbedproofError
from embedproof.evaluation.bench_options import BenchOptions, recipe_backend
from embedproof.evaluation.bench_options import encoder_options as bench_encoder_options
from embedproof.evaluation.latency import LatencyPlan
from embedproof.files import disk_bytes, safe_name
from embedproof.search.engine import QUANTIZATIONS, EngineSettings, engine_settings
from embedproof.search.pipeline import Stage
from embedproof.search.recipe import Recipe
from embedproof.types import Run

QUERY_BATCH = 100  # queries per engine request while scoring (the latency plan times single queries and batches)


def exact_twin(recipe: Recipe) -> Recipe:
    """The same recipe searched exactly at float32 by the embedded pipeline: the reference for the engine's recall."""
    return Recipe(**{**recipe.to_dict(), "precision": "float32", "engine": None})


def recall_against(found: Run, exact: Run, k: int = 10, tol: float = 1e-6) -> float | None:
    """Mean share of each query's exact top k that the engine's top k holds, ties counted as found.

    A document the engine returns counts when its exact score reaches the exact k-th score (within `tol`): exact
    search breaks ties by id, the engine by its own order, and either choice among tied documents is right.
    Queries without an exact result are skipped.
    """
    shares = []
    for qid, scores in exact.items():
        ranked = sorted(scores.values(), reverse=True)[:k]
        if not ranked:
            continue
        cut = ranked[-1] - tol
        got = sorted(found.get(qid, {}).items(), key=lambda item: (-item[1], item[0]))[:k]
        hits = sum(1 for doc, _ in got if scores.get(doc, float("-inf")) >= cut)
        shares.append(min(hits, len(ranked)) / len(ranked))
    return sum(shares) / len(shares) if shares else None


def code_bytes(settings: EngineSettings, dim: int) -> float:
    """Bytes of one vector's quantised codes (0 without a quantiser); the float original is kept beside them."""
    if settings.quantization is None:
        return 0.0
    kind, value = QUANTIZATIONS[settings.quantization]
    return float(dim) if kind == "scalar" else dim * float(value) / 8


class EngineBench:
    """Builds, opens and keeps the edge indexes of one bench; `close` releases them (and a temporary folder).

    Indexes stay open until the latency plan has timed them; with `keep` set they stay on disk afterwards, so the
    measured index can be served as it was measured (`embedproof serve KEEP/<dataset>.<recipe>`).
    """

    def __init__(self, keep: str | None = None):
        self.root = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="embedproof-engine-"))
        self.temporary = keep is None
        self.open: list = []
        self.queries = None  # one query Workspace for every index of the bench (same corpus): each model loads once

    def folder(self, dataset: Dataset, recipe: Recipe) -> Path:
        folder = self.root / safe_name(f"{dataset.name}.{recipe.name}")
        if folder.exists():
            if not (folder / "manifest.json").is_file():
                raise EmbedproofError(f"{folder}: exists and is not an index; choose another --engine-dir")
            shutil.rmtree(folder)  # a bench measures a fresh build
        return folder

    def close(self) -> None:
        for index in self.open:
            index.close()
        self.open.clear()
        if self.temporary:
            shutil.rmtree(self.root, ignore_errors=True)

    def measure(
        self,
        dataset: Dataset,
        recipe: Recipe,
        options: BenchOptions,
        exact: Run,
        query_ids: list[str],
        query_texts: list[str],
        progress=None,
    ) -> tuple[dict, list[Stage], object]:
        """(store facts, the engine's stages over every query, the open EdgeIndex) of `recipe` on `dataset`.

        The stages are the index's own timings summed over batches of queries: encoding, the engine's request (the
        run), and a cross-encoder's rerank when the recipe has one.
        """
        from embedproof.index.access import live_queries
        from embedproof.index.edge.build import build_edge_index
        from embedproof.index.edge.resident import measure_resident
        from embedproof.index.edge.search import EdgeIndex

        settings = engine_settings(recipe)
        folder = self.folder(dataset, recipe)
        backend = recipe_backend(options)
        if backend == "auto":  # an index records the backend it resolved to, as `index build` does
            from embedproof.models.factory import resolve_for_models

            backend, _ = resolve_for_models(recipe.first_pass_models(), options.cache_dir)

        def encoder_options(model: str) -> dict:
            return bench_encoder_options(model, options, backend)

        start = time.perf_counter()
        manifest = build_edge_index(
            recipe, dataset.corpus, folder, encoder_options, progress=progress, encoder_backend=backend
        )
        build_s = time.perf_counter() - start
        # what the shard keeps resident while it answers, in a fresh process (the engine locks a shard to one opener)
        index = EdgeIndex(folder, encoder_options, workspace=self.queries)
        self.queries = index.workspace
        live_queries(index)  # as served: a query is encoded by the model, never read from the embedding cache
        plans, vectors = [index.plan(recipe.candidates)] * len(query_texts), index.query_vectors(query_texts)
        index.close()
        resident = measure_resident(str(folder / manifest["store"]["path"]), plans, vectors)
        index = EdgeIndex(folder, encoder_options, workspace=self.queries)
        self.open.append(index)
        run: Run = {}
        seconds: dict[str, float] = {}
        for at in range(0, len(query_texts), QUERY_BATCH):
            ids, texts = query_ids[at : at + QUERY_BATCH], query_texts[at : at + QUERY_BATCH]
            answers = index.search_many(texts, recipe.candidates)
            for name, ms in answers[0]["timings_ms"].items() if answers else ():
                seconds[name] = seconds.get(name, 0.0) + ms / 1000  # one timing per batch, shared by its answers
            for qid, answer in zip(ids, answers):
                run[qid] = {r["id"]: r["score"] for r in answer["results"]}
        searched = seconds.get("total", 0.0) - seconds.get("encode", 0.0)
        name = "edge" + (f" → {recipe.rerank}" if recipe.reranker and recipe.reranker[0] == "cross-encoder" else "")
        stages = [
            Stage("encode:edge-queries", len(query_ids), seconds.get("encode", 0.0), None),
            Stage(name, recipe.candidates, searched, run),
        ]
        shard = folder / manifest["store"]["path"]
        store = {
            "backend": "edge",
            "engine": settings.to_dict(),
            "collection": manifest["store"]["collection"],
            "index": str(folder.resolve()) if not self.temporary else None,
            "build_s": round(build_s, 3),
            "shard": manifest["store"]["shard"],
            "disk_bytes": disk_bytes(shard),
            "disk_allocated_bytes": disk_bytes(shard, allocated=True),
            "resident_mb": resident,
            "recall@10_vs_exact": recall_against(run, exact),
        }
        return store, stages, index


def unindexed_warning(store: dict) -> list[str]:
    """A warning when the engine built no HNSW graph (nor quantised codes): the run measured exact float search.

    The engine indexes a segment only above `indexing_threshold_kb` of vectors, as a Qdrant server does, so a small
    corpus (or a sample of a large one) is searched exactly whatever the recipe's graph and quantiser say.
    """
    dense = [v for v in store["collection"]["vectors"].values() if v["hnsw"] is None and not v["multivector"]]
    engine, shard = store["engine"], store["shard"]
    # the engine counts every sparse vector as indexed (one per point: an empty document gets a placeholder term)
    dense_indexed = shard["indexed_vectors"] - shard["points"] * len(store["collection"]["sparse"])
    if not dense or dense_indexed > 0 or engine["exact"]:
        return []
    return [
        f"the engine searched all {store['shard']['points']:,} points exactly: below its indexing threshold "
        f"({engine['indexing_threshold_kb']:,} KB of vectors) it builds no HNSW graph or quantised codes, as a Qdrant "
        "server does; to measure them on this corpus set the recipe's engine indexing_threshold_kb and "
        "full_scan_threshold_kb lower"
    ]


def engine_stages(index, recipe: Recipe, texts: list[str]):
    """The latency plan's stages of an engine run: the index's own timings of encoding, the engine and a rerank."""

    def stages(_encoded: dict, rows: slice) -> list[tuple[str, float]]:
        answers = index.search_many(texts[rows], recipe.candidates)
        timings = answers[0]["timings_ms"] if answers else {}
        return [(name, ms / 1000) for name, ms in timings.items() if name != "total"]

    return stages


def engine_bytes_per_passage(settings: EngineSettings, dense_dims: list[int], float_bytes: float) -> float:
    """What the engine stores per passage: the float vectors (kept for rescoring) plus each dense vector's codes."""
    return float_bytes + sum(code_bytes(settings, dim) for dim in dense_dims)


def register_engine(plan: LatencyPlan, entry: dict, index, recipe: Recipe, texts: list[str]) -> None:
    """Time the engine run with every other run of the bench (no shared query encoder: the index encodes its own)."""
    plan.add(entry, [], engine_stages(index, recipe, texts))
