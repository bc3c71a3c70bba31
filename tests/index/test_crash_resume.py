"""SIGKILL an index build at 10 seeded random points, inside every crash window, and check that resume is exact.

The kill points come from `EMBEDPROOF_TEST_KILL_AT=event:n` (see `store.crash_point`): the build SIGKILLs itself the
n-th time it reaches `event`, so every run is reproducible and the windows a timer would rarely hit are covered:
a chunk's temporary file half written, a chunk renamed but not yet in the manifest, the manifest half written,
the manifest just saved, and the same for docs.jsonl right after the first (empty) manifest.
"""

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from embedproof.datasets.loading import load_dataset
from embedproof.errors import EmbedproofError
from embedproof.index.access import build_index, open_index
from embedproof.index.manifest import KILL_ENV, writer_lock
from embedproof.search.recipe import Recipe

RECIPE = Recipe("crash", ["hashing", "hashing-256"], "rrf", {"k": 60})
CHUNK = 16  # 240 demo documents → 15 chunks per component, 30 chunk commits, 33 manifest saves


def kill_points(seed: int = 20261126) -> list[tuple[str, int]]:
    """Two random points in each chunk/manifest window, plus the two docs.jsonl windows: 10 in all."""
    rng = random.Random(seed)
    points = [("docs-written", 1), ("docs-renamed", 1)]
    for event, last in [("chunk-written", 30), ("chunk-renamed", 30), ("manifest-written", 33), ("manifest-saved", 32)]:
        points += [(event, n) for n in sorted(rng.sample(range(1, last + 1), 2))]
    return points


def build_cli(out: Path, recipe_file: Path, kill: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != KILL_ENV} | ({KILL_ENV: kill} if kill else {})
    cmd = [
        sys.executable,
        "-m",
        "embedproof",
        "index",
        "build",
        "--corpus",
        "demo",
        "--recipe",
        str(recipe_file),
        "--chunk-size",
        str(CHUNK),
        "--out",
        str(out),
    ]
    return subprocess.run(cmd, env=env, capture_output=True, text=True)


def vectors(folder: Path) -> dict[str, np.ndarray]:
    index = open_index(folder)
    return {model: index.workspace.documents(model).dense for model in RECIPE.first_pass}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("crash")
    recipe_file = folder / "crash.json"
    recipe_file.write_text(json.dumps(RECIPE.to_dict()))
    assert build_cli(folder / "whole", recipe_file).returncode == 0
    return recipe_file, folder / "whole", json.loads((folder / "whole" / "manifest.json").read_text())


def test_kill_points_are_seeded_and_spread():
    points = kill_points()
    assert len(points) == 10 and points == kill_points()
    assert {e for e, _ in points} == {
        "docs-written",
        "docs-renamed",
        "chunk-written",
        "chunk-renamed",
        "manifest-written",
        "manifest-saved",
    }


@pytest.mark.parametrize("event,n", kill_points())
def test_sigkill_at_a_point_then_resume_equals_uninterrupted(reference, tmp_path, event, n):
    recipe_file, whole, expected = reference
    out = tmp_path / "idx"
    killed = build_cli(out, recipe_file, f"{event}:{n}")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    with pytest.raises(EmbedproofError, match="did not finish|not an embedproof index"):
        open_index(out)
    strays = [p.relative_to(out).as_posix() for p in out.rglob("*.tmp")]
    if event.endswith("-written"):  # the kill landed inside a write: its temporary file is still there
        assert strays, f"no temporary file after a kill at {event}:{n}"
    if event == "chunk-renamed":  # a finished chunk file that the manifest does not list yet
        listed = json.loads((out / "manifest.json").read_text())["files"]
        assert [p for p in out.glob("*/*.npy") if p.relative_to(out).as_posix() not in listed]

    build_index(RECIPE, load_dataset("demo").corpus, out, chunk_size=CHUNK)  # resume, in this process
    resumed = json.loads((out / "manifest.json").read_text())
    assert resumed["files"] == expected["files"]  # same files, same sha256 (so byte-identical)
    assert resumed["components"] == expected["components"] and resumed["complete"]
    assert not list(out.rglob("*.tmp"))
    for model, matrix in vectors(whole).items():
        assert np.array_equal(vectors(out)[model], matrix)


def test_a_second_writer_is_refused_while_one_holds_the_folder(tmp_path):
    out = tmp_path / "idx"
    out.mkdir()
    with writer_lock(out):
        with pytest.raises(EmbedproofError, match="another `embedproof index build`/`add` is writing"):
            build_index(RECIPE, load_dataset("demo").corpus, out, chunk_size=CHUNK)
    assert build_index(RECIPE, load_dataset("demo").corpus, out, chunk_size=CHUNK)["complete"]
