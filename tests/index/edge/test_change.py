"""Changes to an edge index in place (`apply_change` → `edge.change.apply_edge`): add, replace and remove equal a
fresh build of the live documents, BM25 included; a SIGKILL at every crash point leaves an index that opens and
equals the state before or after, and the retried change succeeds."""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("qdrant_edge")

from embedproof.datasets.loading import load_dataset  # noqa: E402
from embedproof.evaluation.engine_parity import agree_up_to_ties  # noqa: E402
from embedproof.index.access import build_index, open_index  # noqa: E402
from embedproof.index.change import apply_change  # noqa: E402
from embedproof.index.edge.search import EdgeIndex  # noqa: E402
from embedproof.index.journal import JOURNAL  # noqa: E402
from embedproof.index.manifest import KILL_ENV  # noqa: E402
from embedproof.search.recipe import Recipe  # noqa: E402
from embedproof.types import Document  # noqa: E402

# exact search and an int8 quantiser with a graph built: the answers are deterministic, the codes exercised
ENGINE = {"exact": True, "quantization": "int8", "full_scan_threshold_kb": 1, "indexing_threshold_kb": 1}
RECIPE = Recipe("hybrid", ["hashing", "bm25"], fusion_params={"k": 60}, engine=ENGINE)
BM25 = Recipe("bm25", ["bm25"], engine=ENGINE)
# the crash points of a change, in the order it reaches them, and the state a kill there leaves once recovered:
# before the commit the change is rolled back, after it rolled forward
KILLS = {
    "journal-written": "before",
    "journal-saved": "before",
    "points-upserted": "before",
    "bm25-rewritten": "before",
    "change-commit": "before",
    "manifest-written": "before",
    "manifest-saved": "after",
    "points-deleted": "after",
}


@pytest.fixture(scope="module")
def demo():
    return load_dataset("demo")


def changes(demo) -> dict:
    """Three changes to the first 200 demo documents: (upserts, removes, replace) for add, replace and remove."""
    ids = list(demo.corpus)
    new_texts = {ids[i]: Document(ids[i], f"a rewritten text number {i} about rivers and stars") for i in (3, 50, 120)}
    return {
        "add": ({d: demo.corpus[d] for d in ids[200:]}, [], False),
        "replace": (new_texts, [], True),
        "remove": ({}, [ids[7], ids[99], ids[150]], False),
    }


def live_after(corpus: dict, upserts: dict, removes: list) -> dict:
    return {d: doc for d, doc in corpus.items() if d not in removes and d not in upserts} | upserts


def answers(folder, queries, k=10):
    index = open_index(folder)
    try:
        return [[(r["id"], r["score"]) for r in a["results"]] for a in index.search_many(queries, k)]
    finally:
        index.close()


def same(got, want) -> bool:
    return all(agree_up_to_ties(g, w, tol=1e-5) for g, w in zip(got, want))


@pytest.mark.parametrize("recipe", [RECIPE, BM25], ids=["hybrid", "bm25"])
def test_a_sequence_of_changes_answers_as_a_fresh_build_of_the_live_documents(demo, tmp_path, recipe):
    ids = list(demo.corpus)
    corpus = {d: demo.corpus[d] for d in ids[:200]}
    folder = tmp_path / "changed"
    build_index(recipe, corpus, folder, chunk_size=64)  # several chunks: the BM25 rewrite spans them
    for name, (upserts, removes, replace) in changes(demo).items():
        result = apply_change(folder, upserts, removes, replace=replace, encoder_options=lambda m: {})
        assert result.changed, name
        corpus = live_after(corpus, upserts, removes)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["generation"] == 4 and manifest["documents"] == len(corpus) == 237
    assert manifest["store"]["path"] == "shard" and [p.name for p in folder.glob("shard*")] == ["shard"]
    assert not (folder / JOURNAL).exists()
    build_index(recipe, corpus, tmp_path / "fresh")
    fresh = json.loads((tmp_path / "fresh" / "manifest.json").read_text())
    stats = [c["bm25"]["avgdl"] for c in manifest["components"].values() if "bm25" in c]
    assert stats == [c["bm25"]["avgdl"] for c in fresh["components"].values() if "bm25" in c]
    queries = list(demo.queries.values())
    got, want = answers(folder, queries, 20), answers(tmp_path / "fresh", queries, 20)
    assert same(got, want)
    removed = set(changes(demo)["remove"][1])
    assert not removed & {d for a in answers(folder, queries, 237) for d, _ in a}  # retired rows never answered


