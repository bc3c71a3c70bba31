from __future__ import annotations

import pytest

from embedproof.datasets.loading import load_dataset
from embedproof.judge.pool import Pooler, setups_from_recipes
from embedproof.judge.questions import Question

QUESTIONS = [Question("When was the iPhone released?"), Question("IP68 rating meaning"), Question("battery health")]


@pytest.fixture(scope="session")
def demo():
    return load_dataset("demo")


@pytest.fixture(scope="session")
def pooler(demo):
    """bm25 and hashing over the demo, pooled 3 deep (the demo encodes in well under a second)."""
    return Pooler(demo, setups_from_recipes(None, ["bm25", "hashing"]), depth=3)
