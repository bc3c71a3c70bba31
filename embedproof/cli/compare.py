"""`embedproof compare BASE.json [NEW.json]`: the regression gate on the command line, and `gate` for
`bench --baseline`.

Exit codes are the gate's contract with CI: 0 when no pair is worse, 1 on a regression (a significant quality loss
or a p99 upper bound over the budget), 2 on bad input (one `error:` line on stderr, never a traceback).
"""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table

from embedproof.cli.common import EXIT_BAD_INPUT, console, writable_file
from embedproof.errors import InvalidInputError

__all__ = [
    "compare",
    "gate",
    "parse_pairs",
    "compare_table",
    "print_report",
    "EXIT_OK",
    "EXIT_REGRESSION",
    "EXIT_BAD_INPUT",
]

EXIT_OK, EXIT_REGRESSION = 0, 1


def parse_pairs(pairs: Sequence[str | tuple[str, str]] | None) -> list[tuple[str, str]] | None:
    """`"BASE_RUN=NEW_RUN"` strings (or ready pairs) as (base, new) tuples; None when there are none."""
    if not pairs:
        return None
    out = []
    for pair in pairs:
        if isinstance(pair, tuple):
            base, new = pair
        else:
            if pair.count("=") != 1:
                raise InvalidInputError(f"--pair: expected BASE_RUN=NEW_RUN with one '=', got {pair!r}")
            base, new = (part.strip() for part in pair.split("="))
        if not base or not new:
            raise InvalidInputError(f"--pair: both run names are needed in BASE_RUN=NEW_RUN, got {pair!r}")
        out.append((base, new))
    return out


def _check(alpha: float, latency_ms: float | None) -> None:
    if not (math.isfinite(alpha) and 0 < alpha < 1):
        raise InvalidInputError(f"--alpha must lie strictly between 0 and 1, got {alpha:g}")
    if latency_ms is not None and not (math.isfinite(latency_ms) and latency_ms > 0):
        raise InvalidInputError(f"--latency-ms must be a positive number of milliseconds, got {latency_ms:g}")


def gate(
    base_path: str | Path,
    new_results: dict,
    pairs: Sequence[str | tuple[str, str]] | None = None,
    latency_ms: float | None = None,
    alpha: float = 0.05,
) -> tuple[dict, int]:
    """Compare freshly benched results with a baseline file; returns the report and the exit code (0 or 1).

    Bad input raises InvalidInputError (the CLI prints it and exits 2), so `bench --baseline` fails the same way.
    """
    from embedproof.evaluation.compare import compare_results, settings_for
    from embedproof.evaluation.results_file import load_results

    _check(alpha, latency_ms)
    base = load_results(base_path)
    report = compare_results(base, new_results, parse_pairs(pairs), latency_ms, settings_for(base, new_results, alpha))
    report["files"] = {"base": str(base_path), "new": None}
    return report, EXIT_REGRESSION if report["regression"] else EXIT_OK


def _delta_min_width(rows: list[list[str]], width: int | None) -> int | None:
    """Δ's widest line when the table still fits `width` with base and new wrapped to their longest word: then Δ
    keeps its interval on one line and base and new wrap first."""
    widest = [max((len(line) for cells in rows for line in cells[i].splitlines()), default=0) for i in range(6)]
    word = max((len(w) for cells in rows for c in cells[1:3] for w in c.split()), default=0)
    needed = widest[0] + 2 * word + widest[3] + widest[4] + 14 + 3 * 6 - 1  # 14: a verdict wrapped; the rules
    return widest[3] if width is None or needed <= width else None


