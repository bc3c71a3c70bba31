"""BGE-M3 (Chen et al. 2024): dense, sparse and ColBERT vectors from one forward pass, loaded on transformers.

FlagEmbedding 1.4.2 does not import on transformers 5, so this is the thin part of its
BGEM3FlagModel re-written on transformers: an XLM-RoBERTa encoder plus two linear heads from the checkpoint
folder (`colbert_linear.pt`: hidden→hidden, `sparse_linear.pt`: hidden→1).
- dense   = the [CLS] state, L2-normalised;
- sparse  = ReLU(sparse_linear(token states)), the maximum per token id, special tokens dropped;
- colbert = colbert_linear(token states after [CLS]) on real tokens, each vector L2-normalised.
Scores follow FlagEmbedding: lexical = Σ shared-token weight products; colbert = MaxSim / query tokens.
`benchmarks/bgem3_parity.py` compares these outputs with FlagEmbedding's on the same tiny checkpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from embedproof.errors import EmbedproofError, require

DEFAULT_WEIGHTS = (0.4, 0.2, 0.4)  # dense, sparse, colbert: FlagEmbedding's documented default (docs/recipes.md)


@dataclass
class M3Output:
    dense: np.ndarray  # (n, hidden)
    sparse: sp.csr_matrix  # (n, vocabulary), max weight per token id
    colbert: list[np.ndarray]  # per text (tokens - 1, hidden)

    def lexical_weights(self, row: int) -> dict[str, float]:
        """FlagEmbedding's `lexical_weights` form: {token id as str: weight}."""
        r = self.sparse.getrow(row)
        return {str(i): float(w) for i, w in zip(r.indices, r.data)}


class BGEM3Model:
    """Loads `<folder>/` (XLM-RoBERTa + tokenizer) with `colbert_linear.pt` and `sparse_linear.pt` beside it."""

    def __init__(self, folder: str | Path, max_tokens: int = 8192, batch_size: int = 16, device: str = "cpu"):
        torch = require("torch", "dense")
        transformers = require("transformers", "dense")
        folder = Path(folder)
        for head in ("colbert_linear.pt", "sparse_linear.pt"):
            if not (folder / head).is_file():
                raise EmbedproofError(f"{folder}: not a BGE-M3 checkpoint folder (missing {head})")
        self.torch = torch
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
        self.model = transformers.AutoModel.from_pretrained(str(folder)).to(device).eval()
        hidden = self.model.config.hidden_size
        self.colbert_linear = torch.nn.Linear(hidden, hidden)
        self.sparse_linear = torch.nn.Linear(hidden, 1)
        # weights_only=True: the restricted unpickler that loads tensors and nothing executable.
        self.colbert_linear.load_state_dict(
            torch.load(folder / "colbert_linear.pt", map_location="cpu", weights_only=True)
        )
        self.sparse_linear.load_state_dict(
            torch.load(folder / "sparse_linear.pt", map_location="cpu", weights_only=True)
        )
        self.max_tokens = min(max_tokens, self.model.config.max_position_embeddings - 2)
        self.batch_size = batch_size
        self.device = device
        # FlagEmbedding drops cls, eos, pad and unk; for XLM-R sep is eos, and naming it keeps other tokenizers
        # right too.
        special = {
            self.tokenizer.cls_token_id,
            self.tokenizer.eos_token_id,
            self.tokenizer.sep_token_id,
            self.tokenizer.pad_token_id,
            self.tokenizer.unk_token_id,
        }
        self.unused_tokens = {t for t in special if t is not None}
        self.vocab_size = len(self.tokenizer)

    def encode(self, texts: Sequence[str]) -> M3Output:
        torch = self.torch
        dense, colbert = [], []
        rows, cols, vals = [], [], []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            inputs = self.tokenizer(
                batch, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt"
            ).to(self.device)
            with torch.inference_mode():
                states = self.model(**inputs, return_dict=True).last_hidden_state
                dense.append(torch.nn.functional.normalize(states[:, 0], dim=-1).cpu().numpy())
                weights = torch.relu(self.sparse_linear(states)).squeeze(-1).cpu().numpy()
                vectors = self.colbert_linear(states[:, 1:]) * inputs["attention_mask"][:, 1:, None].float()
                vectors = torch.nn.functional.normalize(vectors, dim=-1).cpu().numpy()
            ids = inputs["input_ids"].cpu().numpy()
            real = inputs["attention_mask"].cpu().numpy().astype(bool)
            keep = real & (weights > 0) & ~np.isin(ids, list(self.unused_tokens))
            batch_rows, _ = np.nonzero(keep)
            r, t, w = batch_rows + start, ids[keep], weights[keep]
            # the maximum weight per (text, token id): sort by key then weight descending, keep each key's first
            key = r.astype(np.int64) * self.vocab_size + t
            order = np.lexsort((-w, key))
            first = np.ones(len(order), dtype=bool)
            first[1:] = key[order][1:] != key[order][:-1]
            rows.append(r[order][first])
            cols.append(t[order][first])
            vals.append(w[order][first])
            for i, length in enumerate(real.sum(axis=1)):
                colbert.append(vectors[i, : length - 1])
        cat = lambda parts, dtype: np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)  # noqa: E731
        matrix = sp.csr_matrix(
            (cat(vals, np.float32), (cat(rows, np.int64), cat(cols, np.int64))), shape=(len(texts), self.vocab_size)
        )
        hidden = self.model.config.hidden_size
        return M3Output(np.vstack(dense) if dense else np.zeros((0, hidden), np.float32), matrix, colbert)


