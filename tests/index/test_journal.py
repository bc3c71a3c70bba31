"""The change journal: point ids only; recovery rolls an uncommitted change back and a committed one forward."""

import json

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


def pending(manifest: Manifest) -> Manifest:
    """The manifest of a change that adds rows 1 and 2 (its new segment written) and retires row 0, uncommitted."""
    following = Manifest.read(manifest.folder)
    following["docs"] = following.docs
    following.write_docs("docs-00001.jsonl", [])
    write_journal(following, 1, 3, [0])
    return following


def recorder(seen: list):
    return (
        lambda journal, current: seen.append(("back", journal, current.generation)),
        lambda journal, current: seen.append(("forward", journal, current.generation)),
    )


def test_the_journal_holds_ids_only(manifest):
    pending(manifest)
    journal = read_journal(manifest.folder)
    assert (journal.generation, journal.new_rows, journal.retired_rows) == (4, range(1, 3), [0])
    assert journal.segment == "docs-00001.jsonl"
    assert set(json.loads((manifest.folder / JOURNAL).read_text())) == {
        "format",
        "generation",
        "new_rows",
        "retired_rows",
        "segment",
    }


def test_an_uncommitted_change_rolls_back_and_its_segment_goes(manifest):
    (manifest.folder / ".manifest.json.abc.tmp").write_text("half")
    (manifest.folder / "docs-00007.jsonl").write_text("")  # a change killed before its journal: no manifest lists it
    pending(manifest)
    seen = []
    assert recover_journal(Manifest.read(manifest.folder), *recorder(seen)) == "rolled back"
    assert [(s[0], s[2]) for s in seen] == [("back", 3)] and seen[0][1].new_rows == range(1, 3)
    assert not (manifest.folder / JOURNAL).exists() and not (manifest.folder / "docs-00001.jsonl").exists()
    assert not list(manifest.folder.glob(".*.tmp")) and not (manifest.folder / "docs-00007.jsonl").exists()
    assert json.loads((manifest.folder / "manifest.json").read_text())["generation"] == 3  # nothing committed


def test_a_committed_change_rolls_forward_and_keeps_its_segment(manifest):
    following = pending(manifest)
    following["generation"] = 4
    following.save()  # the commit, then a kill before the retired points were deleted
    seen = []
    assert recover_journal(Manifest.read(manifest.folder), *recorder(seen)) == "rolled forward"
    assert [(s[0], s[2]) for s in seen] == [("forward", 4)] and seen[0][1].retired_rows == [0]
    assert not (manifest.folder / JOURNAL).exists() and (manifest.folder / "docs-00001.jsonl").exists()


def test_a_stale_or_unreadable_journal_is_only_deleted(manifest):
    seen = []
    following = pending(manifest)
    following["generation"] = 5  # two generations on: the journal belongs to neither side
    following.save()
    assert recover_journal(Manifest.read(manifest.folder), *recorder(seen)) is None
    (manifest.folder / JOURNAL).write_bytes(b"not json")  # unreadable: never applied, deleted
    assert recover_journal(Manifest.read(manifest.folder), *recorder(seen)) is None
    assert seen == [] and not (manifest.folder / JOURNAL).exists()
