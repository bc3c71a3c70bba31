from __future__ import annotations

import json

import pytest

from embedproof.datasets.loading import load_dataset
from embedproof.errors import InvalidInputError
from embedproof.judge.pool import Pooler, setups_from_recipes
from embedproof.judge.session import JudgeSession
from tests.judge.conftest import QUESTIONS


def judge_all(session, grades):
    """Grade every shown document from `grades` in turn (cycling); returns {(qid, doc): grade} as typed."""
    typed, i = {}, 0
    while (item := session.next_item()) is not None:
        g = grades[i % len(grades)]
        session.grade(item["qid"], item["doc"], g, seconds=2.0)
        typed[(item["qid"], item["doc"])] = g
        i += 1
    return typed


def test_judgments_become_a_beir_folder_that_loads_like_any_collection(tmp_path, demo, pooler):
    session = JudgeSession(tmp_path, demo, pooler, QUESTIONS, judge="ann")
    first = session.next_item()
    assert first["qid"] == "q1" and first["position"] == 1 and first["terms"] == ["iphone", "released"]
    assert "bm25" not in json.dumps(session.view())  # blind: no set-up names on the page
    typed = judge_all(session, [2, 0, 1, 0])
    assert session.progress()["judged"] == session.progress()["pooled"] == len(typed)
    loaded = load_dataset(str(tmp_path))
    assert len(loaded.corpus) == len(demo.corpus) and list(loaded.queries) == ["q1", "q2", "q3"]
    assert {(q, d): g for q, docs in loaded.qrels.items() for d, g in docs.items()} == typed
    rows = (tmp_path / "grades.tsv").read_text().splitlines()
    assert rows[0] == "query-id\tcorpus-id\tscore\tsource\tjudge\ttime"
    assert all(r.split("\t")[3:5] == ["person", "ann"] for r in rows[1:]) and len(rows) == len(typed) + 1
    assert json.loads((tmp_path / "judge.json").read_text())["sessions"][0]["judge"] == "ann"


def test_skip_undo_and_notes(tmp_path, demo, pooler):
    session = JudgeSession(tmp_path, demo, pooler, QUESTIONS[:1])
    a = session.next_item()
    session.grade(a["qid"], a["doc"], 2, note="exact answer")
    b = session.next_item()
    session.skip(b["qid"], b["doc"])
    c = session.next_item()
    assert c["doc"] not in (a["doc"], b["doc"]) and session.progress()["judged"] == 2
    session.undo()  # takes back the skip: b is shown again
    assert session.next_item()["doc"] == b["doc"]
    session.undo()
    assert session.next_item()["doc"] == a["doc"] and session.state.grades == {}
    with pytest.raises(InvalidInputError, match="nothing to undo"):
        session.undo()


def test_a_restarted_session_resumes_where_it_stopped_and_says_when_a_line_was_torn(tmp_path, demo, pooler):
    session = JudgeSession(tmp_path, demo, pooler, QUESTIONS)
    shown = []
    for g in (2, 0, 1):
        item = session.next_item()
        shown.append(item["doc"])
        session.grade(item["qid"], item["doc"], g)
    with open(tmp_path / "judgments.jsonl", "ab") as handle:
        handle.write(b'{"action": "grade", "qid": "q1", "do')  # killed while writing the fourth
    resumed = JudgeSession(tmp_path, demo, pooler, QUESTIONS)
    assert "line 4: a judgment cut off by a crash was dropped" in resumed.notices[0]
    assert resumed.progress()["judged"] == 3
    assert resumed.pool == session.pool  # the same pool, in the same shuffled order
    assert resumed.next_item() == session.next_item()
    assert [resumed.state.grades[("q1", d)] for d in shown] == [2, 0, 1]


def test_questions_typed_in_the_page_are_pooled_and_survive_a_restart(tmp_path, demo, pooler):
    session = JudgeSession(tmp_path, demo, pooler)
    assert session.next_item() is None
    entry = session.add_question("  why does my phone battery hold less charge  ")
    assert entry["qid"] == "q1" and entry["text"] == "why does my phone battery hold less charge"
    with pytest.raises(InvalidInputError, match="already pooled as q1"):
        session.add_question("why does my phone battery hold less charge")
    with pytest.raises(InvalidInputError, match="text: empty"):
        session.add_question("   ")
    assert JudgeSession(tmp_path, demo, pooler).pool["questions"][0]["text"] == entry["text"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.grade("q9", "d001", 1), "qid: 'q9' is not a pooled question"),
        (lambda s: s.grade("q1", "d240", 1), "doc: 'd240' is not in the pool of question 'q1'"),
        (lambda s: s.grade("q1", s.next_item()["doc"], 3), "grade: one of 0, 1, 2, got 3"),
        (lambda s: s.grade("q1", s.next_item()["doc"], True), "grade: one of 0, 1, 2"),
        (lambda s: s.grade("q1", s.next_item()["doc"], 1, seconds=-1), "seconds:"),
        (lambda s: s.skip("q1", s.next_item()["doc"], note=5), "note: must be text"),
        (lambda s: s.grade(None, "d001", 1), "qid and doc"),
    ],
)
def test_judgments_outside_the_pool_or_of_the_wrong_kind_are_refused(tmp_path, demo, pooler, call, message):
    session = JudgeSession(tmp_path, demo, pooler, QUESTIONS[:1])
    with pytest.raises(InvalidInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call(session)
    assert not (tmp_path / "judgments.jsonl").exists()  # nothing refused is logged


def test_resuming_with_other_set_ups_or_another_corpus_is_refused(tmp_path, demo, pooler):
    JudgeSession(tmp_path, demo, pooler, QUESTIONS[:1])
    other = Pooler(demo, setups_from_recipes(None, ["bm25"]), depth=3)
    with pytest.raises(InvalidInputError, match="was pooled from the set-ups"):
        JudgeSession(tmp_path, demo, other)
    smaller = load_dataset("demo")
    smaller.corpus = dict(list(smaller.corpus.items())[:100])
    with pytest.raises(InvalidInputError, match="holds judgments of another corpus"):
        JudgeSession(tmp_path, smaller, Pooler(smaller, pooler.setups, depth=3))


def test_progress_estimates_time_left_from_the_median_judgment(tmp_path, demo, pooler):
    session = JudgeSession(tmp_path, demo, pooler, QUESTIONS)
    for seconds in (2.0, 4.0, 600.0):  # a long pause does not move the median
        item = session.next_item()
        session.grade(item["qid"], item["doc"], 0, seconds=seconds)
    p = session.progress()
    assert p["seconds_per_judgment"] == 4.0 and p["seconds_left"] == 4.0 * (p["pooled"] - 3)
