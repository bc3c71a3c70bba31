"""The set-up every sentence-transformers-backed encoder shares: card, assumptions, offline weights, model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from embedproof.errors import require
from embedproof.models.card import ModelCard, get_card
from embedproof.models.resolve import ResolvedModel, resolve_model


def quiet_transformers() -> None:
    # transformers 5 prints a "Loading weights" bar per model load; embedproof shows its own progress.
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except Exception:
        pass


@dataclass
class Loaded:
    card: ModelCard
    warnings: list[str]
    resolved: ResolvedModel
    model: Any
    max_tokens: int

    def attach(self, encoder: Any) -> None:
        """Give `encoder` the card, warnings, resolved weights, model and window it was loaded with."""
        encoder.card, encoder.warnings, encoder.resolved = self.card, self.warnings, self.resolved
        encoder.model, encoder.max_tokens = self.model, self.max_tokens


def load_sentence_transformers(name: str, cls: str, device: str = "cpu", max_tokens: int | None = None) -> Loaded:
    """Load `name` as sentence_transformers.<cls> (SentenceTransformer, SparseEncoder, MultiVectorEncoder) offline."""
    card = get_card(name)
    resolved = resolve_model(name)
    st = require("sentence_transformers", "dense")
    quiet_transformers()
    model = getattr(st, cls)(resolved.path, device=device)
    if max_tokens is not None:
        model.max_seq_length = int(max_tokens)
    return Loaded(card, [w for w in [card.assumption_warning] if w], resolved, model, int(model.max_seq_length))
