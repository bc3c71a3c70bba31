from __future__ import annotations

import pytest

from embedproof.errors import EmbedproofError, InvalidInputError
from embedproof.judge.kappa import cohen_kappa
from embedproof.judge.model_judge import UMBRELA_PROMPT, ModelJudge, parse_grade, to_person_scale
from embedproof.judge.session import JudgeSession
from tests.judge.conftest import QUESTIONS, FakeChat


@pytest.mark.parametrize(
    ("answer", "grade"),
    [
        ("##final score: 2", 2),
        ("M: 1\nT: 3\n##final score: 0", 0),
        ("Final Score:3", 3),
        (" 2.\n", 2),
        ("I would say 1.", None),
        ("M: 2, T: 1", None),
        ("no idea", None),
        ("##final score: 7", None),
    ],
)
def test_the_grade_is_read_from_the_answer(answer, grade):
    assert parse_grade(answer) == grade


def test_model_grades_map_onto_the_person_scale():
    assert [to_person_scale(g) for g in (0, 1, 2, 3)] == [0, 0, 1, 2]


def test_only_openai_style_names_are_accepted():
    with pytest.raises(InvalidInputError, match="--judge-model: expected openai-compatible:MODEL@"):
        ModelJudge("gpt-4o")
    with pytest.raises(InvalidInputError, match="--judge-model"):
        ModelJudge("voyage:voyage-3")


def test_the_model_judge_end_to_end_with_kappa_against_the_person(tmp_path, demo, pooler):
    fake = FakeChat(answer_word="2007", fail_first=1)
    with fake.serve() as url:
        judge = ModelJudge(f"openai-compatible:fake-judge@{url}")
        session = JudgeSession(tmp_path, demo, pooler, QUESTIONS, model_judge=judge)
        pooled = session.progress()["pooled"]
        assert len(fake.requests) == pooled + 1  # every pair once, and one retry of the 503
        sent = fake.requests[-1]
        assert sent["path"] == "/v1/chat/completions" and sent["body"]["model"] == "fake-judge"
        assert sent["body"]["messages"][0]["content"].startswith(UMBRELA_PROMPT.split("{query}")[0])
        assert session.agreement() == {"pairs": 0, "kappa": None, "model": judge.name, "warning": None}
        # the person grades 2 where the passage holds "2007", else 0 on q1; reversed on q2 (disagreeing)
        typed = []
        while (item := session.next_item()) is not None and item["qid"] in ("q1", "q2"):
            holds = "2007" in session.passage_text(session.question(item["qid"]), item["doc"])
            person = (2 if holds else 0) if item["qid"] == "q1" else (0 if holds else 2)
            session.grade(item["qid"], item["doc"], person)
            typed.append((person, 2 if holds else 0))
        agreement = session.agreement()
        expected = cohen_kappa([p for p, _ in typed], [m for _, m in typed])
        assert agreement["pairs"] == len(typed) and agreement["kappa"] == pytest.approx(expected)
        assert expected < 0.4 and "does not agree with the person" in agreement["warning"]
        rows = (tmp_path / "grades.tsv").read_text().splitlines()
        sources = {r.split("\t")[3] for r in rows[1:]}
        assert sources == {"person", f"model:{judge.name}"}
        model_rows = [r.split("\t") for r in rows[1:] if r.split("\t")[3].startswith("model:")]
        assert len(model_rows) == pooled and {r[2] for r in model_rows} <= {"0", "3"}
        # a restart asks the model nothing again
        before = len(fake.requests)
        JudgeSession(tmp_path, demo, pooler, QUESTIONS, model_judge=judge)
        assert len(fake.requests) == before
        judge.close()


def test_an_answer_without_a_grade_is_an_error_naming_the_endpoint(tmp_path):
    fake = FakeChat()
    fake.grade = lambda prompt: "relevant"  # not a number
    with fake.serve() as url:
        judge = ModelJudge(f"openai-compatible:fake-judge@{url}")
        with pytest.raises(EmbedproofError, match=r"/v1/chat/completions: the model's answer holds no grade"):
            judge.grade("a question", "a passage")
