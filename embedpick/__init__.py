"""embedpick: pick an embedding set-up (model, mode, dimension, precision) on evidence from your own corpus.

The public API is imported lazily (PEP 562) so that `embedpick.models.hashing` works with the standard
library alone and `import embedpick` stays fast.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "Dataset": "embedpick.evaluation.datasets",
    "Document": "embedpick.evaluation.readers",
    "load_dataset": "embedpick.evaluation.datasets",
    "Embeddings": "embedpick.embeddings",
    "EmbeddingCache": "embedpick.cache",
    "ModelCard": "embedpick.models.card",
    "get_card": "embedpick.models.card",
    "get_encoder": "embedpick.models.factory",
    "HashingEncoder": "embedpick.models.hashing",
    "BM25Encoder": "embedpick.models.bm25",
    "DenseEncoder": "embedpick.models.dense",
    "exact_search": "embedpick.index.dense",
    "sparse_search": "embedpick.index.sparse",
    "search": "embedpick.retrieve",
    "evaluate_run": "embedpick.evaluation.metrics",
    "write_trec_run": "embedpick.evaluation.metrics",
    "run_bench": "embedpick.evaluation.bench",
    "BenchOptions": "embedpick.evaluation.bench",
    "fuse": "embedpick.fusion",
    "Recipe": "embedpick.recipe",
    "truncate_matryoshka": "embedpick.vectors",
    "Int8Calibration": "embedpick.quantize",
    "write_report": "embedpick.evaluation.report",
    "inverse_cloze": "embedpick.evaluation.pseudo",
    "EmbedpickError": "embedpick.errors",
    "DatasetError": "embedpick.errors",
    "ModelNotAvailableError": "embedpick.errors",
    "RemoteEncoder": "embedpick.models.remote",
    "build_index": "embedpick.index.store",
    "append_documents": "embedpick.index.append",
    "LoadedIndex": "embedpick.index.reader",
    "run_recipe": "embedpick.pipeline",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'embedpick' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
