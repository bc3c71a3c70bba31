"""`python -m embedproof` runs the CLI."""

from embedproof.cli.app import main

main()
