"""A recipe on Qdrant: the collection and Query API plan, a server collection's build, change and search, BM25.

Names resolve on first use (`embedproof.lazy`), so importing the package stays fast and light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from embedproof.lazy import lazy_exports

_NAMES = {
    "QdrantBuild": "embedproof.index.qdrant.build",
    "QdrantIndex": "embedproof.index.qdrant.search",
    "apply_qdrant": "embedproof.index.qdrant.change",
    "collection_plan": "embedproof.index.qdrant.plan",
    "query_plan": "embedproof.index.qdrant.plan",
    "server_setup": "embedproof.index.qdrant.server_collection",
}

__all__ = [
    "QdrantBuild",
    "QdrantIndex",
    "apply_qdrant",
    "collection_plan",
    "query_plan",
    "server_setup",
]
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)

if TYPE_CHECKING:
    from embedproof.index.qdrant.build import QdrantBuild
    from embedproof.index.qdrant.change import apply_qdrant
    from embedproof.index.qdrant.plan import collection_plan, query_plan
    from embedproof.index.qdrant.search import QdrantIndex
    from embedproof.index.qdrant.server_collection import server_setup
