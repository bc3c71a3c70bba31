"""How a recipe maps onto Qdrant's Query API, shared by the Qdrant server store and the Qdrant Edge shard.

Both run the same engine, so the RRF constant, the vector names and what the Query API cannot express are
decided here once.
"""

from __future__ import annotations

from pathlib import Path

from embedproof.errors import InvalidInputError
from embedproof.files import safe_name
from embedproof.index.manifest import Manifest, encoder_revision, recipe_components
from embedproof.index.qdrant.bm25 import corpus_statistics
from embedproof.models.protocols import Encoder
from embedproof.search.pipeline import Workspace
from embedproof.search.recipe import Recipe


def rrf_constant(recipe: Recipe) -> int:
    """Qdrant's RRF k for the recipe's RRF: Qdrant ranks from 0 and scores 1/(k + rank), so k + rank_base."""
    params = dict(recipe.fusion_params)
    k, base = params.pop("k", 60), params.pop("rank_base", 1)
    if params:
        raise InvalidInputError(f"recipe {recipe.name!r}: fusion_params {sorted(params)} have no Qdrant equivalent")
    qk = k + base
    if float(qk) != int(qk) or qk < 1:
        raise InvalidInputError(
            f"recipe {recipe.name!r}: RRF k = {k} with rank base {base} is not an integer Qdrant k ≥ 1 "
            "(Qdrant k = k + base)"
        )
    return int(qk)


def check_fusion(recipe: Recipe) -> None:
    """Refuse, before any encoding, a fusion one Query API request cannot express as the embedded pipeline does."""
    if len(recipe.first_pass) > 1:
        if recipe.fusion != "rrf":
            raise InvalidInputError(
                f"recipe {recipe.name!r}: fusion {recipe.fusion!r} has no Qdrant equivalent "
                "(Qdrant fuses by RRF or DBSF); use rrf or the embedded store"
            )
        rrf_constant(recipe)


def vector_names(components: list[tuple[str, str]]) -> dict[str, str]:
    """Short, unique Qdrant vector names ("dense_all-MiniLM-L6-v2", "tokens_...") for each component key."""
    names: dict[str, str] = {}
    for model, kind in components:
        base = f"{'tokens' if kind == 'tokens' else 'first'}_{safe_name(Path(model).name or model)[:48]}"
        name, n = base, 2
        while name in names.values():
            name, n = f"{base}_{n}", n + 1
        names[f"{kind}:{model}"] = name
    return names


def engine_components(manifest: Manifest, recipe: Recipe, workspace: Workspace, texts: list[str]) -> dict[str, Encoder]:
    """Record each component of the recipe in the manifest (its vector name; BM25's whole-corpus statistics, taken
    before the first chunk) and return its encoder by component key."""
    components = recipe_components(recipe)
    names = vector_names(components)
    encoders = {}
    for model, kind in components:
        key = f"{kind}:{model}"
        encoders[key] = encoder = workspace.encoder(model, kind)
        component = manifest.components.setdefault(
            key,
            {
                "model": model,
                "kind": kind,
                "mode": encoder.mode,
                "revision": encoder_revision(encoder),
                "vector": names[key],
                "chunks": [],
            },
        )
        if kind == "first" and encoder.name == "bm25" and "bm25" not in component:
            component["bm25"] = corpus_statistics(encoder, texts)
    return encoders
