"""`index build --ray`: a Ray Data actor pool (local Ray on loopback) writes the same index as one process."""

import json

import pytest
from typer.testing import CliRunner

from embedproof.datasets.loading import load_dataset
from embedproof.index.access import build_index, open_index
from embedproof.index.embedded.build import sequential_chunks
from embedproof.search.recipe import Recipe

ray = pytest.importorskip("ray", reason="pip install 'embedproof[ray]'")
pytestmark = pytest.mark.slow  # Ray start-up and one model load per actor and component: about a minute on 2 cores


def no_cache(model: str) -> dict:
    return {"use_cache": False}  # each path really encodes: neither reads vectors the other wrote


@pytest.fixture(scope="module")
def local_ray():
    from embedproof.index.embedded.ray_encode import connect

    connect("local")
    yield
    ray.shutdown()


def test_ray_build_equals_single_process_and_resumes(local_ray, tmp_path, tiny_model_dir):
    from embedproof.index.embedded.ray_encode import ray_chunk_encoder

    demo = load_dataset("demo").corpus
    recipe = Recipe("dense+maxsim", [str(tiny_model_dir)], rerank=f"maxsim:{tiny_model_dir}", rerank_top=20)
    single = build_index(recipe, demo, tmp_path / "single", encoder_options=no_cache, chunk_size=40)

    # an in-process build that stops after 2 chunks, then resumed on Ray: only the pending chunks go to the pool
    class Stop(Exception):
        pass

    def two_then_stop(model, kind, jobs):
        for n, (number, payload) in enumerate(sequential_chunks_(model, kind, jobs)):
            if n == 2:
                raise Stop
            yield number, payload

    from embedproof.search.pipeline import Workspace

    ids = list(demo)
    sequential_chunks_ = sequential_chunks(Workspace(ids, [demo[d].full_text for d in ids], no_cache))
    with pytest.raises(Stop):
        build_index(
            recipe, demo, tmp_path / "ray", encoder_options=no_cache, chunk_size=40, encode_chunks=two_then_stop
        )
    sent = []
    on_ray = ray_chunk_encoder("local", no_cache, actors=2)

    def counting(model, kind, jobs):
        sent.extend((kind, number) for number, _, _ in jobs)
        return on_ray(model, kind, jobs)

    resumed = build_index(
        recipe, demo, tmp_path / "ray", encoder_options=no_cache, chunk_size=40, encode_chunks=counting
    )
    assert sorted(sent) == [("first", n) for n in range(2, 6)] + [("tokens", n) for n in range(6)]
    assert resumed["files"] == single["files"]  # same sha256: byte-identical vectors and token matrices
    assert resumed["components"] == single["components"]
    a, b = open_index(tmp_path / "ray"), open_index(tmp_path / "single")
    assert (
        a.search("When was the iPhone released?", 10)["results"]
        == b.search("When was the iPhone released?", 10)["results"]
    )


def test_cli_ray_local(local_ray, tmp_path):
    from embedproof.cli import app

    result = CliRunner().invoke(
        app,
        [
            "index",
            "build",
            "--corpus",
            "demo",
            "--mode",
            "dense",
            "-m",
            "hashing",
            "--chunk-size",
            "50",
            "--ray",
            "local",
            "--out",
            str(tmp_path / "ray"),
        ],
    )
    assert result.exit_code == 0, result.output
    single = build_index(Recipe("dense", ["hashing"]), load_dataset("demo").corpus, tmp_path / "single", chunk_size=50)
    assert json.loads((tmp_path / "ray" / "manifest.json").read_text())["files"] == single["files"]
