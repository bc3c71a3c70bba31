"""Progress of long phases inside the model stack (backend export, quantisation, calibration), in embedproof's words.

The code that runs a phase calls `phase(description, total)` and advances what it returns; it shows nowhere until
a front end (the CLI's progress bars) installs a reporter with `reporting`, so the library stays silent when used
as one. `quiet_third_party` keeps the libraries a phase calls (NNCF's rich bars, torch.onnx's prints, their logs
and warnings) off the screen, so only the phase line shows.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Callable, Iterator

__all__ = ["Reporter", "phase", "reporting", "quiet_third_party", "short_name"]

Reporter = Callable[[str, int], Callable[[int], None]]
_reporter: Reporter | None = None


def short_name(model: str) -> str:
    """A model as a progress line names it: the last part of its hub id or folder (`all-MiniLM-L6-v2`)."""
    return model.rstrip("/").split("/")[-1] or model


def phase(description: str, total: int) -> Callable[[int], None]:
    """A progress line for `total` steps under the installed reporter; a no-op callback without one."""
    return _reporter(description, total) if _reporter is not None else (lambda n: None)


@contextlib.contextmanager
def reporting(reporter: Reporter) -> Iterator[None]:
    """Install `reporter` (description, total → advance) for the phases run inside the block."""
    global _reporter
    before, _reporter = _reporter, reporter
    try:
        yield
    finally:
        _reporter = before


@contextlib.contextmanager
def quiet_third_party() -> Iterator[io.StringIO]:
    """Run a library call with its stdout (NNCF draws its bars on rich's default console, which writes there; the
    ONNX exporter prints), its log records below ERROR and its Python warnings kept off the screen. Yields what it
    printed, for an error message. Our own bars draw on stderr and keep showing."""
    captured = io.StringIO()
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(captured):
            warnings.simplefilter("ignore")
            yield captured
    finally:
        logging.disable(logging.NOTSET)
