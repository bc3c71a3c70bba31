"""Change a finished edge index in place: the engine upserts the new rows' points and deletes the retired rows'.

`apply_edge` is the edge store's step of `index.change.apply_change` (which holds the writer lock, writes the new
rows' document segment, commits the next generation's manifest after the step, then calls `after_commit`). The
step encodes only the new documents, writes the change journal (`index.journal`: point ids only), upserts the new
points (point id = row), rewrites the earlier live documents' BM25 rows, and flushes; `after_commit` deletes the
retired points and optimises. Crash safety comes from the journal, the engine's write-ahead log and the manifest
commit, not from a copy of the shard: `recover` (before every change, and as `EdgeIndex` opens) rolls a change
killed before its commit back and one killed after it forward (`index.journal` has the order and both sides).
Manifests of indexes changed by an older embedproof name a `shard-NNNNN` copy as `store.path`; they load and change
in place like any other.

Between the commit and the deletion of the retired points, the engine still holds them: a reader of the new
generation would drop them from an answer (their rows are retired) and answer fewer than asked. No reader sees that
window: the shard has one opener, which is the writer until `after_commit` returns (a server writes through the
shard it serves, on the thread its searches run on, and serves the new generation after the change returns), and
an index that opens after a killed writer rolls the change forward first.

BM25 is a corpus statistic: the engine counts N and df itself (the IDF modifier, over the points it holds), but each
document's stored saturated term frequency depends on the average document length, so every live earlier
document's BM25 row is rewritten with the new average and the scores equal those of a fresh build over the live
documents. That costs O(N) per change for a recipe with BM25 on edge: tokenising and rewriting every live
document's BM25 row, and the optimisation that then re-indexes every point the rewrite moved (dense vectors
included). A roll back rewrites them all with the previous statistics. A recipe without BM25 touches only the new
and retired points.

Every change ends with `optimize()`, the engine's own optimisers (a Qdrant server runs them in the background): new
points stay in the appendable segment, searched without a graph, until it passes the indexing threshold, and then
that segment is indexed; a segment with many moved or deleted points is rebuilt (docs/index-and-serve.md, "Edge and
Qdrant: changes in place", has the measurements). One opener at a time: a shard already open (a server serving it)
is written through that handle (`held.shard`), never opened a second time.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from embedproof.errors import EmbedproofError
from embedproof.index.journal import Journal, recover_engine, write_journal
from embedproof.index.manifest import Manifest, check_revision, crash_point
from embedproof.search.pipeline import Workspace

SHARD_PREFIX = "shard-"
POINTS_PER_UPDATE = 512  # points per engine update call (one WAL record each)

# (point id, {vector name: value}, payload): a point as `EdgeShardHandle.upsert` takes it
Point = tuple[int, dict, dict]


def remove_stray_shards(manifest: Manifest) -> None:
    """Shard copies an older embedproof's killed add left (every `shard-*` folder the manifest does not name)."""
    live = manifest["store"]["path"]
    for folder in manifest.folder.glob(f"{SHARD_PREFIX}*"):
        if folder.is_dir() and folder.name != live:
            shutil.rmtree(folder)


def bm25_components(manifest: Manifest) -> dict[str, dict]:
    return {key: c for key, c in manifest["components"].items() if "bm25" in c}


def _rewrite_bm25(shard, manifest: Manifest, skip: set[int], tokenisers: dict) -> None:
    """Every live row of `manifest` not in `skip` gets the BM25 row of the statistics `manifest` records."""
    from embedproof.index.edge.build import chunk_rows
    from embedproof.index.qdrant.bm25 import rewritten_rows

    for component, rows, vectors in rewritten_rows(manifest, skip, tokenisers):
        shard.update_vectors(component["vector"], rows, chunk_rows("first", None, vectors, None))


def _check_count(shard, manifest: Manifest, points: int, when: str) -> None:
    count = shard.count()
    if count != points:
        raise EmbedproofError(
            f"{manifest.folder}: the edge shard holds {count} points {when}, the index expects {points}; "
            "rebuild the index"
        )


def _optimize(shard) -> None:
    # The engine has no background optimiser here: optimize() does what a server's would. It returns at once while
    # the new points' segment is under the indexing threshold, indexes it once past it, and rebuilds segments whose
    # points an update moved or deleted — which BM25 needs: the engine's IDF counts those points until then.
    shard.optimize()
    shard.flush()


def upsert_new(shard, manifest: Manifest, points: list[Point], retired: list[int], tokenisers: dict) -> None:
    """The change before its commit: upsert the new points, rewrite the earlier live documents' BM25 rows with the
    statistics `manifest` (the next generation's, not yet committed) records, flush; the retired points stay."""
    for start in range(0, len(points), POINTS_PER_UPDATE):
        shard.upsert(points[start : start + POINTS_PER_UPDATE])
    shard.flush()
    crash_point("points-upserted")
    _rewrite_bm25(shard, manifest, {p[0] for p in points} | set(retired), tokenisers)
    shard.flush()
    crash_point("bm25-rewritten")
    _check_count(shard, manifest, int(manifest["documents"]) + len(points), "before the commit")


