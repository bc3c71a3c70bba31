"""Engine settings as a recipe field: validated where the recipe is read, merged with options without contradiction."""

import json

import pytest

from embedproof.errors import DatasetError, InvalidInputError
from embedproof.index.supports import store_for
from embedproof.search.engine import EngineSettings, engine_settings, with_engine
from embedproof.search.recipe import Recipe, load_recipe


def test_a_recipe_carries_engine_settings_through_json_and_yaml(tmp_path):
    (tmp_path / "r.json").write_text(
        json.dumps({"first_pass": ["hashing"], "engine": {"quantization": "turbo-4", "ef": 64, "oversampling": 2}})
    )
    (tmp_path / "r.yaml").write_text("first_pass: [hashing]\nengine: {m: 32, exact: true}\n")
    from_json, from_yaml = load_recipe(tmp_path / "r.json"), load_recipe(tmp_path / "r.yaml")
    assert engine_settings(from_json) == EngineSettings(ef=64, quantization="turbo-4", oversampling=2.0)
    assert engine_settings(from_yaml) == EngineSettings(m=32, exact=True)
    assert Recipe(**from_json.to_dict()) == from_json  # round-trips through results.json and the manifest
    assert Recipe("old", ["hashing"]).engine is None  # recipes written before the field: the embedded store


@pytest.mark.parametrize(
    "engine, message",
    [
        ({"ef_search": 64}, "unknown engine settings \\['ef_search'\\]"),
        ({"ef": 0}, "edge ef: a whole number ≥ 1, got 0"),
        ({"m": 1.5}, "edge m: a whole number ≥ 0"),
        ({"quantization": "pq"}, "edge quantization 'pq'"),
        ({"oversampling": 0.5}, "edge oversampling: ≥ 1"),
        ({"oversampling": "4"}, "edge oversampling: a number ≥ 1"),
        ({"rescore": "yes"}, "edge rescore: true or false"),
        ([64], "engine must be a mapping"),
    ],
)
def test_bad_engine_settings_name_the_file_and_field(tmp_path, engine, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"first_pass": ["hashing"], "engine": engine}))
    with pytest.raises(DatasetError, match=f"bad.json, field 'engine'.*{message}") as err:
        load_recipe(path)
    assert err.value.field == "engine"


def test_precision_and_engine_quantiser_must_agree():
    assert engine_settings(Recipe("r", ["hashing"], precision="int8", engine={})).quantization == "int8"
    binary = engine_settings(Recipe("r", ["hashing"], precision="binary", rescore_multiplier=0, engine={}))
    assert (binary.quantization, binary.rescore) == ("binary-1", False)
    with pytest.raises(InvalidInputError, match="precision int8 is the engine's int8, not edge quantization 'turbo-4'"):
        Recipe("r", ["hashing"], precision="int8", engine={"quantization": "turbo-4"})
    with pytest.raises(InvalidInputError, match="precision float16 with edge quantization"):
        Recipe("r", ["hashing"], precision="float16", engine={"quantization": "int8"})


def test_options_may_repeat_the_recipe_but_not_contradict_it():
    recipe = Recipe("r", ["hashing"], engine={"ef": 64})
    assert with_engine(recipe, {"ef": 64, "m": 32, "quantization": None}).engine == {"ef": 64, "m": 32}
    assert with_engine(Recipe("plain", ["hashing"]), {}).engine == {}
    with pytest.raises(InvalidInputError, match="--edge-ef 32: recipe 'r' sets engine ef 64"):
        with_engine(recipe, {"ef": 32})
    with pytest.raises(InvalidInputError, match="--edge-ef 32"):
        engine_settings(recipe, {"ef": 32})


def test_an_engine_recipe_is_served_by_the_engine_it_was_measured_on():
    engine, plain = Recipe("e", ["hashing"], engine={}), Recipe("p", ["hashing"])
    assert store_for(engine, None) == store_for(engine, "edge") == "edge"
    assert store_for(plain, None) == "embedded" and store_for(plain, "qdrant") == "qdrant"
    for other in ("embedded", "qdrant"):
        with pytest.raises(InvalidInputError, match=f"--backend {other}: recipe 'e' carries engine settings"):
            store_for(engine, other)
