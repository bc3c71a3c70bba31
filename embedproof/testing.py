"""Tiny random-weight models with the real architectures and file layouts, built from a config in a second.

They exercise every code path (dense, SPLADE, ColBERT, BGE-M3, cross-encoder) without downloading anything;
their scores mean nothing. Used by the test suite and by `benchmarks/bgem3_parity.py`.
"""

from __future__ import annotations

from pathlib import Path

WORDS = (
    "the a of and to in is was for on with as by at from it an be this that first iphone ipod android apple google "
    "launched released operating system when what phone music player 2001 2007 cat sat mat dog ran park search "
    "passages relevant sentence represent query passage document retrieval"
).split()
HIDDEN = 32


def tiny_tokenizer(folder: Path, max_length: int = 128):
    """A lower-casing WordPiece tokenizer over WORDS; eos = [SEP], as in XLM-R where </s> is both."""
    from transformers import BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, ":", "?", "."]) + "\n")
    # `vocab=`, not `vocab_file=`: transformers 5 silently ignores the latter
    return BertTokenizerFast(vocab=str(vocab), do_lower_case=True, model_max_length=max_length, eos_token="[SEP]")


def _bert_config(vocab_size: int, **extra):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        **extra,
    )


def _save(model, tok, folder: Path) -> Path:
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def tiny_bert(folder: Path, seed: int = 0) -> Path:
    """A sentence-transformers bi-encoder folder (BERT → mean pooling → normalise); the raw BERT is in raw/."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules.transformer import Transformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling
    from transformers import BertModel

    tok = tiny_tokenizer(folder)
    torch.manual_seed(seed)
    raw = _save(BertModel(_bert_config(len(tok))), tok, folder / "raw")
    SentenceTransformer(modules=[Transformer(str(raw)), Pooling(HIDDEN, "mean"), Normalize()]).save(str(folder))
    return folder


def tiny_mlm(folder: Path, seed: int = 0) -> Path:
    """A BertForMaskedLM folder: SparseEncoder builds MLM + SpladePooling from it."""
    import torch
    from transformers import BertForMaskedLM

    tok = tiny_tokenizer(folder)
    torch.manual_seed(seed)
    return _save(BertForMaskedLM(_bert_config(len(tok))), tok, folder)


def tiny_cross_encoder(folder: Path, seed: int = 0) -> Path:
    import torch
    from transformers import BertForSequenceClassification

    tok = tiny_tokenizer(folder)
    torch.manual_seed(seed)
    return _save(BertForSequenceClassification(_bert_config(len(tok), num_labels=1)), tok, folder)


def tiny_colbert(folder: Path, bert_dir: Path) -> Path:
    """A ColBERT-style MultiVectorEncoder (the BERT of `tiny_bert` → linear 32→16 → mask)."""
    from sentence_transformers import MultiVectorEncoder
    from sentence_transformers.base.modules.transformer import Transformer
    from sentence_transformers.multi_vector_encoder.modules import MultiVectorMask
    from sentence_transformers.sentence_transformer.modules import Dense

    dense = Dense(HIDDEN, 16, bias=False, activation_function=None, module_input_name="token_embeddings")
    MultiVectorEncoder(modules=[Transformer(str(bert_dir / "raw")), dense, MultiVectorMask()]).save(str(folder))
    return folder


def tiny_bgem3(folder: Path, seed: int = 0) -> Path:
    """A BGE-M3 layout: XLM-RoBERTa + tokenizer, colbert_linear.pt (hidden→hidden), sparse_linear.pt (hidden→1)."""
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaModel

    tok = tiny_tokenizer(folder, max_length=64)
    torch.manual_seed(seed)
    # XLM-R positions start after the padding index: max_position_embeddings must exceed max length + 2
    config = XLMRobertaConfig(
        vocab_size=len(tok),
        hidden_size=HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=70,
        pad_token_id=tok.pad_token_id,
    )
    _save(XLMRobertaModel(config), tok, folder)
    torch.save(torch.nn.Linear(HIDDEN, HIDDEN).state_dict(), folder / "colbert_linear.pt")
    torch.save(torch.nn.Linear(HIDDEN, 1).state_dict(), folder / "sparse_linear.pt")
    return folder
