"""`python -m embedproof` runs the CLI."""

from embedproof.cli import main

main()
