"""Change a finished Qdrant index in place: the collection upserts the new rows' points and deletes the retired rows'.

`apply_qdrant` is the Qdrant store's step of `index.change.apply_change`, the same as the edge store's
(`edge.change`): only the new documents are encoded; the change journal (`index.journal`: point ids only) is written
before the collection is touched; then the client upserts (point id = row) and rewrites the earlier live documents'
BM25 rows with the new average length, each request acknowledged (`wait=True`); `apply_change` commits the manifest
and calls `after_commit`, which deletes the retired points. `recover` (before every change, and as `QdrantIndex`
opens) rolls a change killed before its commit back and one killed after it forward. Local mode (`path`) allows one
client at a time, so a change given `held` (the open index a server writes through) uses `held.client`; no other
reader sees a change half done.

On a Qdrant server other readers of the collection see the points as they land; the generation is embedproof's
commit (the manifest), which readers that go through embedproof follow. A reader that opens the new generation
before the writer has deleted the retired points finds more points than live documents and refuses to open until
they are gone (its server goes on serving the previous generation and retries). The server's IDF counts points that
an update or delete left in a segment until its optimiser rebuilds that segment (BM25 scores equal a fresh build's
once it has); local mode counts the live points only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from embedproof.errors import EmbedproofError, require
from embedproof.index.journal import Journal, recover_engine, write_journal
from embedproof.index.manifest import Manifest, check_revision, crash_point
from embedproof.search.pipeline import Workspace


def _rewrite_bm25(client, manifest: Manifest, skip: set[int], tokenisers: dict) -> None:
    """Every live row of `manifest` not in `skip` gets the BM25 row of the statistics `manifest` records."""
    from embedproof.index.qdrant.bm25 import rewritten_rows

    qm = require("qdrant_client.models", "qdrant")
    for component, rows, vectors in rewritten_rows(manifest, skip, tokenisers):
        updates = [
            qm.PointVectors(id=r, vector={component["vector"]: qm.SparseVector(indices=i, values=v)})
            for r, (i, v) in zip(rows, vectors)
        ]
        client.update_vectors(manifest["store"]["collection"], points=updates, wait=True)


def _delete(client, manifest: Manifest, ids) -> None:
    qm = require("qdrant_client.models", "qdrant")
    ids = [int(i) for i in ids]
    if ids:  # deleting an id the collection does not hold changes nothing
        client.delete(manifest["store"]["collection"], points_selector=qm.PointIdsList(points=ids), wait=True)


def _check_count(client, manifest: Manifest, points: int, when: str) -> None:
    collection = manifest["store"]["collection"]
    count = client.count(collection, exact=True).count
    if count != points:
        raise EmbedproofError(
            f"Qdrant collection {collection!r} holds {count} points {when}, the index {manifest.folder} expects "
            f"{points}; rebuild the index"
        )


def upsert_new(client, manifest: Manifest, points: list, retired: list[int], tokenisers: dict) -> None:
    """The change before its commit: upsert the new points (`PointStruct`s), rewrite the earlier live documents'
    BM25 rows with the statistics `manifest` (the next generation's, not yet committed) records."""
    from embedproof.index.qdrant.build import upsert_points

    upsert_points(client, manifest, points)
    crash_point("points-upserted")
    _rewrite_bm25(client, manifest, {int(p.id) for p in points} | set(retired), tokenisers)
    crash_point("bm25-rewritten")
    _check_count(client, manifest, int(manifest["documents"]) + len(points), "before the commit")


def roll_back(client, journal: Journal, manifest: Manifest, tokenisers: dict) -> None:
    """Undo an uncommitted change (`manifest` is the generation before it): delete the new points, rewrite every
    live BM25 row with `manifest`'s statistics, and check the collection holds the live documents."""
    _delete(client, manifest, journal.new_rows)
    _rewrite_bm25(client, manifest, set(), tokenisers)
    _check_count(client, manifest, int(manifest["documents"]), "after rolling a change back")


def roll_forward(client, journal: Journal, manifest: Manifest) -> None:
    """Finish a committed change (`manifest` is its generation): delete the retired points, check the count."""
    _delete(client, manifest, journal.retired_rows)
    crash_point("points-deleted")
    _check_count(client, manifest, int(manifest["documents"]), "after the change")


def _tokenisers(manifest: Manifest, workspace: Workspace) -> dict:
    return {key: workspace.encoder(c["model"], c["kind"]) for key, c in manifest["components"].items() if "bm25" in c}


def _client(manifest: Manifest, held: Any):
    """The client to write with: the one `held` has open, else opened here (the caller closes what it opened)."""
    from embedproof.index.qdrant.build import open_client

    if held is not None:
        return held.client, False
    return open_client(manifest["store"]), True


class _Holder:
    """The client of a change no open index holds: opened on first use, closed when the change ends (`holding`)."""

    workspace = None  # the change builds its own

    def __init__(self, manifest: Manifest) -> None:
        self.manifest, self._client = manifest, None

    @property
    def client(self):
        if self._client is None:
            self._client = self._open()
        return self._client

    def _open(self):
        return _client(self.manifest, None)[0]


@contextmanager
def holding(manifest: Manifest, held: Any = None) -> Iterator[Any]:
    """What a whole change writes through (`apply_change`): `held` when an index holds the client, else one
    opened once, on first use, for the recovery, the change and its `after_commit` together."""
    if held is not None:
        yield held
        return
    holder = _Holder(manifest)
    try:
        yield holder
    finally:
        if holder._client is not None:
            holder._client.close()


def recover(manifest: Manifest, held: Any = None) -> str | None:
    """Roll back or forward what a change left (`index.journal`); the caller holds the writer lock. Returns what it
    did ("rolled back", "rolled forward") or None."""
    return recover_engine(manifest, held, lambda: _client(manifest, held), roll_back, roll_forward, _tokenisers)


def after_commit(manifest: Manifest, held: Any = None) -> None:
    """The change after its commit (`apply_change` calls it with the committed manifest): roll it forward."""
    recover(manifest, held)


def apply_qdrant(
    manifest: Manifest,
    plan,
    first_row: int,
    encoder_options,
    progress=None,
    held: Any = None,
    **store_options: Any,
) -> list[Path]:
    """The Qdrant store's change step (see the module docstring); nothing is left to delete after the commit."""
    from embedproof.index.qdrant.bm25 import refit_statistics
    from embedproof.index.qdrant.build import chunk_vectors
    from embedproof.index.qdrant.query_api import engine_components

    if store_options:
        raise EmbedproofError(f"the qdrant store takes no change options (got {sorted(store_options)})")
    qm = require("qdrant_client.models", "qdrant")
    out = manifest.folder
    new = plan.new_documents
    ids, texts = list(new), [d.full_text for d in new.values()]
    workspace = getattr(held, "workspace", None)  # an index holding the engine lends its encoders
    workspace = workspace if workspace is not None else Workspace(ids, texts, encoder_options)
    encoders = engine_components(manifest, manifest.recipe, workspace, texts)
    for key, encoder in encoders.items():
        check_revision(out, manifest["components"][key], encoder)
    refit_statistics(manifest, plan.retired_rows, first_row, encoders, texts)
    advance = progress(f"qdrant {manifest['store']['collection']}: new documents", len(ids)) if progress else None
    points = []
    for start in range(0, len(ids), manifest["chunk_size"]):
        end = min(start + manifest["chunk_size"], len(ids))
        vectors, _, _ = chunk_vectors(qm, manifest, encoders, texts[start:end], ids[start:end])
        points += [
            qm.PointStruct(
                id=first_row + i,
                payload={"id": ids[i]},
                vector={n: rows[i - start] for n, rows in vectors.items() if rows[i - start] is not None},
            )
            for i in range(start, end)
        ]
        if advance:
            advance(end - start)
    write_journal(manifest, first_row, first_row + len(points), plan.retired_rows)
    client, opened = _client(manifest, held)
    try:
        upsert_new(client, manifest, points, plan.retired_rows, _tokenisers(manifest, workspace))
    finally:
        if opened:
            client.close()
    crash_point("change-commit")
    return []
