"""The embedded store: a recipe's index as numpy/scipy chunk files in the folder; build, search, change.

Names resolve on first use (`embedproof.lazy`), so importing the package stays fast and light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from embedproof.lazy import lazy_exports

_NAMES = {
    "EmbeddedBuild": "embedproof.index.embedded.build",
    "append_documents": "embedproof.index.embedded.change",
    "LoadedIndex": "embedproof.index.embedded.search",
    "ray_chunk_encoder": "embedproof.index.embedded.ray_encode",
}

__all__ = [
    "LoadedIndex",
    "append_documents",
    "EmbeddedBuild",
    "ray_chunk_encoder",
]
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)

if TYPE_CHECKING:
    from embedproof.index.embedded.build import EmbeddedBuild
    from embedproof.index.embedded.change import append_documents
    from embedproof.index.embedded.ray_encode import ray_chunk_encoder
    from embedproof.index.embedded.search import LoadedIndex
