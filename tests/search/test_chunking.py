import numpy as np
import pytest

from embedproof.errors import InvalidInputError
from embedproof.search.chunking import chunk_documents, chunk_texts, max_pool_scores, pool_to_documents, tokenizer_of


@pytest.fixture(scope="module")
def tokenizer(minilm_path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_path)


def test_chunks_cover_the_text_with_overlap(tokenizer):
    text = " ".join(f"w{i}" for i in range(50))
    chunks, owners = chunk_texts(tokenizer, [text, "short"], window=20, overlap=5)
    assert owners.tolist() == [0] * (len(chunks) - 1) + [1] and chunks[-1] == "short"
    ids = [tokenizer(c, add_special_tokens=False)["input_ids"] for c in chunks[:-1]]
    assert all(len(i) <= 20 for i in ids)
    assert chunks[0].startswith("w0") and chunks[-2].endswith("w49")
    with pytest.raises(ValueError):
        chunk_texts(tokenizer, [text], window=10, overlap=10)


def test_word_chunks_and_their_spans_by_hand():
    texts = ["a bb ccc dd e", "", "one two"]
    chunks = chunk_documents(tokenizer_of(object()), texts, window=3, overlap=1)
    assert chunks.texts == ["a bb ccc", "ccc dd e", "", "one two"]
    assert chunks.owners.tolist() == [0, 0, 1, 2]
    assert chunks.spans.tolist() == [[0, 8], [5, 13], [0, 0], [0, 7]]
    assert all(texts[o][a:b] == t for t, o, (a, b) in zip(chunks.texts, chunks.owners, chunks.spans))
    assert chunks.most_per_document == 2
    with pytest.raises(InvalidInputError):
        chunk_documents(tokenizer_of(object()), texts, window=3, overlap=3)


def test_max_pool_takes_each_documents_best_chunk():
    scores = np.array([[0.1, 0.9, 0.3, 0.2]], dtype=np.float32)
    pooled = max_pool_scores(scores, np.array([0, 0, 2, 2]), 3)
    assert pooled[0, 0] == np.float32(0.9) and pooled[0, 1] == -np.inf and pooled[0, 2] == np.float32(0.3)


def test_pooling_a_chunk_ranking_keeps_each_documents_best_chunk():
    owners = np.array([0, 0, 1, 2, 2])
    # chunk ranking for one query, best first: chunk 4 (doc 2), chunk 1 (doc 0), chunk 3 (doc 2 again), chunk 2
    docs, scores, best = pool_to_documents(
        np.array([[4, 1, 3, 2, -1]]), np.array([[0.9, 0.8, 0.7, 0.5, 0.0]]), owners, 2
    )
    assert docs.tolist() == [[2, 0]] and best.tolist() == [[4, 1]]
    assert scores[0].tolist() == pytest.approx([0.9, 0.8])
    docs, _, _ = pool_to_documents(np.array([[4, 3, -1]]), np.array([[0.9, 0.7, 0.0]]), owners, 3)
    assert docs.tolist() == [[2, -1, -1]]
