"""The change journal: every kind of vector round-trips exactly; recovery rolls forward only the next generation."""

import json

import numpy as np
import pytest

from embedproof.index.journal import JOURNAL, read_journal, recover_journal, write_journal
from embedproof.index.manifest import Manifest


@pytest.fixture
def manifest(tmp_path):
    (tmp_path / "docs.jsonl").write_text('{"_id": "a", "title": "", "text": "alpha"}\n')
    data = {"docs": ["docs.jsonl"], "documents": 1, "generation": 3, "retired_rows": [], "files": {}}
    manifest = Manifest(tmp_path, data)
    manifest.save()
    return manifest


def points():
    rng = np.random.default_rng(0)
    return [
        (5, {"dense": rng.normal(size=4).astype(np.float32), "bm25": ([3, 9], [0.5, 0.25])}, {"id": "x"}),
        (6, {"bm25": ([], []), "tokens": rng.normal(size=(3, 2)).astype(np.float32)}, {"id": "y"}),
        (7, {}, {"id": "z"}),  # a document with no vector to store (an empty token matrix)
    ]


def test_points_round_trip_exactly(manifest):
    write_journal(manifest, [0], points())
    journal = read_journal(manifest.folder)
    assert journal.generation == 4 and journal.retired_rows == [0] and journal.manifest == manifest.data
    for (pid, vectors, payload), want in zip(journal.points, points()):
        assert (pid, payload) == (want[0], want[2]) and sorted(vectors) == sorted(want[1])
        for name, value in want[1].items():
            if isinstance(value, tuple):
                assert vectors[name] == (list(value[0]), list(value[1]))
            else:
                assert np.array_equal(vectors[name], value) and vectors[name].dtype == np.float32


def test_recovery_rolls_the_next_generation_forward_and_drops_the_rest(manifest):
    (manifest.folder / ".manifest.json.abc.tmp").write_text("half")
    write_journal(manifest, [0], points())
    seen = []
    assert recover_journal(Manifest.read(manifest.folder), lambda journal, following: seen.append(journal.points))
    committed = json.loads((manifest.folder / "manifest.json").read_text())
    assert committed["generation"] == 4 and committed["retired_rows"] == [0] and committed["documents"] == 0
    assert len(seen) == 1 and not (manifest.folder / JOURNAL).exists()
    assert not list(manifest.folder.glob(".*.tmp"))
    # the same journal again (a kill after the commit, before its deletion): committed already, only deleted
    write_journal(manifest, [0], points())
    assert not recover_journal(Manifest.read(manifest.folder), lambda *a: seen.append("again"))
    assert len(seen) == 1 and not (manifest.folder / JOURNAL).exists()
    (manifest.folder / JOURNAL).write_bytes(b"not an archive")  # unreadable: never applied, deleted
    assert not recover_journal(Manifest.read(manifest.folder), lambda *a: seen.append("bad"))
    assert len(seen) == 1 and not (manifest.folder / JOURNAL).exists()
