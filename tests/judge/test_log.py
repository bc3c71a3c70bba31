from __future__ import annotations

import subprocess
import sys
import time

import pytest

from embedproof.errors import DatasetError, InvalidInputError
from embedproof.judge.log import FolderLock, JudgmentLog


def grade(qid, doc, g, **extra):
    return {"action": "grade", "qid": qid, "doc": doc, "grade": g, **extra}


def test_replay_gives_the_standing_grades_skips_notes_and_undo(tmp_path):
    log = JudgmentLog(tmp_path)
    for entry in (
        grade("q1", "d1", 2, note="exact answer", seconds=4.5, judge="ann"),
        {"action": "skip", "qid": "q1", "doc": "d2"},
        grade("q1", "d3", 0),
        {"action": "undo"},  # takes back d3
        grade("q1", "d3", 1),
        {"action": "question", "text": "typed in the page"},
    ):
        log.append(entry)
    state = log.read()
    assert state.grades == {("q1", "d1"): 2, ("q1", "d3"): 1}
    assert state.skipped == {("q1", "d2")}
    assert state.notes == {("q1", "d1"): "exact answer"}
    assert state.seconds[("q1", "d1")] == 4.5 and state.judge[("q1", "d1")] == "ann"
    assert state.questions == ["typed in the page"]
    assert state.torn_line is None


def test_a_torn_last_line_is_dropped_said_and_cut_so_the_next_append_is_clean(tmp_path):
    log = JudgmentLog(tmp_path)
    log.append(grade("q1", "d1", 2))
    with open(log.path, "ab") as handle:
        handle.write(b'{"action": "grade", "qid": "q1", "doc": "d2", "gr')  # a crash mid-write
    state = log.read()
    assert state.torn_line == 2 and state.grades == {("q1", "d1"): 2}
    log.append(grade("q1", "d2", 0))
    again = log.read()
    assert again.torn_line is None and again.grades == {("q1", "d1"): 2, ("q1", "d2"): 0}


def test_a_bad_line_before_the_end_is_an_error_naming_it(tmp_path):
    log = JudgmentLog(tmp_path)
    log.append(grade("q1", "d1", 2))
    with open(log.path, "ab") as handle:
        handle.write(b"not json\n")
    log.append(grade("q1", "d2", 1))
    with pytest.raises(DatasetError, match=r"judgments.jsonl, line 2: not a judgment line"):
        log.read()


def test_a_second_holder_of_the_folder_lock_is_refused(tmp_path):
    with FolderLock(tmp_path):
        with pytest.raises(InvalidInputError, match=r"another `embedproof judge` \(pid \d+\) is judging in"):
            FolderLock(tmp_path).acquire()
    FolderLock(tmp_path).acquire().release()  # released: free again


def test_the_lock_of_a_killed_process_is_free(tmp_path):
    code = (
        f"from embedproof.judge.log import FolderLock; FolderLock({str(tmp_path)!r}).acquire(); "
        "print('held', flush=True); import time; time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(InvalidInputError):
            FolderLock(tmp_path).acquire()
    finally:
        holder.kill()
        holder.wait()
    deadline = time.time() + 5
    while True:
        try:
            FolderLock(tmp_path).acquire().release()
            break
        except InvalidInputError:
            assert time.time() < deadline
            time.sleep(0.05)
