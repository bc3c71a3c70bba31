"""Errors that name the file, line and field, so a user can fix bad input without reading a traceback."""

from __future__ import annotations

from dataclasses import dataclass


class EmbedproofError(Exception):
    """Base class: every error embedproof raises on purpose; the CLI prints these without a traceback."""


class InvalidInputError(EmbedproofError, ValueError):
    """A value the user gave (an option, a request field, an argument) is out of range or of the wrong kind.

    Also a `ValueError`, so callers that validate with `except ValueError` keep working; the CLI prints it as one
    line and exits 2, the server answers 422.
    """


class DatasetError(EmbedproofError):
    """Bad input data, located as precisely as we can (file, line, field)."""

    def __init__(self, message: str, path: object = None, line: int | None = None, field: str | None = None):
        self.path = None if path is None else str(path)
        self.line = line
        self.field = field
        where = ""
        if self.path is not None:
            where = self.path + (f", line {line}" if line is not None else "")
            if field is not None:
                where += f", field {field!r}"
            where += ": "
        super().__init__(where + message)


class ModelNotAvailableError(EmbedproofError):
    """Weights cannot be found offline; the message says how to get them."""


class MissingExtraError(EmbedproofError):
    """An optional dependency is missing; the message names the `pip install` that fixes it."""


@dataclass(frozen=True)
class LoadWarning:
    """A problem that does not stop loading (empty text, unknown qrels id): counted and shown, never silent."""

    kind: str
    message: str
    path: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = (
            f"{self.path}, line {self.line}: " if self.path and self.line else (f"{self.path}: " if self.path else "")
        )
        return f"{where}{self.message}"


def require(module: str, extra: str | None = None):
    """Import an optional module or raise an error naming the `pip install` that provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{module} is not installed: pip install '{f'embedproof[{extra}]' if extra else 'embedproof'}' ({exc})"
        ) from exc
