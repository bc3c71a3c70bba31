"""The judging folder as a BEIR collection that `bench --dataset` reads: corpus, queries, qrels, and side files.

- `corpus.jsonl`: the whole corpus (bench retrieves from all of it, not from the pool), written once;
- `queries.jsonl`: every pooled question, `qrels/test.tsv`: the person's grades (0/1/2), rewritten atomically
  after each judgment, so the folder is a valid collection at every moment;
- `grades.tsv`: every grade with its source (`person` or `model:NAME`), judge and time, for agreement between
  two people or a person and the model;
- `judge.json`: who judged, from which machine, and when each session started.
"""

from __future__ import annotations

import getpass
import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

from embedproof.datasets.loading import Dataset
from embedproof.files import atomic_open, write_json_atomic

__all__ = ["now", "write_corpus", "write_judgments", "record_session"]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_corpus(folder: Path, dataset: Dataset) -> None:
    """corpus.jsonl in BEIR form, unless it is already there (it never changes while judging)."""
    path = folder / "corpus.jsonl"
    if path.exists():
        return
    with atomic_open(path, "w", encoding="utf-8") as handle:
        for doc in dataset.corpus.values():
            handle.write(json.dumps({"_id": doc.id, "title": doc.title, "text": doc.text}, ensure_ascii=False) + "\n")


def write_judgments(
    folder: Path,
    questions: list[dict],
    person: dict[tuple[str, str], int],
    who: dict[tuple[str, str], str],
    when: dict[tuple[str, str], str],
    model: dict[tuple[str, str], int],
    model_name: str | None,
) -> None:
    """queries.jsonl, qrels/test.tsv (person grades) and grades.tsv (every grade with its source)."""
    with atomic_open(folder / "queries.jsonl", "w", encoding="utf-8") as handle:
        for q in questions:
            handle.write(json.dumps({"_id": q["qid"], "text": q["text"]}, ensure_ascii=False) + "\n")
    order = {q["qid"]: i for i, q in enumerate(questions)}

    def ordered(grades):
        return sorted(grades.items(), key=lambda item: (order.get(item[0][0], 0), item[0][1]))

    with atomic_open(folder / "qrels" / "test.tsv", "w", encoding="utf-8") as handle:
        handle.write("query-id\tcorpus-id\tscore\n")
        for (qid, doc), grade in ordered(person):
            handle.write(f"{qid}\t{doc}\t{grade}\n")
    with atomic_open(folder / "grades.tsv", "w", encoding="utf-8") as handle:
        handle.write("query-id\tcorpus-id\tscore\tsource\tjudge\ttime\n")
        for (qid, doc), grade in ordered(person):
            handle.write(f"{qid}\t{doc}\t{grade}\tperson\t{who.get((qid, doc), '')}\t{when.get((qid, doc), '')}\n")
        for (qid, doc), grade in ordered(model):
            handle.write(f"{qid}\t{doc}\t{grade}\tmodel:{model_name}\t\t\n")


def record_session(folder: Path, judge: str | None) -> str:
    """Add this session (judge, machine, start time) to judge.json; returns the judge's name."""
    path = folder / "judge.json"
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"sessions": []}
    name = judge or _user()
    data["sessions"].append({"judge": name, "host": platform.node(), "pid": os.getpid(), "started": now()})
    write_json_atomic(path, data)
    return name


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
