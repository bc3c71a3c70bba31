"""embedproof: pick an embedding set-up (model, mode, dimension, precision, engine) on evidence from your own corpus,
and serve exactly what was measured.

Names resolve on first use (`embedproof.lazy`), so importing the package stays fast and light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from embedproof.defaults import VERSION as __version__
from embedproof.lazy import lazy_exports

_NAMES = {
    "Dataset": "embedproof.datasets.loading",
    "load_dataset": "embedproof.datasets.loading",
    "Document": "embedproof.types",
    "Embeddings": "embedproof.types",
    "get_encoder": "embedproof.models.factory",
    "ModelCard": "embedproof.models.card",
    "Recipe": "embedproof.search.recipe",
    "Workspace": "embedproof.search.pipeline",
    "run_recipe": "embedproof.search.pipeline",
    "BenchOptions": "embedproof.evaluation.bench_options",
    "run_bench": "embedproof.evaluation.bench",
    "bench": "embedproof.flow",
    "Results": "embedproof.flow",
    "Choice": "embedproof.flow",
    "evaluate_run": "embedproof.evaluation.metrics",
    "build_index": "embedproof.index.access",
    "open_index": "embedproof.index.access",
    "append_documents": "embedproof.index.embedded.change",
    "EmbedproofError": "embedproof.errors",
    "InvalidInputError": "embedproof.errors",
}

__all__ = [
    "BenchOptions",
    "Dataset",
    "Document",
    "Embeddings",
    "EmbedproofError",
    "InvalidInputError",
    "ModelCard",
    "Recipe",
    "Results",
    "Choice",
    "Workspace",
    "append_documents",
    "bench",
    "build_index",
    "evaluate_run",
    "get_encoder",
    "load_dataset",
    "open_index",
    "run_bench",
    "run_recipe",
    "__version__",
]
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)

if TYPE_CHECKING:
    from embedproof.datasets.loading import Dataset, load_dataset
    from embedproof.errors import EmbedproofError, InvalidInputError
    from embedproof.evaluation.bench import run_bench
    from embedproof.evaluation.bench_options import BenchOptions
    from embedproof.evaluation.metrics import evaluate_run
    from embedproof.flow import Choice, Results, bench
    from embedproof.index.access import build_index, open_index
    from embedproof.index.embedded.change import append_documents
    from embedproof.models.card import ModelCard
    from embedproof.models.factory import get_encoder
    from embedproof.search.pipeline import Workspace, run_recipe
    from embedproof.search.recipe import Recipe
    from embedproof.types import Document, Embeddings
