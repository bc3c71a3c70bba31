from __future__ import annotations

import pytest

from embedproof.errors import DatasetError
from embedproof.judge.questions import Question, read_questions


def test_one_question_per_line_keeps_the_file_order_and_merges_repeats(tmp_path):
    path = tmp_path / "q.txt"
    path.write_text("# asked this week\nhow do I add CORS\n\nupload a file\nhow  do I add CORS \n", encoding="utf-8")
    assert read_questions(path) == [Question("how do I add CORS", 2), Question("upload a file", 1)]


def test_a_query_log_is_judged_most_asked_first(tmp_path):
    path = tmp_path / "log.tsv"
    path.write_text("3\tupload a file\n12\thow do I add CORS\n3\tdependency with yield cleanup\n", encoding="utf-8")
    assert read_questions(path) == [
        Question("how do I add CORS", 12),
        Question("upload a file", 3),
        Question("dependency with yield cleanup", 3),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no questions in this file"),
        ("\n# only a comment\n  \n", "no questions in this file"),
        ("a question\n0\tnever asked\n", "line 2: count 0 is below 1"),
        ("7\t  \n", "line 1: a count with no question"),
    ],
)
def test_bad_question_files_are_refused_naming_file_and_line(tmp_path, text, message):
    path = tmp_path / "q.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DatasetError, match=message):
        read_questions(path)


def test_a_file_that_is_not_text_is_refused(tmp_path):
    path = tmp_path / "q.txt"
    path.write_bytes(b"\xff\xfe\x00q")
    with pytest.raises(DatasetError, match="not UTF-8"):
        read_questions(path)
