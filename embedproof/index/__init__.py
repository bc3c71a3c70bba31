"""Persistent indexes: build, append, open; the embedded store, Qdrant Edge and a Qdrant server.

Names resolve on first use (`embedproof.lazy`), so importing the package stays fast and light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from embedproof.lazy import lazy_exports

_NAMES = {
    "build_index": "embedproof.index.embedded.build",
    "append_documents": "embedproof.index.embedded.change",
    "open_index": "embedproof.index.access",
    "SearchIndex": "embedproof.index.access",
}

__all__ = [
    "SearchIndex",
    "append_documents",
    "build_index",
    "open_index",
]
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)

if TYPE_CHECKING:
    from embedproof.index.access import SearchIndex, open_index
    from embedproof.index.embedded.build import build_index
    from embedproof.index.embedded.change import append_documents
