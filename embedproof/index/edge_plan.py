"""A recipe as one Qdrant shard: the collection and the Query API request as plain data, for Edge and server alike.

Both `edge_engine` (the in-process engine) and `edge_server` (qdrant-client models for a Qdrant server or cluster)
translate these dicts mechanically, so the configuration bench measures on Edge is the one a cluster serves.

Collection plan: {"vectors": {name: {"size", "distance", "multivector", "hnsw", "quantization", "datatype"}},
"sparse": {name: {"idf"}}, "hnsw": {...}, "optimizers": {...}}. Query plan: a tree of {"limit", "using",
"vector" (the component key whose query vector goes there), "params"} leaves, {"fusion": {"rrf": k, "weights"},
"prefetch": [...]} for several first passes, and an outer MaxSim query over a prefetch for the reranker.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from embedproof.errors import InvalidInputError
from embedproof.index.query_api import check_fusion, rrf_constant
from embedproof.search.recipe import Recipe

# the engine's quantisers: name → (kind, parameter); "binary-1.5" is Qdrant's 1.5-bit binary encoding
QUANTIZATIONS = {
    "int8": ("scalar", "int8"),
    "binary-1": ("binary", 1.0),
    "binary-1.5": ("binary", 1.5),
    "binary-2": ("binary", 2.0),
    "turbo-1": ("turbo", 1.0),
    "turbo-1.5": ("turbo", 1.5),
    "turbo-2": ("turbo", 2.0),
    "turbo-4": ("turbo", 4.0),
    "turbo-8": ("turbo", 8.0),
}
# the recipe's stored precision, as the engine's own quantiser (float16 is a storage datatype, not a quantiser)
PRECISION_QUANTIZATION = {"int8": "int8", "binary": "binary-1"}


@dataclass(frozen=True)
class EngineSettings:
    """HNSW, quantisation and search settings of an edge index; every field is written to the manifest.

    Defaults are the Qdrant server's (m 16, ef_construct 100, full-scan and indexing thresholds 10,000 KB), with
    hnsw_ef 128 at query time. `oversampling` and `rescore` apply when a quantiser is set; `exact` searches
    every vector (the parity mode against the embedded store); `vectors_on_disk` keeps the float vectors on disk.
    """

    m: int = 16
    ef_construct: int = 100
    ef: int = 128
    full_scan_threshold_kb: int = 10_000
    indexing_threshold_kb: int = 10_000
    indexing_threads: int = 0
    quantization: str | None = None
    oversampling: float = 4.0
    rescore: bool = True
    exact: bool = False
    vectors_on_disk: bool = False

    def __post_init__(self) -> None:
        if self.quantization is not None and self.quantization not in QUANTIZATIONS:
            raise InvalidInputError(f"edge quantization {self.quantization!r}: choose from {', '.join(QUANTIZATIONS)}")
        for name in ("m", "ef_construct", "ef", "full_scan_threshold_kb", "indexing_threshold_kb", "indexing_threads"):
            value = getattr(self, name)
            if (
                not isinstance(value, int)
                or isinstance(value, bool)
                or value < 0
                or (name in ("ef_construct", "ef") and value < 1)
            ):
                raise InvalidInputError(
                    f"edge {name}: a whole number ≥ {1 if name in ('ef_construct', 'ef') else 0}, got {value!r}"
                )
        if not self.oversampling >= 1:
            raise InvalidInputError(f"edge oversampling: ≥ 1, got {self.oversampling!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def engine_settings(recipe: Recipe, options: dict | None) -> EngineSettings:
    """Settings from `--edge-*` options (None: default), with the recipe's int8/binary precision as the quantiser.

    The recipe's `rescore_multiplier` is the oversampling factor of its stored precision (0: no rescoring), as in
    the embedded store; an explicit `quantization` option overrides it, and both together must agree.
    """
    given = {
        k: v for k, v in (options or {}).items() if v is not None and k in {f.name for f in fields(EngineSettings)}
    }
    implied = PRECISION_QUANTIZATION.get(recipe.precision)
    if recipe.precision == "float16" and given.get("quantization"):
        raise InvalidInputError(
            f"recipe {recipe.name!r}: precision float16 with edge quantization {given['quantization']!r}: choose one"
        )
    if implied:
        if given.get("quantization", implied) != implied:
            raise InvalidInputError(
                f"recipe {recipe.name!r}: precision {recipe.precision} is the engine's {implied}, "
                f"not edge quantization {given['quantization']!r}; set precision float32 to choose another"
            )
        given["quantization"] = implied
        if "oversampling" not in given and recipe.rescore_multiplier:
            given["oversampling"] = float(recipe.rescore_multiplier)
        given.setdefault("rescore", recipe.rescore_multiplier > 0)
    if "oversampling" in given:
        given["oversampling"] = float(given["oversampling"])
    return EngineSettings(**given)


def check_recipe(recipe: Recipe) -> None:
    """Refuse, before any encoding, what one Query API request cannot express as the embedded pipeline does."""
    check_fusion(recipe)


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
    keys = [f"tokens:{m.split(':', 1)[1]}" if m.startswith("maxsim:") else f"first:{m}" for m in recipe.first_pass]
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
