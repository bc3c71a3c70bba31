from __future__ import annotations

import re

import pytest

from embedproof.judge.session import JudgeSession
from tests.judge.conftest import QUESTIONS

pytest.importorskip("fastapi")


@pytest.fixture
def client(tmp_path, demo, pooler):
    from fastapi.testclient import TestClient

    from embedproof.judge.app import create_judge_app

    return TestClient(create_judge_app(JudgeSession(tmp_path, demo, pooler, QUESTIONS)))


def test_the_page_is_self_contained(client):
    page = client.get("/").text
    assert "<script>" in page and not re.search(r"(src|href)=\"https?:", page) and "//cdn" not in page


def test_grade_skip_undo_and_question_over_http(client):
    item = client.get("/api/state").json()["item"]
    after = client.post("/api/grade", json={"qid": item["qid"], "doc": item["doc"], "grade": 2, "seconds": 3.5})
    assert after.status_code == 200 and after.json()["progress"]["judged"] == 1 and after.json()["can_undo"]
    item = after.json()["item"]
    assert client.post("/api/skip", json={"qid": item["qid"], "doc": item["doc"]}).json()["progress"]["judged"] == 2
    assert client.post("/api/undo", json={}).json()["item"]["doc"] == item["doc"]
    added = client.post("/api/question", json={"text": "screen resolution"}).json()
    assert added["progress"]["questions"] == 4


@pytest.mark.parametrize(
    ("path", "body", "detail"),
    [
        ("/api/grade", {"qid": "q1", "doc": "d240", "grade": 1}, "doc: 'd240' is not in the pool of question 'q1'"),
        ("/api/grade", {"qid": "q77", "doc": "d001", "grade": 1}, "qid: 'q77' is not a pooled question"),
        ("/api/grade", {"qid": "q1", "doc": "d001", "grade": "2"}, "grade: one of 0, 1, 2"),
        ("/api/skip", {"doc": "d001"}, "qid and doc"),
        ("/api/question", {"text": ""}, "text: empty"),
        ("/api/grade", [1, 2], "body: a JSON object is expected"),
    ],
)
def test_bad_requests_are_a_422_naming_the_field(client, path, body, detail):
    answer = client.post(path, json=body)
    assert answer.status_code == 422 and answer.json()["detail"].startswith(detail)


def test_a_body_that_is_not_json_or_too_large_is_refused(client):
    json_type = {"content-type": "application/json"}
    assert client.post("/api/grade", content=b"{grade", headers=json_type).status_code == 422
    # what a cross-site form or no-cors fetch can send without a preflight
    item = client.get("/api/state").json()["item"]
    forged = f'{{"qid": "{item["qid"]}", "doc": "{item["doc"]}", "grade": 2}}'
    refused = client.post("/api/grade", content=forged, headers={"content-type": "text/plain"})
    assert refused.status_code == 415 and client.get("/api/state").json()["progress"]["judged"] == 0
    assert client.post("/api/question", json={"text": "x" * 70_000}).status_code == 413
