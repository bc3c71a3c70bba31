"""A retrieval recipe as data: first pass → fusion → rerank, the same object for bench, index and serving.

The three-tier pattern (docs/recipes.md): a dense first pass, a sparse run fused in for recall (RRF), and a
late-interaction or cross-encoder rerank of the top 50. Recipes load from JSON or YAML files.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from embedproof.defaults import RERANK_TOP, RESCORE_MULTIPLIER
from embedproof.errors import DatasetError, InvalidInputError
from embedproof.files import UNICODE_RULE, lone_surrogate, read_json_file, read_user_text

STANDARD_MODES = ("dense", "sparse", "multivector", "hybrid", "hybrid+rerank")
DEFAULT_DENSE = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_SPARSE = "bm25"
SPARSE_FAMILIES = frozenset({"bm25", "splade"})


class RecipeFieldError(InvalidInputError):
    """A recipe field with a bad value; `field` names it (load_recipe passes it on to the DatasetError)."""

    def __init__(self, field_name: str, message: str):
        super().__init__(message)
        self.field = field_name


MAXSIM = "maxsim:"  # a first-pass entry or reranker naming MaxSim over a model's token vectors


@dataclass(frozen=True)
class Component:
    """One part of a recipe, typed: the model, what it computes, and the stage it serves.

    `kind` is "first" (the model in its own mode: dense, sparse or BM25), "tokens" (MaxSim over its token vectors)
    or "cross-encoder"; `stage` is "first_pass" or "rerank". `key` names its encodings in a workspace and its data
    in an index manifest.
    """

    model: str
    kind: str
    stage: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.model}"

    @classmethod
    def of_first_pass(cls, entry: str) -> Component:
        """A `first_pass` entry: "maxsim:<model>" is MaxSim over the model's tokens; any other name, the model."""
        if entry.startswith(MAXSIM):
            return cls(entry[len(MAXSIM) :], "tokens", "first_pass")
        return cls(entry, "first", "first_pass")


