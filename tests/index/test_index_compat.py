"""Index folders written by the release before the restructure (embedpick 0.1.0) still open and answer the same.

The fixtures were built by that release over the demo corpus (`index build --corpus demo --recipe ...`), and the
expected rankings below are what it answered; opening them must not rewrite them.
"""

import hashlib
import shutil
from pathlib import Path

import pytest

from embedproof import open_index

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

# (folder, query) → the top 5 (id, score) the old release returned
OLD_ANSWERS = {
    ("index_v1_hybrid", "When was the iPhone released?"): [
        ("d001", 0.032522),
        ("d002", 0.031754),
        ("d004", 0.031498),
        ("d005", 0.030769),
        ("d012", 0.030282),
    ],
    ("index_v1_hybrid", "App Store developers revenue"): [
        ("d005", 0.032787),
        ("d004", 0.031281),
        ("d058", 0.0241),
        ("d064", 0.02235),
        ("d085", 0.02187),
    ],
    ("index_v1_int8", "App Store developers revenue"): [
        ("d005", 0.999982),
        ("d052", 0.407372),
        ("d079", 0.355388),
        ("d185", 0.351751),
        ("d091", 0.330893),
    ],
}


def _digests(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize(("folder", "query"), sorted(OLD_ANSWERS))
def test_an_index_from_the_previous_release_answers_as_it_did(tmp_path, folder, query):
    copy = tmp_path / folder
    shutil.copytree(FIXTURES / folder, copy)
    before = _digests(copy)
    answer = open_index(copy).search(query, 5)
    assert [(r["id"], round(r["score"], 6)) for r in answer["results"]] == OLD_ANSWERS[folder, query]
    assert _digests(copy) == before  # opened read-only: nothing rewritten, nothing added
