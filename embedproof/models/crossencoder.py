"""Cross-encoder reranking through sentence-transformers' CrossEncoder: query and passage read together.

Most precise and most expensive per pair, so it only ever sees the top N of a first pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from embedproof.errors import require
from embedproof.models.card import get_card
from embedproof.models.resolve import resolve_model


class CrossEncoderReranker:
    """Scores (query, passage) pairs; higher is more relevant."""

    def __init__(self, name: str, *, batch_size: int = 32, max_tokens: int | None = None, device: str = "cpu"):
        from embedproof.models.loading import quiet_transformers as _quiet_transformers

        self.name = name
        self.card = get_card(name)
        self.resolved = resolve_model(name)
        _quiet_transformers()
        self.model = require("sentence_transformers", "dense").CrossEncoder(self.resolved.path, device=device)
        if max_tokens is not None:
            self.model.max_length = int(max_tokens)
        self.batch_size = batch_size

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
        if not passages:
            return np.zeros(0, dtype=np.float32)
        pairs = [(query, passage) for passage in passages]
        return np.asarray(
            self.model.predict(pairs, batch_size=self.batch_size, show_progress_bar=False), dtype=np.float32
        ).reshape(len(pairs))
