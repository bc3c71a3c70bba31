"""Persistent indexes: build, change (add, replace, remove), open; the embedded store, Qdrant Edge and a Qdrant server.

Names resolve on first use (`embedproof.lazy`), so importing the package stays fast and light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from embedproof.lazy import lazy_exports

_NAMES = {
    "build_index": "embedproof.index.access",
    "apply_change": "embedproof.index.change",
    "plan_change": "embedproof.index.change",
    "ChangeResult": "embedproof.index.change",
    "append_documents": "embedproof.index.embedded.change",
    "open_index": "embedproof.index.access",
    "SearchIndex": "embedproof.index.access",
    "resumable_build": "embedproof.index.build",
    "StoreBuild": "embedproof.index.build",
    "store_for": "embedproof.index.supports",
}

__all__ = [
    "ChangeResult",
    "SearchIndex",
    "StoreBuild",
    "append_documents",
    "apply_change",
    "build_index",
    "open_index",
    "plan_change",
    "resumable_build",
    "store_for",
]
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)

if TYPE_CHECKING:
    from embedproof.index.access import SearchIndex, build_index, open_index
    from embedproof.index.build import StoreBuild, resumable_build
    from embedproof.index.change import ChangeResult, apply_change, plan_change
    from embedproof.index.embedded.change import append_documents
    from embedproof.index.supports import store_for
