"""One way to build and to open any index folder: `build_index` picks the store, `open_index` reads the manifest.

The embedded store (numpy/scipy files), the Qdrant Edge shard and a Qdrant server collection all answer the
same `SearchIndex` protocol, so the CLI, the server and the benchmarks never ask which store they hold.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from embedproof.defaults import default_encoder_backend
from embedproof.errors import InvalidInputError
from embedproof.index.answer import describe_index
from embedproof.index.embedded.chunks import EncodeChunks
from embedproof.index.manifest import Manifest, encoder_options_for
from embedproof.search.recipe import Recipe
from embedproof.types import Document


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


def build_index(
    recipe: Recipe,
    corpus: dict[str, Document],
    out: str | Path,
    encoder_options=None,
    chunk_size: int = 512,
    progress=None,
    encoder_backend: str | None = None,
    store_backend: str | None = None,
    store_options: dict | None = None,
    ray_address: str | None = None,
    encode_chunks: EncodeChunks | None = None,
) -> Manifest:
    """Build (or resume building) the index of `recipe` over `corpus` in `out` with any store; returns the manifest.

    `store_backend` "embedded" (numpy/scipy files), "edge" (a Qdrant Edge shard in the folder) or "qdrant" (a Qdrant
    server collection; `store_options` says where); None chooses by the recipe (`store_for`). `encode_chunks`
    replaces how pending chunks are encoded (the default is in-process, one after another); `ray_address` ("local"
    or a cluster address) encodes them with a Ray Data actor pool instead (embedded store only).
    `encoder_backend` None is the command line's default (`defaults.default_encoder_backend`); `auto` resolves to
    this CPU's choice for the recipe's first dense model, recorded in the manifest (queries must match it).
    """
    from embedproof.index.build import resumable_build
    from embedproof.index.supports import store_for

    encoder_backend, auto = encoder_backend or default_encoder_backend(), None
    if encoder_backend == "auto":
        from embedproof.models.factory import resolve_for_models

        encoder_backend, auto = resolve_for_models(recipe.first_pass_models())
    encoder_options = encoder_options or encoder_options_for(encoder_backend)
    store_backend = store_for(recipe, store_backend)
    if store_backend == "embedded":
        from embedproof.index.embedded.build import EmbeddedBuild

        store = EmbeddedBuild(encoder_options, ray_address, encode_chunks)
    elif ray_address is not None or encode_chunks is not None:
        raise InvalidInputError(
            f"--ray (and custom chunk encoders) work with the embedded store only, not --backend {store_backend}"
        )
    elif store_backend == "edge":
        from embedproof.index.edge.build import EdgeBuild

        store = EdgeBuild(recipe, store_options)
    else:
        from embedproof.index.qdrant.build import QdrantBuild

        store = QdrantBuild(recipe, list(corpus), Path(out), store_options)
    manifest = resumable_build(store, recipe, corpus, out, encoder_options, chunk_size, progress, encoder_backend)
    if auto is not None:
        manifest["auto_backend"] = auto
        manifest.save()
    return manifest


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
