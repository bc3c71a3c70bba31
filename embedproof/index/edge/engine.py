"""The only module that imports `qdrant_edge`: Qdrant's engine in process, one shard in a folder.

It turns `qdrant.plan`'s collection and query plans into the engine's objects, opens and writes the shard, and
answers (point id, score) lists. Point ids are the documents' row numbers; the payload keeps the document id so
a shard is readable on its own (and after a snapshot is restored on a server).
"""

from __future__ import annotations

import re

import numpy as np

from embedproof.errors import EmbedproofError, require


def _edge():
    return require("qdrant_edge", "edge")


def import_engine() -> None:
    """Import the engine now (a missing extra fails here, naming it), e.g. to count its import apart from a shard."""
    _edge()


def _hnsw(e, spec: dict):
    return e.HnswIndexConfig(
        m=spec["m"],
        ef_construct=spec["ef_construct"],
        full_scan_threshold=spec["full_scan_threshold_kb"],
        max_indexing_threads=spec["max_indexing_threads"],
    )


def _quantization(e, spec: dict | None):
    if spec is None:
        return None
    if spec["kind"] == "scalar":
        return e.ScalarQuantizationConfig(type=e.ScalarType.Int8, always_ram=True)
    if spec["kind"] == "binary":
        encoding = {
            1.0: e.BinaryQuantizationEncoding.OneBit,
            1.5: e.BinaryQuantizationEncoding.OneAndHalfBits,
            2.0: e.BinaryQuantizationEncoding.TwoBits,
        }[spec["bits"]]
        return e.BinaryQuantizationConfig(always_ram=True, encoding=encoding)
    bits = {
        1.0: e.TurboQuantBitSize.Bits1,
        1.5: e.TurboQuantBitSize.Bits1_5,
        2.0: e.TurboQuantBitSize.Bits2,
        4.0: e.TurboQuantBitSize.Bits4,
        8.0: e.TurboQuantBitSize.Bits8,
    }[spec["bits"]]
    return e.TurboQuantQuantizationConfig(always_ram=True, bits=bits)


def edge_config(plan: dict):
    """The EdgeConfig of a collection plan."""
    e = _edge()
    distance = {"cosine": e.Distance.Cosine, "dot": e.Distance.Dot}
    datatype = {"float32": None, "float16": e.VectorStorageDatatype.Float16}
    vectors = {
        name: e.EdgeVectorParams(
            size=v["size"],
            distance=distance[v["distance"]],
            multivector_config=e.MultiVectorConfig(e.MultiVectorComparator.MaxSim) if v["multivector"] else None,
            hnsw_config=_hnsw(e, v["hnsw"]) if v["hnsw"] else None,
            quantization_config=_quantization(e, v["quantization"]),
            datatype=datatype[v["datatype"]],
            on_disk=v.get("on_disk") or None,
        )
        for name, v in plan["vectors"].items()
    }
    sparse = {
        name: e.EdgeSparseVectorParams(modifier=e.Modifier.Idf if s["idf"] else None)
        for name, s in plan["sparse"].items()
    }
    return e.EdgeConfig(
        vectors=vectors,
        sparse_vectors=sparse,
        hnsw_config=_hnsw(e, plan["hnsw"]),
        optimizers=e.EdgeOptimizersConfig(indexing_threshold=plan["optimizers"]["indexing_threshold_kb"]),
    )


def _vector(e, value):
    if isinstance(value, tuple):
        return e.SparseVector(indices=[int(i) for i in value[0]], values=[float(v) for v in value[1]])
    return np.asarray(value, dtype=np.float32).tolist()


def _params(e, params: dict | None):
    if not params:
        return None
    q = params.get("quantization")
    return e.SearchParams(
        hnsw_ef=params.get("hnsw_ef"),
        exact=params.get("exact", False),
        quantization=e.QuantizationSearchParams(rescore=q["rescore"], oversampling=q["oversampling"]) if q else None,
    )


def _node(e, node: dict, vectors: dict, outer: bool):
    """A plan node as the engine's QueryRequest (outer) or Prefetch."""
    prefetch = [_node(e, p, vectors, False) for p in node.get("prefetch", [])] or None
    if "fusion" in node:
        query = e.Fusion.Rrf(k=node["fusion"]["rrf"], weights=node["fusion"]["weights"])
    else:
        query = e.Query.Nearest(_vector(e, vectors[node["vector"]]), using=node["using"])
    if outer:
        return e.QueryRequest(
            limit=node["limit"],
            query=query,
            prefetches=prefetch,
            params=_params(e, node.get("params")),
            with_payload=False,
        )
    return e.Prefetch(limit=node["limit"], query=query, prefetches=prefetch, params=_params(e, node.get("params")))


def edge_request(plan: dict, vectors: dict):
    """The engine's QueryRequest for a query plan, with each leaf's query vector taken from `vectors` by key."""
    return _node(_edge(), plan, vectors, True)


