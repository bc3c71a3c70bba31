"""What every command shares: the consoles, the one error handler, and option parsing and checks.

Commands raise; they never print errors themselves. `ErrorHandlingGroup`, the root command group, turns every
project error (`EmbedproofError`, so `InvalidInputError` and `DatasetError` too), every bad option value, every
file that cannot be read or written, every argument that is not UTF-8 and every service that does not answer (a
Qdrant server, a remote API: `unreachable` names its URL) into one `error:` line on stderr and exit code 2, so a
user's mistake never shows a traceback.
"""

from __future__ import annotations

import errno
import math
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, NoReturn
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from embedproof.errors import EmbedproofError, InvalidInputError
from embedproof.files import lone_surrogate

# bench, index build and index add read a folder of .md/.html files the same way: an index serves what was measured.
DropCode = Annotated[
    bool, typer.Option("--drop-code", help="a folder of .md/.html files: leave code blocks out of the documents")
]

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

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        # bytes that are not UTF-8 arrive as lone surrogates (Python's surrogateescape): no command can use them
        for arg in args:
            if lone_surrogate(arg):
                shown = arg.encode("utf-8", "backslashreplace").decode("utf-8")
                fail(f"argument {shown!r} is not valid UTF-8 text")
        return super().parse_args(ctx, args)

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
            fail(unreachable(exc) or exc)
        except Exception as exc:
            message = unreachable(exc)
            if message is None:  # a bug: the traceback is what a report needs
                raise
            fail(message)


# Connection failures of the clients embedproof uses, by class name (the clients are optional extras): httpx's
# TransportError family (ConnectError, ConnectTimeout, ...), qdrant-client's wrapper of them, and the standard
# library's ConnectionError and socket.gaierror (a name that does not resolve).
_CONNECTION_FAILURES = {"TransportError", "ResponseHandlingException", "ConnectionError", "gaierror", "URLError"}


def unreachable(exc: BaseException) -> str | None:
    """One line naming the URL for a service that did not answer (a Qdrant server, a remote API); None when `exc`
    is not a connection failure. Mapped here, in the one error path, so every command that talks to a service
    (index build/add/search, bench, serve) says it the same way."""
    chain = [exc, *_chained(exc)]
    if not any(cls.__name__ in _CONNECTION_FAILURES for item in chain for cls in type(item).__mro__):
        return None
    url = next(filter(None, map(_request_origin, chain)), "the service")
    reason = next((str(item) for item in chain if str(item)), type(exc).__name__)
    return f"cannot reach {url}: {reason} (is it running, and is the URL right?)"


def _request_origin(exc: BaseException) -> str | None:
    """scheme://host:port of the request an httpx error failed on (the path says nothing to the user)."""
    try:
        parts = urlsplit(str(exc.request.url))  # type: ignore[attr-defined]
    except (AttributeError, RuntimeError):  # not an httpx error, or one raised before a request existed
        return None
    return f"{parts.scheme}://{parts.netloc}"


def _chained(exc: BaseException) -> list[BaseException]:
    """Every exception behind `exc` (a client's wrapped `source`, the cause, the context), nearest first."""
    found: list[BaseException] = []
    queue = [exc]
    while queue:
        item = queue.pop(0)
        for nxt in (getattr(item, "source", None), item.__cause__, item.__context__):
            if isinstance(nxt, BaseException) and nxt is not exc and all(nxt is not f for f in found):
                found.append(nxt)
                queue.append(nxt)
    return found


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
    """`"384,256"` → [384, 256]; None when not given. Every value must be a whole number of at least `minimum`."""
    if text is None:
        return None
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or any(not re.fullmatch(r"\s*-?[0-9]{1,9}\s*", part) for part in text.split(",") if part.strip()):
        # '' or ',' would silently mean "not given"; int() would also take '1_000' and 5,000 digits
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
    from embedproof.search.recipe import check_modes as check

    check(modes, option)


def build_recipes(modes, files, models, reranker, rerank_top):
    """Recipes from --mode (built from the --model list) and --recipe files; None when neither was given."""
    from embedproof.search.recipe import load_recipe, mode_recipes

    if not modes and not files:
        return None
    return mode_recipes(modes, models, reranker, rerank_top) + [load_recipe(path) for path in files or []]


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
