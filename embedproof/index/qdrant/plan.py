"""A recipe as one Qdrant shard: the collection and the Query API request as plain data, for Edge and server alike.

Both `edge.engine` (the in-process engine) and `qdrant.server_collection` (qdrant-client models for a Qdrant
server or cluster) translate these dicts mechanically, so the configuration bench measures on Edge is the one a
cluster serves.

Collection plan: {"vectors": {name: {"size", "distance", "multivector", "hnsw", "quantization", "datatype"}},
"sparse": {name: {"idf"}}, "hnsw": {...}, "optimizers": {...}}. Query plan: a tree of {"limit", "using",
"vector" (the component key whose query vector goes there), "params"} leaves, {"fusion": {"rrf": k, "weights"},
"prefetch": [...]} for several first passes, and an outer MaxSim query over a prefetch for the reranker.
"""

from __future__ import annotations

from embedproof.index.qdrant.query_api import rrf_constant
from embedproof.search.engine import QUANTIZATIONS, EngineSettings
from embedproof.search.recipe import Recipe


def collection_plan(specs: dict[str, dict], settings: EngineSettings) -> dict:
    """The shard's vectors from the build's specs ({name: {"kind", "size", "distance", "graph"}}) and settings.

    The quantiser applies to the dense first-pass vectors only; token multivectors that only rerank a shortlist
    get no HNSW graph (m 0), as in the Qdrant store.
    """
    hnsw = {
        "m": settings.m,
        "ef_construct": settings.ef_construct,
        "full_scan_threshold_kb": settings.full_scan_threshold_kb,
        "max_indexing_threads": settings.indexing_threads,
    }
    plan: dict = {
        "vectors": {},
        "sparse": {},
        "hnsw": hnsw,
        "optimizers": {"indexing_threshold_kb": settings.indexing_threshold_kb},
    }
    for name, spec in specs.items():
        if spec["kind"] == "sparse":
            plan["sparse"][name] = {"idf": bool(spec.get("idf"))}
            continue
        multivector = spec["kind"] == "multivector"
        quantization = None
        if settings.quantization and not multivector:
            kind, value = QUANTIZATIONS[settings.quantization]
            quantization = {"kind": kind, "bits": value} if kind != "scalar" else {"kind": "scalar", "type": value}
        plan["vectors"][name] = {
            "size": spec["size"],
            "distance": spec["distance"],
            "multivector": multivector,
            "hnsw": None if spec.get("graph", True) else {**hnsw, "m": 0},
            "quantization": quantization,
            "datatype": spec.get("datatype", "float32"),
            # originals on disk, read only to rescore: the quantised codes alone stay in memory
            "on_disk": settings.vectors_on_disk and not multivector,
        }
    return plan


def search_params(settings: EngineSettings, quantized: bool) -> dict:
    """Query-time parameters of a dense search: ef (or exact), and the quantiser's oversampling and rescoring."""
    params: dict = {"exact": True} if settings.exact else {"hnsw_ef": settings.ef}
    if quantized:
        params["quantization"] = {"rescore": settings.rescore, "oversampling": settings.oversampling}
    return params


def _leaf(component: dict, limit: int, settings: EngineSettings, quantized: set[str]) -> dict:
    name = component["vector"]
    leaf = {"limit": limit, "using": name, "vector": component["key"]}
    if component["kind"] == "first" and component.get("mode") == "dense":
        leaf["params"] = search_params(settings, name in quantized)
    elif settings.exact:
        leaf["params"] = {"exact": True}
    return leaf


def first_tier(
    recipe: Recipe, components: dict[str, dict], settings: EngineSettings, limit: int, quantized: set[str]
) -> dict:
    """The first pass(es) as a query node: one search, or RRF over one prefetch of `candidates` per model."""
    keys = [c.key for c in recipe.components() if c.stage == "first_pass"]
    leaves = [{**components[k], "key": k} for k in keys]
    if len(leaves) == 1:
        return _leaf(leaves[0], limit, settings, quantized)
    return {
        "limit": limit,
        "fusion": {"rrf": rrf_constant(recipe), "weights": recipe.weights},
        "prefetch": [_leaf(c, recipe.candidates, settings, quantized) for c in leaves],
    }


def query_plan(
    recipe: Recipe, components: dict[str, dict], settings: EngineSettings, limit: int, quantized: set[str]
) -> dict:
    """The whole request for `limit` results: the first tier, under a MaxSim query when the recipe reranks by MaxSim."""
    kind, model = recipe.reranker or (None, None)
    if kind != "maxsim":
        return first_tier(recipe, components, settings, limit, quantized)
    key = f"tokens:{model}"
    outer = {
        "limit": min(limit, recipe.rerank_top),
        "using": components[key]["vector"],
        "vector": key,
        "prefetch": [first_tier(recipe, components, settings, recipe.rerank_top, quantized)],
    }
    if settings.exact:
        outer["params"] = {"exact": True}
    return outer
