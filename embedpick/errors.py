"""Errors that name the file, line and field, so a user can fix bad input without reading a traceback."""

from __future__ import annotations

from dataclasses import dataclass


class EmbedpickError(Exception):
    """Base class: every error embedpick raises on purpose; the CLI prints these without a traceback."""


class DatasetError(EmbedpickError):
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


class ModelNotAvailableError(EmbedpickError):
    """Weights cannot be found offline; the message says how to get them."""


class MissingExtraError(EmbedpickError):
    """An optional dependency is missing; the message names the `pip install` that fixes it."""


@dataclass(frozen=True)
class LoadWarning:
    """A problem that does not stop loading (empty text, unknown qrels id): counted and shown, never silent."""

    kind: str
    message: str
    path: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}, line {self.line}: " if self.path and self.line else (f"{self.path}: " if self.path else "")
        return f"{where}{self.message}"


def require(module: str, extra: str | None = None):
    """Import an optional module or raise an error naming the `pip install` that provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{module} is not installed: pip install '{f'embedpick[{extra}]' if extra else 'embedpick'}' ({exc})"
        ) from exc
