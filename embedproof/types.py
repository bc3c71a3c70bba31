"""The data every layer passes around: documents, rankings, judgments and the vectors encoders return.

Standard library only, so that the stdlib hashing encoder and the dataset readers need nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Side = Literal["query", "document"]

# A ranking per query: query id → {document id: score}; higher is better.
Run = Mapping[str, Mapping[str, float]]
# Relevance judgments per query: query id → {document id: graded relevance}.
Qrels = Mapping[str, Mapping[str, int]]


@dataclass(frozen=True)
class Document:
    """A corpus passage; `full_text` is what encoders see (title and text joined as BEIR/MTEB do).

    `headings` are the section headings inside `text` (each also a block of it), where the source marks them
    (Markdown and HTML files); pseudo-queries use them as natural questions.
    """

    id: str
    text: str
    title: str = ""
    headings: tuple[str, ...] = ()

    @property
    def full_text(self) -> str:
        return f"{self.title} {self.text}".strip() if self.title else self.text


@dataclass
class Embeddings:
    """Vectors for `ids`, in the same order, from one encoder on one side (query or document).

    - `dense`: (n, dim) float32 numpy array (a list of rows when numpy is not installed)
    - `sparse`: (n, vocab) scipy CSR matrix of term weights (BM25, SPLADE)
    - `multivector`: list of (tokens, dim) arrays (ColBERT-style late interaction)
    """

    ids: list[str]
    side: Side
    model: str
    dense: Any = None
    sparse: Any = None
    multivector: list | None = None
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def mode(self) -> str:
        if self.dense is not None:
            return "dense"
        if self.sparse is not None:
            return "sparse"
        if self.multivector is not None:
            return "multivector"
        return "empty"

    @property
    def dim(self) -> int | None:
        if self.dense is not None:
            shape = getattr(self.dense, "shape", None)
            return int(shape[1]) if shape is not None else (len(self.dense[0]) if self.dense else None)
        if self.sparse is not None:
            return int(self.sparse.shape[1])
        if self.multivector:
            return int(self.multivector[0].shape[1])
        return None
