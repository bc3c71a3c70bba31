"""Change a finished edge index in place: the engine upserts the new rows' points and deletes the retired rows'.

`apply_edge` is the edge store's step of `index.change.apply_change` (which holds the writer lock, writes the new
rows' document segment, and commits the next generation's manifest after the step). The step encodes only the new
documents, writes the change journal (`index.journal`: the new points' vectors, the retired point ids, the next
manifest), and only then touches the shard: upsert (point id = row), delete, rewrite BM25 rows, flush. Crash safety
comes from the journal, the engine's write-ahead log and the manifest commit, not from a copy of the shard: a kill
before the journal is whole leaves the shard untouched (the previous generation); a kill after it is rolled forward
by `recover` (run before every change and by `EdgeIndex` as it opens), which re-applies the journal — upserts and
deletes by id are idempotent — and commits it (the next generation). Manifests of indexes changed by an older
embedproof name a `shard-NNNNN` copy as `store.path`; they load and change in place like any other.

BM25 is a corpus statistic: the engine counts N and df itself (the IDF modifier, over the points it holds), but each
document's stored saturated term frequency depends on the average document length, so every live earlier
document's BM25 row is rewritten with the new average and the scores equal those of a fresh build over the live
documents. That costs O(N) per change for a recipe with BM25 on edge: tokenising and rewriting every live
document's BM25 row, and the optimisation that then re-indexes every point the rewrite moved (dense vectors
included). A recipe without BM25 touches only the new and retired points.

Every change ends with `optimize()`, the engine's own optimisers (a Qdrant server runs them in the background): new
points stay in the appendable segment, searched without a graph, until it passes the indexing threshold, and then
that segment is indexed; a segment with many moved or deleted points is rebuilt (docs/index-and-serve.md, "Edge and
Qdrant: changes in place", has the measurements). One opener at a time: a shard already open (a server serving it)
is written through that handle (`held.shard`), never opened a second time.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from embedproof.errors import EmbedproofError
from embedproof.index.journal import Journal, Point, recover_journal, write_journal
from embedproof.index.manifest import Manifest, check_revision, crash_point, encoder_options_for
from embedproof.search.pipeline import Workspace

SHARD_PREFIX = "shard-"
POINTS_PER_UPDATE = 512  # points per engine update call (one WAL record each)


def remove_stray_shards(manifest: Manifest) -> None:
    """Shard copies an older embedproof's killed add left (every `shard-*` folder the manifest does not name)."""
    live = manifest["store"]["path"]
    for folder in manifest.folder.glob(f"{SHARD_PREFIX}*"):
        if folder.is_dir() and folder.name != live:
            shutil.rmtree(folder)


def bm25_components(manifest: Manifest) -> dict[str, dict]:
    return {key: c for key, c in manifest["components"].items() if "bm25" in c}


def finish(shard, points: list[Point], retired: list[int], following: Manifest, encoders: dict) -> None:
    """Apply a change to the shard (idempotent): upsert `points`, delete `retired`, rewrite the earlier live
    documents' BM25 rows with the statistics `following` records, flush; then record the shard's numbers in it.

    `encoders` holds the BM25 tokenisers by component key (only BM25 components are read here)."""
    from embedproof.index.edge.build import chunk_rows
    from embedproof.index.qdrant.bm25 import rewritten_rows

    for start in range(0, len(points), POINTS_PER_UPDATE):
        shard.upsert(points[start : start + POINTS_PER_UPDATE])
    shard.flush()
    crash_point("points-upserted")
    if retired:
        shard.delete(retired)
        shard.flush()
    crash_point("points-deleted")
    for component, rows, vectors in rewritten_rows(following, {p[0] for p in points} | set(retired), encoders):
        shard.update_vectors(component["vector"], rows, chunk_rows("first", None, vectors, None))
    # The engine has no background optimiser here: optimize() does what a server's would. It returns at once while
    # the new points' segment is under the indexing threshold, indexes it once past it, and rebuilds segments whose
    # points an update moved or deleted — which BM25 needs: the engine's IDF counts those points until then.
    shard.optimize()
    shard.flush()
    live = int(following["documents"]) + len(points) - len(retired)  # `documents`: the live count before it
    stats = shard.stats()
    if stats["points"] != live:
        raise EmbedproofError(
            f"{following.folder}: the edge shard holds {stats['points']} points after the change, the index "
            f"{live} live documents; rebuild the index"
        )
    following["store"]["shard"] = stats


