"""Property-based fuzzing of the loaders: any input ends in a loaded dataset or a DatasetError naming the file.

Never a raw traceback (KeyError, TypeError, UnicodeDecodeError, ...). About 1,200 generated cases in all.
"""

import gzip
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from embedproof.datasets.loading import load_beir_folder
from embedproof.datasets.readers import read_corpus, read_qrels
from embedproof.errors import DatasetError

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
records = st.dictionaries(st.sampled_from(["_id", "id", "text", "title", "other"]), json_values, max_size=4)


def _check(load, path: Path):
    try:
        return load()
    except DatasetError as exc:
        assert exc.path is not None and str(path.name) in str(exc)
        return None


@FAST
@given(st.binary(max_size=400))
def test_random_bytes_as_corpus(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "corpus.jsonl"
        path.write_bytes(data)
        _check(lambda: read_corpus(path, []), path)


@FAST
@given(st.lists(records, min_size=1, max_size=6))
def test_records_with_wrong_types_and_missing_fields(rows):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "corpus.jsonl"
        path.write_text("\n".join(json.dumps(r, allow_nan=True) for r in rows) + "\n")
        corpus = _check(lambda: read_corpus(path, []), path)
        if corpus is not None:  # only well-formed rows can load: ids are non-empty strings, texts strings
            assert all(isinstance(doc.text, str) and doc.id for doc in corpus.values())


@FAST
@given(st.lists(st.text(alphabet="qd0123\t -x.", max_size=20), max_size=8))
def test_random_qrels_lines(lines):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "test.tsv"
        path.write_text("query-id\tcorpus-id\tscore\n" + "\n".join(lines) + "\n")
        qrels = _check(lambda: read_qrels(path, {"q1": "x"}, {"d1": None}, []), path)
        if qrels is not None:
            assert set(qrels) <= {"q1"} and all(
                set(j) <= {"d1"} and all(isinstance(s, int) for s in j.values()) for j in qrels.values()
            )


@FAST
@given(st.binary(min_size=0, max_size=200), st.integers(min_value=0, max_value=60))
def test_truncated_or_corrupt_gzip_folders(tail, cut):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        good = gzip.compress(b'{"_id": "1", "text": "hello world"}\n' * 5)
        (folder / "corpus.jsonl.gz").write_bytes(good[:cut] + tail if cut else tail)
        try:
            load_beir_folder(folder)
        except DatasetError as exc:
            assert "corpus.jsonl.gz" in str(exc) or str(folder) in str(exc)
