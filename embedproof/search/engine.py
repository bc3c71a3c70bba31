"""The Qdrant engine settings a recipe carries: HNSW, the engine's quantiser, oversampling and rescoring.

A recipe with `engine` set is measured through the engine (`bench`) and served by it (`index build --backend edge`),
so the settings belong to the recipe, not to one command line: the configuration bench measured is the one the
index serves. `index/qdrant/plan.py` turns them into the shard's collection and Query API request.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Protocol, TypeVar

from embedproof.errors import InvalidInputError

__all__ = [
    "EngineRecipe",
    "QUANTIZATIONS",
    "PRECISION_QUANTIZATION",
    "EngineSettings",
    "engine_settings",
    "merged_engine",
    "setting_names",
    "with_engine",
]


class EngineRecipe(Protocol):
    """The fields of a recipe the engine settings depend on (`search.recipe.Recipe` has them; it validates its
    `engine` field with this module, so this module does not import it)."""

    name: str
    engine: dict[str, Any] | None
    precision: str
    rescore_multiplier: int


R = TypeVar("R", bound=EngineRecipe)

# the engine's quantisers: name → (kind, parameter); "binary-1.5" is Qdrant's 1.5-bit binary encoding
QUANTIZATIONS = {
    "int8": ("scalar", "int8"),
    "binary-1": ("binary", 1.0),
    "binary-1.5": ("binary", 1.5),
    "binary-2": ("binary", 2.0),
    "turbo-1": ("turbo", 1.0),
    "turbo-1.5": ("turbo", 1.5),
    "turbo-2": ("turbo", 2.0),
    "turbo-4": ("turbo", 4.0),
    "turbo-8": ("turbo", 8.0),
}
# the recipe's stored precision, as the engine's own quantiser (float16 is a storage datatype, not a quantiser)
PRECISION_QUANTIZATION = {"int8": "int8", "binary": "binary-1"}


@dataclass(frozen=True)
class EngineSettings:
    """HNSW, quantisation and search settings of an edge index; every field is written to the manifest.

    Defaults are the Qdrant server's (m 16, ef_construct 100, full-scan and indexing thresholds 10,000 KB), with
    hnsw_ef 128 at query time. `oversampling` and `rescore` apply when a quantiser is set; `exact` searches
    every vector (the parity mode against the embedded store); `vectors_on_disk` keeps the float vectors on disk.
    """

    m: int = 16
    ef_construct: int = 100
    ef: int = 128
    full_scan_threshold_kb: int = 10_000
    indexing_threshold_kb: int = 10_000
    indexing_threads: int = 0
    quantization: str | None = None
    oversampling: float = 4.0
    rescore: bool = True
    exact: bool = False
    vectors_on_disk: bool = False

    def __post_init__(self) -> None:
        if self.quantization is not None and self.quantization not in QUANTIZATIONS:
            raise InvalidInputError(f"edge quantization {self.quantization!r}: choose from {', '.join(QUANTIZATIONS)}")
        for name in ("m", "ef_construct", "ef", "full_scan_threshold_kb", "indexing_threshold_kb", "indexing_threads"):
            value = getattr(self, name)
            low = 1 if name in ("ef_construct", "ef") else 0
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise InvalidInputError(f"edge {name}: a whole number ≥ {low}, got {value!r}")
        if isinstance(self.oversampling, bool) or not isinstance(self.oversampling, int | float):
            raise InvalidInputError(f"edge oversampling: a number ≥ 1, got {self.oversampling!r}")
        if not self.oversampling >= 1:
            raise InvalidInputError(f"edge oversampling: ≥ 1, got {self.oversampling!r}")
        for name in ("rescore", "exact", "vectors_on_disk"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidInputError(f"edge {name}: true or false, got {getattr(self, name)!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def setting_names() -> list[str]:
    return [f.name for f in fields(EngineSettings)]


def merged_engine(recipe: EngineRecipe, options: dict | None) -> dict:
    """The recipe's `engine` field with the given `--edge-*` options added (None: not given); an option may repeat
    the recipe's value but not contradict it — the recipe is what bench measured."""
    given = dict(recipe.engine or {})
    for key, value in (options or {}).items():
        if value is None or key not in setting_names():
            continue
        if key in given and given[key] != value:
            raise InvalidInputError(
                f"--edge-{key.replace('_', '-')} {value!r}: recipe {recipe.name!r} sets engine {key} "
                f"{given[key]!r} (what bench measured); edit the recipe to change it"
            )
        given[key] = value
    return given


def engine_settings(recipe: EngineRecipe, options: dict | None = None) -> EngineSettings:
    """The settings of `recipe` on the engine: its `engine` field, then `--edge-*` options (None: not given).

    Options merge as `merged_engine` says. The recipe's int8/binary precision is the engine's scalar int8 / 1-bit
    binary quantiser, its `rescore_multiplier` the oversampling (0: no rescoring), as in the embedded store; an
    explicit `quantization` must agree with it.
    """
    given = merged_engine(recipe, options)
    implied = PRECISION_QUANTIZATION.get(recipe.precision)
    if recipe.precision == "float16" and given.get("quantization"):
        raise InvalidInputError(
            f"recipe {recipe.name!r}: precision float16 with edge quantization {given['quantization']!r}: choose one"
        )
    if implied:
        if given.get("quantization", implied) != implied:
            raise InvalidInputError(
                f"recipe {recipe.name!r}: precision {recipe.precision} is the engine's {implied}, "
                f"not edge quantization {given['quantization']!r}; set precision float32 to choose another"
            )
        given["quantization"] = implied
        if "oversampling" not in given and recipe.rescore_multiplier:
            given["oversampling"] = float(recipe.rescore_multiplier)
        given.setdefault("rescore", recipe.rescore_multiplier > 0)
    if isinstance(given.get("oversampling"), int) and not isinstance(given["oversampling"], bool):
        given["oversampling"] = float(given["oversampling"])
    return EngineSettings(**given)


def with_engine(recipe: R, options: dict | None = None) -> R:
    """`recipe` measured and served through the engine: its own engine settings plus the given options (which may
    repeat them, not contradict them); a recipe without settings gets the engine's defaults."""
    return replace(recipe, engine=merged_engine(recipe, options))  # the recipe checks the result
