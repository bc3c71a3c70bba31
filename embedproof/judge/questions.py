"""The questions to judge, read from a file: one question per line, or a query log with counts.

Format (docs/judging.md): UTF-8 text, one question per line; blank lines and lines starting with `#` are skipped.
A line `COUNT<TAB>QUESTION` (COUNT a whole number ≥ 1) is a query-log line: the question was asked COUNT times.
A file of counted lines is judged most-asked first (the questions users ask most decide the most); a plain file
in its own order. A question given twice is one question (counts add up).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from embedproof.errors import DatasetError

__all__ = ["Question", "read_questions", "normalise"]


@dataclass(frozen=True)
class Question:
    text: str
    count: int = 1


def normalise(text: str) -> str:
    """One question's text as stored and compared: inner whitespace collapsed, ends stripped."""
    return " ".join(text.split())


def read_questions(path: str | Path) -> list[Question]:
    """The questions of `path`, de-duplicated; DatasetError names the file (and line) when it has none or is bad."""
    path = Path(path)
    try:
        lines = path.read_bytes().decode("utf-8").splitlines()
    except OSError as exc:
        raise DatasetError(f"cannot read the question file ({exc.strerror or exc})", path) from exc
    except UnicodeDecodeError as exc:
        raise DatasetError(f"the question file is not UTF-8 text (byte {exc.start})", path) from exc
    counts: dict[str, int] = {}
    counted = False
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        head, tab, rest = line.partition("\t")
        count = 1
        if tab and head.strip().isdigit():
            count = int(head.strip())
            if count < 1:
                raise DatasetError(f"count {count} is below 1 (a query-log line is COUNT<TAB>QUESTION)", path, number)
            line, counted = rest, True
        text = normalise(line)
        if not text:
            raise DatasetError("a count with no question (a query-log line is COUNT<TAB>QUESTION)", path, number)
        counts[text] = counts.get(text, 0) + count
    if not counts:
        raise DatasetError("no questions in this file (one question per line, or COUNT<TAB>QUESTION)", path)
    questions = [Question(text, n) for text, n in counts.items()]
    if counted:
        questions.sort(key=lambda q: -q.count)  # stable: equal counts keep the file's order
    return questions
