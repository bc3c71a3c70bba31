"""Change a finished Qdrant index in place: the collection upserts the new rows' points and deletes the retired rows'.

`apply_qdrant` is the Qdrant store's step of `index.change.apply_change`, the same as the edge store's
(`edge.change`): only the new documents are encoded; the change journal (`index.journal`: the new points' vectors,
the retired point ids, the next manifest) is written before the collection is touched; then the client upserts
(point id = row), deletes, and rewrites the earlier live documents' BM25 rows with the new average length, each
request acknowledged (`wait=True`); `apply_change` commits the manifest. `recover` (before every change, and as
`QdrantIndex` opens) rolls a journal the manifest has not committed forward. Local mode (`path`) allows one client
at a time, so a change given `held` (the open index a server writes through) uses `held.client`.

On a Qdrant server other readers of the collection see the points as they land; the generation is embedproof's
commit (the manifest), which readers that go through embedproof follow. The server's IDF counts points that an
update or delete left in a segment until its optimiser rebuilds that segment (BM25 scores equal a fresh build's
once it has); local mode counts the live points only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from embedproof.errors import EmbedproofError, require
from embedproof.index.journal import Journal, Point, recover_journal, write_journal
from embedproof.index.manifest import Manifest, check_revision, crash_point, encoder_options_for
from embedproof.search.pipeline import Workspace


def _neutral(value):
    """A qdrant-client vector as the journal stores it: (indices, values), a dense row, or a token matrix."""
    if hasattr(value, "indices"):
        return (list(value.indices), list(value.values))
    return np.asarray(value, dtype=np.float32)


def _struct(qm, point: Point):
    pid, vectors, payload = point
    return qm.PointStruct(
        id=int(pid),
        payload=payload,
        vector={
            name: qm.SparseVector(indices=[int(i) for i in v[0]], values=[float(x) for x in v[1]])
            if isinstance(v, tuple)
            else np.asarray(v, dtype=np.float32).tolist()
            for name, v in vectors.items()
        },
    )


def finish(client, points: list[Point], retired: list[int], following: Manifest, tokenisers: dict) -> None:
    """Apply a change to the collection (idempotent): upsert `points`, delete `retired`, rewrite the earlier live
    documents' BM25 rows with the statistics `following` records, then check the collection's point count."""
    from embedproof.index.qdrant.bm25 import rewritten_rows
    from embedproof.index.qdrant.build import upsert_points

    qm = require("qdrant_client.models", "qdrant")
    collection = following["store"]["collection"]
    upsert_points(client, following, [_struct(qm, p) for p in points])
    crash_point("points-upserted")
    if retired:
        client.delete(collection, points_selector=qm.PointIdsList(points=[int(r) for r in retired]), wait=True)
    crash_point("points-deleted")
    for component, rows, vectors in rewritten_rows(following, {p[0] for p in points} | set(retired), tokenisers):
        updates = [
            qm.PointVectors(id=r, vector={component["vector"]: qm.SparseVector(indices=i, values=v)})
            for r, (i, v) in zip(rows, vectors)
        ]
        client.update_vectors(collection, points=updates, wait=True)
    live = int(following["documents"]) + len(points) - len(retired)  # `documents`: the live count before it
    count = client.count(collection, exact=True).count
    if count != live:
        raise EmbedproofError(
            f"Qdrant collection {collection!r} holds {count} points after the change, the index {following.folder} "
            f"{live} live documents; rebuild the index"
        )


def _tokenisers(manifest: Manifest, workspace: Workspace) -> dict:
    return {key: workspace.encoder(c["model"], c["kind"]) for key, c in manifest["components"].items() if "bm25" in c}


def _client(manifest: Manifest, held: Any):
    """The client to write with: the one `held` has open, else opened here (the caller closes what it opened)."""
    from embedproof.index.qdrant.build import open_client

    if held is not None:
        return held.client, False
    return open_client(manifest["store"]), True


def recover(manifest: Manifest, held: Any = None) -> bool:
    """Finish (or drop) what a killed change left; the caller holds the writer lock. True when it committed one."""
    from embedproof.index.journal import JOURNAL

    if not (manifest.folder / JOURNAL).exists():
        for stray in manifest.folder.glob(".*.tmp"):  # what a killed writer was writing (the caller holds the lock)
            stray.unlink(missing_ok=True)
        return False
    workspace = held.workspace if held is not None else Workspace([], [], encoder_options_for(manifest.encoder_backend))
    holder: dict = {}

    def roll_forward(journal: Journal, following: Manifest) -> None:
        holder["client"], holder["opened"] = _client(manifest, held)
        finish(holder["client"], journal.points, journal.retired_rows, following, _tokenisers(following, workspace))

    try:
        return recover_journal(manifest, roll_forward)
    finally:
        if holder.get("opened"):
            holder["client"].close()


def apply_qdrant(
    manifest: Manifest,
    plan,
    first_row: int,
    encoder_options,
    progress=None,
    held: Any = None,
    **store_options: Any,
) -> list[Path]:
    """The Qdrant store's change step (see the module docstring); returns the journal, deleted after the commit."""
    from embedproof.index.qdrant.bm25 import refit_statistics
    from embedproof.index.qdrant.build import chunk_vectors
    from embedproof.index.qdrant.query_api import engine_components

    if store_options:
        raise EmbedproofError(f"the qdrant store takes no change options (got {sorted(store_options)})")
    qm = require("qdrant_client.models", "qdrant")
    out = manifest.folder
    new = plan.new_documents
    ids, texts = list(new), [d.full_text for d in new.values()]
    workspace = held.workspace if held is not None else Workspace(ids, texts, encoder_options)
    encoders = engine_components(manifest, manifest.recipe, workspace, texts)
    for key, encoder in encoders.items():
        check_revision(out, manifest["components"][key], encoder)
    refit_statistics(manifest, plan.retired_rows, first_row, encoders, texts)
    advance = progress(f"qdrant {manifest['store']['collection']}: new documents", len(ids)) if progress else None
    points: list[Point] = []
    for start in range(0, len(ids), manifest["chunk_size"]):
        end = min(start + manifest["chunk_size"], len(ids))
        vectors, _, _ = chunk_vectors(qm, manifest, encoders, texts[start:end], ids[start:end])
        points += [
            (
                first_row + i,
                {n: _neutral(rows[i - start]) for n, rows in vectors.items() if rows[i - start] is not None},
                {"id": ids[i]},
            )
            for i in range(start, end)
        ]
        if advance:
            advance(end - start)
    journal = write_journal(manifest, plan.retired_rows, points)
    client, opened = _client(manifest, held)
    try:
        finish(client, points, plan.retired_rows, manifest, _tokenisers(manifest, workspace))
    finally:
        if opened:
            client.close()
    crash_point("change-commit")
    return [journal]
