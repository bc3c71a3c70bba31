"""Published-score reproduction on SciFact (about 4-5 minutes on 2 cores): run with `pytest -m slow`."""

import pytest

from embedpick.evaluation.bench import run_bench
from embedpick.evaluation.datasets import load_dataset

from ..conftest import DATASETS


@pytest.mark.slow
def test_scifact_matches_mteb_published_ndcg(minilm_path):
    if not (DATASETS / "scifact").is_dir():
        pytest.skip("../shared/datasets/scifact not present")
    results = run_bench(load_dataset(str(DATASETS / "scifact")), ["sentence-transformers/all-MiniLM-L6-v2", "bm25"])
    minilm, bm25 = (run["metrics"]["ndcg@10"] for run in results["runs"])
    assert minilm == pytest.approx(0.64508, abs=0.003)  # MTEB all-MiniLM-L6-v2, SciFact test
    assert bm25 == pytest.approx(0.68736, abs=0.015)  # MTEB baseline-bm25s, SciFact test
