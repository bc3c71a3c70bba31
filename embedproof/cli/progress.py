"""Progress bars for long CLI phases: what is running, how far, how fast, and how long is left."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

__all__ = ["progress_factory"]


class RateColumn(ProgressColumn):
    """Items per second (per minute when slower than one a second); blank until there is a rate."""

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        if not speed:
            return Text("")
        return Text(f"{speed:,.1f}/s" if speed >= 1 else f"{60 * speed:,.1f}/min", style="progress.data.speed")


def _fit(text: str, width: int) -> str:
    """The description on one line: shortened in the middle when too long, so its start (the model) and its end
    (the phase) both stay."""
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head) :]


@contextmanager
def progress_factory(console: Console) -> Iterator[Callable[[str, int], Callable[[int], None]]]:
    """Yields `progress(description, total) -> advance(n)`, the callback the bench and index builders take."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(bar_width=12),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    from embedproof.models.phases import reporting

    with Progress(*columns, console=console, transient=True) as bar:

        def progress(description: str, total: int) -> Callable[[int], None]:
            task = bar.add_task(escape(_fit(description, max(24, console.width - 54))), total=total)
            return lambda n: bar.advance(task, n)

        with reporting(progress):  # phases inside the model stack (backend export, calibration) show here too
            yield progress
