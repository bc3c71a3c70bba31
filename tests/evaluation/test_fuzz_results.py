"""Reading results.json back (report, pick --results): every truncation and foreign shape is a clear error.

Fuzzed: every byte-prefix of a real results file, and random JSON in place of runs and their fields (about 300
cases). Never a KeyError/TypeError from deep inside report or pick.
"""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from embedproof.errors import DatasetError, EmbedproofError
from embedproof.evaluation.pareto import run_name, run_p99, run_size
from embedproof.evaluation.results_file import load_results
from embedproof.pick.evidence import pick_from_results

RUN = {
    "model": "hashing",
    "mode": "dense",
    "dim": 1024,
    "precision": "float32",
    "metrics": {"ndcg@10": 0.41},
    "bytes_per_vector": 4096.0,
    "latency": {"online_ms": {"total": {"p99": 1.5}}},
}
RESULTS = {
    "embedproof_version": "0.1.0",
    "dataset": {"name": "demo", "documents": 240},
    "runs": [RUN, {**RUN, "precision": "int8", "bytes_per_vector": 1024.0}],
}
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def test_a_real_shape_loads_and_every_truncation_is_named(tmp_path):
    path = tmp_path / "results.json"
    text = json.dumps(RESULTS, indent=2)
    path.write_text(text)
    loaded = load_results(path)  # every field kept; each run gains its name and recipe
    assert all(run.items() <= new.items() for run, new in zip(RESULTS["runs"], loaded["runs"]))
    assert [r["name"] for r in loaded["runs"]] == ["hashing dense d1024 float32", "hashing dense d1024 int8"]
    for cut in range(0, len(text) - 1, 7):
        path.write_text(text[:cut])
        with pytest.raises(DatasetError, match=r"results\.json") as info:
            load_results(path)
        assert "not valid JSON" in str(info.value) or "not a readable" in str(info.value)
    truncated = sum("truncated" in str(_error(path, text[:cut])) for cut in range(1, len(text) - 1))
    assert truncated > 0.9 * (len(text) - 2)  # the hint is there for nearly every cut


def _error(path, text: str) -> DatasetError:
    path.write_text(text)
    try:
        load_results(path)
    except DatasetError as exc:
        return exc
    raise AssertionError(f"a truncated file loaded: {text!r}")


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x89PNG\r\n", "not UTF-8"),
        (b"[1, 2]", "not a readable embedproof results file"),
        (b'{"runs": {}}', "not a readable"),
        (b'{"runs": [3]}', r"field 'runs\[0\]'"),
        (
            b'{"runs": [{"model": "m", "mode": "dense", "precision": "f", "metrics": {"ndcg@10": "high"}}]}',
            r"runs\[0\]\.metrics",
        ),
        (
            b'{"runs": [{"recipe": {}, "mode": "hybrid", "metrics": {"ndcg@10": 0.5}, "latency": {"online_ms": []}}]}',
            r"runs\[0\]\.latency\.online_ms",
        ),
    ],
)
def test_foreign_files_say_which_file_and_field(tmp_path, content, message):
    path = tmp_path / "r.json"
    path.write_bytes(content)
    with pytest.raises(DatasetError, match=message) as info:
        load_results(path)
    assert str(path) in str(info.value)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(
    st.sampled_from(
        ["model", "mode", "precision", "metrics", "bytes_per_vector", "bytes_per_passage", "latency", "recipe", "dim"]
    ),
    json_values,
    st.sampled_from([None, "online_ms", "total", "p99"]),
)
def test_random_values_in_run_fields_load_cleanly_or_are_named(tmp_path, key, value, nested):
    run = json.loads(json.dumps(RUN))
    if key == "latency" and nested:  # reach inside latency.online_ms.total.p99
        target = run["latency"]
        for step in ["online_ms", "total", "p99"][: ["online_ms", "total", "p99"].index(nested)]:
            target = target[step]
        target[nested] = value
    else:
        run[key] = value
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"runs": [run]}, allow_nan=True))
    try:
        results = load_results(path)
    except DatasetError as exc:
        assert str(path) in str(exc) and exc.field and exc.field.startswith("runs[0]")
        return
    loaded = results["runs"][0]  # whatever loads, report and pick can use without a KeyError/TypeError
    run_name(loaded), run_p99(loaded), run_size(loaded)
    try:
        pick_from_results(results, 10.0, 1.0, 1000)
    except EmbedproofError as exc:  # a clear refusal is fine (e.g. no run with a size to pick from)
        assert "no runs" in str(exc)


def test_pick_and_report_cli_refuse_a_truncated_file_without_a_traceback(tmp_path):
    from embedproof.cli import app

    path = tmp_path / "results.json"
    path.write_text(json.dumps(RESULTS)[:-20])
    for args in (["pick", "--results", str(path)], ["report", str(path), "--output", str(tmp_path / "r.html")]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2 and "results.json" in result.output and "truncated" in result.output, result.output
        assert "Traceback" not in result.output
    assert not (tmp_path / "r.html").exists()
