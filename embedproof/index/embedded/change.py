"""The embedded store's part of a change (`index.change.apply_change`): encode the new rows into new chunk files.

A change appends rows: the new documents, and the new text of a replaced one, go to a `docs-NNNNN.jsonl` segment
(written by `apply_change`) and to new chunk files of every stored component (a chunked first pass's spans too);
the manifest (counts, retired rows, every file's sha256, the next generation) is replaced last, in one atomic rename,
so a crash during a change leaves the previous generation loadable and unchanged, and the next change (or a retry)
first deletes what the killed one left (`recover`). Nothing committed is rewritten: the vectors of the earlier rows
do not depend on other documents, and a removed or replaced document's row stays on disk, retired, and is left out
when the index loads. BM25 is the exception: its IDF and average length are statistics of the live documents, so
it is refitted over them at every load and every BM25 score changes after a change (that is why it is never
stored). int8 codes of new rows use the calibration stored at build time: refitting it would change every code.
"""

from __future__ import annotations

from pathlib import Path

from embedproof.index.change import ChangePlan, apply_change
from embedproof.index.embedded.build import encode_component, finish_int8, remove_uncommitted, sequential_chunks
from embedproof.index.embedded.chunks import EncodeChunks, chunk_number, component_texts
from embedproof.index.manifest import Manifest, check_revision, recipe_components
from embedproof.search.pipeline import Workspace
from embedproof.types import Document

__all__ = ["append_documents", "apply_embedded", "recover"]


def recover(manifest: Manifest, held=None) -> None:
    """Delete what a killed change left: temporary files, and chunk, spans and document files no manifest lists."""
    remove_uncommitted(manifest.folder, manifest)


def apply_embedded(
    manifest: Manifest,
    plan: ChangePlan,
    first_row: int,
    encoder_options,
    progress=None,
    held=None,
    encode_chunks: EncodeChunks | None = None,
) -> list[Path]:
    """Encode `plan.new_documents` (rows `first_row`, … in order) into new chunk files recorded in `manifest`.

    Retired rows need nothing here: the committed `retired_rows` leaves them out at load. Returns the files the
    commit supersedes (a new int8 chunk's float form). `held` is unused: the embedded store has no engine to share.
    """
    out = manifest.folder
    new = plan.new_documents
    if not new:
        return []
    recipe = manifest.recipe
    ids = list(new)
    workspace = Workspace(ids, [new[d].full_text for d in ids], encoder_options)
    for model, kind in recipe_components(recipe):
        key = f"{kind}:{model}"
        component = manifest.components[key]
        # a chunked first pass: the new rows' chunks, their spans (owners from first_row on) as the next spans file
        spans_number = len(manifest.get("chunk_spans", {}).get(key, []))
        space, part_texts, part_ids = component_texts(manifest, workspace, recipe, model, kind, spans_number, first_row)
        if "stored" in component:  # BM25: refitted over the live documents (or their chunks) at load
            continue
        check_revision(out, component, workspace.encoder(model, kind))
        first = max((chunk_number(rel) for rel in component["chunks"]), default=-1) + 1
        encode_component(
            manifest,
            space,
            model,
            kind,
            part_texts,
            part_ids,
            first,
            manifest["chunk_size"],
            encode_chunks or sequential_chunks(space),
            progress,
            save_each=False,
            shrink=recipe.shrink,
        )
    return [out / rel for rel in finish_int8(manifest)]  # new int8 chunks use the calibration stored at build time


def append_documents(
    folder: str | Path,
    corpus: dict[str, Document],
    source: str = "the new corpus",
    encoder_options=None,
    progress=None,
    encode_chunks: EncodeChunks | None = None,
) -> Manifest:
    """Add `corpus` (from `source`, named in errors) to the index in `folder` (any store); returns its manifest.

    An id already in the index with the same title and text needs nothing (a retried add succeeds and commits
    nothing); one with a different text is refused (`apply_change(..., replace=True)` replaces it).
    """
    options = {} if encode_chunks is None else {"encode_chunks": encode_chunks}
    apply_change(folder, corpus, (), False, source, encoder_options, progress, **options)
    return Manifest.read(folder)
