"""Notes printed only when they apply: a note about a setting that changes nothing in this run is noise."""

from __future__ import annotations

from rich.console import Console

__all__ = ["auto_backend_note"]

# built-in and API models compute no vectors here, so no encoder backend applies to them
_NO_ENCODER_BACKEND = {"bm25", "hashing"}


def _uses_encoder_backend(name: str) -> bool:
    from embedproof.models.availability import availability
    from embedproof.models.card import get_card

    return get_card(name).family not in _NO_ENCODER_BACKEND and availability(name).status != "remote"


def auto_backend_note(models: list[str], out: Console, where: str = "recorded per run") -> None:
    """The note that `auto` picked the encoder backend, when one of `models` runs on an encoder backend here."""
    if any(_uses_encoder_backend(name) for name in models):
        out.print(
            "note: encoder backend auto (the fast extra is installed): each model runs on the fastest backend that "
            f"keeps ≥ 99% cosine to torch fp32 on this CPU, {where}; --backend torch (or EMBEDPROOF_BACKEND=torch) "
            "for fp32",
            highlight=False,
        )
