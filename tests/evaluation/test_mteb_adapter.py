"""mteb and embedproof agree: same texts to the model, same prefixes once, same nDCG@10 on the same data."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from embedproof.datasets.loading import load_dataset
from embedproof.errors import MissingExtraError
from embedproof.evaluation.bench import run_bench
from embedproof.evaluation.bench_options import BenchOptions
from embedproof.types import Embeddings

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
BGE_QUERY_PREFIX = "Represent this sentence for searching relevant passages: "


@pytest.fixture(scope="module")
def mteb():
    return pytest.importorskip("mteb", reason="pip install 'embedproof[mteb]' to run the mteb interoperability tests")


def test_mteb_and_embedproof_agree_on_demo_ndcg(mteb, minilm_path, tmp_path):
    from embedproof.evaluation.mteb_adapter import run_mteb

    # No shared embedding cache: mteb's side encodes the texts its own dataloaders hand over.
    scores = run_mteb(MINILM, "demo", output_folder=tmp_path / "mteb", use_cache=False)
    ours = run_bench(load_dataset("demo"), [MINILM], BenchOptions(latency=False))["runs"][0]["metrics"]["ndcg@10"]
    assert scores["main_score"] == scores["ndcg_at_10"]
    assert abs(scores["ndcg_at_10"] - ours) < 1e-3, (scores["ndcg_at_10"], ours)
    assert ours > 0.85
    assert list((tmp_path / "mteb").rglob("demo.json")), "mteb wrote no result file to the output folder"


def test_prompt_type_dispatches_to_the_encoders_own_prefixes(mteb, tiny_bge_dir):
    from mteb.types import PromptType
    from torch.utils.data import DataLoader

    from embedproof.evaluation.mteb_adapter import MtebEncoder
    from embedproof.models.factory import get_encoder

    encoder = get_encoder(str(tiny_bge_dir), use_cache=False)
    assert encoder.query_prefix == BGE_QUERY_PREFIX
    adapter = MtebEncoder(encoder)
    texts = ["when did the first iPhone launch", "apple app store", "android operating system"]

    def encode(prompt_type):
        loader = DataLoader([{"text": t} for t in texts], batch_size=2)  # two batches, as mteb would send
        return adapter.encode(loader, task_metadata=None, hf_split="test", hf_subset="default", prompt_type=prompt_type)

    queries, documents = encoder.encode_queries(texts).dense, encoder.encode_documents(texts).dense
    np.testing.assert_allclose(encode(PromptType.query), queries, atol=1e-6)
    np.testing.assert_allclose(encode(PromptType.document), documents, atol=1e-6)
    np.testing.assert_allclose(encode(None), documents, atol=1e-6)
    assert not np.allclose(queries, documents, atol=1e-3)  # the query prefix really changed the vectors
    assert adapter.mteb_model_meta.name == "BAAI/bge-small-en-v1.5"
    assert adapter.mteb_model_meta.revision == encoder.resolved.revision


class _Recorder:
    """A dense embedproof-style encoder that records what it is asked to encode."""

    mode, name, dim = "dense", "recorder", 8

    def __init__(self):
        self.seen: dict[str, list[str]] = {"query": [], "document": []}

    def _encode(self, texts, side):
        self.seen[side] += list(texts)
        rows = [np.frombuffer(t.encode().ljust(8, b"\0")[:8], dtype=np.uint8).astype(np.float32) for t in texts]
        return Embeddings([str(i) for i in range(len(texts))], side, self.name, dense=np.vstack(rows))

    def encode_queries(self, texts, ids=None, on_progress=None):
        return self._encode(texts, "query")

    def encode_documents(self, texts, ids=None, on_progress=None):
        return self._encode(texts, "document")


def test_beir_folder_task_hands_mteb_embedproofs_texts(mteb, tmp_path):
    from embedproof.evaluation.mteb_adapter import run_mteb

    folder = tmp_path / "mini"
    (folder / "qrels").mkdir(parents=True)
    docs = [{"_id": "a", "title": "Pluto", "text": "a dwarf planet"}, {"_id": "b", "title": "", "text": "Mars is red"}]
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (folder / "queries.jsonl").write_text('{"_id": "q1", "text": "dwarf planet"}\n{"_id": "q2", "text": "unjudged"}\n')
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\ta\t2\n")
    recorder = _Recorder()
    scores = run_mteb(recorder, folder)
    assert sorted(recorder.seen["document"]) == ["Mars is red", "Pluto a dwarf planet"]  # title joined as BEIR does
    assert recorder.seen["query"] == ["dwarf planet"]  # judged queries only, no prompt added by mteb
    assert 0.0 <= scores["ndcg_at_10"] <= 1.0


def test_missing_mteb_names_the_extra(monkeypatch):
    from embedproof.evaluation import mteb_adapter

    monkeypatch.setitem(sys.modules, "mteb", None)  # makes `import mteb` raise ImportError
    with pytest.raises(MissingExtraError, match=r"embedproof\[mteb\]"):
        mteb_adapter.MtebEncoder(_Recorder())
