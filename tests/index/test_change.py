"""`plan_change`: what a request means against the live documents (hand-checked cases), and the refusals."""

import pytest

from embedproof.errors import InvalidInputError
from embedproof.index.change import plan_change
from embedproof.index.manifest import Manifest
from embedproof.types import Document


@pytest.fixture
def manifest(tmp_path):
    """A manifest over rows a, b, c, then a second segment with b's new text (row 1 retired) and d."""
    (tmp_path / "docs.jsonl").write_text(
        '{"_id": "a", "title": "", "text": "alpha"}\n'
        '{"_id": "b", "title": "", "text": "beta"}\n'
        '{"_id": "c", "title": "T", "text": "gamma"}\n'
    )
    (tmp_path / "docs-00001.jsonl").write_text(
        '{"_id": "b", "title": "", "text": "beta two"}\n{"_id": "d", "title": "", "text": "delta"}\n'
    )
    return Manifest(tmp_path, {"docs": ["docs.jsonl", "docs-00001.jsonl"], "retired_rows": [1], "generation": 2})


def test_rows_and_live_documents(manifest):
    assert [d.id for d in manifest.rows()] == ["a", "b", "c", "b", "d"]
    assert manifest.row_ids() == ["a", None, "c", "b", "d"]
    assert {i: d.text for i, d in manifest.documents().items()} == {
        "a": "alpha",
        "c": "gamma",
        "b": "beta two",
        "d": "delta",
    }
    assert manifest.generation == 2


def test_plan_classifies_every_id(manifest):
    plan = plan_change(
        manifest,
        {
            "a": Document("a", "alpha"),  # same text: nothing to do
            "c": Document("c", "gamma"),  # same text, but the stored one has a title: a different document
            "e": Document("e", "epsilon"),
        },
        removes=["d", "zz"],
        replace=True,
    )
    assert list(plan.add) == ["e"]
    assert list(plan.replace) == ["c"]
    assert plan.remove == ["d"]
    assert plan.unchanged == ["a"]
    assert plan.absent == ["zz"]
    assert plan.retired_rows == [2, 4]  # c's row and d's current row (not d's id in an older segment)
    assert list(plan.new_documents) == ["e", "c"]
    assert not plan.empty


def test_retry_of_the_same_add_needs_nothing(manifest):
    plan = plan_change(manifest, {"b": Document("b", "beta two"), "d": Document("d", "delta")}, removes=["q"])
    assert plan.empty and plan.unchanged == ["b", "d"] and plan.absent == ["q"]


def test_a_different_text_needs_replace(manifest):
    with pytest.raises(
        InvalidInputError, match=r"new.jsonl: document id 'a' and 1 more already in the index .*--replace"
    ):
        plan_change(manifest, {"a": Document("a", "A"), "b": Document("b", "B")}, source="new.jsonl")


def test_contradictions_are_refused(manifest):
    with pytest.raises(InvalidInputError, match="'a' is both added and removed"):
        plan_change(manifest, {"a": Document("a", "x")}, removes=["a"], replace=True)
    with pytest.raises(InvalidInputError, match="'c' is named twice for removal"):
        plan_change(manifest, {}, removes=["c", "c"])
