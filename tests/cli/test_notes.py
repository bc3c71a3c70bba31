"""Notes print only when they apply."""

from __future__ import annotations

import io

from rich.console import Console

from embedproof.cli.notes import auto_backend_note


def _printed(models: list[str]) -> str:
    screen = io.StringIO()
    auto_backend_note(models, Console(file=screen, width=200))
    return screen.getvalue()


def test_the_auto_backend_note_needs_a_model_that_runs_on_an_encoder_backend():
    assert _printed(["bm25"]) == "" and _printed(["bm25", "hashing"]) == ""  # built in: no encoder backend
    assert _printed(["openai/text-embedding-3-small"]) == ""  # computed by the API, not here
    note = _printed(["bm25", "sentence-transformers/all-MiniLM-L6-v2"])
    assert note.startswith("note: encoder backend auto (the fast extra is installed)") and "recorded per run" in note
