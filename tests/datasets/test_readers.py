"""Tests for the BEIR readers: each bad case is its own small file, and errors must say file, line and field."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from embedproof.datasets.readers import read_corpus, read_jsonl, read_qrels, read_queries
from embedproof.errors import DatasetError, LoadWarning
from embedproof.types import Document

# --------------------------------------------------------------------------------------------------- helpers


def _write(path: Path, data: bytes) -> Path:
    if path.name.endswith(".gz"):
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def _lines(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode("utf-8")


@pytest.fixture(params=["jsonl", "jsonl.gz"])
def ext(request) -> str:
    """Every JSONL case runs on a plain file and on a gzipped one."""
    return request.param


def corpus_file(tmp_path: Path, ext: str, *lines: str) -> Path:
    return _write(tmp_path / f"corpus.{ext}", _lines(*lines))


def queries_file(tmp_path: Path, ext: str, *lines: str) -> Path:
    return _write(tmp_path / f"queries.{ext}", _lines(*lines))


def load_corpus(path: Path) -> tuple[dict[str, Document], list[LoadWarning]]:
    warnings: list[LoadWarning] = []
    return read_corpus(path, warnings), warnings


GOOD_DOC = '{"_id": "d1", "title": "T", "text": "one"}'
GOOD_DOC2 = '{"_id": "d2", "text": "two"}'
GOOD_QUERY = '{"_id": "q1", "text": "what"}'


# --------------------------------------------------------------------------------------------- corpus: good


def test_corpus_reads_documents_with_and_without_title(tmp_path, ext):
    path = corpus_file(tmp_path, ext, GOOD_DOC, GOOD_DOC2)
    corpus, warnings = load_corpus(path)
    assert list(corpus) == ["d1", "d2"]
    assert corpus["d1"] == Document("d1", "one", "T")
    assert corpus["d2"] == Document("d2", "two", "")
    assert warnings == []


def test_corpus_skips_blank_lines_and_keeps_real_line_numbers(tmp_path, ext):
    path = corpus_file(tmp_path, ext, "", GOOD_DOC, "   ", "", GOOD_DOC2, "\t", "{bad")
    with pytest.raises(DatasetError) as info:
        read_corpus(path, [])
    # the bad line is the 7th physical line: blank lines are skipped but still counted
    assert info.value.line == 7


def test_corpus_blank_lines_only_skipped(tmp_path, ext):
    path = corpus_file(tmp_path, ext, "", GOOD_DOC, "", "  ", GOOD_DOC2, "")
    corpus, _ = load_corpus(path)
    assert len(corpus) == 2


def test_corpus_integer_ids_become_strings(tmp_path, ext):
    path = corpus_file(tmp_path, ext, '{"_id": 7, "text": "seven"}', '{"_id": 0, "text": "zero"}')
    corpus, _ = load_corpus(path)
    assert list(corpus) == ["7", "0"]
    assert corpus["7"].id == "7"


def test_plain_jsonl_may_use_id_instead_of__id(tmp_path, ext):
    path = corpus_file(tmp_path, ext, '{"id": "a", "text": "alpha"}', '{"id": 2, "text": "beta"}')
    corpus, _ = load_corpus(path)
    assert corpus["a"].text == "alpha"
    assert corpus["2"].text == "beta"


def test_title_is_optional_and_null_title_is_empty(tmp_path, ext):
    path = corpus_file(tmp_path, ext, '{"_id": "a", "text": "x"}', '{"_id": "b", "text": "y", "title": null}')
    corpus, _ = load_corpus(path)
    assert corpus["a"].title == ""
    assert corpus["b"].title == ""


def test_full_text_joins_title_and_text_with_a_space():
    assert Document("d", "body text", "Title").full_text == "Title body text"
    assert Document("d", "body text").full_text == "body text"
    assert Document("d", "body text", "").full_text == "body text"


def test_empty_texts_are_kept_counted_and_warned_once(tmp_path, ext):
    path = corpus_file(
        tmp_path,
        ext,
        GOOD_DOC,
        '{"_id": "e1", "text": ""}',
        '{"_id": "e2", "text": "   ", "title": ""}',
        GOOD_DOC2,
    )
    corpus, warnings = load_corpus(path)
    assert len(corpus) == 4
    assert corpus["e1"].text == ""
    assert corpus["e2"].text == "   "
    assert len(warnings) == 1
    (warning,) = warnings
    assert warning.kind == "empty_text"
    assert warning.path == str(path)
    assert warning.message.startswith("2 documents with empty text")
    assert "line 2: id 'e1'" in warning.message
    assert "line 3: id 'e2'" in warning.message
    assert str(warning).startswith(f"{path}: 2 documents")


def test_empty_text_with_title_is_not_empty(tmp_path, ext):
    path = corpus_file(tmp_path, ext, '{"_id": "t", "title": "Only a title", "text": ""}')
    corpus, warnings = load_corpus(path)
    assert corpus["t"].full_text == "Only a title"
    assert warnings == []


def test_single_empty_text_warning_is_singular(tmp_path, ext):
    path = corpus_file(tmp_path, ext, GOOD_DOC, '{"_id": "e", "text": ""}')
    _, warnings = load_corpus(path)
    assert [w.kind for w in warnings] == ["empty_text"]
    assert warnings[0].message.startswith("1 document with empty text")
    assert "line 2: id 'e'" in warnings[0].message


def test_many_empty_texts_name_three_examples_and_the_rest_count(tmp_path, ext):
    path = corpus_file(tmp_path, ext, *[json.dumps({"_id": f"e{i}", "text": ""}) for i in range(5)])
    _, warnings = load_corpus(path)
    (warning,) = warnings
    assert warning.message.startswith("5 documents with empty text")
    assert "id 'e0'" in warning.message and "id 'e2'" in warning.message
    assert "id 'e3'" not in warning.message
    assert "and 2 more" in warning.message


def test_empty_corpus_is_an_error(tmp_path, ext):
    path = corpus_file(tmp_path, ext, "", "  ")
    with pytest.raises(DatasetError, match="corpus has no documents") as info:
        read_corpus(path, [])
    assert info.value.path == str(path)
    assert info.value.line is None


# ---------------------------------------------------------------------------------------------- corpus: bad


def test_malformed_json_names_file_and_line(tmp_path, ext):
    path = corpus_file(tmp_path, ext, GOOD_DOC, GOOD_DOC2, '{"_id": "d3", "text": "unterminated}')
    with pytest.raises(DatasetError) as info:
        read_corpus(path, [])
    err = info.value
    assert err.path == str(path)
    assert err.line == 3
    assert err.field is None
    assert str(err).startswith(f"{path}, line 3: malformed JSON")


def test_json_array_line_is_not_an_object(tmp_path, ext):
    path = corpus_file(tmp_path, ext, GOOD_DOC, '["d2", "text"]')
    with pytest.raises(DatasetError) as info:
        read_corpus(path, [])
    assert info.value.line == 2
    assert "expected a JSON object, found list" in str(info.value)
    assert "line 2" in str(info.value)


def test_json_scalar_line_is_not_an_object(tmp_path, ext):
    path = corpus_file(tmp_path, ext, '"just a string"')
    with pytest.raises(DatasetError, match="expected a JSON object, found str") as info:
        read_corpus(path, [])
    assert info.value.line == 1


def test_missing_id(tmp_path, ext):
    path = corpus_file(tmp_path, ext, GOOD_DOC, '{"text": "no id here"}')
    with pytest.raises(DatasetError) as info:
        read_corpus(path, [])
    err = info.value
    assert (err.path, err.line, err.field) == (str(path), 2, "_id")
    assert "missing id (expected '_id' or 'id')" in str(err)
    assert str(err).startswith(f"{path}, line 2, field '_id': ")


@pytest.mark.parametrize(
    ("raw_id", "type_name"),
    [("[1, 2]", "list"), ("true", "bool"), ("false", "bool"), ("1.5", "float"), ('{"a": 1}', "dict")],
)
def test_id_of_wrong_type(tmp_path, ext, raw_id, type_name):
    path = corpus_file(tmp_path, ext, GOOD_DOC, f'{{"_id": {raw_id}, "text": "x"}}')
    with pytest.raises(DatasetError) as info:
        read_corpus(path, [])
    err = info.value
    assert (err.line, err.field) == (2, "_id")
    assert f"id must be a string or integer, found {type_name}" in str(err)


def test_plain_id_of_wrong_type_names_the_id_field(tmp_path, ext):
    path = corpus_file(tmp_path, ext, '{"id": null, "text": "x"}')
    with pytest.raises(DatasetError, match="found NoneType") as info:
        read_corpus(path, [])
    assert (info.value.line, info.value.field) == (1, "id")


@pytest.mark.parametrize("raw_id", ['""', '"   "'])
def test_empty_id(tmp_path, ext, raw_id):
    path = corpus_file(tmp_path, ext, GOOD_DOC, GOOD_DOC2, f'{{"_id": {raw_id}, "text": "x"}}')
    with pytest.raises(DatasetError, match="id is empty") as info:
        read_corpus(path, [])
    assert (info.value.line, info.value.field) == (3, "_id")


@pytest.mark.parametrize("record", ['{"_id": "d9"}', '{"_id": "d9", "text": null}'])
def test_missing_text(tmp_path, ext, record):
    path = corpus_file(tmp_path, ext, GOOD_DOC, record)
    with pytest.raises(DatasetError, match="missing text") as info:
        read_corpus(path, [])
    assert (info.value.path, info.value.line, info.value.field) == (str(path), 2, "text")


@pytest.mark.parametrize(("value", "type_name"), [("42", "int"), ("3.5", "float"), ('["a"]', "list")])
def test_text_not_a_string(tmp_path, ext, value, type_name):
    path = corpus_file(tmp_path, ext, f'{{"_id": "d1", "text": {value}}}')
    with pytest.raises(DatasetError) as info:
        read_corpus(path, [])
    assert (info.value.line, info.value.field) == (1, "text")
    assert f"must be a string, found {type_name}" in str(info.value)


def test_title_not_a_string(tmp_path, ext):
    path = corpus_file(tmp_path, ext, GOOD_DOC, '{"_id": "d2", "text": "x", "title": 5}')
    with pytest.raises(DatasetError, match="must be a string, found int") as info:
        read_corpus(path, [])
    assert (info.value.line, info.value.field) == (2, "title")


def test_duplicate_document_id_names_both_lines(tmp_path, ext):
    path = corpus_file(tmp_path, ext, GOOD_DOC, GOOD_DOC2, "", '{"_id": "d1", "text": "again"}')
    with pytest.raises(DatasetError) as info:
        read_corpus(path, [])
    err = info.value
    assert (err.line, err.field) == (4, "_id")
    assert "duplicate document id 'd1' (first seen on line 1)" in str(err)
    assert "line 4" in str(err)


def test_integer_and_string_id_collide(tmp_path, ext):
    path = corpus_file(tmp_path, ext, '{"_id": 5, "text": "a"}', '{"_id": "5", "text": "b"}')
    with pytest.raises(DatasetError, match=r"duplicate document id '5' \(first seen on line 1\)") as info:
        read_corpus(path, [])
    assert info.value.line == 2


def test_invalid_utf8_names_line(tmp_path, ext):
    data = _lines(GOOD_DOC, GOOD_DOC2) + b'{"_id": "d3", "text": "caf\xe9"}\n'
    path = _write(tmp_path / f"corpus.{ext}", data)
    with pytest.raises(DatasetError) as info:
        read_corpus(path, [])
    err = info.value
    assert (err.path, err.line) == (str(path), 3)
    assert "not valid UTF-8" in str(err)
    assert "line 3" in str(err)


def test_valid_non_ascii_utf8_is_fine(tmp_path, ext):
    path = corpus_file(tmp_path, ext, '{"_id": "é", "text": "café ☕"}')
    corpus, _ = load_corpus(path)
    assert corpus["é"].text == "café ☕"


def test_windows_line_endings_are_fine(tmp_path, ext):
    path = _write(tmp_path / f"corpus.{ext}", (GOOD_DOC + "\r\n" + GOOD_DOC2 + "\r\n").encode())
    corpus, _ = load_corpus(path)
    assert corpus["d2"].text == "two"


def test_last_line_without_newline_is_read(tmp_path, ext):
    path = _write(tmp_path / f"corpus.{ext}", (GOOD_DOC + "\n" + GOOD_DOC2).encode())
    corpus, _ = load_corpus(path)
    assert list(corpus) == ["d1", "d2"]


@pytest.mark.parametrize("cut", [4, 20, 200], ids=["in-trailer", "end-of-stream", "mid-stream"])
def test_truncated_gzip(tmp_path, cut):
    whole = gzip.compress(_lines(*[json.dumps({"_id": f"d{i}", "text": f"text number {i}"}) for i in range(50)]))
    path = tmp_path / "corpus.jsonl.gz"
    path.write_bytes(whole[: len(whole) - cut])
    with pytest.raises(DatasetError, match="truncated or corrupt gzip file") as info:
        read_corpus(path, [])
    assert info.value.path == str(path)
    assert info.value.line is None


def test_gz_name_on_a_file_that_is_not_gzip(tmp_path):
    path = tmp_path / "corpus.jsonl.gz"
    path.write_bytes(_lines(GOOD_DOC))
    with pytest.raises(DatasetError, match="truncated or corrupt gzip file") as info:
        read_corpus(path, [])
    assert info.value.path == str(path)


def test_missing_file_is_a_dataset_error(tmp_path):
    path = tmp_path / "nope.jsonl"
    with pytest.raises(DatasetError, match="cannot read file") as info:
        read_corpus(path, [])
    assert info.value.path == str(path)


def test_read_jsonl_yields_line_numbers(tmp_path):
    path = corpus_file(tmp_path, "jsonl", "", '{"a": 1}', "", '{"b": 2}')
    assert list(read_jsonl(path)) == [(2, {"a": 1}), (4, {"b": 2})]


# ------------------------------------------------------------------------------------------------- queries


def test_queries_read(tmp_path, ext):
    path = queries_file(tmp_path, ext, GOOD_QUERY, "", '{"_id": 2, "text": "two?", "metadata": {}}')
    assert read_queries(path) == {"q1": "what", "2": "two?"}


def test_queries_plain_id(tmp_path, ext):
    path = queries_file(tmp_path, ext, '{"id": "qa", "text": "a?"}')
    assert read_queries(path) == {"qa": "a?"}


def test_queries_malformed_json(tmp_path, ext):
    path = queries_file(tmp_path, ext, GOOD_QUERY, '{"_id": "q2", "text": "x",}')
    with pytest.raises(DatasetError, match="malformed JSON") as info:
        read_queries(path)
    assert (info.value.path, info.value.line) == (str(path), 2)
    assert f"{path}, line 2" in str(info.value)


def test_queries_array_line(tmp_path, ext):
    path = queries_file(tmp_path, ext, GOOD_QUERY, "[]")
    with pytest.raises(DatasetError, match="found list") as info:
        read_queries(path)
    assert info.value.line == 2


def test_queries_missing_id(tmp_path, ext):
    path = queries_file(tmp_path, ext, '{"text": "orphan"}')
    with pytest.raises(DatasetError, match="missing id") as info:
        read_queries(path)
    assert (info.value.line, info.value.field) == (1, "_id")


@pytest.mark.parametrize(("raw_id", "type_name"), [('["q"]', "list"), ("true", "bool")])
def test_queries_id_wrong_type(tmp_path, ext, raw_id, type_name):
    path = queries_file(tmp_path, ext, GOOD_QUERY, f'{{"_id": {raw_id}, "text": "x"}}')
    with pytest.raises(DatasetError, match=f"found {type_name}") as info:
        read_queries(path)
    assert (info.value.line, info.value.field) == (2, "_id")


def test_queries_empty_id(tmp_path, ext):
    path = queries_file(tmp_path, ext, '{"_id": "", "text": "x"}')
    with pytest.raises(DatasetError, match="id is empty") as info:
        read_queries(path)
    assert (info.value.line, info.value.field) == (1, "_id")


def test_queries_missing_text(tmp_path, ext):
    path = queries_file(tmp_path, ext, GOOD_QUERY, '{"_id": "q2"}')
    with pytest.raises(DatasetError, match="missing text") as info:
        read_queries(path)
    assert (info.value.line, info.value.field) == (2, "text")


def test_queries_text_not_string(tmp_path, ext):
    path = queries_file(tmp_path, ext, '{"_id": "q1", "text": 12}')
    with pytest.raises(DatasetError, match="must be a string, found int") as info:
        read_queries(path)
    assert (info.value.line, info.value.field) == (1, "text")


def test_duplicate_query_id_names_both_lines(tmp_path, ext):
    path = queries_file(tmp_path, ext, GOOD_QUERY, '{"_id": "q2", "text": "b"}', '{"_id": "q1", "text": "c"}')
    with pytest.raises(DatasetError) as info:
        read_queries(path)
    assert (info.value.line, info.value.field) == (3, "_id")
    assert "duplicate query id 'q1' (first seen on line 1)" in str(info.value)
    assert "line 3" in str(info.value)


def test_queries_invalid_utf8(tmp_path, ext):
    path = _write(tmp_path / f"queries.{ext}", _lines(GOOD_QUERY) + b'{"_id": "q2", "text": "\xff\xfe"}\n')
    with pytest.raises(DatasetError, match="not valid UTF-8") as info:
        read_queries(path)
    assert info.value.line == 2


def test_queries_truncated_gzip(tmp_path):
    whole = gzip.compress(_lines(*[json.dumps({"_id": f"q{i}", "text": f"question {i}?"}) for i in range(50)]))
    path = tmp_path / "queries.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DatasetError, match="truncated or corrupt gzip file") as info:
        read_queries(path)
    assert info.value.path == str(path)


def test_queries_empty_text_is_kept(tmp_path, ext):
    path = queries_file(tmp_path, ext, '{"_id": "q1", "text": ""}')
    assert read_queries(path) == {"q1": ""}


# --------------------------------------------------------------------------------------------------- qrels

QUERIES = {"q1": "one?", "q2": "two?", "q3": "three?"}
CORPUS = {d: Document(d, f"text {d}") for d in ("d1", "d2", "d3", "d4")}


def qrels_file(tmp_path: Path, *lines: str, name: str = "test.tsv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def load_qrels(path: Path) -> tuple[dict[str, dict[str, int]], list[LoadWarning]]:
    warnings: list[LoadWarning] = []
    return read_qrels(path, QUERIES, CORPUS, warnings), warnings


def test_qrels_header_skipped_and_graded_scores_kept(tmp_path):
    path = qrels_file(tmp_path, "query-id\tcorpus-id\tscore", "q1\td1\t2", "q1\td2\t1", "q1\td3\t0", "q2\td4\t3")
    qrels, warnings = load_qrels(path)
    assert qrels == {"q1": {"d1": 2, "d2": 1, "d3": 0}, "q2": {"d4": 3}}
    assert all(type(s) is int for judged in qrels.values() for s in judged.values())
    assert warnings == []


def test_qrels_without_header(tmp_path):
    path = qrels_file(tmp_path, "q1\td1\t1", "q2\td2\t1")
    qrels, _ = load_qrels(path)
    assert qrels == {"q1": {"d1": 1}, "q2": {"d2": 1}}


def test_qrels_blank_lines_skipped(tmp_path):
    path = qrels_file(tmp_path, "query-id\tcorpus-id\tscore", "", "q1\td1\t1", "   ", "q2\td2\t1", "")
    qrels, _ = load_qrels(path)
    assert qrels == {"q1": {"d1": 1}, "q2": {"d2": 1}}


def test_qrels_trec_four_columns(tmp_path):
    path = qrels_file(tmp_path, "q1 0 d1 2", "q1 0 d2 1", "q2\tQ0\td3\t1")
    qrels, warnings = load_qrels(path)
    assert qrels == {"q1": {"d1": 2, "d2": 1}, "q2": {"d3": 1}}
    assert warnings == []


@pytest.mark.parametrize(("bad", "count"), [("q1\td1", 2), ("q1\t0\td1\t1\textra", 5), ("q1", 1)])
def test_qrels_wrong_column_count(tmp_path, bad, count):
    path = qrels_file(tmp_path, "query-id\tcorpus-id\tscore", "q1\td1\t1", bad)
    with pytest.raises(DatasetError) as info:
        load_qrels(path)
    err = info.value
    assert (err.path, err.line) == (str(path), 3)
    assert f"expected 3 tab-separated columns (query-id, corpus-id, score), found {count}" in str(err)
    assert "line 3" in str(err)


@pytest.mark.parametrize("score", ["high", "1.5", "x"])
def test_qrels_non_integer_score(tmp_path, score):
    path = qrels_file(tmp_path, "query-id\tcorpus-id\tscore", "q1\td1\t1", f"q2\td2\t{score}")
    with pytest.raises(DatasetError) as info:
        load_qrels(path)
    err = info.value
    assert (err.line, err.field) == (3, "score")
    assert f"score must be an integer, found {score!r}" in str(err)
    assert str(err).startswith(f"{path}, line 3, field 'score': ")


def test_qrels_unknown_query_ids_counted_warned_and_excluded(tmp_path):
    path = qrels_file(tmp_path, "query-id\tcorpus-id\tscore", "q1\td1\t1", "qX\td1\t1", "qY\td2\t1")
    qrels, warnings = load_qrels(path)
    assert qrels == {"q1": {"d1": 1}}
    (warning,) = warnings
    assert warning.kind == "unknown_query"
    assert warning.path == str(path)
    assert warning.message.startswith("2 judgments naming query ids not in the queries file (excluded)")
    assert "line 3: query 'qX'" in warning.message
    assert "line 4: query 'qY'" in warning.message


def test_qrels_unknown_doc_ids_counted_warned_and_excluded(tmp_path):
    path = qrels_file(tmp_path, "q1\td1\t1", "q1\tdX\t1", "q2\td2\t1")
    qrels, warnings = load_qrels(path)
    assert qrels == {"q1": {"d1": 1}, "q2": {"d2": 1}}
    (warning,) = warnings
    assert warning.kind == "unknown_doc"
    assert warning.message.startswith("1 judgment naming document ids not in the corpus (excluded)")
    assert "line 2: doc 'dX'" in warning.message


def test_qrels_query_with_only_unknown_docs_is_not_judged(tmp_path):
    path = qrels_file(tmp_path, "q1\td1\t1", "q3\tdX\t1", "q3\tdY\t1")
    qrels, warnings = load_qrels(path)
    assert "q3" not in qrels
    assert [w.kind for w in warnings] == ["unknown_doc"]
    assert "2 judgments" in warnings[0].message


def test_qrels_both_kinds_of_unknown_give_two_warnings(tmp_path):
    path = qrels_file(tmp_path, "q1\td1\t1", "qX\td1\t1", "q1\tdX\t1", "q2\tdY\t1")
    qrels, warnings = load_qrels(path)
    assert qrels == {"q1": {"d1": 1}}
    assert [w.kind for w in warnings] == ["unknown_query", "unknown_doc"]
    assert warnings[0].message.startswith("1 judgment naming query ids")
    assert warnings[1].message.startswith("2 judgments naming document ids")


def test_qrels_duplicate_judgment_warns_and_keeps_highest(tmp_path):
    path = qrels_file(tmp_path, "q1\td1\t2", "q1\td2\t1", "q1\td1\t0", "q1\td2\t2")
    qrels, warnings = load_qrels(path)
    assert qrels == {"q1": {"d1": 2, "d2": 2}}
    (warning,) = warnings
    assert warning.kind == "duplicate_judgment"
    assert warning.message.startswith("2 duplicate judgments (the highest score is kept)")
    assert "line 3: 'q1'/'d1'" in warning.message


def test_qrels_invalid_utf8(tmp_path):
    path = tmp_path / "test.tsv"
    path.write_bytes(b"q1\td1\t1\nq2\td\xc3\t1\n")
    with pytest.raises(DatasetError, match="not valid UTF-8") as info:
        load_qrels(path)
    assert info.value.line == 2


def test_qrels_negative_score_kept(tmp_path):
    path = qrels_file(tmp_path, "q1\td1\t-1", "q1\td2\t1")
    qrels, _ = load_qrels(path)
    assert qrels == {"q1": {"d1": -1, "d2": 1}}


def test_utf8_byte_order_mark_on_first_line_is_accepted(tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"_id": "1", "text": "with a BOM"}\n')
    warnings = []
    assert read_corpus(path, warnings)["1"].text == "with a BOM"
