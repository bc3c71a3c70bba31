"""Change a finished index: add, replace and remove documents as one committed generation, whatever the store.

`plan_change` decides what a request means against the live documents (one definition for the CLI, the HTTP write
API and the benchmarks): an id not in the index is added; an id in it with the same title and text needs nothing
(so a retried add is a no-op that succeeds); an id with a different text is replaced only when the caller says so
(`--replace`), and refused otherwise; a removed id that is not in the index is reported, not refused (a retried
remove succeeds too). `apply_change` then, under the folder's writer lock, writes the new rows' documents as one
segment, lets the store encode and write them (and retire the old rows), and commits by replacing the manifest
with the next generation. A change that needs nothing commits nothing: the generation stays.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Any

from embedproof.errors import EmbedproofError, InvalidInputError
from embedproof.index.manifest import MANIFEST, Manifest, encoder_options_for, ids_digest, writer_lock
from embedproof.types import Document

__all__ = ["ChangePlan", "ChangeResult", "StoreChange", "apply_change", "plan_change"]

# The store's part of a change: (manifest, plan, first new row, encoder options, progress, held) → paths to delete
# once the manifest is committed. `held` is an open index of this folder that the caller already holds (a server
# writing through the engine it serves from); None means the store opens what it needs itself. The store's module
# may define `recover(manifest, held)` (run before the change: finish or undo a killed one) and
# `after_commit(manifest, held)` (run with the committed manifest, before the paths are deleted: an engine store
# deletes the retired points there, after the commit, so that a change killed before it can be rolled back), and
# `holding(manifest, held)`, a context manager giving the `held` the whole change uses (an engine store opens its
# shard or client once, on first use, when no index holds it, instead of once per part).
StoreChange = Callable[..., list[Path]]

REPLACE_HINT = "pass --replace to replace them"  # the command line's way; the HTTP API names its own field

# store backend → "module:function" of its change step (imported on use, so a change loads one store's code)
_STORE_CHANGES = {
    "embedded": "embedproof.index.embedded.change:apply_embedded",
    "edge": "embedproof.index.edge.change:apply_edge",
    "qdrant": "embedproof.index.qdrant.change:apply_qdrant",
}


@dataclass(frozen=True)
class ChangePlan:
    """What a change does to the live documents, decided before anything is written."""

    add: dict[str, Document] = field(default_factory=dict)  # ids not in the index
    replace: dict[str, Document] = field(default_factory=dict)  # ids in the index, with their new document
    remove: list[str] = field(default_factory=list)  # ids in the index to take out
    unchanged: list[str] = field(default_factory=list)  # upserts equal to what the index holds: nothing to do
    absent: list[str] = field(default_factory=list)  # removals of ids the index does not hold: nothing to do
    rows: Mapping[str, int] = field(default_factory=dict)  # every live id → its row before the change

    @property
    def empty(self) -> bool:
        return not (self.add or self.replace or self.remove)

    @property
    def new_documents(self) -> dict[str, Document]:
        """The documents that get new rows, in row order: additions, then the new texts of replaced ids."""
        return {**self.add, **self.replace}

    @property
    def retired_rows(self) -> list[int]:
        """The rows this change retires: the removed documents' and the replaced documents' old texts."""
        return sorted(self.rows[i] for i in [*self.replace, *self.remove])


@dataclass(frozen=True)
class ChangeResult:
    """What a committed (or needless) change did; `generation` is the index's generation after it."""

    folder: Path
    generation: int
    documents: int
    added: list[str]
    replaced: list[str]
    removed: list[str]
    unchanged: list[str]
    absent: list[str]

    @property
    def changed(self) -> bool:
        return bool(self.added or self.replaced or self.removed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "documents": self.documents,
            "changed": self.changed,
            "added": self.added,
            "replaced": self.replaced,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "absent": self.absent,
        }

    def summary(self) -> str:
        """One line for a person: what changed, what needed nothing, and the generation now served."""
        parts = [
            f"{label} {len(ids):,}"
            for label, ids in (("added", self.added), ("replaced", self.replaced), ("removed", self.removed))
            if ids
        ]
        quiet = []
        if self.unchanged:
            quiet.append(f"{len(self.unchanged):,} already in the index with the same text")
        if self.absent:
            quiet.append(f"{len(self.absent):,} to remove not in the index")
        head = ", ".join(parts) if parts else "nothing to change"
        tail = f" ({'; '.join(quiet)})" if quiet else ""
        return f"{self.folder}: {head}{tail}; generation {self.generation}, {self.documents:,} documents"


def _same(a: Document, b: Document) -> bool:
    return a.title == b.title and a.text == b.text


