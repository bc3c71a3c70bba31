"""Corpora, queries and judgments: BEIR folders, JSONL, text folders, downloads, pseudo-queries, the demo.

Names resolve on first use (`embedproof.lazy`), so importing the package stays fast and light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from embedproof.lazy import lazy_exports

_NAMES = {
    "Dataset": "embedproof.datasets.loading",
    "load_dataset": "embedproof.datasets.loading",
    "read_corpus": "embedproof.datasets.readers",
    "read_queries": "embedproof.datasets.readers",
    "read_qrels": "embedproof.datasets.readers",
    "inverse_cloze": "embedproof.datasets.pseudo",
}

__all__ = [
    "Dataset",
    "inverse_cloze",
    "load_dataset",
    "read_corpus",
    "read_qrels",
    "read_queries",
]
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)

if TYPE_CHECKING:
    from embedproof.datasets.loading import Dataset, load_dataset
    from embedproof.datasets.pseudo import inverse_cloze
    from embedproof.datasets.readers import read_corpus, read_qrels, read_queries
