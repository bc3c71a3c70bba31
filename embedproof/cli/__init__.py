"""The `embedproof` command line: `app` is the Typer application, `main` the console script's entry point."""

from embedproof.cli.commands import app, main

__all__ = ["app", "main"]
