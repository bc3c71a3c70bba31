"""The edge store: a recipe's index as one Qdrant Edge shard in the folder; engine, build, search, change, resident.

Names resolve on first use (`embedproof.lazy`), so importing the package stays fast and light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from embedproof.lazy import lazy_exports

_NAMES = {
    "build_edge_index": "embedproof.index.edge.build",
    "EdgeBuild": "embedproof.index.edge.build",
    "EdgeIndex": "embedproof.index.edge.search",
    "append_edge": "embedproof.index.edge.change",
    "apply_edge": "embedproof.index.edge.change",
    "EdgeShardHandle": "embedproof.index.edge.engine",
    "measure_resident": "embedproof.index.edge.resident",
}

__all__ = [
    "EdgeBuild",
    "EdgeIndex",
    "EdgeShardHandle",
    "append_edge",
    "apply_edge",
    "build_edge_index",
    "measure_resident",
]
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)

if TYPE_CHECKING:
    from embedproof.index.edge.build import EdgeBuild, build_edge_index
    from embedproof.index.edge.change import append_edge, apply_edge
    from embedproof.index.edge.engine import EdgeShardHandle
    from embedproof.index.edge.resident import measure_resident
    from embedproof.index.edge.search import EdgeIndex
