"""`python -m embedpick` runs the CLI."""

from embedpick.cli import main

main()