def roll_back(shard, journal: Journal, manifest: Manifest, tokenisers: dict) -> None:
    """Undo an uncommitted change (`manifest` is the generation before it): delete the new points, rewrite every
    live BM25 row with `manifest`'s statistics, optimise, and check the shard holds the live documents."""
    if journal.new_rows:
        shard.delete(list(journal.new_rows))
        shard.flush()
    _rewrite_bm25(shard, manifest, set(), tokenisers)
    _optimize(shard)
    _check_count(shard, manifest, int(manifest["documents"]), "after rolling a change back")


def roll_forward(shard, journal: Journal, manifest: Manifest) -> None:
    """Finish a committed change (`manifest` is its generation): delete the retired points, optimise, and check the
    shard holds the live documents."""
    if journal.retired_rows:
        shard.delete(journal.retired_rows)
        shard.flush()
    crash_point("points-deleted")
    _optimize(shard)
    _check_count(shard, manifest, int(manifest["documents"]), "after the change")


def _tokenisers(manifest: Manifest, workspace: Workspace) -> dict:
    return {key: workspace.encoder(c["model"], c["kind"]) for key, c in bm25_components(manifest).items()}


def _open(manifest: Manifest, held: Any):
    """The shard to write: the one `held` has open, else opened here (the caller closes what it opened)."""
    from embedproof.index.edge.engine import EdgeShardHandle

    if held is not None:
        return held.shard, False
    return EdgeShardHandle.load(str(manifest.folder / manifest["store"]["path"])), True


class _Holder:
    """The shard of a change no open index holds: opened on first use, closed when the change ends (`holding`)."""

    workspace = None  # the change builds its own

    def __init__(self, manifest: Manifest) -> None:
        self.manifest, self._shard = manifest, None

    @property
    def shard(self):
        if self._shard is None:
            self._shard = self._open()
        return self._shard

    def _open(self):
        return _open(self.manifest, None)[0]


@contextmanager
def holding(manifest: Manifest, held: Any = None) -> Iterator[Any]:
    """What a whole change writes through (`apply_change`): `held` when an index holds the shard, else one
    opened once, on first use, for the recovery, the change and its `after_commit` together."""
    if held is not None:
        yield held
        return
    holder = _Holder(manifest)
    try:
        yield holder
    finally:
        if holder._shard is not None:
            holder._shard.close()


def recover(manifest: Manifest, held: Any = None) -> str | None:
    """Roll back or forward what a change left (`index.journal`); the caller holds the writer lock. Returns what it
    did ("rolled back", "rolled forward") or None."""
    remove_stray_shards(manifest)
    return recover_engine(manifest, held, lambda: _open(manifest, held), roll_back, roll_forward, _tokenisers)


def after_commit(manifest: Manifest, held: Any = None) -> None:
    """The change after its commit (`apply_change` calls it with the committed manifest): roll it forward."""
    recover(manifest, held)


def apply_edge(
    manifest: Manifest,
    plan,
    first_row: int,
    encoder_options,
    progress=None,
    held: Any = None,
    **store_options: Any,
) -> list[Path]:
    """The edge store's change step (see the module docstring); nothing is left to delete after the commit."""
    from embedproof.index.edge.build import chunk_points
    from embedproof.index.qdrant.bm25 import refit_statistics
    from embedproof.index.qdrant.query_api import engine_components

    if store_options:
        raise EmbedproofError(f"the edge store takes no change options (got {sorted(store_options)})")
    out, recipe = manifest.folder, manifest.recipe
    new = plan.new_documents
    ids, texts = list(new), [d.full_text for d in new.values()]
    workspace = getattr(held, "workspace", None)  # an index holding the engine lends its encoders
    workspace = workspace if workspace is not None else Workspace(ids, texts, encoder_options)
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
    write_journal(manifest, first_row, first_row + len(points), plan.retired_rows)
    shard, opened = _open(manifest, held)
    try:
        upsert_new(shard, manifest, points, plan.retired_rows, _tokenisers(manifest, workspace))
    finally:
        if opened:
            shard.close()
    crash_point("change-commit")
    return []


def append_edge(manifest: Manifest, corpus: dict, encoder_options, progress=None) -> Manifest:
    """Add `corpus` (new ids) to the edge index of `manifest`, whose writer lock the caller holds, as one generation
    (what `append_documents` calls; `apply_change` is the general path)."""
    from embedproof.index.change import commit_change, plan_change

    with holding(manifest) as held:
        recover(manifest, held)
        manifest = Manifest.read(manifest.folder)
        plan = plan_change(manifest, corpus)
        first_row = len(manifest.rows())
        manifest["docs"] = manifest.docs
        manifest.write_docs(f"docs-{len(manifest.docs):05d}.jsonl", plan.new_documents.values())
        apply_edge(manifest, plan, first_row, encoder_options, progress, held)
        commit_change(manifest, plan)
        after_commit(manifest, held)
    return manifest
