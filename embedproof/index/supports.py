"""Which store serves which recipe: the one answer `index build`, `build_index` and every store's builder share.

A recipe is served only where it ranks as bench measured it: a recipe with engine settings was measured on the
Qdrant engine, so only the edge store serves it; one Query API request fuses first passes by RRF only; a stored
dim/precision and a chunked first pass are the embedded store's own, as Qdrant's quantisation ranks differently
and its points are documents.
"""

from __future__ import annotations

from embedproof.errors import InvalidInputError
from embedproof.index.qdrant.query_api import check_fusion
from embedproof.search.recipe import Recipe

STORES = ("embedded", "edge", "qdrant")


def _refusal(recipe: Recipe, store: str) -> str | None:
    """Why `store` cannot serve `recipe` (one line naming the fix), or None when it can."""
    if store not in STORES:
        return f"--backend {store}: not a store (known: {', '.join(STORES)})"
    if recipe.engine is not None and store != "edge":
        return (
            f"--backend {store}: recipe {recipe.name!r} carries engine settings (it was measured on the "
            "Qdrant engine); build it with --backend edge, or deploy its edge plan to a server (docs/edge.md)"
        )
    if recipe.chunking is not None and store != "embedded":
        return (
            f"--backend {store}: recipe {recipe.name!r} is chunked (chunk_tokens); the embedded store serves "
            "chunked recipes (build it with --backend embedded)"
        )
    if store == "qdrant" and recipe.shrink is not None:
        return (
            f"recipe {recipe.name!r}: dim/precision ({recipe.dim}, {recipe.precision}) is stored and searched by the "
            "embedded store only (Qdrant's own quantisation ranks differently from the bench); use --backend embedded"
        )
    if store in ("edge", "qdrant"):
        try:
            check_fusion(recipe)
        except InvalidInputError as exc:
            return str(exc)
    return None


def supports(recipe: Recipe, store: str) -> bool:
    """Does `store` ("embedded", "edge" or "qdrant") serve `recipe` as bench measured it?"""
    return _refusal(recipe, store) is None


def check_supports(recipe: Recipe, store: str) -> None:
    """Refuse, before any encoding, a store that would serve `recipe` differently from how bench measured it."""
    refusal = _refusal(recipe, store)
    if refusal is not None:
        raise InvalidInputError(refusal)


def store_for(recipe: Recipe, store: str | None = None) -> str:
    """The store that serves `recipe`: the one named (checked), else "edge" for a recipe with engine settings, else
    "embedded". Naming a store that would serve something else is an error, never a silent swap."""
    chosen = store or ("edge" if recipe.engine is not None else "embedded")
    check_supports(recipe, chosen)
    return chosen