def compare_table(report: dict, width: int | None = None) -> Group:
    """The report for a terminal `width` columns wide: one table per pair (its name in the title), each value above
    its interval, verdicts coloured; six columns, so Δ, p and the verdict fit 80 columns."""
    from embedproof.evaluation.compare_format import TERMINAL_COLUMNS, pair_label, terminal_rows

    budget = report.get("latency_budget_ms")
    colours = {"worse": "bold red", "over budget": "bold red", "better": "green", "faster": "green"}
    tables = []
    for pair in report["pairs"]:
        title = f"{pair_label(pair)}: new − base over matched queries"
        if budget is not None:
            title += f", p99 budget {budget:g} ms"
        rows = terminal_rows(pair)
        table = Table(title=escape(title), show_edge=False)  # no outer frame: two columns more fit
        for column in TERMINAL_COLUMNS:
            left = column in {"metric", "verdict"}
            table.add_column(
                column,
                justify="left" if left else "right",
                overflow="fold",
                no_wrap=column == "metric",
                min_width=_delta_min_width(rows, width) if column.startswith("Δ") else None,
            )
        for cells in rows:
            verdict = cells[-1]
            style = colours.get(verdict)
            # a long verdict on two lines leaves the width to Δ and its interval
            shown = escape("\n".join(textwrap.wrap(verdict, 14)))
            table.add_row(*(escape(c) for c in cells[:-1]), f"[{style}]{shown}[/]" if style else shown)
        tables.append(table)
    return Group(*tables)


def print_report(report: dict, out: Console | None = None) -> None:
    """Table, notes and the one-line summary, as `compare` and `bench --baseline` print them."""
    from embedproof.evaluation.compare_format import pair_label, summary_line

    out = out or console
    out.print(compare_table(report, out.width))
    for note in dict.fromkeys(report["notes"] + [f"{pair_label(p)}: {n}" for p in report["pairs"] for n in p["notes"]]):
        out.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    line = escape(summary_line(report))
    out.print(f"[bold red]{line}[/]" if report["regression"] else f"[green]{line}[/]", highlight=False)


def compare(
    base: Annotated[Path, typer.Argument(help="baseline results.json (from `embedproof bench`)")],
    new: Annotated[
        Path | None,
        typer.Argument(help="new results.json; omitted: compare runs of BASE with each other (needs --pair)"),
    ] = None,
    pair: Annotated[
        list[str] | None,
        typer.Option("--pair", help="BASE_RUN=NEW_RUN, repeatable (default: runs with the same name)"),
    ] = None,
    latency_ms: Annotated[
        float | None,
        typer.Option("--latency-ms", help="p99 budget in ms, checked against the new p99's upper bound"),
    ] = None,
    alpha: Annotated[float, typer.Option(help="significance level after Holm correction")] = 0.05,
    markdown: Annotated[
        Path | None,
        typer.Option("--markdown", help="also write the report as Markdown to this file ('-': print it)"),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print the report as JSON instead of the table")] = False,
) -> None:
    """Gate an upgrade: paired quality differences with CIs and p-values, p99 against a budget; exit 1 on regression."""
    from embedproof.evaluation.compare import compare_results, settings_for
    from embedproof.evaluation.compare_format import to_markdown
    from embedproof.evaluation.results_file import load_results
    from embedproof.files import write_text_atomic

    _check(alpha, latency_ms)
    pairs = parse_pairs(pair)
    if json_out and markdown is not None and str(markdown) == "-":
        raise InvalidInputError("--json and --markdown - both print to stdout: write the Markdown to a file")
    if markdown is not None and str(markdown) != "-":
        writable_file(markdown, "--markdown")
    base_results = load_results(base)
    if new is None and not pairs:
        raise InvalidInputError("comparing runs within one file needs --pair BASE_RUN=NEW_RUN")
    new_results = base_results if new is None else load_results(new)
    settings = settings_for(base_results, new_results, alpha)
    report = compare_results(base_results, new_results, pairs, latency_ms, settings)
    report["files"] = {"base": str(base), "new": str(new if new is not None else base)}
    text = to_markdown(report) if markdown is not None else None
    if markdown is not None and str(markdown) != "-":
        write_text_atomic(markdown, text)
    if json_out:
        typer.echo(json.dumps(report, indent=2))
    else:
        print_report(report)
    if markdown is not None:
        if str(markdown) == "-":
            typer.echo(text, nl=False)
        elif not json_out:
            console.print(f"wrote {markdown}", highlight=False)
    raise typer.Exit(EXIT_REGRESSION if report["regression"] else EXIT_OK)
