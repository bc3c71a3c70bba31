"""One judging folder's state: the pool, the replayed log, the next document to show, progress and power.

The page and the CLI talk to a `JudgeSession`; every change is appended to the log (fsynced) before the BEIR files
are rewritten, so a crash between the two loses nothing: the next start replays the log and rewrites them.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from pathlib import Path

from embedproof.datasets.loading import Dataset
from embedproof.errors import InvalidInputError
from embedproof.files import write_json_atomic
from embedproof.judge.beir import now, record_session, write_corpus, write_judgments
from embedproof.judge.kappa import AGREEMENT_FLOOR, cohen_kappa
from embedproof.judge.log import JudgmentLog
from embedproof.judge.passage import question_terms
from embedproof.judge.pool import Pooler
from embedproof.judge.power import how_much_to_judge
from embedproof.judge.questions import Question, normalise

__all__ = ["GRADES", "JudgeSession", "POOL_NAME", "MODEL_LOG_NAME"]

POOL_NAME = "pool.json"
MODEL_LOG_NAME = "model-judgments.jsonl"
GRADES = (0, 1, 2)
MAX_NOTE = 2000
MAX_QUESTION = 1000


class JudgeSession:
    """A judging folder opened for one session: pools new questions, replays the log, takes judgments.

    The folder's lock is the caller's (`FolderLock`): a session assumes it is the folder's only writer.
    """

    def __init__(
        self,
        folder: str | Path,
        dataset: Dataset,
        pooler: Pooler,
        questions: Sequence[Question] = (),
        target: float = 0.05,
        judge: str | None = None,
        model_judge=None,
    ):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.dataset, self.pooler, self.target, self.model_judge = dataset, pooler, target, model_judge
        self.log = JudgmentLog(self.folder)
        self.model_log = JudgmentLog(self.folder, MODEL_LOG_NAME)
        self.pool = self._load_pool()
        self.state = self.log.read()
        self.model_state = self.model_log.read()
        self.notices: list[str] = []
        if self.state.torn_line is not None:
            self.notices.append(
                f"{self.log.path}, line {self.state.torn_line}: a judgment cut off by a crash was dropped "
                "(every judgment before it is kept); it is shown again"
            )
        known = {q["text"] for q in self.pool["questions"]}
        typed = [Question(t) for t in self.state.questions if t not in known]
        new: dict[str, Question] = {}
        for q in [*typed, *questions]:
            if q.text not in known:
                new.setdefault(q.text, q)
        if new:
            self._add(list(new), [q.count for q in new.values()])
        self.judge = record_session(self.folder, judge)
        write_corpus(self.folder, dataset)
        self._grade_with_model()
        self._write()

    # --- the pool -------------------------------------------------------------------------------------------------

    def _load_pool(self) -> dict:
        path = self.folder / POOL_NAME
        names = [s.name for s in self.pooler.setups]
        corpus = {"name": self.dataset.name, "documents": len(self.dataset.corpus)}
        if not path.exists():
            return {"corpus": corpus, "depth": self.pooler.depth, "setups": names, "questions": []}
        pool = json.loads(path.read_text(encoding="utf-8"))
        if pool.get("corpus") != corpus:
            raise InvalidInputError(
                f"--out: {self.folder} holds judgments of another corpus ({pool.get('corpus')}); "
                "judge this corpus into another folder"
            )
        if pool.get("setups") != names or pool.get("depth") != self.pooler.depth:
            raise InvalidInputError(
                f"--out: {self.folder} was pooled from the set-ups {pool.get('setups')} at depth {pool.get('depth')}; "
                "give the same set-ups and --top-k to resume, or judge into another folder"
            )
        return pool

    def _add(self, texts: list[str], counts: list[int]) -> list[dict]:
        start = len(self.pool["questions"])
        qids = [f"q{start + i + 1}" for i in range(len(texts))]
        entries = self.pooler.pool(qids, texts, counts)
        self.pool["questions"].extend(entries)
        write_json_atomic(self.folder / POOL_NAME, self.pool)
        return entries

    def question(self, qid: str) -> dict:
        for q in self.pool["questions"]:
            if q["qid"] == qid:
                return q
        raise InvalidInputError(f"qid: {qid!r} is not a pooled question")

    def add_question(self, text: str) -> dict:
        """Pool a question typed in the page (logged first, so a crash while pooling still keeps it)."""
        text = normalise(text if isinstance(text, str) else "")
        if not text:
            raise InvalidInputError("text: empty; type a question")
        if len(text) > MAX_QUESTION:
            raise InvalidInputError(f"text: a question of at most {MAX_QUESTION} characters, got {len(text)}")
        for q in self.pool["questions"]:
            if q["text"] == text:
                raise InvalidInputError(f"text: already pooled as {q['qid']}")
        self.log.append({"action": "question", "text": text, "judge": self.judge, "time": now()})
        self.state.questions.append(text)
        entry = self._add([text], [1])[0]
        self._grade_with_model()
        self._write()
        return entry

    # --- judgments ------------------------------------------------------------------------------------------------

    def _pair(self, qid, doc) -> tuple[str, str]:
        if not isinstance(qid, str) or not isinstance(doc, str):
            raise InvalidInputError("qid and doc: strings naming a pooled question and one of its documents")
        if doc not in self.question(qid)["order"]:
            raise InvalidInputError(f"doc: {doc!r} is not in the pool of question {qid!r}")
        return qid, doc

    @staticmethod
    def _extras(note, seconds) -> tuple[str, float]:
        if note is not None and not isinstance(note, str):
            raise InvalidInputError("note: must be text")
        if note and len(note) > MAX_NOTE:
            raise InvalidInputError(f"note: at most {MAX_NOTE} characters, got {len(note)}")
        if seconds is None:
            seconds = 0.0
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds < 86_400:
            raise InvalidInputError(f"seconds: a number of seconds in [0, 86400), got {seconds!r}")
        return note or "", float(seconds)

    def grade(self, qid, doc, grade, note: str | None = None, seconds: float | None = None) -> None:
        pair = self._pair(qid, doc)
        if isinstance(grade, bool) or grade not in GRADES:
            raise InvalidInputError(f"grade: one of 0, 1, 2, got {grade!r}")
        note, seconds = self._extras(note, seconds)
        self._record({"action": "grade", "qid": pair[0], "doc": pair[1], "grade": grade, "note": note}, seconds)

    def skip(self, qid, doc, note: str | None = None, seconds: float | None = None) -> None:
        pair = self._pair(qid, doc)
        note, seconds = self._extras(note, seconds)
        self._record({"action": "skip", "qid": pair[0], "doc": pair[1], "note": note}, seconds)

    def undo(self) -> None:
        if not self.state.history:
            raise InvalidInputError("nothing to undo")
        self._record({"action": "undo"}, None)

    def _record(self, entry: dict, seconds: float | None) -> None:
        entry = {**entry, "judge": self.judge, "time": now()}
        if seconds is not None:
            entry["seconds"] = round(seconds, 3)
        self.log.append(entry)  # durable first; the BEIR files follow from the log
        self.state.apply(entry)
        self._write()

    def _write(self) -> None:
        write_judgments(
            self.folder,
            [{"qid": q["qid"], "text": q["text"]} for q in self.pool["questions"]],
            self.state.grades,
            self.state.judge,
            self.state.time,
            self.model_state.grades,
            self.model_judge.name if self.model_judge else self._model_name(),
        )

    def _model_name(self) -> str | None:
        return next(iter(self.model_state.judge.values()), None)

    # --- the model judge ------------------------------------------------------------------------------------------

    def _grade_with_model(self) -> None:
        if self.model_judge is None:
            return
        for q in self.pool["questions"]:
            for doc in q["order"]:
                pair = (q["qid"], doc)
                if pair in self.model_state.grades:
                    continue
                grade, answer = self.model_judge.grade(q["text"], self.passage_text(q, doc))
                entry = {"action": "grade", "qid": q["qid"], "doc": doc, "grade": grade, "answer": answer}
                entry.update(judge=self.model_judge.name, time=now())
                self.model_log.append(entry)
                self.model_state.apply(entry)

    def passage_text(self, q: dict, doc: str) -> str:
        start, end = q["passages"][doc]
        return self.dataset.corpus[doc].full_text[start:end]

    def agreement(self) -> dict | None:
        """Cohen's kappa of the model and the person on the pairs both graded (model grades mapped to 0/1/2)."""
        from embedproof.judge.model_judge import to_person_scale

        if not self.model_state.grades:
            return None
        both = sorted(set(self.model_state.grades) & set(self.state.grades))
        kappa = cohen_kappa(
            [self.state.grades[p] for p in both], [to_person_scale(self.model_state.grades[p]) for p in both]
        )
        warning = None
        if kappa is not None and kappa < AGREEMENT_FLOOR:
            warning = (
                f"the model judge does not agree with the person: Cohen's kappa {kappa:.2f} on {len(both)} pairs "
                f"(under {AGREEMENT_FLOOR}); do not use its grades in place of a person's"
            )
        return {"pairs": len(both), "kappa": kappa, "model": self._model_name(), "warning": warning}

    # --- what the page shows --------------------------------------------------------------------------------------

    def next_item(self) -> dict | None:
        for q in self.pool["questions"]:
            left = [d for d in q["order"] if not self.state.done((q["qid"], d))]
            if left:
                doc = self.dataset.corpus[left[0]]
                return {
                    "qid": q["qid"],
                    "question": q["text"],
                    "terms": question_terms(q["text"]),
                    "doc": doc.id,
                    "title": doc.title,
                    "text": doc.full_text,
                    "passage": q["passages"][doc.id],
                    "position": len(q["order"]) - len(left) + 1,
                    "candidates": len(q["order"]),
                }
        return None

    def finished_qrels(self) -> dict[str, dict[str, int]]:
        """The person's grades of questions whose every pooled document is graded or skipped."""
        out: dict[str, dict[str, int]] = {}
        for q in self.pool["questions"]:
            if all(self.state.done((q["qid"], d)) for d in q["order"]):
                graded = {d: self.state.grades[(q["qid"], d)] for d in q["order"] if (q["qid"], d) in self.state.grades}
                if graded:
                    out[q["qid"]] = graded
        return out

    def progress(self) -> dict:
        pooled = sum(len(q["order"]) for q in self.pool["questions"])
        done = sum(self.state.done((q["qid"], d)) for q in self.pool["questions"] for d in q["order"])
        times = [s for p, s in self.state.seconds.items() if s > 0 and self.state.done(p)]
        per = statistics.median(times) if times else None  # the median: a coffee break does not skew it
        return {
            "judged": done,
            "pooled": pooled,
            "questions": len(self.pool["questions"]),
            "finished_questions": len(self.finished_qrels()),
            "seconds_per_judgment": per,
            "seconds_left": None if per is None else per * (pooled - done),
        }

    def power(self) -> dict:
        rankings: dict[str, dict[str, list[str]]] = {}
        for q in self.pool["questions"]:
            for name, ranked in q["rankings"].items():
                rankings.setdefault(name, {})[q["qid"]] = ranked
        return how_much_to_judge(rankings, self.finished_qrels(), self.target)

    def view(self, with_names: bool = False) -> dict:
        """The page's state; set-up names only when asked (the page is blind, the terminal summary is not)."""
        power = self.power()
        if not with_names:
            power = {k: v for k, v in power.items() if k != "leading"}
        return {
            "item": self.next_item(),
            "progress": self.progress(),
            "power": power,
            "agreement": self.agreement(),
            "can_undo": bool(self.state.history),
            "notices": self.notices,
            "judge": self.judge,
        }
