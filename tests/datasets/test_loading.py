"""Tests for loading whole collections: BEIR folders, plain JSONL corpora, the demo, and the shared real data."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from embedproof.datasets.loading import DEMO_PATH, Dataset, load_beir_folder, load_dataset
from embedproof.errors import DatasetError
from tests.conftest import shared_dataset

# --------------------------------------------------------------------------------------------------- helpers


def _jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(json.dumps(r) + "\n" for r in records).encode("utf-8")
    if path.name.endswith(".gz"):
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def _tsv(path: Path, *rows: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


DOCS = [
    {"_id": "d1", "title": "Alpha", "text": "first document"},
    {"_id": "d2", "title": "", "text": "second document"},
    {"_id": "d3", "text": "third document"},
    {"_id": "d4", "text": ""},
]
QUERIES = [
    {"_id": "q1", "text": "first?"},
    {"_id": "q2", "text": "second?"},
    {"_id": "q3", "text": "never judged?"},
]


def make_beir(folder: Path, gz: bool = False) -> Path:
    suffix = ".jsonl.gz" if gz else ".jsonl"
    _jsonl(folder / f"corpus{suffix}", DOCS)
    _jsonl(folder / f"queries{suffix}", QUERIES)
    _tsv(folder / "qrels" / "test.tsv", "query-id\tcorpus-id\tscore", "q1\td1\t2", "q1\td2\t1", "q2\td3\t1")
    _tsv(folder / "qrels" / "train.tsv", "query-id\tcorpus-id\tscore", "q3\td1\t1")
    return folder


# ------------------------------------------------------------------------------------------- BEIR folders


@pytest.mark.parametrize("gz", [False, True], ids=["jsonl", "jsonl.gz"])
def test_beir_folder_loads_with_counts_and_summary(tmp_path, gz):
    folder = make_beir(tmp_path / "tiny", gz=gz)
    ds = load_beir_folder(folder)
    assert isinstance(ds, Dataset)
    assert len(ds.corpus) == 4
    assert ds.queries == {"q1": "first?", "q2": "second?", "q3": "never judged?"}
    assert ds.qrels == {"q1": {"d1": 2, "d2": 1}, "q2": {"d3": 1}}
    summary = ds.summary()
    assert set(summary) == {
        "name",
        "path",
        "split",
        "documents",
        "queries",
        "judged_queries",
        "judgments",
        "graded",
        "labels",
        "warnings",
        "drop_code",
    }
    assert summary["labels"] == "qrels"
    assert summary["name"] == "tiny"
    assert summary["path"] == str(folder)
    assert summary["split"] == "test"
    assert summary["documents"] == 4
    assert summary["queries"] == 3
    assert summary["judged_queries"] == 2
    assert summary["judgments"] == 3
    assert summary["graded"] is True
    assert summary["drop_code"] is False
    assert len(summary["warnings"]) == 1
    assert "1 document with empty text" in summary["warnings"][0]
    assert "id 'd4'" in summary["warnings"][0]
    assert [w.kind for w in ds.warnings] == ["empty_text"]


def test_judged_queries_only_contains_judged_ones(tmp_path):
    ds = load_beir_folder(make_beir(tmp_path / "tiny"))
    assert ds.judged_queries == {"q1": "first?", "q2": "second?"}


def test_other_split_and_explicit_name(tmp_path):
    ds = load_beir_folder(make_beir(tmp_path / "tiny"), split="train", name="custom")
    assert ds.name == "custom"
    assert ds.split == "train"
    assert ds.judged_queries == {"q3": "never judged?"}
    assert ds.summary()["judgments"] == 1
    assert ds.graded is False


def test_load_dataset_with_folder_path(tmp_path):
    folder = make_beir(tmp_path / "tiny")
    ds = load_dataset(str(folder))
    assert (ds.name, ds.split, len(ds.corpus), len(ds.qrels)) == ("tiny", "test", 4, 2)
    assert load_dataset(folder, split="train").split == "train"


def test_binary_judgments_are_not_graded(tmp_path):
    folder = make_beir(tmp_path / "tiny")
    _tsv(folder / "qrels" / "test.tsv", "q1\td1\t1", "q2\td2\t0")
    ds = load_beir_folder(folder)
    assert ds.graded is False
    assert ds.summary()["judged_queries"] == 2  # a query judged only 0 still counts as judged


def test_qrels_warnings_are_collected_on_the_dataset(tmp_path):
    folder = make_beir(tmp_path / "tiny")
    _tsv(folder / "qrels" / "test.tsv", "query-id\tcorpus-id\tscore", "q1\td1\t1", "qX\td1\t1", "q1\tdX\t1")
    ds = load_beir_folder(folder)
    assert [w.kind for w in ds.warnings] == ["empty_text", "unknown_query", "unknown_doc"]
    assert len(ds.summary()["warnings"]) == 3


def test_split_with_no_judged_queries(tmp_path):
    folder = make_beir(tmp_path / "tiny")
    qrels = _tsv(folder / "qrels" / "test.tsv", "query-id\tcorpus-id\tscore", "qX\td1\t1", "q1\tdX\t1")
    with pytest.raises(DatasetError, match="no judged queries") as info:
        load_beir_folder(folder)
    assert "split 'test' has no judged queries" in str(info.value)
    assert info.value.path == str(qrels)


def test_header_only_qrels_has_no_judged_queries(tmp_path):
    folder = make_beir(tmp_path / "tiny")
    _tsv(folder / "qrels" / "test.tsv", "query-id\tcorpus-id\tscore")
    with pytest.raises(DatasetError, match="no judged queries"):
        load_beir_folder(folder)


def test_missing_split_lists_available_splits(tmp_path):
    folder = make_beir(tmp_path / "tiny")
    with pytest.raises(DatasetError) as info:
        load_beir_folder(folder, split="dev")
    message = str(info.value)
    assert "no judgments for split 'dev'" in message
    assert "available splits: test, train" in message
    assert info.value.path == str(folder / "qrels" / "dev.tsv")


def test_folder_without_corpus(tmp_path):
    folder = tmp_path / "nocorpus"
    _jsonl(folder / "queries.jsonl", QUERIES)
    with pytest.raises(DatasetError, match="no corpus.jsonl or corpus.jsonl.gz") as info:
        load_beir_folder(folder)
    assert info.value.path == str(folder)


def test_empty_folder_via_load_dataset(tmp_path):
    with pytest.raises(DatasetError, match="no corpus.jsonl"):
        load_dataset(tmp_path)


def test_folder_with_only_corpus_is_unlabeled(tmp_path):
    folder = tmp_path / "bare"
    _jsonl(folder / "corpus.jsonl", DOCS[:3])
    ds = load_beir_folder(folder)
    assert len(ds.corpus) == 3
    assert ds.queries == {} and ds.qrels == {} and ds.judged_queries == {}
    assert ds.split is None
    summary = ds.summary()
    assert (summary["queries"], summary["judged_queries"], summary["judgments"], summary["graded"]) == (0, 0, 0, False)
    assert summary["split"] is None


def test_qrels_dir_without_queries_file(tmp_path):
    folder = tmp_path / "noqueries"
    _jsonl(folder / "corpus.jsonl", DOCS)
    _tsv(folder / "qrels" / "test.tsv", "q1\td1\t1")
    with pytest.raises(DatasetError, match=r"qrels/ found but no queries\.jsonl") as info:
        load_beir_folder(folder)
    assert info.value.path == str(folder)


def test_queries_without_qrels_dir(tmp_path):
    folder = tmp_path / "noqrels"
    _jsonl(folder / "corpus.jsonl", DOCS)
    _jsonl(folder / "queries.jsonl", QUERIES)
    with pytest.raises(DatasetError, match=r"no judgments for split 'test' \(available splits: none\)"):
        load_beir_folder(folder)


def test_errors_in_folder_files_propagate_with_line(tmp_path):
    folder = make_beir(tmp_path / "tiny")
    (folder / "queries.jsonl").write_text('{"_id": "q1", "text": "a"}\n{"_id": "q1", "text": "b"}\n')
    with pytest.raises(DatasetError, match="duplicate query id 'q1'") as info:
        load_beir_folder(folder)
    assert info.value.path == str(folder / "queries.jsonl")
    assert info.value.line == 2


# ------------------------------------------------------------------------------------- load_dataset sources


@pytest.mark.parametrize("name", ["mydocs.jsonl", "mydocs.jsonl.gz"])
def test_jsonl_file_loads_as_unlabeled_corpus(tmp_path, name):
    path = _jsonl(tmp_path / name, [{"id": "a", "text": "alpha"}, {"id": "b", "text": "beta", "title": "B"}])
    ds = load_dataset(path)
    assert ds.name == "mydocs"
    assert ds.path == str(path)
    assert set(ds.corpus) == {"a", "b"}
    assert ds.corpus["b"].full_text == "B beta"
    assert ds.queries == {} and ds.qrels == {} and ds.split is None
    assert ds.warnings == []


def test_unsupported_file_type(tmp_path):
    path = tmp_path / "docs.csv"
    path.write_text("id,text\na,alpha\n")
    with pytest.raises(DatasetError, match="unsupported file type") as info:
        load_dataset(path)
    assert info.value.path == str(path)


def test_unknown_name_lists_demo(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetError) as info:
        load_dataset("no-such-collection")
    message = str(info.value)
    assert "not a known dataset name" in message
    assert "'demo'" in message
    assert "scifact" in message
    assert info.value.path == "no-such-collection"


# ---------------------------------------------------------------------------------------------------- demo


@pytest.fixture(scope="module")
def demo() -> Dataset:
    return load_dataset("demo")


def test_demo_counts(demo):
    assert demo.name == "demo"
    assert demo.path == str(DEMO_PATH)
    assert demo.split == "test"
    assert len(demo.corpus) == 240
    assert len(demo.judged_queries) >= 40
    assert demo.graded is True
    assert len(demo.warnings) == 1
    assert demo.warnings[0].kind == "empty_text"
    assert demo.warnings[0].message.startswith("1 document with empty text")


def test_demo_first_documents(demo):
    assert demo.corpus["d001"].text == "The first iPhone launched in 2007."
    assert demo.corpus["d002"].text == "Apple released the iPod in 2001."
    assert demo.corpus["d003"].text == "Android is an operating system from Google."


def test_demo_first_query(demo):
    assert demo.queries["q01"] == "When was the iPhone released?"
    assert demo.qrels["q01"]["d001"] == 2
    assert "q01" in demo.judged_queries


def test_demo_summary_is_json_serialisable(demo):
    summary = demo.summary()
    assert json.loads(json.dumps(summary)) == summary
    assert summary["documents"] == 240


# ----------------------------------------------------------------------------------------------- real data


def _shared(name: str) -> Path:
    return shared_dataset(name)


def test_scifact_test_split():
    ds = load_dataset(_shared("scifact"))
    summary = ds.summary()
    assert summary["name"] == "scifact"
    assert summary["documents"] == 5183
    assert summary["judged_queries"] == 300
    assert summary["judgments"] == 339
    assert summary["split"] == "test"


def test_scifact_train_split():
    ds = load_dataset(_shared("scifact"), split="train")
    assert len(ds.judged_queries) == 809
    assert ds.split == "train"


def test_cranfield():
    ds = load_dataset(_shared("cranfield"))
    summary = ds.summary()
    assert summary["documents"] == 1400
    assert summary["judged_queries"] == 225
    assert summary["judgments"] == 1612
    assert summary["graded"] is True
    assert summary["drop_code"] is False
    assert [w.kind for w in ds.warnings] == ["empty_text"]
    assert "'471'" in summary["warnings"][0]
    assert "'995'" in summary["warnings"][0]
    assert "2 documents with empty text" in summary["warnings"][0]


def test_medline():
    ds = load_dataset(_shared("medline"))
    summary = ds.summary()
    assert summary["documents"] == 1033
    assert summary["judged_queries"] == 30
    assert summary["judgments"] == 696
    assert summary["graded"] is False
