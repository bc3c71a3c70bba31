"""The shared build never writes into a folder of someone else's files: only a new or empty folder, or an index."""

import pytest

from embedproof.datasets.loading import load_dataset
from embedproof.errors import InvalidInputError
from embedproof.index.access import build_index, open_index
from embedproof.index.build import check_build_folder
from embedproof.search.recipe import Recipe

RECIPE = Recipe("dense", ["hashing"])


@pytest.fixture(scope="module")
def corpus():
    return load_dataset("demo").corpus


def test_a_folder_with_other_files_is_refused_and_left_as_it_was(tmp_path, corpus):
    mine = tmp_path / "docs"
    (mine / "sub").mkdir(parents=True)
    (mine / "sub" / "page.md").write_text("# mine\n")
    with pytest.raises(InvalidInputError, match=r"docs: holds files and is not an embedproof index .*first: sub\)"):
        build_index(RECIPE, corpus, mine)
    assert [p.relative_to(mine).as_posix() for p in sorted(mine.rglob("*"))] == ["sub", "sub/page.md"]
    (mine / "docs.jsonl").write_text("")  # even a lone docs.jsonl: an index has a manifest
    (mine / "sub" / "page.md").unlink()
    (mine / "sub").rmdir()
    with pytest.raises(InvalidInputError, match="first: docs.jsonl"):
        build_index(RECIPE, corpus, mine)
    afile = tmp_path / "a-file"
    afile.write_text("x")
    with pytest.raises(InvalidInputError, match="a-file: is a file, not a folder"):
        check_build_folder(afile)


def test_new_empty_and_killed_folders_and_indexes_are_accepted(tmp_path, corpus):
    check_build_folder(tmp_path / "new" / "deeper")  # made by the build
    killed = tmp_path / "killed"
    killed.mkdir()
    (killed / ".lock").touch()
    (killed / ".docs.jsonl.abc123.tmp").write_text('{"_id"')
    assert build_index(RECIPE, corpus, killed)["complete"]
    assert not list(killed.glob("*.tmp"))
    assert build_index(RECIPE, corpus, killed)["generation"] == 1  # an index: the same build returns it
    assert len(open_index(killed).ids) == 240
