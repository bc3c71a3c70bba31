"""What every command shares: the consoles, the one error handler, and option parsing and checks.

Commands raise; they never print errors themselves. `ErrorHandlingGroup`, the root command group, turns every
project error (`EmbedproofError`, so `InvalidInputError` and `DatasetError` too), every bad option value and every
file that cannot be read or written into one `error:` line on stderr and exit code 2, so a user's mistake never
shows a traceback.
"""

from __future__ import annotations

import errno
import math
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from embedproof.errors import EmbedproofError, InvalidInputError

__all__ = [
    "EXIT_BAD_INPUT",
    "ErrorHandlingGroup",
    "console",
    "err",
    "fail",
    "int_list",
    "str_list",
    "precision_list",
    "non_empty",
    "in_range",
    "check_modes",
    "build_recipes",
    "writable_file",
    "writable_folder",
    "print_dataset",
]

EXIT_BAD_INPUT = 2

# A terminal's own width; output to a pipe or file honours COLUMNS when it is set, else is drawn 240 wide so a file
# or CI log keeps whole rows (rich would assume 80 columns there).
console = Console(width=None if sys.stdout.isatty() or os.environ.get("COLUMNS", "").isdigit() else 240)
err = Console(stderr=True, soft_wrap=True)  # never break a file path or message across lines


def fail(message: object) -> NoReturn:
    """Print one `error:` line on stderr and exit 2 (bad input)."""
    err.print(f"[bold red]error:[/] {escape(str(message))}", highlight=False)
    raise typer.Exit(EXIT_BAD_INPUT)


class ErrorHandlingGroup(TyperGroup):
    """The root group: every command and sub-group runs inside its `invoke`, so errors are handled here once."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EmbedproofError as exc:
            fail(exc)
        except typer.BadParameter as exc:  # typer's own checks (min=, max=, types, a missing option)
            option = exc.param.opts[0] if exc.param is not None and exc.param.opts else ""
            # written like the project's own checks, `--top-k: ...`, when the problem is an option's value
            fail(f"{option}: {exc.message}" if option.startswith("-") and exc.message else exc.format_message())
        except OSError as exc:
            if exc.errno == errno.EPIPE:  # output piped into `head`: typer exits quietly
                raise
            fail(exc)


def print_dataset(dataset, out: Console = console) -> None:
    """A collection's counts on one line, then its load warnings (the demo's deliberate empty passage as a note)."""
    s = dataset.summary()
    out.print(
        f"[bold]{s['name']}[/] ({s['path']}): {s['documents']:,} documents, {s['queries']:,} queries, "
        f"{s['judged_queries']:,} judged in split {s['split']!r}, {s['judgments']:,} judgments"
        + (" (graded)" if s["graded"] else ""),
        highlight=False,
    )
    from embedproof.datasets.loading import DEMO_PATH

    for warning in dataset.warnings:
        if Path(dataset.path) == DEMO_PATH and warning.kind == "empty_text":
            # the demo keeps one empty passage on purpose (it shows how empty documents are handled): not a problem
            out.print(
                "note: the demo keeps one empty passage (d240) on purpose; it can only be retrieved by chance",
                highlight=False,
            )
            continue
        out.print(f"[yellow]warning:[/] {escape(str(warning))}", highlight=False)


def int_list(text: str | None, option: str, minimum: int = 1) -> list[int] | None:
    """`"384,256"` → [384, 256]; None when empty. Every value must be a whole number of at least `minimum`."""
    if not text:
        return None
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InvalidInputError(f"{option}: expected comma-separated integers, got {text!r}") from None
    small = [v for v in values if v < minimum]
    if small:
        raise InvalidInputError(f"{option}: every value must be at least {minimum}, got {small[0]}")
    return values


def str_list(text: str) -> list[str]:
    """`"float32, int8"` → ["float32", "int8"] (blank parts dropped)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def precision_list(text: str, option: str) -> list[str]:
    """`"float32,int8"` → ["float32", "int8"]; each must be a stored precision, and at least one is needed."""
    from embedproof.vectors.quantize import PRECISIONS

    values = str_list(text)
    if not values:
        raise InvalidInputError(f"{option}: give at least one of {', '.join(PRECISIONS)}")
    for value in values:
        if value not in PRECISIONS:
            raise InvalidInputError(f"{option}: unknown precision {value!r} (known: {', '.join(PRECISIONS)})")
    return values


def non_empty(value: str | None, option: str) -> str | None:
    """Refuse a name, path or split given as an empty or blank string (None, not given, passes)."""
    if value is not None and not value.strip():
        raise InvalidInputError(f"{option}: empty; give a value")
    return value


def in_range(
    value: float | None,
    option: str,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Refuse a number outside [low, high] (an open end excludes the bound), NaN and infinity; None passes."""
    if value is None:
        return
    ok = math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        bounds = f"{left}{'-∞' if low is None else f'{low:g}'}, {'∞' if high is None else f'{high:g}'}{right}"
        raise InvalidInputError(f"{option}: must lie in {bounds}, got {value:g}")


def check_modes(modes: Sequence[str] | None, option: str = "--mode") -> None:
    """Every mode must be a standard recipe mode."""
    from embedproof.search.recipe import STANDARD_MODES

    for mode in modes or []:
        if mode not in STANDARD_MODES:
            raise InvalidInputError(f"{option}: unknown mode {mode!r} (known: {', '.join(STANDARD_MODES)})")


def build_recipes(modes, files, models, reranker, rerank_top):
    """Recipes from --mode (built from the --model list) and --recipe files; None when neither was given."""
    from embedproof.models.card import get_card
    from embedproof.search.recipe import load_recipe, standard_recipe

    if not modes and not files:
        return None
    check_modes(modes)
    models = list(models or [])
    sparse_families = {"bm25", "splade"}
    dense = (
        next((m for m in models if get_card(m).family not in sparse_families), None)
        or "sentence-transformers/all-MiniLM-L6-v2"
    )
    sparse = next((m for m in models if get_card(m).family in sparse_families), None) or "bm25"
    built = [standard_recipe(m, dense, sparse, reranker, rerank_top) for m in modes or []]
    return built + [load_recipe(path) for path in files or []]


def writable_folder(path: str | os.PathLike | None, option: str) -> None:
    """The folder exists or can be made, and files can be written in it: checked before any long work, leaving
    nothing."""
    if path is None:
        return
    folder = Path(path)
    existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("."))
    if not existing.is_dir():
        raise InvalidInputError(f"{option}: cannot write in {folder}: {existing} is a file, not a folder")
    try:  # a folder made and removed where the first missing one would go proves the write, as root too
        os.rmdir(tempfile.mkdtemp(prefix=".embedproof-write-check.", dir=existing))
    except OSError as exc:
        raise InvalidInputError(f"{option}: cannot write in {folder}: {exc.strerror or exc}") from None


def writable_file(path: str | os.PathLike | None, option: str) -> None:
    """A file `option` names can be written: not a folder, and its folder exists (or can be made) and is writable."""
    if path is None:
        return
    target = Path(path)
    if target.is_dir():
        raise InvalidInputError(f"{option}: {target} is a folder; give a file name")
    writable_folder(target.parent, option)
