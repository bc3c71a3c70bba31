"""The change journal of the engine stores (edge, qdrant): which points a change touches, written before the engine is.

An engine store changes its points in place, so a change killed half way leaves an engine that is neither the
previous generation nor the next. The journal makes either side reachable without the new points' vectors: it
holds only point ids. A change runs in this order (`edge.change`, `qdrant.change`):

1. write the journal (atomically: a kill leaves either no journal or a whole one);
2. upsert the new points (ids = their rows) and flush;
3. rewrite the earlier live documents' BM25 rows with the new statistics, if the recipe has BM25, and flush;
4. commit the next generation's manifest (`change.commit_change`), whose `retired_rows` list the rows this change
   retires: a reader of it maps point ids through `Manifest.row_ids` and never answers a retired row;
5. delete the retired points, flush, let the engine optimise; 6. delete the journal.

Recovery (`recover_journal`, under the writer lock, before every change and as the store's index opens) compares
the journal's generation with the manifest's. Not committed yet (the manifest is one generation behind): roll
back — delete the new point ids (deleting an id the engine does not hold changes nothing), rewrite every live BM25
row with the statistics of the manifest on disk (which is the previous generation's), drop the uncommitted
document segment. Committed: roll forward — delete the retired ids, optimise. Both are idempotent, so a kill
during recovery is recovered again. The new points' vectors are never stored twice: the engine's write-ahead log
holds them once, and a change killed before its commit is undone rather than redone (a retry encodes again).

File: `change-journal.json` in the index folder: the format, the generation the change commits, the new rows
(first, end), the retired rows, and the name of the new document segment.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embedproof.files import atomic_open
from embedproof.index.manifest import Manifest, crash_point, encoder_options_for
from embedproof.search.pipeline import Workspace

JOURNAL = "change-journal.json"
JOURNAL_FORMAT = 2
SEGMENT_PREFIX = "docs-"  # the document segments changes write (`docs-NNNNN.jsonl`; a build writes docs.jsonl)


@dataclass(frozen=True)
class Journal:
    """A change's point ids: the generation it commits, the rows it adds and the rows it retires."""

    generation: int  # the generation the commit makes (the manifest's generation + 1 before it)
    new_rows: range  # point ids the change upserts
    retired_rows: list[int]  # point ids the change deletes after its commit
    segment: str | None  # the document segment of the new rows (deleted when the change is rolled back)


def write_journal(manifest: Manifest, first_row: int, end_row: int, retired_rows: list[int]) -> Path:
    """Write the journal of the change `manifest` is about to commit (rows first_row..end_row new, `retired_rows`
    retired; its last document segment is the new rows' when there are any); returns its path."""
    header = {
        "format": JOURNAL_FORMAT,
        "generation": manifest.generation + 1,
        "new_rows": [int(first_row), int(end_row)],
        "retired_rows": [int(r) for r in retired_rows],
        "segment": manifest.docs[-1] if end_row > first_row else None,
    }
    text = json.dumps(header)
    with atomic_open(manifest.folder / JOURNAL, "w", encoding="utf-8") as handle:
        handle.write(text[: len(text) // 2])
        crash_point("journal-written")  # a kill here leaves a temporary file: no journal, the engine untouched
        handle.write(text[len(text) // 2 :])
    crash_point("journal-saved")  # a kill here leaves a whole journal and an untouched engine: rolled back
    return manifest.folder / JOURNAL


def read_journal(folder: Path) -> Journal | None:
    """The folder's journal, or None when there is none or it is not one this embedproof wrote whole."""
    try:
        header = json.loads((folder / JOURNAL).read_text(encoding="utf-8"))
        if header.get("format") != JOURNAL_FORMAT:
            return None
        first, end = (int(r) for r in header["new_rows"])
        retired = [int(r) for r in header["retired_rows"]]
        return Journal(int(header["generation"]), range(first, end), retired, header.get("segment"))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


RollBack = Callable[[Journal, Manifest], None]
RollForward = Callable[[Journal, Manifest], None]


def recover_journal(manifest: Manifest, roll_back: RollBack, roll_forward: RollForward) -> str | None:
    """Finish or undo what a change left in `manifest.folder` (the caller holds the writer lock); see the module
    docstring. `roll_back(journal, manifest)` undoes an uncommitted change in the engine, `roll_forward(journal,
    manifest)` finishes a committed one (both idempotent); then the journal is deleted. A stray temporary file, an
    unreadable journal or one of another generation is deleted. Returns "rolled back", "rolled forward" or None."""
    folder = manifest.folder
    # what a killed writer was writing (the caller holds the writer lock, so no live one): temporary files (a
    # journal, manifest or document segment killed while written) and document segments no manifest lists (a
    # change killed before its journal was whole; a rolled back one's goes below)
    for stray in folder.glob(".*.tmp"):
        stray.unlink(missing_ok=True)
    for segment in folder.glob(f"{SEGMENT_PREFIX}*.jsonl"):
        if segment.name not in manifest.docs:
            segment.unlink()
    path = folder / JOURNAL
    if not path.exists():
        return None
    journal = read_journal(folder)
    done = None
    if journal is not None and journal.generation == manifest.generation + 1:
        roll_back(journal, manifest)
        crash_point("change-rolled-back")
        if journal.segment and journal.segment not in manifest.docs:  # the new rows' documents, never committed
            (folder / journal.segment).unlink(missing_ok=True)
        done = "rolled back"
    elif journal is not None and journal.generation == manifest.generation:
        roll_forward(journal, manifest)
        crash_point("change-rolled-forward")
        done = "rolled forward"
    path.unlink(missing_ok=True)
    return done


def recover_engine(
    manifest: Manifest,
    held: Any,
    engine: Callable[[], tuple[Any, bool]],
    roll_back: Callable[[Any, Journal, Manifest, dict], None],
    roll_forward: Callable[[Any, Journal, Manifest], None],
    tokenisers: Callable[[Manifest, Any], dict],
) -> str | None:
    """`recover_journal` for an engine store (edge shard, Qdrant client): `engine()` gives (the engine, whether it
    was opened here), called only when a journal needs it and closed again if opened here; a roll-back re-tokenises
    BM25 rows with `held`'s encoders when it lends them, else with its own."""
    holder: dict = {}

    def opened():
        if "engine" not in holder:
            holder["engine"], holder["opened"] = engine()
        return holder["engine"]

    def back(journal: Journal, current: Manifest) -> None:
        workspace = getattr(held, "workspace", None)
        if workspace is None:
            workspace = Workspace([], [], encoder_options_for(current.encoder_backend))
        roll_back(opened(), journal, current, tokenisers(current, workspace))

    try:
        return recover_journal(manifest, back, lambda journal, current: roll_forward(opened(), journal, current))
    finally:
        if holder.get("opened"):
            holder["engine"].close()
