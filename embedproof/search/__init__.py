"""Search kernels (exact, sparse, quantised, MaxSim), fusion, and the recipe pipeline that chains them.

Names resolve on first use (`embedproof.lazy`), so importing the package stays fast and light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from embedproof.lazy import lazy_exports

_NAMES = {
    "exact_search": "embedproof.search.dense",
    "sparse_search": "embedproof.search.sparse",
    "int8_search": "embedproof.search.quantized",
    "binary_search": "embedproof.search.quantized",
    "maxsim_search": "embedproof.search.maxsim",
    "maxsim_rerank": "embedproof.search.maxsim",
    "reciprocal_rank_fusion": "embedproof.search.fusion",
    "weighted_sum": "embedproof.search.fusion",
    "fuse": "embedproof.search.fusion",
    "search": "embedproof.search.retrieve",
    "Recipe": "embedproof.search.recipe",
    "Component": "embedproof.search.recipe",
    "Workspace": "embedproof.search.pipeline",
    "run_recipe": "embedproof.search.pipeline",
}

__all__ = [
    "Component",
    "Recipe",
    "Workspace",
    "binary_search",
    "exact_search",
    "fuse",
    "int8_search",
    "maxsim_rerank",
    "maxsim_search",
    "reciprocal_rank_fusion",
    "run_recipe",
    "search",
    "sparse_search",
    "weighted_sum",
]
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)

if TYPE_CHECKING:
    from embedproof.search.dense import exact_search
    from embedproof.search.fusion import fuse, reciprocal_rank_fusion, weighted_sum
    from embedproof.search.maxsim import maxsim_rerank, maxsim_search
    from embedproof.search.pipeline import Workspace, run_recipe
    from embedproof.search.quantized import binary_search, int8_search
    from embedproof.search.recipe import Component, Recipe
    from embedproof.search.retrieve import search
    from embedproof.search.sparse import sparse_search
