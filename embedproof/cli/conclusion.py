"""The bench's closing lines: what to conclude and what to run next (the sentences come from
`evaluation/conclusion.py`)."""

from __future__ import annotations

import re

from rich.console import Console
from rich.markup import escape

__all__ = ["print_conclusion"]


def print_conclusion(results: dict, output, out: Console) -> None:
    """Print the conclusion under the tables, `code` in bold, one sentence a line."""
    from embedproof.evaluation.conclusion import conclusion

    for line in conclusion(results, str(output)):
        out.print(re.sub(r"`([^`]*)`", r"[bold]\1[/]", escape(line)), highlight=False)
