"""Model cards as data: prefixes, window, dimensions, modes, licence. Looked up by name or alias.

The registry lives in `cards.json` so adding a model is a data change, not a code branch. An unknown model
gets a card of safe assumptions (no prefix, symmetric) and a warning that says what was assumed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from functools import cache
from pathlib import Path

from embedproof.errors import DatasetError

CARDS_PATH = Path(__file__).with_name("cards.json")


@dataclass(frozen=True)
class ModelCard:
    name: str
    aliases: list[str] = field(default_factory=list)
    family: str = "unknown"
    modes: list[str] = field(default_factory=lambda: ["dense"])
    query_prefix: str = ""
    document_prefix: str = ""
    symmetric: bool = True
    asymmetry: str | None = None
    max_tokens: int | None = None
    dim: int | None = None
    matryoshka_dims: list[int] = field(default_factory=list)
    pooling: str = "unknown"
    normalize: bool = True
    similarity: str = "cosine"
    params_m: float | None = None
    license: str = "unknown"
    open_weights: bool = True
    hosted: bool = False
    provider: str | None = None
    price_usd_per_1m_tokens: float | None = None
    languages: list[str] = field(default_factory=list)
    source: str = ""
    prefix_source: str = ""
    verified: list[str] = field(default_factory=list)
    notes: str = ""
    known: bool = True

    @property
    def matryoshka(self) -> bool:
        return bool(self.matryoshka_dims)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def unknown(cls, name: str) -> ModelCard:
        return cls(name=name, family="unknown", known=False, notes="not in embedproof's registry; defaults assumed")

    @property
    def assumption_warning(self) -> str | None:
        if self.known:
            return None
        return (
            f"model {self.name!r} is not in embedproof's model-card registry: assumed no query or document prefix "
            "(symmetric encoding), the model's own max length, its own output dimension, cosine similarity on "
            "normalised vectors, and no Matryoshka training. If its card asks for a prefix (bge, e5, nomic, "
            "arctic, Qwen3 do), pass --query-prefix/--document-prefix or recall may drop by several points."
        )


_FIELDS = {f.name for f in fields(ModelCard)} - {"known"}


@cache
def load_cards(path: str | None = None) -> tuple[ModelCard, ...]:
    """Read and validate the registry; a malformed entry names its position and field."""
    source = Path(path) if path else CARDS_PATH
    data = json.loads(source.read_text(encoding="utf-8"))
    cards = []
    for position, entry in enumerate(data["cards"]):
        unknown = set(entry) - _FIELDS
        if unknown:
            raise DatasetError(
                f"card #{position} has unknown fields {sorted(unknown)}", source, field=sorted(unknown)[0]
            )
        if "name" not in entry:
            raise DatasetError(f"card #{position} has no name", source, field="name")
        cards.append(ModelCard(**entry))
    return tuple(cards)


@cache
def _index() -> dict[str, ModelCard]:
    index: dict[str, ModelCard] = {}
    for card in load_cards():
        for key in [card.name, *card.aliases, card.name.split("/")[-1]]:
            index.setdefault(key.lower(), card)
    return index


def find_card(name: str) -> ModelCard | None:
    """The card for a hub id, an alias, or a local folder named like the model (…/all-MiniLM-L6-v2)."""
    from embedproof.models.remote_providers import split_remote_name

    index = _index()
    remote = split_remote_name(str(name))  # `openai-compatible:MODEL@URL` has MODEL's card
    text = (remote.model if remote else str(name)).rstrip("/")
    for key in (text, text.split("/")[-1]):
        card = index.get(key.lower())
        if card is not None:
            return card
    return None


def get_card(name: str) -> ModelCard:
    """The registry card, or an `unknown` card whose `assumption_warning` says what was assumed."""
    return find_card(name) or ModelCard.unknown(name)
