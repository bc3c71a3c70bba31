import pytest
import scipy.sparse as sp

from embedproof.models.factory import get_encoder
from embedproof.models.splade import SpladeEncoder, torch_sparse_to_csr
from embedproof.search.retrieve import search


def test_torch_sparse_tensor_becomes_csr_without_densifying():
    torch = pytest.importorskip("torch")
    t = torch.sparse_coo_tensor([[0, 1, 1], [2, 0, 3]], [1.5, 2.0, 0.5], (2, 5), check_invariants=True)
    assert torch_sparse_to_csr(t).toarray().tolist() == [[0, 0, 1.5, 0, 0], [2.0, 0, 0, 0.5, 0]]


def test_random_mlm_runs_both_paths(tiny_mlm_dir):
    enc = get_encoder(str(tiny_mlm_dir))  # a *ForMaskedLM folder is routed to SPLADE
    assert isinstance(enc, SpladeEncoder)
    docs = enc.encode_documents(["the cat sat on the mat", "apple released the ipod"])
    queries = enc.encode_queries(["cat"])
    assert sp.issparse(docs.sparse) and docs.sparse.shape[1] == queries.sparse.shape[1] == len(enc.model.tokenizer)
    assert docs.mode == "sparse" and (docs.sparse.data >= 0).all()
    idx, scores = search(queries, docs, k=2)
    assert idx.shape == (1, 2)
    assert len(enc.explain(docs.sparse[0], top_k=3)) == 3


def test_trained_splade_tiny_expands_terms_and_finds_the_cat(splade_tiny_dir):
    enc = SpladeEncoder(str(splade_tiny_dir))
    assert enc.card.name == "splade-tiny"
    docs = enc.encode_documents(
        ["the cat sat on the mat", "Apple released the iPod in 2001.", "Stocks fell on Monday."]
    )
    terms = dict(enc.explain(docs.sparse[0], top_k=10))
    # OFFLINE.md: "the cat sat on the mat" expands to mat, cat, sat, cats, sit
    assert {"mat", "cat", "sat", "cats", "sit"} <= set(terms)
    assert "cats" in terms and "sit" in terms  # expansion: neither word is in the text
    idx, _ = search(enc.encode_queries(["kitten"]), docs, k=1)
    assert idx[0][0] == 0
    assert docs.info["mean_active_terms"] > 5
