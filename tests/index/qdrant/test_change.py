"""Changes to a Qdrant index in local mode (`apply_change` → `qdrant.change.apply_qdrant`): add, replace and remove
equal a fresh build of the live documents, BM25 included; a SIGKILL at every crash point leaves an index that opens
and equals the state before or after, and the retried change succeeds."""

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("qdrant_client")

from embedproof.datasets.loading import load_dataset  # noqa: E402
from embedproof.index.access import build_index  # noqa: E402
from embedproof.index.change import apply_change  # noqa: E402
from embedproof.index.journal import JOURNAL  # noqa: E402
from embedproof.index.qdrant.search import QdrantIndex  # noqa: E402
from embedproof.search.recipe import Recipe  # noqa: E402

from ..edge.test_change import KILLS, changes, kill_and_retry, live_after, same  # noqa: E402

RECIPE = Recipe("hybrid", ["hashing", "bm25"], fusion_params={"k": 60})
BM25 = Recipe("bm25", ["bm25"])
# Local mode orders tied scores by where a point is stored, which a change moves; a first pass's tie order becomes
# RRF ranks, so a fused recipe is compared by top-10 overlap and each single-pass recipe by scores with ties.


def overlap(got, want) -> float:
    return sum(len({d for d, _ in g[:10]} & {d for d, _ in w[:10]}) / 10 for g, w in zip(got, want)) / len(got)


@pytest.fixture(scope="module")
def demo():
    return load_dataset("demo")


def build(recipe, corpus, folder: Path):
    """A local-mode Qdrant index whose collection lives inside the index folder (so copying the folder copies it)."""
    return build_index(
        recipe, corpus, folder, chunk_size=64, store_backend="qdrant", store_options={"path": str(folder / "qdrant")}
    )


def answers(folder, queries, k=10):
    with QdrantIndex(folder) as index:
        return [[(r["id"], r["score"]) for r in a["results"]] for a in index.search_many(queries, k)]


def stored(folder) -> dict:
    """Every point the collection holds: id → (vectors, payload), what a roll back must restore exactly."""
    with QdrantIndex(folder) as index:
        records = index.client.retrieve(
            index.store["collection"], list(range(1000)), with_payload=True, with_vectors=True
        )
    return {
        r.id: (
            {n: (list(v.indices), list(v.values)) if hasattr(v, "indices") else list(v) for n, v in r.vector.items()},
            r.payload,
        )
        for r in records
    }


@pytest.mark.parametrize("recipe", [RECIPE, BM25, Recipe("dense", ["hashing"])], ids=["hybrid", "bm25", "dense"])
def test_a_sequence_of_changes_answers_as_a_fresh_build_of_the_live_documents(demo, tmp_path, recipe):
    ids = list(demo.corpus)
    corpus = {d: demo.corpus[d] for d in ids[:200]}
    folder = tmp_path / "changed"
    build(recipe, corpus, folder)
    for name, (upserts, removes, replace) in changes(demo).items():
        assert apply_change(folder, upserts, removes, replace=replace).changed, name
        corpus = live_after(corpus, upserts, removes)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["generation"] == 4 and manifest["documents"] == len(corpus) == 237
    assert not (folder / JOURNAL).exists()
    build(recipe, corpus, tmp_path / "fresh")
    fresh = json.loads((tmp_path / "fresh" / "manifest.json").read_text())
    stats = [c["bm25"]["avgdl"] for c in manifest["components"].values() if "bm25" in c]
    assert stats == [c["bm25"]["avgdl"] for c in fresh["components"].values() if "bm25" in c]
    queries = list(demo.queries.values())
    got, want = answers(folder, queries, 20), answers(tmp_path / "fresh", queries, 20)
    assert same(got, want) if recipe is not RECIPE else overlap(got, want) >= 0.95
    removed = set(changes(demo)["remove"][1])
    assert not removed & {d for a in answers(folder, queries, 237) for d, _ in a}  # retired rows never answered


def test_a_change_through_the_open_index_and_refreshed(demo, tmp_path):
    """Local mode has one client: the change writes through the open index's client, `refreshed()` serves it."""
    ids = list(demo.corpus)
    folder = tmp_path / "idx"
    build(BM25, {d: demo.corpus[d] for d in ids[:200]}, folder)
    queries = list(demo.queries.values())
    index = QdrantIndex(folder)
    upserts, removes, replace = changes(demo)["replace"]
    apply_change(folder, upserts, removes, replace=replace, held=index)
    fresh_index = index.refreshed()
    index.close()  # the older object owns nothing now: the client stays open for the new one
    got = [[(r["id"], r["score"]) for r in a["results"]] for a in fresh_index.search_many(queries, 10)]
    assert fresh_index.manifest.generation == 2
    fresh_index.close()
    build(BM25, live_after({d: demo.corpus[d] for d in ids[:200]}, upserts, removes), tmp_path / "fresh")
    assert same(got, answers(tmp_path / "fresh", queries))
    QdrantIndex(folder).close()  # closed: the folder opens again


@pytest.fixture(scope="module")
def base(demo, tmp_path_factory):
    folder = tmp_path_factory.mktemp("qdrant") / "base"
    build(BM25, {d: demo.corpus[d] for d in list(demo.corpus)[:200]}, folder)
    return folder


def copies(base: Path):
    """Copy a local-mode index: the collection's path is the folder's own `qdrant/`, rewritten for the copy."""

    def copy(src, dst):
        shutil.copytree(src, dst)
        manifest = json.loads((Path(dst) / "manifest.json").read_text())
        manifest["store"]["path"] = str(Path(dst) / "qdrant")
        (Path(dst) / "manifest.json").write_text(json.dumps(manifest, indent=2))

    return copy


@pytest.mark.parametrize(
    "kind,kills",
    [
        ("add", ["points-upserted", "points-deleted"]),
        ("replace", ["bm25-rewritten", "manifest-saved"]),
        ("remove", ["manifest-written", "points-deleted"]),
    ],
)
def test_sigkill_during_a_change_leaves_before_or_after(demo, base, tmp_path, kind, kills):
    chosen = {k: KILLS[k] for k in kills}
    queries = list(demo.queries.values())[:20]
    kill_and_retry(base, tmp_path, changes(demo)[kind], chosen, queries, answers, copies(base), stored)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["add", "replace", "remove"])
def test_sigkill_at_every_crash_point_of_a_change(demo, base, tmp_path, kind):
    queries = list(demo.queries.values())[:20]
    kill_and_retry(base, tmp_path, changes(demo)[kind], KILLS, queries, answers, copies(base), stored)