class EdgeShardHandle:
    """One open shard: create or load, upsert, optimise, query; closed explicitly (or when collected)."""

    def __init__(self, shard):
        self.shard = shard

    @classmethod
    def create(cls, path: str, plan: dict) -> EdgeShardHandle:
        return cls(_edge().EdgeShard.create(path, edge_config(plan)))

    @classmethod
    def load(cls, path: str) -> EdgeShardHandle:
        try:
            return cls(_edge().EdgeShard.load(path))
        except Exception as exc:  # the engine raises its own error types for a missing or damaged shard
            raise EmbedproofError(f"{path}: the edge shard cannot be opened ({exc}); rebuild the index") from exc

    def upsert(self, rows: list[tuple[int, dict, dict]]) -> None:
        """Insert or replace points (id, {vector name: value}, payload); the same ids again replace them (resume)."""
        e = _edge()
        points = [
            e.Point(pid, {n: _vector(e, v) for n, v in vectors.items()}, payload) for pid, vectors, payload in rows
        ]
        self.shard.update(e.UpdateOperation.upsert_points(points))

    def update_vectors(self, name: str, ids: list[int], values: list) -> None:
        """Replace one named vector of existing points (the others stay as they are)."""
        e = _edge()
        vectors = [e.PointVectors(pid, {name: _vector(e, value)}) for pid, value in zip(ids, values)]
        self.shard.update(e.UpdateOperation.update_vectors(vectors))

    def delete(self, ids: list[int]) -> None:
        """Delete points by id (ids the shard does not hold are skipped, so deleting again changes nothing)."""
        self.shard.update(_edge().UpdateOperation.delete_points([int(i) for i in ids]))

    def flush(self) -> None:
        self.shard.flush()

    def optimize(self) -> bool:
        """Build the HNSW graphs and quantised codes (until then new points are brute-forced)."""
        return self.shard.optimize()

    def count(self) -> int:
        return int(self.shard.info().points_count)

    def stats(self) -> dict:
        info = self.shard.info()
        return {
            "points": int(info.points_count),
            "segments": int(info.segments_count),
            "indexed_vectors": int(info.indexed_vectors_count),
        }

    def query(self, plan: dict, vectors: dict) -> list[tuple[int, float]]:
        return [(int(p.id), float(p.score)) for p in self.shard.query(edge_request(plan, vectors))]

    def query_batch(self, plans: list[dict], vectors: list[dict]) -> list[list[tuple[int, float]]]:
        """Several requests in one call to the engine (one crossing of the Python boundary)."""
        e = _edge()
        batch = e.QueryBatchRequest([edge_request(p, v) for p, v in zip(plans, vectors)])
        return [[(int(p.id), float(p.score)) for p in answer] for answer in self.shard.query_batch(batch)]

    def points(self, ids: list[int]) -> list[tuple[int, dict, dict]]:
        """Stored points (id, {name: dense list | (indices, values) | token rows}, payload): the shard, portable."""
        out = []
        for record in self.shard.retrieve(ids, with_payload=True, with_vector=True):
            vectors = {
                name: (list(v.indices), list(v.values)) if hasattr(v, "indices") else v
                for name, v in (record.vector or {}).items()
            }
            out.append((int(record.id), vectors, dict(record.payload or {})))
        return out

    def close(self) -> None:
        self.shard.close()


_BITS = {
    "OneBit": 1.0,
    "OneAndHalfBits": 1.5,
    "TwoBits": 2.0,
    "Bits1": 1.0,
    "Bits1_5": 1.5,
    "Bits2": 2.0,
    "Bits4": 4.0,
    "Bits8": 8.0,
}


def describe_edge(config, request) -> dict:
    """What an EdgeConfig and QueryRequest say, in plain terms (compared with `server_collection.describe_server`)."""

    def node(n) -> dict:
        query, out = n.query, {"limit": n.limit}
        if hasattr(query, "k"):
            out["fusion"] = {"rrf": query.k, "weights": query.weights}
        else:
            # a query read back from the engine exposes only its repr: Query.Nearest(query=[...], using="name")
            using = getattr(query, "using", None) or re.search(r'using="([^"]*)"\)$', repr(query)).group(1)
            out["query"] = {"nearest": using}
        params = n.params
        if params is not None:
            q = params.quantization
            out["params"] = {
                "hnsw_ef": params.hnsw_ef,
                "exact": params.exact,
                "quantization": (q.rescore, q.oversampling) if q else None,
            }
        out["prefetch"] = [node(p) for p in n.prefetches]
        return out

    vectors = {}
    for name, v in config.vectors.items():
        q = v.quantization_config
        vectors[name] = {
            "size": v.size,
            "distance": str(v.distance).rsplit(".", 1)[-1].lower(),
            "multivector": v.multivector_config is not None,
            "m": v.hnsw_config.m if v.hnsw_config is not None else None,
            "quantization": type(q).__name__.replace("QuantizationConfig", "").lower() if q else None,
            "bits": _BITS.get(str(getattr(q, "encoding", None) or getattr(q, "bits", None)).rsplit(".", 1)[-1]),
            "on_disk": bool(v.on_disk),
        }
    sparse = {name: {"idf": s.modifier is not None} for name, s in config.sparse_vectors.items()}
    hnsw = config.hnsw_config
    return {
        "vectors": vectors,
        "sparse": sparse,
        "hnsw": {"m": hnsw.m, "ef_construct": hnsw.ef_construct},
        "request": node(request),
    }
