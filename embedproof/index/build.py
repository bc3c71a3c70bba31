"""The resumable build every store shares: lock → match the manifest → chunk loop → the store's commit step.

One writer per folder; a folder holding another build is refused and a finished one returned as it is. Otherwise the
chunks the manifest does not record yet are encoded and committed one by one, and the store's commit step makes the
index whole before the manifest says `complete`, so a killed build re-run with the same arguments resumes after its
last committed chunk, whatever the store. A store brings only what differs (`StoreBuild`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from embedproof.errors import EmbedproofError, InvalidInputError
from embedproof.index.manifest import MANIFEST, Manifest, writer_lock
from embedproof.search.pipeline import Workspace
from embedproof.search.recipe import Recipe
from embedproof.types import Document


class StoreBuild(Protocol):
    """What one store adds to the shared build."""

    label: str  # what the progress bar names

    def identity(self) -> dict[str, Any]:
        """The manifest's store fields a resumed build must find unchanged."""
        ...

    def new_store(self) -> dict | None:
        """The manifest's `store` of a fresh build (None: the embedded store)."""
        ...

    def clean(self, out: Path, manifest: Manifest | None) -> None:
        """Remove what a killed writer left in `out`."""
        ...

    def open(self, manifest: Manifest, workspace: Workspace, fresh: bool) -> None:
        """Get ready to write chunks (encoders, a shard, a client); `fresh`: no manifest was there before."""
        ...

    def write_chunk(self, manifest: Manifest, start: int, end: int) -> None:
        """Encode and write documents [start, end); the shared loop then records the chunk in the manifest."""
        ...

    def commit(self, manifest: Manifest) -> list[str]:
        """Make the index whole before it is marked complete; returns the files to delete once it is."""
        ...

    def close(self) -> None: ...


def _left_by_a_killed_build(name: str) -> bool:
    """What a build killed before its first manifest leaves: the lock file and temporary files."""
    return name == ".lock" or (name.startswith(".") and name.endswith(".tmp"))


def check_build_folder(out: Path) -> None:
    """Refuse to build into a folder that holds files and is not an embedproof index (no manifest): a build writes
    docs.jsonl, manifest.json and more there, and the clean-up of a resumed build deletes files it takes for its
    own, so someone's own documents folder must never become an index folder."""
    if not out.exists():
        return
    if not out.is_dir():
        raise InvalidInputError(f"{out}: is a file, not a folder; choose a new or empty folder for the index")
    if (out / MANIFEST).is_file():
        return  # an index: the same build resumes or returns, another one is refused by the manifest check
    others = sorted(p.name for p in out.iterdir() if not _left_by_a_killed_build(p.name))
    if others:
        raise InvalidInputError(
            f"{out}: holds files and is not an embedproof index (no {MANIFEST}; first: {others[0]}); "
            "choose a new or empty folder for the index"
        )


def chunk_ranges(count: int, chunk_size: int, first_number: int = 0) -> Iterator[tuple[int, int, int]]:
    """(chunk number, start, end) of every chunk of `count` documents."""
    for offset, start in enumerate(range(0, count, chunk_size)):
        yield first_number + offset, start, min(start + chunk_size, count)


def chunk_loop(store: StoreBuild, manifest: Manifest, ids: list[str], progress=None) -> None:
    """Write every chunk the manifest's store does not record yet, each recorded (and the manifest saved) after it."""
    recorded = manifest["store"]["chunks"]
    advance = progress(store.label, len(ids)) if progress else None
    for number, start, end in chunk_ranges(len(ids), manifest["chunk_size"]):
        name = f"{number:05d}"
        if name not in recorded:
            store.write_chunk(manifest, start, end)
            recorded.append(name)
            for component in manifest["components"].values():
                component["chunks"].append(name)
            manifest.save()
        if advance:
            advance(end - start)


def resumable_build(
    store: StoreBuild,
    recipe: Recipe,
    corpus: dict[str, Document],
    out: str | Path,
    encoder_options,
    chunk_size: int,
    progress=None,
    encoder_backend: str = "torch",
) -> Manifest:
    """Build (or resume building) `recipe` over `corpus` in `out` with `store`; returns the complete manifest.

    A store that encodes component by component (the embedded store: one file per model and chunk, possibly coming
    back from Ray workers in any order) brings its own `encode(manifest, ids, progress)` instead of `write_chunk`.
    """
    out = Path(out)
    check_build_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    ids = list(corpus)
    with writer_lock(out):
        check_build_folder(out)  # again under the lock: another process may have written in between
        manifest = Manifest.read(out)
        if manifest is not None and not manifest.matches(recipe, ids, encoder_backend, store.identity()):
            raise EmbedproofError(
                f"{out}: holds an index of another recipe, corpus or store; "
                "choose an empty folder (or delete it to rebuild)"
            )
        if manifest is not None and manifest.complete:
            return manifest
        store.clean(out, manifest)
        fresh = manifest is None
        if manifest is None:
            # the manifest first, so that from now on the folder is an index: a kill before the documents are
            # committed leaves a folder the next run recognises as its own (and not a stray docs.jsonl)
            manifest = Manifest.new(out, recipe, ids, encoder_backend, chunk_size, store.new_store())
            manifest.save()
        if "docs.jsonl" not in manifest.files:
            manifest["docs"] = []
            manifest.write_docs("docs.jsonl", corpus.values())
            manifest.save()
        texts = [corpus[d].full_text for d in ids]
        try:
            store.open(manifest, Workspace(ids, texts, encoder_options), fresh)
            encode = getattr(store, "encode", None)
            if encode is not None:
                encode(manifest, ids, progress)
            else:
                chunk_loop(store, manifest, ids, progress)
            superseded = store.commit(manifest)
        finally:
            store.close()
        manifest["complete"] = True
        manifest["generation"] = 1
        manifest.save()
        for rel in superseded:  # files the commit step replaced: no longer listed, so safe to drop now
            (out / rel).unlink(missing_ok=True)
    return manifest
