"""A request value the index cannot use is the client's to fix: 422 with the message, wherever it is found."""

import pytest

from embedproof.datasets.loading import load_dataset
from embedproof.errors import InvalidInputError
from embedproof.index.access import build_index
from embedproof.search.recipe import standard_recipe

pytest.importorskip("fastapi")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from fastapi.testclient import TestClient

    from embedproof.server.app import create_app

    folder = tmp_path_factory.mktemp("invalid") / "idx"
    build_index(standard_recipe("hybrid", "hashing", "bm25"), load_dataset("demo").corpus, folder, chunk_size=128)
    return TestClient(create_app(folder))


def test_an_override_the_index_cannot_answer_is_422_with_the_message(client):
    response = client.post("/search", json={"query": "cells", "overrides": {"first_pass": ["not-in-the-index"]}})
    assert response.status_code == 422
    assert "overrides.first_pass" in response.json()["detail"]


def test_invalid_input_raised_in_a_handler_is_422_not_500(client, monkeypatch):
    import embedproof.server.routes

    def refuse(asked, dense_models):
        raise InvalidInputError(f"model: {asked!r} is not a model name")

    monkeypatch.setattr(embedproof.server.routes, "served_model", refuse)
    response = client.post("/v1/embeddings", json={"input": "cells", "model": "??"})
    assert response.status_code == 422
    assert response.json() == {"detail": "model: '??' is not a model name"}