@dataclass
class Recipe:
    """`first_pass` names one or more models (dense, sparse, or multi-vector); several are fused.

    `rerank` is None, "maxsim:<model>" (token-embedding MaxSim of a dense model, or a ColBERT model) or
    "cross-encoder:<model>"; it reorders the fused top `rerank_top`. `engine` (None: the embedded exact store)
    holds the Qdrant engine's HNSW and quantiser settings; bench measures such a recipe through the engine and the
    index serves it there.
    """

    name: str
    first_pass: list[str]
    fusion: str = "rrf"
    fusion_params: dict = field(default_factory=dict)
    weights: list[float] | None = None
    rerank: str | None = None
    rerank_top: int = RERANK_TOP
    candidates: int = 100
    # the bench's cheaper variant of the dense first pass: Matryoshka dim (None: native) and stored precision
    dim: int | None = None
    precision: str = "float32"
    rescore_multiplier: int = RESCORE_MULTIPLIER
    # Qdrant engine settings (search/engine.py; {} for its defaults): measured and served through the engine
    engine: dict | None = None
    # the first pass searches token windows of each document, max-pooled back to it (search/chunking.py)
    chunk_tokens: int | None = None
    chunk_overlap: int = 0
    # a dim below the safe minimum that the bench measured on this data (`bench --allow-unvalidated-dims`)
    allow_unvalidated_dims: bool = False

    def __post_init__(self):
        from embedproof.vectors.matryoshka import MIN_SAFE_DIM
        from embedproof.vectors.quantize import PRECISIONS

        if self.precision not in PRECISIONS:
            raise RecipeFieldError(
                "precision",
                f"recipe {self.name!r}: precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}",
            )
        if self.dim is not None and (not isinstance(self.dim, int) or isinstance(self.dim, bool) or self.dim < 1):
            raise RecipeFieldError(
                "dim",
                f"recipe {self.name!r}: dim must be a positive whole number (or null for native), got {self.dim!r}",
            )
        if self.dim is not None and self.dim < MIN_SAFE_DIM and not self.allow_unvalidated_dims:
            raise RecipeFieldError(
                "dim",
                f"recipe {self.name!r}: truncating to dim {self.dim} (< {MIN_SAFE_DIM}) is refused without "
                f"validation on your data; bench it with --allow-unvalidated-dims first",
            )
        if (
            not isinstance(self.rescore_multiplier, int)
            or isinstance(self.rescore_multiplier, bool)
            or self.rescore_multiplier < 0
        ):
            raise RecipeFieldError(
                "rescore_multiplier",
                f"recipe {self.name!r}: rescore_multiplier must be a whole number >= 0 "
                f"(0: no rescoring), got {self.rescore_multiplier!r}",
            )
        self._check_chunking()
        if not self.first_pass:
            raise RecipeFieldError("first_pass", f"recipe {self.name!r}: first_pass needs at least one model")
        if self.weights is not None and len(self.weights) != len(self.first_pass):
            raise RecipeFieldError(
                "weights",
                f"recipe {self.name!r}: {len(self.weights)} weights for {len(self.first_pass)} first-pass models",
            )
        if self.rerank is not None and self.rerank.split(":", 1)[0] not in {"maxsim", "cross-encoder"}:
            raise RecipeFieldError(
                "rerank",
                f"recipe {self.name!r}: rerank must be 'maxsim:<model>' or 'cross-encoder:<model>', "
                f"got {self.rerank!r}",
            )
        if self.engine is not None:
            self._check_engine()

    def _check_chunking(self) -> None:
        def whole(value) -> bool:
            return isinstance(value, int) and not isinstance(value, bool)

        if self.chunk_tokens is not None and (not whole(self.chunk_tokens) or self.chunk_tokens < 1):
            raise RecipeFieldError(
                "chunk_tokens",
                f"recipe {self.name!r}: chunk_tokens must be a positive whole number (or null: whole documents), "
                f"got {self.chunk_tokens!r}",
            )
        limit = self.chunk_tokens or 1
        if not whole(self.chunk_overlap) or not 0 <= self.chunk_overlap < limit:
            raise RecipeFieldError(
                "chunk_overlap",
                f"recipe {self.name!r}: chunk_overlap must be a whole number from 0 to below chunk_tokens "
                f"({self.chunk_tokens}), got {self.chunk_overlap!r}",
            )
        if self.chunk_tokens is not None and self.engine is not None:
            raise RecipeFieldError(
                "chunk_tokens",
                f"recipe {self.name!r}: a chunked recipe is served by the embedded store, not the engine",
            )
        if self.chunk_tokens is not None and any(Component.of_first_pass(m).kind == "tokens" for m in self.first_pass):
            raise RecipeFieldError(
                "chunk_tokens", f"recipe {self.name!r}: chunking applies to dense and sparse first passes, not maxsim"
            )

    def _check_engine(self) -> None:
        from embedproof.search.engine import engine_settings, setting_names

        if not isinstance(self.engine, dict):
            raise RecipeFieldError(
                "engine", f"recipe {self.name!r}: engine must be a mapping of settings, got {self.engine!r}"
            )
        unknown = sorted(set(self.engine) - set(setting_names()))
        if unknown:
            raise RecipeFieldError(
                "engine", f"recipe {self.name!r}: unknown engine settings {unknown} (known: {setting_names()})"
            )
        try:
            engine_settings(self)
        except InvalidInputError as exc:
            message = str(exc) if str(exc).startswith("recipe ") else f"recipe {self.name!r}: engine: {exc}"
            raise RecipeFieldError("engine", message) from exc

    @property
    def shrink(self) -> tuple[int | None, str] | None:
        """(dim, precision) applied to the dense first-pass models, or None when they stay native float32."""
        return None if self.dim is None and self.precision == "float32" else (self.dim, self.precision)

    @property
    def reranker(self) -> tuple[str, str] | None:
        if self.rerank is None:
            return None
        kind, _, model = self.rerank.partition(":")
        return kind, model

    def components(self) -> list[Component]:
        """Every part of the recipe: its first passes in order, then its reranker."""
        parts = [Component.of_first_pass(entry) for entry in self.first_pass]
        if self.reranker is not None:
            kind, model = self.reranker
            parts.append(Component(model, "tokens" if kind == "maxsim" else "cross-encoder", "rerank"))
        return parts

    def first_pass_models(self) -> list[str]:
        """The first-pass models searched in their own mode (dense, sparse, BM25), not through MaxSim."""
        return [c.model for c in self.components() if c.stage == "first_pass" and c.kind == "first"]

    def models(self) -> list[str]:
        """Every model the recipe loads, each once: first-pass models and the reranker's."""
        return list(dict.fromkeys(c.model for c in self.components()))

    @property
    def chunking(self) -> tuple[int, int] | None:
        """(chunk tokens, overlap) when the first pass searches token windows, else None."""
        return None if self.chunk_tokens is None else (self.chunk_tokens, self.chunk_overlap)

    def setup(self) -> str:
        """What the recipe measures, without its name or settings that change nothing for it: two recipes with the
        same set-up rank identically, so a bench runs it once."""
        fields = {k: v for k, v in asdict(self).items() if k not in {"name", "allow_unvalidated_dims"}}
        if len(self.first_pass) == 1:
            fields.update(fusion=None, fusion_params={}, weights=None)
        if self.rerank is None:
            fields["rerank_top"] = None
        if self.precision not in {"int8", "binary"}:
            fields["rescore_multiplier"] = None
        return json.dumps(fields, sort_keys=True)

    def to_dict(self) -> dict:
        return asdict(self)


