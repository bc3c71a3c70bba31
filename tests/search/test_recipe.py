import json

import pytest

from embedproof.errors import DatasetError
from embedproof.search.recipe import Component, Recipe, load_recipe, standard_recipe


def test_standard_modes():
    hybrid = standard_recipe("hybrid+rerank", "all-MiniLM-L6-v2", "bm25")
    assert (
        hybrid.first_pass == ["all-MiniLM-L6-v2", "bm25"]
        and hybrid.fusion == "rrf"
        and hybrid.fusion_params == {"k": 60}
    )
    assert hybrid.reranker == ("maxsim", "all-MiniLM-L6-v2") and hybrid.rerank_top == 50
    assert standard_recipe("multivector", "m", "bm25").first_pass == ["maxsim:m"]
    with pytest.raises(ValueError, match="unknown mode"):
        standard_recipe("triple", "m", "bm25")


def test_invalid_recipes():
    with pytest.raises(ValueError, match="weights"):
        Recipe("x", ["a", "b"], weights=[1.0])
    with pytest.raises(ValueError, match="rerank must be"):
        Recipe("x", ["a"], rerank="colbert")


def test_load_json_and_yaml(tmp_path):
    (tmp_path / "r.json").write_text(
        json.dumps(
            {
                "first_pass": ["hashing", "bm25"],
                "fusion": "wsum",
                "weights": [0.3, 0.7],
                "fusion_params": {"normalisation": "zscore"},
            }
        )
    )
    recipe = load_recipe(tmp_path / "r.json")
    assert recipe.name == "r" and recipe.weights == [0.3, 0.7]
    (tmp_path / "r.yaml").write_text(
        "name: mine\nfirst_pass: [bm25]\nrerank: 'cross-encoder:some/model'\nrerank_top: 20\n"
    )
    assert load_recipe(tmp_path / "r.yaml").reranker == ("cross-encoder", "some/model")


def test_bad_recipe_files_name_the_file_and_field(tmp_path):
    (tmp_path / "bad.json").write_text('{"first_pass": ["bm25"], "fusoin": "rrf"}')
    with pytest.raises(DatasetError, match="bad.json.*unknown recipe fields \\['fusoin'\\]"):
        load_recipe(tmp_path / "bad.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(DatasetError, match="broken.json, line 1: not valid JSON"):
        load_recipe(tmp_path / "broken.json")


def test_dim_precision_fields_default_validate_and_load(tmp_path):
    plain = Recipe("x", ["hashing"])
    assert (plain.dim, plain.precision, plain.rescore_multiplier, plain.shrink) == (None, "float32", 4, None)
    assert Recipe("x", ["hashing"], dim=256, precision="int8").shrink == (256, "int8")
    with pytest.raises(ValueError, match="precision must be one of float32, float16, int8, binary, got 'int4'"):
        Recipe("x", ["a"], precision="int4")
    with pytest.raises(ValueError, match="dim must be a positive whole number"):
        Recipe("x", ["a"], dim=0)
    with pytest.raises(ValueError, match=r"dim 32 \(< 64\) is refused without validation"):
        Recipe("x", ["a"], dim=32)
    with pytest.raises(ValueError, match="rescore_multiplier must be"):
        Recipe("x", ["a"], rescore_multiplier=-1)
    (tmp_path / "r.yaml").write_text("first_pass: [hashing]\ndim: 128\nprecision: binary\nrescore_multiplier: 8\n")
    loaded = load_recipe(tmp_path / "r.yaml")
    assert (loaded.dim, loaded.precision, loaded.rescore_multiplier) == (128, "binary", 8)
    (tmp_path / "bad.json").write_text(json.dumps({"first_pass": ["hashing"], "precision": "fp8"}))
    with pytest.raises(DatasetError, match="bad.json, field 'precision'") as err:
        load_recipe(tmp_path / "bad.json")
    assert err.value.field == "precision"
    (tmp_path / "old.json").write_text(
        json.dumps({"first_pass": ["hashing"], "fusion": "rrf"})
    )  # a recipe from before the fields
    assert load_recipe(tmp_path / "old.json").shrink is None


def test_components_type_every_part_once():
    """`maxsim:` in a first pass and a reranker's kind are read here and nowhere else."""
    recipe = Recipe("r", ["maxsim:colbert", "bm25"], rerank="cross-encoder:ce")
    assert recipe.components() == [
        Component("colbert", "tokens", "first_pass"),
        Component("bm25", "first", "first_pass"),
        Component("ce", "cross-encoder", "rerank"),
    ]
    assert [c.key for c in recipe.components()] == ["tokens:colbert", "first:bm25", "cross-encoder:ce"]
    hybrid = standard_recipe("hybrid+rerank", "hashing", "bm25")
    assert [c.key for c in hybrid.components()] == ["first:hashing", "first:bm25", "tokens:hashing"]
    assert hybrid.models() == ["hashing", "bm25"]
