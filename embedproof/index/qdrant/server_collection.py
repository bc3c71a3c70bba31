"""The same recipe on a Qdrant server or cluster: the collection config and Query API request an edge index implies.

An edge shard and a server collection run the same engine and segment format; `server_setup` translates the edge
index's collection plan and query plan (see `qdrant.plan`) into qdrant-client models, so a configuration measured
on Edge deploys to a cluster without re-interpretation: `client.create_collection(name, **collection)` and
`client.query_points(name, **request)`.
"""

from __future__ import annotations

import numpy as np

from embedproof.errors import require


def _quantization(qm, spec: dict | None):
    if spec is None:
        return None
    if spec["kind"] == "scalar":
        return qm.ScalarQuantization(scalar=qm.ScalarQuantizationConfig(type=qm.ScalarType.INT8, always_ram=True))
    if spec["kind"] == "binary":
        encoding = {
            1.0: qm.BinaryQuantizationEncoding.ONE_BIT,
            1.5: qm.BinaryQuantizationEncoding.ONE_AND_HALF_BITS,
            2.0: qm.BinaryQuantizationEncoding.TWO_BITS,
        }[spec["bits"]]
        return qm.BinaryQuantization(binary=qm.BinaryQuantizationConfig(always_ram=True, encoding=encoding))
    bits = {
        1.0: qm.TurboQuantBitSize.BITS1,
        1.5: qm.TurboQuantBitSize.BITS1_5,
        2.0: qm.TurboQuantBitSize.BITS2,
        4.0: qm.TurboQuantBitSize.BITS4,
        8.0: qm.TurboQuantBitSize.BITS8,
    }[spec["bits"]]
    return qm.TurboQuantization(turbo=qm.TurboQuantQuantizationConfig(always_ram=True, bits=bits))


def _hnsw(qm, spec: dict):
    return qm.HnswConfigDiff(
        m=spec["m"],
        ef_construct=spec["ef_construct"],
        full_scan_threshold=spec["full_scan_threshold_kb"],
        max_indexing_threads=spec["max_indexing_threads"],
    )


def server_collection(plan: dict) -> dict:
    """`create_collection` keyword arguments (besides the name) for an edge collection plan."""
    qm = require("qdrant_client.models", "qdrant")
    distance = {"cosine": qm.Distance.COSINE, "dot": qm.Distance.DOT}
    vectors = {
        name: qm.VectorParams(
            size=v["size"],
            distance=distance[v["distance"]],
            multivector_config=qm.MultiVectorConfig(comparator=qm.MultiVectorComparator.MAX_SIM)
            if v["multivector"]
            else None,
            hnsw_config=_hnsw(qm, v["hnsw"]) if v["hnsw"] else None,
            quantization_config=_quantization(qm, v["quantization"]),
            datatype=qm.Datatype.FLOAT16 if v["datatype"] == "float16" else None,
            on_disk=v.get("on_disk") or None,
        )
        for name, v in plan["vectors"].items()
    }
    sparse = {
        name: qm.SparseVectorParams(modifier=qm.Modifier.IDF if s["idf"] else None)
        for name, s in plan["sparse"].items()
    }
    return {
        "vectors_config": vectors,
        "sparse_vectors_config": sparse,
        "hnsw_config": _hnsw(qm, plan["hnsw"]),
        "optimizers_config": qm.OptimizersConfigDiff(indexing_threshold=plan["optimizers"]["indexing_threshold_kb"]),
    }


def _vector(qm, value):
    if isinstance(value, tuple):
        return qm.SparseVector(indices=[int(i) for i in value[0]], values=[float(v) for v in value[1]])
    return np.asarray(value, dtype=np.float32).tolist()


def _params(qm, params: dict | None):
    if not params:
        return None
    q = params.get("quantization")
    return qm.SearchParams(
        hnsw_ef=params.get("hnsw_ef"),
        exact=params.get("exact", False),
        quantization=qm.QuantizationSearchParams(rescore=q["rescore"], oversampling=q["oversampling"]) if q else None,
    )


