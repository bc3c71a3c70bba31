"""Property-based fuzzing of the plain-text folder loader against an independent oracle.

Random trees (nested folders, odd and non-UTF-8 names, random bytes, other encodings, empty files, huge lines):
the loader either returns exactly the documents the oracle expects, or raises a DatasetError naming a path inside
the folder exactly when the oracle says the folder is bad. Never any other exception. About 500 cases.
"""

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from embedproof.datasets.loading import load_dataset
from embedproof.errors import DatasetError

FAST = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_ok_name = lambda b: b"/" not in b and b"\x00" not in b and b not in (b".", b"..")  # noqa: E731
text_name = st.text(alphabet="aAb.-_ é\t中", min_size=1, max_size=8).map(lambda t: t.encode("utf-8"))
name_bytes = st.one_of(*[text_name] * 8, st.binary(min_size=1, max_size=8)).filter(
    _ok_name
)  # Linux: any bytes but "/", NUL
suffixes = st.sampled_from([b".txt", b".md", b".txt", b".md", b".TXT", b".Md", b".csv", b"", b".txt.bak"])
good_text = st.text(max_size=60).map(lambda t: t.encode("utf-8"))
bad_text = st.one_of(
    st.text(max_size=30).map(lambda t: t.encode("utf-16")),
    st.text(alphabet=st.characters(max_codepoint=255), max_size=30).map(lambda t: t.encode("latin-1")),
    st.binary(max_size=60),
    st.sampled_from([b"", b"   \n\t", b"\xef\xbb\xbf", b"\xef\xbb\xbf# Title\nbody", b"# only a heading"]),
    st.integers(min_value=10_000, max_value=300_000).map(lambda n: b"word " * (n // 5)),  # one huge line
)
# Mostly good files, so that both whole folders that load and folders with one bad file are common.
texts = st.one_of(*[good_text] * 6, bad_text)
trees = st.lists(st.tuples(st.lists(name_bytes, max_size=2), name_bytes, suffixes, texts), min_size=1, max_size=6)


def _expected(files: dict[bytes, bytes]) -> tuple[bool, list[str]]:
    """(should fail, ids in load order): the rules in docs/bench.md (Datasets), restated independently of the loader."""
    ids: list[tuple[str, str]] = []
    for relative, data in files.items():
        parts = relative.split(b"/")
        if any(p.startswith(b".") for p in parts) or os.path.splitext(parts[-1])[1].lower() not in (b".txt", b".md"):
            continue
        try:
            doc_id = relative.rsplit(b".", 1)[0].decode("utf-8")
        except UnicodeDecodeError:
            return True, []
        body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
        if b"\x00" in body:
            return True, []
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return True, []
        if text.strip():
            ids.append((relative.decode("utf-8"), doc_id))
    if len({i for _, i in ids}) != len(ids) or not ids:
        return True, []
    return False, [i for _, i in sorted(ids)]


def _write(root: bytes, tree) -> dict[bytes, bytes]:
    written: dict[bytes, bytes] = {}
    for dirs, name, suffix, data in tree:
        relative = b"/".join([*dirs, name + suffix])
        try:
            os.makedirs(os.path.join(root, *dirs), exist_ok=True)
            with open(os.path.join(root, relative), "wb") as handle:
                handle.write(data)
        except (IsADirectoryError, NotADirectoryError, FileExistsError, OSError):
            assume(False)  # a name used as both a file and a folder: not a tree a user could have
        written[relative] = data
    return written


@FAST
@given(trees)
def test_random_trees_load_exactly_what_the_rules_say(tree):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "corpus"
        root.mkdir()
        files = _write(os.fsencode(root), tree)
        should_fail, ids = _expected(files)
        try:
            data = load_dataset(root)
        except DatasetError as exc:
            event("refused: " + str(exc).split(": ", 1)[1][:12])
            assert should_fail, f"refused a good folder: {exc}"
            assert exc.path is not None and os.fsencode(exc.path).startswith(os.fsencode(root.resolve()))
            return
        event("loaded")
        assert not should_fail, "loaded a folder the rules say is bad"
        assert list(data.corpus) == ids
        assert all(doc.full_text.strip() for doc in data.corpus.values())


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(min_size=1, max_size=200), st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1"]))
def test_a_text_in_another_encoding_loads_as_itself_or_names_file_and_line(text, encoding):
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        assume(False)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "only.txt").write_bytes(data)
        try:
            corpus = load_dataset(root).corpus
        except DatasetError as exc:
            assert ("only.txt" in str(exc) and exc.line is not None) or "no documents" in str(exc)
            return
        assert corpus["only"].text == data.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
