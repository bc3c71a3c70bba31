"""A fetched ONNX model end to end on the demo: bench (Matryoshka and int8 stored forms too) → pick → index → serve.

paraphrase-MiniLM-L3-v2 by its short name, resolved to the folder `embedproof models fetch` unpacked.
"""

import json

import pytest
from typer.testing import CliRunner

from embedproof.cli import app

runner = CliRunner()
L3 = "paraphrase-minilm-l3-v2"
QUERY = "When was the iPhone released?"


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


@pytest.mark.slow  # about a minute on 2 busy cores: three benches' worth of encoding and an index build
def test_minilm_l3_bench_pick_index_serve(fetched_by_name, tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from embedproof.index.access import open_index
    from embedproof.server.app import create_app

    forms = tmp_path / "forms.json"
    bench = invoke("bench", "-m", L3, "--dims", "384,128", "--precision", "float32,int8", "--no-latency", "-o", forms)
    assert bench.exit_code == 0, bench.output
    runs = {(r["dim"], r["precision"]): r for r in json.loads(forms.read_text())["runs"]}
    assert set(runs) == {(384, "float32"), (384, "int8"), (128, "float32"), (128, "int8")}
    assert {r["encoder_backend"] for r in runs.values()} == {"onnx"}
    assert runs[(384, "float32")]["auto_backend"]["reason"] == "shipped fp32 ONNX, run as shipped"
    assert runs[(384, "int8")]["retention"]["ndcg@10"] > 0.97  # int8 storage with rescoring keeps L3's ranking

    results, chosen = tmp_path / "results.json", tmp_path / "chosen.json"
    assert invoke("bench", "--mode", "dense", "-m", L3, "--no-latency", "-o", results).exit_code == 0
    picked = invoke("pick", "--results", results, "--recipe-out", chosen)
    assert picked.exit_code == 0, picked.output
    assert json.loads(chosen.read_text())["first_pass"] == [L3]

    index = tmp_path / "idx"
    built = invoke("index", "build", "--corpus", "demo", "--recipe", chosen, "--out", index)
    assert built.exit_code == 0, built.output

    client = TestClient(create_app(index))
    assert client.get("/health").json() == {"status": "ok", "generation": 1, "documents": 240, "recipe": "dense"}
    answer = client.post("/search", json={"query": QUERY, "top_k": 3}).json()
    direct = open_index(index).search(QUERY, 3)
    assert [r["id"] for r in answer["results"]] == [r["id"] for r in direct["results"]]
    assert "d001" in [r["id"] for r in answer["results"]]  # the iPhone passage (L3 ranks the iPod one above it)