def plan_change(
    manifest: Manifest,
    upserts: Mapping[str, Document],
    removes: Iterable[str] = (),
    replace: bool = False,
    source: str = "the new documents",
    replace_hint: str = REPLACE_HINT,
) -> ChangePlan:
    """Classify a request against the live documents of `manifest`; refuse what it cannot mean.

    Refused (one line, naming `source`): an id both upserted and removed, an id removed twice, and an id whose text
    differs from the stored one when `replace` is False (the line names how many and the first, and ends with
    `replace_hint`: how the caller's interface asks for a replacement).
    """
    removes = list(removes)
    duplicate = next((i for n, i in enumerate(removes) if i in removes[:n]), None)
    if duplicate is not None:
        raise InvalidInputError(f"{source}: document id {duplicate!r} is named twice for removal")
    both = next((i for i in removes if i in upserts), None)
    if both is not None:
        raise InvalidInputError(f"{source}: document id {both!r} is both added and removed in one change")
    live = manifest.documents()
    rows = {}
    retired = manifest.retired_rows
    for r, doc in enumerate(manifest.rows()):
        if r not in retired:
            rows[doc.id] = r
    add, swap, unchanged = {}, {}, []
    for doc_id, doc in upserts.items():
        if doc_id not in live:
            add[doc_id] = doc
        elif _same(live[doc_id], doc):
            unchanged.append(doc_id)
        else:
            swap[doc_id] = doc
    if swap and not replace:
        first = next(iter(swap))
        others = f" and {len(swap) - 1:,} more" if len(swap) > 1 else ""
        raise InvalidInputError(
            f"{source}: document id {first!r}{others} already in the index {manifest.folder} with a different text; "
            f"{replace_hint}"
        )
    remove = [i for i in removes if i in live]
    absent = [i for i in removes if i not in live]
    return ChangePlan(add, swap, remove, unchanged, absent, rows)


def store_change(backend: str) -> StoreChange:
    """The change step of a store (`_STORE_CHANGES`)."""
    if backend not in _STORE_CHANGES:
        raise EmbedproofError(f"the {backend} store cannot be changed in place; rebuild the index")
    module, _, name = _STORE_CHANGES[backend].partition(":")
    return getattr(import_module(module), name)


def commit_change(manifest: Manifest, plan: ChangePlan) -> None:
    """The commit point: the next generation's manifest (new rows' segment listed, old rows retired), one rename."""
    retired = sorted(manifest.retired_rows | set(plan.retired_rows))
    manifest["retired_rows"] = retired
    live = manifest.documents()
    manifest["documents"] = len(live)
    manifest["ids_sha256"] = ids_digest(list(live))
    manifest["generation"] = manifest.generation + 1
    manifest.save()


def apply_change(
    folder: str | Path,
    upserts: Mapping[str, Document],
    removes: Iterable[str] = (),
    replace: bool = False,
    source: str = "the new documents",
    encoder_options=None,
    progress=None,
    held: Any = None,
    replace_hint: str = REPLACE_HINT,
    **store_options: Any,
) -> ChangeResult:
    """Apply one change to the finished index in `folder` as one generation; see the module docstring.

    `store_options` go to the store's change step (the embedded store takes `encode_chunks`).
    """
    out = Path(folder)
    if not (out / MANIFEST).is_file():  # before the lock, which would leave a .lock in a folder that is no index
        raise EmbedproofError(f"{out}: not an embedproof index (no {MANIFEST})")
    with writer_lock(out):
        manifest = Manifest.read(out)
        if not manifest.complete:
            raise EmbedproofError(
                f"{out}: the build did not finish; resume it with `embedproof index build` before changing it"
            )
        apply = store_change(manifest.backend)
        module = import_module(apply.__module__)
        recover = getattr(module, "recover", None)
        after_commit = getattr(module, "after_commit", None)
        holding = getattr(module, "holding", None)  # the engine handle the whole change shares (opened once)
        with holding(manifest, held) if holding is not None else nullcontext(held) as held:
            if recover is not None:  # a change killed half way is rolled back or forward first
                recover(manifest, held)
                manifest = Manifest.read(out)
            plan = plan_change(manifest, upserts, removes, replace, source, replace_hint)
            if not plan.empty:
                first_row = len(manifest.rows())
                manifest["docs"] = manifest.docs
                if plan.new_documents:
                    manifest.write_docs(f"docs-{len(manifest.docs):05d}.jsonl", plan.new_documents.values())
                options = encoder_options or encoder_options_for(manifest.encoder_backend)
                leftovers = apply(manifest, plan, first_row, options, progress, held, **store_options)
                commit_change(manifest, plan)
                if after_commit is not None:  # what the store does once the change is committed (an engine's deletes)
                    after_commit(manifest, held)
                for path in leftovers:  # superseded by the commit: no generation names them any more
                    if path.is_dir():
                        shutil.rmtree(path, ignore_errors=True)
                    else:
                        path.unlink(missing_ok=True)
    return ChangeResult(
        out,
        manifest.generation,
        int(manifest["documents"]),
        list(plan.add),
        list(plan.replace),
        plan.remove,
        plan.unchanged,
        plan.absent,
    )