def colbert_score(query: np.ndarray, doc: np.ndarray) -> float:
    """FlagEmbedding's colbert score: MaxSim summed over query tokens, divided by their number."""
    return float((query @ doc.T).max(axis=1).sum() / max(len(query), 1))


def m3_scores(
    queries: M3Output, docs: M3Output, weights: tuple[float, float, float] = DEFAULT_WEIGHTS
) -> dict[str, np.ndarray]:
    """All-pairs dense, sparse, colbert and weighted-sum scores, (queries × documents) each.

    The lexical score is one sparse matrix product (FlagEmbedding loops over dict entries per pair).
    """
    dense = queries.dense @ docs.dense.T
    sparse = (queries.sparse @ docs.sparse.T).toarray()
    colbert = np.array(
        [[colbert_score(q, d) for d in docs.colbert] for q in queries.colbert], dtype=np.float32
    ).reshape(dense.shape)
    w_dense, w_sparse, w_colbert = weights
    return {
        "dense": dense,
        "sparse": sparse,
        "colbert": colbert,
        "weighted": w_dense * dense + w_sparse * sparse + w_colbert * colbert,
    }


class BGEM3Encoder:
    """BGE-M3 behind the common interface: one call fills `dense`, `sparse` and `multivector` of `Embeddings`."""

    mode = "dense"

    def __init__(self, name: str, *, max_tokens: int | None = None, batch_size: int = 16, **_ignored):
        from embedproof.models.card import get_card
        from embedproof.models.resolve import resolve_model

        self.name = name
        self.card = get_card(name)
        self.resolved = resolve_model(name)
        self.model = BGEM3Model(self.resolved.path, max_tokens=max_tokens or 8192, batch_size=batch_size)
        self.max_tokens = self.model.max_tokens
        self.query_prefix = self.document_prefix = ""
        self.warnings: list[str] = []

    def _encode(self, texts, ids, side, on_progress):
        from embedproof.types import Embeddings

        out = self.model.encode(list(texts))
        if on_progress:
            on_progress(len(texts))
        ids = list(ids) if ids is not None else [str(i) for i in range(len(texts))]
        return Embeddings(
            ids,
            side,
            self.name,
            dense=out.dense,
            sparse=out.sparse,
            multivector=out.colbert,
            info={"revision": self.resolved.revision},
        )

    def encode_queries(self, texts: Sequence[str], ids: Sequence[str] | None = None, on_progress=None):
        return self._encode(texts, ids, "query", on_progress)

    def encode_documents(self, texts: Sequence[str], ids: Sequence[str] | None = None, on_progress=None):
        return self._encode(texts, ids, "document", on_progress)