def check_unique_names(recipes: list[Recipe]) -> None:
    """Every recipe of one bench has its own name: results, the pick, `compare` and kept indexes go by it."""
    names = [r.name for r in recipes]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InvalidInputError(
            f"recipes named {', '.join(repr(n) for n in twice)} appear more than once; give each recipe its own name"
        )


def standard_recipe(
    mode: str, dense: str | None, sparse: str | None, reranker: str | None = None, rerank_top: int = RERANK_TOP
) -> Recipe:
    """The named modes of `bench --mode`, built from the models given on the command line."""

    def need(model, what):
        if model is None:
            raise InvalidInputError(f"mode {mode!r} needs a {what} model (--model)")
        return model

    if mode == "dense":
        return Recipe("dense", [need(dense, "dense")])
    if mode == "sparse":
        return Recipe("sparse", [need(sparse, "sparse")])
    if mode == "multivector":
        # exhaustive MaxSim over the dense model's token embeddings (or a ColBERT model given as --model)
        return Recipe("multivector", [f"maxsim:{need(dense, 'dense or multi-vector')}"])
    if mode == "hybrid":
        return Recipe("hybrid", [need(dense, "dense"), need(sparse, "sparse")], "rrf", {"k": 60})
    if mode == "hybrid+rerank":
        return Recipe(
            "hybrid+rerank",
            [need(dense, "dense"), need(sparse, "sparse")],
            "rrf",
            {"k": 60},
            rerank=reranker or f"maxsim:{dense}",
            rerank_top=rerank_top,
        )
    raise InvalidInputError(f"unknown mode {mode!r} (known: {', '.join(STANDARD_MODES)})")


def check_modes(modes, option: str = "--mode") -> None:
    """Every mode must be a standard recipe mode."""
    for mode in modes or []:
        if mode not in STANDARD_MODES:
            raise InvalidInputError(f"{option}: unknown mode {mode!r} (known: {', '.join(STANDARD_MODES)})")


def mode_recipes(modes, models=None, reranker: str | None = None, rerank_top: int = 50) -> list[Recipe]:
    """The standard recipes of `modes`, each once, built from a model list: its first dense model and its first
    sparse one (BM25 or SPLADE), else MiniLM and BM25."""
    from embedproof.models.card import get_card

    check_modes(modes)
    models = list(models or [])
    dense = next((m for m in models if get_card(m).family not in SPARSE_FAMILIES), None) or DEFAULT_DENSE
    sparse = next((m for m in models if get_card(m).family in SPARSE_FAMILIES), None) or DEFAULT_SPARSE
    return [standard_recipe(m, dense, sparse, reranker, rerank_top) for m in dict.fromkeys(modes or [])]


def load_recipe(path: str | Path) -> Recipe:
    """Read a recipe from .json or .yaml/.yml; unknown or missing fields are errors naming the file."""
    path = Path(path)
    if path.suffix in {".yaml", ".yml"}:
        import yaml

        text = read_user_text(path, "recipe")
        try:
            data = yaml.safe_load(text)
        except Exception as exc:  # a YAML error, or nesting past the recursion limit
            raise DatasetError(f"not valid YAML ({exc})", path) from exc
        if lone_surrogate(data):
            raise DatasetError(f"not valid Unicode: {UNICODE_RULE}", path)
    else:
        data = read_json_file(path, "recipe")
    if not isinstance(data, dict):
        raise DatasetError("a recipe must be a mapping of fields", path)
    known = set(Recipe.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    if unknown:
        raise DatasetError(f"unknown recipe fields {unknown} (known: {sorted(known)})", path, field=unknown[0])
    data.setdefault("name", path.stem)
    try:
        return Recipe(**data)
    except (TypeError, ValueError) as exc:
        raise DatasetError(str(exc), path, field=getattr(exc, "field", None)) from exc
