"""Options that would have no effect in the combination given are refused, never dropped.

Each command calls its check once with its options (`locals()`), before any work. An option counts as given when
the user typed it (or set it through the environment), not when it holds its default, so a default never trips a
check. One message shape: `--option: ... (what it needs)`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from embedproof.errors import InvalidInputError

try:  # typer ≥ 0.20 carries its own copy of click; earlier ones run on click itself
    from typer._click.core import ParameterSource
    from typer._click.globals import get_current_context
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import get_current_context
    from click.core import ParameterSource

SPARSE_FAMILIES = {"bm25", "splade"}


def given(name: str) -> bool:
    """The user gave option `name` (the parameter's Python name) on the command line or through the environment."""
    ctx = get_current_context(silent=True)
    source = ctx.get_parameter_source(name) if ctx is not None else None
    return source in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


def _sparse(model: str) -> bool:
    from embedproof.models.card import get_card

    return get_card(model).family in SPARSE_FAMILIES


def unused_models(models: Iterable[str] | None, recipes: Iterable | None, where: str) -> None:
    """Every --model must be used by a recipe built from --mode/--recipe (`--mode dense -m bm25` would quietly
    build the default dense model, `--mode sparse -m hashing` BM25)."""
    used = {m for r in recipes or [] for m in r.models()}
    for model in models or []:
        if model not in used:
            kind = "a sparse" if _sparse(model) else "a dense"
            raise InvalidInputError(
                f"--model {model}: {where} does not use it ({kind} model; the recipes use "
                f"{', '.join(sorted(used)) or 'no model'}); give a mode that uses it, or drop it"
            )


def bench(o: Mapping[str, Any]) -> None:
    """bench (called once its recipes are built): --engine-dir needs --backend edge; --reranker/--rerank-top need
    a rerank mode; --dims/--precision/--chunk-tokens need a dense model; a --model that runs neither alone nor in
    a recipe."""
    on_engine = any(value.strip().lower() == "edge" for value in o["backend"] or [])
    if o["engine_dir"] is not None and not on_engine:
        raise InvalidInputError("--engine-dir: keeps engine indexes, so it needs --backend edge")
    modes = o["mode"] or []
    for option in ("rerank_top", "reranker"):
        if given(option) and "hybrid+rerank" not in modes:
            raise InvalidInputError(f"--{option.replace('_', '-')}: only means something with --mode hybrid+rerank")
    models = o["model"] or []
    if models and not modes and not o["recipe"] and all(_sparse(m) for m in models):
        for option in ("dims", "precision", "chunk_tokens"):
            if given(option):
                raise InvalidInputError(
                    f"--{option.replace('_', '-')}: {', '.join(models)} {'is' if len(models) == 1 else 'are'} sparse "
                    "(no vectors to truncate, quantise or chunk); give a dense model too, or drop it"
                )
    alone = o["model_runs"] if o["model_runs"] is not None else not o["recipes"]
    if o["recipes"] and not alone:
        unused_models(models, o["recipes"], "--mode/--recipe without --model-runs")


def index_build(o: Mapping[str, Any]) -> None:
    """index build (called once its recipe is built): every --model goes into the one recipe."""
    unused_models(o["model"], o["recipes"], f"--mode {o['mode']}" if o["mode"] else "--recipe")


# pick's options that only the rules mode reads, and those only the evidence mode (--results) reads
RULES_ONLY = (
    "profile_file",
    "docs",
    "languages",
    "domain",
    "avg_tokens",
    "p99_tokens",
    "keyword_heavy",
    "target",
    "open_weights_only",
    "model",
    "query_prefix",
    "dim",
    "validated",
    "mode",
    "domain_model",
    "domain_gain",
)
EVIDENCE_ONLY = ("vectors", "recipe_out")
_OPTION_NAMES = {"profile_file": "--profile", "keyword_heavy": "--keyword-heavy"}


def pick(o: Mapping[str, Any]) -> None:
    """pick: the rules-mode options with --results, or the evidence-mode options without it, are refused."""
    evidence = o["results"] is not None
    for name in EVIDENCE_ONLY if not evidence else RULES_ONLY:
        if given(name):
            option = _OPTION_NAMES.get(name, "--" + name.replace("_", "-"))
            if evidence:
                raise InvalidInputError(f"{option}: a rules-mode option; --results picks among measured runs alone")
            raise InvalidInputError(f"{option}: only with --results (it picks among measured runs)")
