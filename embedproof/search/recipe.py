"""A retrieval recipe as data: first pass → fusion → rerank, the same object for bench, index and serving.

The lesson's three-tier pattern: a dense first pass, a sparse run fused in for recall (RRF), and a
late-interaction or cross-encoder rerank of the top 50. Recipes load from JSON or YAML files.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from embedproof.errors import DatasetError, InvalidInputError
from embedproof.files import UNICODE_RULE, lone_surrogate, read_json_file, read_user_text

STANDARD_MODES = ("dense", "sparse", "multivector", "hybrid", "hybrid+rerank")


class RecipeFieldError(InvalidInputError):
    """A recipe field with a bad value; `field` names it (load_recipe passes it on to the DatasetError)."""

    def __init__(self, field_name: str, message: str):
        super().__init__(message)
        self.field = field_name


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
    rerank_top: int = 50
    candidates: int = 100
    # the bench's cheaper variant of the dense first pass: Matryoshka dim (None: native) and stored precision
    dim: int | None = None
    precision: str = "float32"
    rescore_multiplier: int = 4
    # Qdrant engine settings (search/engine.py; {} for its defaults): measured and served through the engine
    engine: dict | None = None

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
        if self.dim is not None and self.dim < MIN_SAFE_DIM:
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

    def models(self) -> list[str]:
        """Every model the recipe loads: first-pass models (without `maxsim:`) and the reranker's."""
        names = [m.split(":", 1)[1] if m.startswith("maxsim:") else m for m in self.first_pass]
        return list(dict.fromkeys(names + ([self.reranker[1]] if self.reranker else [])))

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
    mode: str, dense: str | None, sparse: str | None, reranker: str | None = None, rerank_top: int = 50
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