def _tokenisers(manifest: Manifest, workspace: Workspace) -> dict:
    return {key: workspace.encoder(c["model"], c["kind"]) for key, c in bm25_components(manifest).items()}


def _open(manifest: Manifest, held: Any):
    """The shard to write: the one `held` has open, else opened here (the caller closes what it opened)."""
    from embedproof.index.edge.engine import EdgeShardHandle

    if held is not None:
        return held.shard, False
    return EdgeShardHandle.load(str(manifest.folder / manifest["store"]["path"])), True


def recover(manifest: Manifest, held: Any = None) -> bool:
    """Finish (or drop) what a killed change left; the caller holds the writer lock. True when it committed one."""
    from embedproof.index.journal import JOURNAL

    remove_stray_shards(manifest)
    if not (manifest.folder / JOURNAL).exists():
        for stray in manifest.folder.glob(".*.tmp"):  # what a killed writer was writing (the caller holds the lock)
            stray.unlink(missing_ok=True)
        return False
    workspace = held.workspace if held is not None else Workspace([], [], encoder_options_for(manifest.encoder_backend))
    holder: dict = {}

    def roll_forward(journal: Journal, following: Manifest) -> None:
        holder["shard"], holder["opened"] = _open(manifest, held)
        finish(holder["shard"], journal.points, journal.retired_rows, following, _tokenisers(following, workspace))

    try:
        return recover_journal(manifest, roll_forward)
    finally:
        if holder.get("opened"):
            holder["shard"].close()


def apply_edge(
    manifest: Manifest,
    plan,
    first_row: int,
    encoder_options,
    progress=None,
    held: Any = None,
    **store_options: Any,
) -> list[Path]:
    """The edge store's change step (see the module docstring); returns the journal, deleted after the commit."""
    from embedproof.index.edge.build import chunk_points
    from embedproof.index.qdrant.bm25 import refit_statistics
    from embedproof.index.qdrant.query_api import engine_components

    if store_options:
        raise EmbedproofError(f"the edge store takes no change options (got {sorted(store_options)})")
    out, recipe = manifest.folder, manifest.recipe
    new = plan.new_documents
    ids, texts = list(new), [d.full_text for d in new.values()]
    workspace = held.workspace if held is not None else Workspace(ids, texts, encoder_options)
    encoders = engine_components(manifest, recipe, workspace, texts)
    for key, encoder in encoders.items():
        check_revision(out, manifest["components"][key], encoder)
    refit_statistics(manifest, plan.retired_rows, first_row, encoders, texts)
    advance = progress(f"edge shard {out.name}: new documents", len(ids)) if progress else None
    points: list[Point] = []
    for start in range(0, len(ids), manifest["chunk_size"]):
        end = min(start + manifest["chunk_size"], len(ids))
        rows, _ = chunk_points(manifest, encoders, texts[start:end], ids[start:end])
        points += [
            (first_row + i, {n: r[i - start] for n, r in rows.items() if r[i - start] is not None}, {"id": ids[i]})
            for i in range(start, end)
        ]
        if advance:
            advance(end - start)
    journal = write_journal(manifest, plan.retired_rows, points)
    shard, opened = _open(manifest, held)
    try:
        finish(shard, points, plan.retired_rows, manifest, _tokenisers(manifest, workspace))
    finally:
        if opened:
            shard.close()
    crash_point("change-commit")
    return [journal]


def append_edge(manifest: Manifest, corpus: dict, encoder_options, progress=None) -> Manifest:
    """Add `corpus` (new ids) to the edge index of `manifest`, whose writer lock the caller holds, as one generation
    (what `append_documents` calls; `apply_change` is the general path)."""
    from embedproof.index.change import commit_change, plan_change

    recover(manifest)
    manifest = Manifest.read(manifest.folder)
    plan = plan_change(manifest, corpus)
    first_row = len(manifest.rows())
    manifest["docs"] = manifest.docs
    manifest.write_docs(f"docs-{len(manifest.docs):05d}.jsonl", plan.new_documents.values())
    leftovers = apply_edge(manifest, plan, first_row, encoder_options, progress)
    commit_change(manifest, plan)
    for path in leftovers:
        path.unlink(missing_ok=True)
    return manifest
