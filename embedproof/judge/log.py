"""The judgment log: every action appended to one JSONL file and fsynced before the page hears "saved".

Append-only, so nothing typed is ever rewritten or lost: a grade, a skip, an undo and a new question are each one
line. The state (which grades stand) is the log replayed. A crash can leave the last line half written: replay
ignores a torn last line and says so; a bad line anywhere else is an error naming the line, since that is not
what a crash leaves. The folder's lock file (`fcntl.flock`, released by the OS when the process dies, even when
killed) keeps a second `judge` off the same folder.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from embedproof.errors import DatasetError, InvalidInputError

__all__ = ["LOG_NAME", "LOCK_NAME", "FolderLock", "JudgmentLog", "LogState"]

LOG_NAME = "judgments.jsonl"
LOCK_NAME = ".judge.lock"
ACTIONS = ("grade", "skip", "undo", "question")


class FolderLock:
    """An exclusive, non-blocking lock on a judging folder; a second holder gets an InvalidInputError."""

    def __init__(self, folder: str | Path):
        self.path = Path(folder) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> FolderLock:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise InvalidInputError(
                f"another `embedproof judge` (pid {holder}) is judging in {self.path.parent}; "
                "stop it first, or judge into another folder"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


@dataclass
class LogState:
    """What the log says now: the standing grades, skips and notes, the questions typed in, and how it was read."""

    grades: dict[tuple[str, str], int] = field(default_factory=dict)
    notes: dict[tuple[str, str], str] = field(default_factory=dict)
    skipped: set[tuple[str, str]] = field(default_factory=set)
    seconds: dict[tuple[str, str], float] = field(default_factory=dict)
    judge: dict[tuple[str, str], str] = field(default_factory=dict)
    time: dict[tuple[str, str], str] = field(default_factory=dict)
    questions: list[str] = field(default_factory=list)  # texts typed in the page, in order
    history: list[tuple[str, str]] = field(default_factory=list)  # graded or skipped pairs, undo pops the last
    torn_line: int | None = None  # the 1-based line dropped because a crash cut it

    def done(self, pair: tuple[str, str]) -> bool:
        return pair in self.grades or pair in self.skipped

    def apply(self, entry: dict) -> None:
        action = entry["action"]
        if action == "question":
            self.questions.append(entry["text"])
            return
        if action == "undo":
            if self.history:
                pair = self.history.pop()
                for table in (self.grades, self.notes, self.seconds, self.judge, self.time):
                    table.pop(pair, None)
                self.skipped.discard(pair)
            return
        pair = (entry["qid"], entry["doc"])
        self.history.append(pair)
        if action == "skip":
            self.skipped.add(pair)
            self.grades.pop(pair, None)
        else:
            self.grades[pair] = entry["grade"]
            self.skipped.discard(pair)
        if entry.get("note"):
            self.notes[pair] = entry["note"]
        self.seconds[pair] = float(entry.get("seconds") or 0.0)
        self.judge[pair] = entry.get("judge", "")
        self.time[pair] = entry.get("time", "")


class JudgmentLog:
    """Append and replay one folder's judgment log (`judgments.jsonl`)."""

    def __init__(self, folder: str | Path, name: str = LOG_NAME):
        self.path = Path(folder) / name

    def read(self) -> LogState:
        state = LogState()
        if not self.path.exists():
            return state
        raw = self.path.read_bytes()
        lines = raw.split(b"\n")
        complete = raw.endswith(b"\n")
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            last = number == len(lines) or (number == len(lines) - 1 and complete)
            try:
                entry = json.loads(line.decode("utf-8"))
                if not isinstance(entry, dict) or entry.get("action") not in ACTIONS:
                    raise ValueError("not a judgment")
            except (ValueError, UnicodeDecodeError):
                if last and not complete:
                    state.torn_line = number  # what a crash mid-write leaves: dropped, and said by the caller
                    continue
                raise DatasetError("not a judgment line (edited by hand?)", self.path, number) from None
            state.apply(entry)
        if state.torn_line is not None:
            self._cut_torn_tail(raw)
        return state

    def _cut_torn_tail(self, raw: bytes) -> None:
        """Drop the torn last line so the next append starts on a line of its own."""
        keep = raw.rfind(b"\n") + 1
        with open(self.path, "r+b") as handle:
            handle.truncate(keep)
            handle.flush()
            os.fsync(handle.fileno())

    def append(self, entry: dict) -> None:
        """One action, written and fsynced before returning: once the page is told "saved", it survives a crash."""
        line = (json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