def _node(qm, node: dict, vectors: dict, outer: bool):
    prefetch = [_node(qm, p, vectors, False) for p in node.get("prefetch", [])] or None
    if "fusion" in node:
        fields = {"query": qm.RrfQuery(rrf=qm.Rrf(k=node["fusion"]["rrf"], weights=node["fusion"]["weights"]))}
    else:
        fields = {"query": _vector(qm, vectors[node["vector"]]), "using": node["using"]}
    if outer:
        return {
            **fields,
            "prefetch": prefetch,
            "search_params": _params(qm, node.get("params")),
            "limit": node["limit"],
            "with_payload": ["id"],
        }
    return qm.Prefetch(**fields, prefetch=prefetch, params=_params(qm, node.get("params")), limit=node["limit"])


def server_query(plan: dict, vectors: dict) -> dict:
    """`query_points` keyword arguments (besides the collection) for a query plan and its query vectors."""
    return _node(require("qdrant_client.models", "qdrant"), plan, vectors, True)


def server_setup(index, query: str, limit: int = 10) -> tuple[dict, dict]:
    """(create_collection kwargs, query_points kwargs) of an edge index and one query: the recipe on a Qdrant server."""
    vectors = index.query_vectors([query])[0]
    return server_collection(index.store["collection"]), server_query(index.plan(limit), vectors)


def _bits(q) -> float | None:
    """The bit width a binary or TurboQuant quantiser stores per dimension (None for scalar int8 or none)."""
    inner = getattr(q, "binary", None) or getattr(q, "turbo", None)
    value = getattr(inner, "encoding", None) or getattr(inner, "bits", None)
    names = {
        "one_bit": 1.0,
        "one_and_half_bits": 1.5,
        "two_bits": 2.0,
        "bits1": 1.0,
        "bits1_5": 1.5,
        "bits2": 2.0,
        "bits4": 4.0,
        "bits8": 8.0,
    }
    return names[value.value] if value is not None else None


def describe_server(collection: dict, request: dict) -> dict:
    """What the server kwargs say, in the terms of `edge.engine.describe_edge` (the test compares the two)."""

    def params(p) -> dict | None:
        if p is None:
            return None
        q = p.quantization
        return {
            "hnsw_ef": p.hnsw_ef,
            "exact": bool(p.exact),
            "quantization": (q.rescore, q.oversampling) if q else None,
        }

    def node(query, using, prefetch, p, limit) -> dict:
        out: dict = {"limit": limit}
        if hasattr(query, "rrf"):
            out["fusion"] = {"rrf": query.rrf.k, "weights": query.rrf.weights}
        else:
            out["query"] = {"nearest": using}
        if p is not None:
            out["params"] = params(p)
        out["prefetch"] = [node(x.query, x.using, x.prefetch, x.params, x.limit) for x in (prefetch or [])]
        return out

    kinds = {"ScalarQuantization": "scalar", "BinaryQuantization": "binary", "TurboQuantization": "turboquant"}
    vectors = {
        name: {
            "size": v.size,
            "distance": {"Cosine": "cosine", "Dot": "dot"}[v.distance.value],
            "multivector": v.multivector_config is not None,
            "m": v.hnsw_config.m if v.hnsw_config else None,
            "quantization": kinds[type(v.quantization_config).__name__] if v.quantization_config else None,
            "bits": _bits(v.quantization_config),
            "on_disk": bool(v.on_disk),
        }
        for name, v in collection["vectors_config"].items()
    }
    sparse = {name: {"idf": s.modifier is not None} for name, s in collection["sparse_vectors_config"].items()}
    hnsw = collection["hnsw_config"]
    return {
        "vectors": vectors,
        "sparse": sparse,
        "hnsw": {"m": hnsw.m, "ef_construct": hnsw.ef_construct},
        "request": node(
            request["query"], request.get("using"), request["prefetch"], request["search_params"], request["limit"]
        ),
    }