def test_a_retried_change_needs_nothing_and_an_old_shard_copy_changes_in_place(demo, tmp_path):
    ids = list(demo.corpus)
    folder = tmp_path / "idx"
    build_index(RECIPE, {d: demo.corpus[d] for d in ids[:200]}, folder)
    # an index an older embedproof added to names its shard copy `shard-NNNNN`: it loads and changes in place
    (folder / "shard").rename(folder / "shard-00001")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["store"]["path"] = "shard-00001"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    upserts, removes, replace = changes(demo)["add"]
    assert apply_change(folder, upserts).changed
    again = apply_change(folder, upserts, ["not-there"])
    assert not again.changed and again.generation == 2 and len(again.unchanged) == 40 and again.absent
    assert [p.name for p in folder.glob("shard*")] == ["shard-00001"]
    build_index(RECIPE, demo.corpus, tmp_path / "fresh")
    queries = list(demo.queries.values())
    assert same(answers(folder, queries), answers(tmp_path / "fresh", queries))


def test_a_change_through_the_open_index_and_refreshed(demo, tmp_path):
    """The server's path: the change writes through the shard the open index holds, `refreshed()` serves it."""
    ids = list(demo.corpus)
    folder = tmp_path / "idx"
    build_index(RECIPE, {d: demo.corpus[d] for d in ids[:200]}, folder)
    queries = list(demo.queries.values())
    index = EdgeIndex(folder)
    upserts, removes, _ = changes(demo)["remove"]
    apply_change(folder, upserts, removes, held=index)
    fresh_index = index.refreshed()
    index.close()  # the older object owns nothing now: the shard stays open for the new one
    got = [[(r["id"], r["score"]) for r in a["results"]] for a in fresh_index.search_many(queries, 10)]
    assert fresh_index.manifest.generation == 2 and len(fresh_index.docs) == 197
    assert fresh_index.workspace.encoder("hashing") is index.workspace.encoder("hashing")  # no model loaded twice
    fresh_index.close()
    build_index(RECIPE, live_after({d: demo.corpus[d] for d in ids[:200]}, {}, removes), tmp_path / "fresh")
    assert same(got, answers(tmp_path / "fresh", queries))
    EdgeIndex(folder).close()  # closed: the folder opens again


SCRIPT = """
import json, sys
from embedproof.index.change import apply_change
from embedproof.types import Document
spec = json.loads(sys.argv[1])
upserts = {d["id"]: Document(d["id"], d["text"], d["title"]) for d in spec["upserts"]}
apply_change(spec["folder"], upserts, spec["removes"], replace=spec["replace"])
"""


def change_in_a_process(folder: Path, upserts: dict, removes: list, replace: bool, kill: str | None):
    spec = {
        "folder": str(folder),
        "upserts": [{"id": d.id, "title": d.title, "text": d.text} for d in upserts.values()],
        "removes": removes,
        "replace": replace,
    }
    env = {k: v for k, v in os.environ.items() if k != KILL_ENV} | {"HF_HUB_OFFLINE": "1"}
    env |= {KILL_ENV: kill} if kill else {}
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(spec)], env=env, capture_output=True, text=True, timeout=300
    )


def stored(folder: Path) -> dict:
    """Every point the edge shard holds: id → (vectors, payload), what a roll back must restore exactly."""
    from embedproof.index.edge.engine import EdgeShardHandle

    manifest = json.loads((folder / "manifest.json").read_text())
    shard = EdgeShardHandle.load(str(folder / manifest["store"]["path"]))
    try:
        return {pid: (vectors, payload) for pid, vectors, payload in shard.points(list(range(1000)))}
    finally:
        shard.close()


