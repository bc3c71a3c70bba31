"""One way to open any index folder: `open_index` reads the manifest and returns the store that answers it.

The embedded store (numpy/scipy files), the Qdrant Edge shard and a Qdrant server collection all answer the
same `SearchIndex` protocol, so the CLI, the server and the benchmarks never ask which store they hold.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from embedproof.index.answer import describe_index
from embedproof.index.manifest import Manifest
from embedproof.search.recipe import Recipe


@runtime_checkable
class SearchIndex(Protocol):
    """What every opened index offers: its recipe, its documents, search one or many queries, describe itself."""

    folder: Path
    manifest: dict
    recipe: Recipe
    ids: list[str]

    def search(self, query: str, top_k: int = 10, overrides: dict | None = None) -> dict: ...

    def search_many(
        self, queries: list[str], top_k: int | list[int] = 10, overrides: dict | None = None
    ) -> list[dict]: ...

    def info(self) -> dict: ...


def open_index(folder: str | Path, encoder_options=None, verify: bool = True) -> SearchIndex:
    """Open and verify the index in `folder` with the store that built it; queries use the recipe it was built with."""
    backend = Manifest.open(folder, verify=False).backend  # each store verifies the checksums as it opens
    if backend == "qdrant":
        from embedproof.index.qdrant.search import QdrantIndex

        return QdrantIndex(folder, encoder_options, verify)
    if backend == "edge":
        from embedproof.index.edge.search import EdgeIndex

        return EdgeIndex(folder, encoder_options, verify)
    from embedproof.index.embedded.search import LoadedIndex

    return LoadedIndex(folder, encoder_options, verify)


def index_info(folder: str | Path) -> dict:
    """`index info`: checksums verified; the embedded store answers from its manifest without loading a model,
    engine-backed stores open their engine."""
    folder = Path(folder)
    manifest = Manifest.open(folder)
    if manifest.backend in {"qdrant", "edge"}:
        return open_index(folder).info()
    return describe_index(manifest)


def live_queries(index) -> None:
    """Encode an opened index's queries live: the embedding cache is for corpora, and a server (or `embedproof
    search`) that wrote every query it saw to disk would grow the cache without bound and pay a write per query."""
    for component in index.manifest["components"].values():
        encoder = index.workspace.encoder(component["model"], component["kind"])
        if getattr(encoder, "use_cache", None):
            encoder.use_cache = False
