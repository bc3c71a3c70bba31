"""`supports(recipe, store)`: which store serves a recipe as bench measured it, in one place."""

import pytest

from embedproof.errors import InvalidInputError
from embedproof.index.supports import STORES, check_supports, store_for, supports
from embedproof.search.recipe import Recipe


def test_which_store_serves_which_recipe():
    plain = Recipe("plain", ["hashing"])
    engine = Recipe("engine", ["hashing"], engine={})
    shrunk = Recipe("shrunk", ["hashing"], precision="int8")
    weighted = Recipe("weighted", ["hashing", "bm25"], fusion="wsum")
    table = {r.name: [supports(r, s) for s in STORES] for r in (plain, engine, shrunk, weighted)}
    assert STORES == ("embedded", "edge", "qdrant")
    assert table == {
        "plain": [True, True, True],
        "engine": [False, True, False],
        "shrunk": [True, True, False],
        "weighted": [True, False, False],
    }


def test_a_refusal_names_the_fix():
    with pytest.raises(InvalidInputError, match="fusion 'wsum' has no Qdrant equivalent"):
        check_supports(Recipe("w", ["hashing", "bm25"], fusion="wsum"), "edge")
    with pytest.raises(InvalidInputError, match="--backend faiss: not a store"):
        store_for(Recipe("p", ["hashing"]), "faiss")
    assert store_for(Recipe("e", ["hashing"], engine={"ef": 64})) == "edge"