def kill_and_retry(
    base: Path,
    tmp_path: Path,
    change: tuple,
    kills: dict[str, str],
    queries: list[str],
    answers=answers,
    copy=None,
    stored=stored,
) -> None:
    """For each kill point: copy the index, kill the change there, check it opens as the state `kills` names
    (before: rolled back, the stored points and BM25 rows equal to the base's; after: rolled forward), retry
    (`answers` opens and searches an index of the store, `copy` copies its folder, `stored` reads its points)."""
    copy = copy or shutil.copytree
    upserts, removes, replace = change
    before = answers(base, queries)
    points_before = stored(base)
    reference = tmp_path / "reference"
    copy(base, reference)
    apply_change(reference, upserts, removes, replace=replace)
    after = answers(reference, queries)
    points_after = stored(reference)
    assert not same(before, after)  # the change is visible in the answers, so "before or after" can fail
    for kill, side in kills.items():
        folder = tmp_path / kill
        copy(base, folder)
        killed = change_in_a_process(folder, upserts, removes, replace, f"{kill}:1")
        assert killed.returncode == -signal.SIGKILL, (kill, killed.stderr[-2000:])
        state = answers(folder, queries)  # opens (rolling a journalled change back or forward) and serves
        assert same(state, before if side == "before" else after), kill
        assert not (folder / JOURNAL).exists()
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["generation"] == (1 if side == "before" else 2), kill
        assert stored(folder) == (points_before if side == "before" else points_after), kill
        retried = change_in_a_process(folder, upserts, removes, replace, None)
        assert retried.returncode == 0, (kill, retried.stderr[-2000:])
        assert not list(folder.glob(".*.tmp"))  # what the killed writer was writing: cleared by the next one
        manifest = json.loads((folder / "manifest.json").read_text())
        assert sorted(p.name for p in folder.glob("docs*.jsonl")) == sorted(manifest["docs"]), kill  # none stray
        assert same(answers(folder, queries), after), kill
        shutil.rmtree(folder)


@pytest.fixture(scope="module")
def base(demo, tmp_path_factory):
    folder = tmp_path_factory.mktemp("edge") / "base"
    build_index(RECIPE, {d: demo.corpus[d] for d in list(demo.corpus)[:200]}, folder, chunk_size=64)
    return folder


@pytest.mark.parametrize(
    "kind,kills",
    [
        ("add", ["bm25-rewritten", "points-deleted"]),
        ("replace", ["points-upserted", "manifest-saved"]),
        ("remove", ["change-commit", "points-deleted"]),
    ],
)
def test_sigkill_during_a_change_leaves_before_or_after(demo, base, tmp_path, kind, kills):
    chosen = {k: KILLS[k] for k in kills}
    kill_and_retry(base, tmp_path, changes(demo)[kind], chosen, list(demo.queries.values())[:20])


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["add", "replace", "remove"])
def test_sigkill_at_every_crash_point_of_a_change(demo, base, tmp_path, kind):
    kill_and_retry(base, tmp_path, changes(demo)[kind], KILLS, list(demo.queries.values())[:20])


OPEN = """
import sys
from embedproof.index.access import open_index
open_index(sys.argv[1]).close()
"""


@pytest.mark.parametrize(
    "kill,recovery,side",
    [("bm25-rewritten", "change-rolled-back", "before"), ("manifest-saved", "change-rolled-forward", "after")],
)
def test_a_kill_during_recovery_is_recovered_again(demo, base, tmp_path, kill, recovery, side):
    """Recovery is idempotent: an open killed after rolling the change back or forward (the journal still there)
    leaves it to the next open, which does it again and opens as the state before or after."""
    upserts, removes, replace = changes(demo)["replace"]
    queries = list(demo.queries.values())[:20]
    want = base
    if side == "after":
        want = tmp_path / "reference"
        shutil.copytree(base, want)
        apply_change(want, upserts, removes, replace=replace)
    folder = tmp_path / "idx"
    shutil.copytree(base, folder)
    assert change_in_a_process(folder, upserts, removes, replace, f"{kill}:1").returncode == -signal.SIGKILL
    env = {k: v for k, v in os.environ.items() if k != KILL_ENV} | {"HF_HUB_OFFLINE": "1", KILL_ENV: f"{recovery}:1"}
    opened = subprocess.run([sys.executable, "-c", OPEN, str(folder)], env=env, capture_output=True, timeout=300)
    assert opened.returncode == -signal.SIGKILL and (folder / JOURNAL).exists()
    assert same(answers(folder, queries), answers(want, queries)) and not (folder / JOURNAL).exists()
    assert stored(folder) == stored(want)
