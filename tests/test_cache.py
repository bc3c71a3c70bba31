import numpy as np
import pytest

from embedpick.cache import EmbeddingCache
from embedpick.errors import EmbedpickError

KEY = {"model": "m", "revision": "r", "prefix": "", "max_tokens": 8}


def fake_encoder(calls):
    def encode(texts):
        calls.append(list(texts))
        return np.array([[len(t), t.count("a")] for t in texts], dtype=np.float32)

    return encode


def test_encodes_only_misses_and_keeps_order(tmp_path):
    calls = []
    cache = EmbeddingCache(KEY, tmp_path)
    first, hits = cache.encode(["aa", "b", "aa"], fake_encoder(calls), chunk_size=10)
    assert hits == 0 and calls == [["aa", "b"]]  # duplicates encoded once
    assert first.tolist() == [[2, 2], [1, 0], [2, 2]]
    again = EmbeddingCache(KEY, tmp_path)  # a new process would start like this
    second, hits = again.encode(["b", "ccc", "aa"], fake_encoder(calls), chunk_size=10)
    assert hits == 2 and calls[-1] == ["ccc"]
    assert second.tolist() == [[1, 0], [3, 0], [2, 2]]


def test_different_keys_do_not_share_vectors(tmp_path):
    calls = []
    EmbeddingCache(KEY, tmp_path).encode(["x"], fake_encoder(calls))
    EmbeddingCache({**KEY, "prefix": "query: "}, tmp_path).encode(["x"], fake_encoder(calls))
    assert calls == [["x"], ["x"]]


def test_interrupted_encode_resumes_from_last_committed_chunk(tmp_path):
    calls = []
    encode = fake_encoder(calls)

    def crashes_on_third_chunk(texts):
        if len(calls) == 2:
            raise KeyboardInterrupt
        return encode(texts)

    texts = [f"text {i}" for i in range(10)]
    with pytest.raises(KeyboardInterrupt):
        EmbeddingCache(KEY, tmp_path).encode(texts, crashes_on_third_chunk, chunk_size=4)
    cache = EmbeddingCache(KEY, tmp_path)
    assert len(cache) == 8
    assert not list(cache.folder.glob("*.tmp"))  # nothing half-written left behind
    vectors, hits = cache.encode(texts, encode, chunk_size=4)
    assert hits == 8 and calls[-1] == ["text 8", "text 9"] and vectors.shape == (10, 2)


def test_damaged_chunk_is_reported_by_name(tmp_path):
    cache = EmbeddingCache(KEY, tmp_path)
    cache.encode(["x"], fake_encoder([]))
    chunk = next(cache.folder.glob("chunk-*.npz"))
    chunk.write_bytes(b"not an npz file")
    with pytest.raises(EmbedpickError, match=chunk.name):
        len(EmbeddingCache(KEY, tmp_path))


def test_sparse_rows_round_trip(tmp_path):
    import scipy.sparse as sp

    def must_not_run(texts):
        raise AssertionError("cached rows must not be re-encoded")

    cache = EmbeddingCache({**KEY, "kind": "sparse"}, tmp_path)
    cache.encode(["abc", "z"], lambda ts: sp.csr_matrix(np.array([[len(t), 0, 1.5] for t in ts], np.float32)))
    second, hits = EmbeddingCache({**KEY, "kind": "sparse"}, tmp_path).encode(["z", "abc"], must_not_run)
    assert hits == 2 and sp.issparse(second)
    assert second.toarray().tolist() == [[1, 0, 1.5], [3, 0, 1.5]]
