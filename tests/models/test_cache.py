from pathlib import Path

import numpy as np
import pytest

from embedproof.errors import EmbedproofError
from embedproof.models.cache import CacheCorruptionWarning, EmbeddingCache

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


def _only_chunk(cache) -> Path:
    chunks = list(cache.folder.glob("chunk-*.npz"))
    assert len(chunks) == 1
    return chunks[0]


def test_chunk_names_carry_the_sha256_of_their_bytes(tmp_path):
    import hashlib

    cache = EmbeddingCache(KEY, tmp_path)
    cache.encode(["x", "y"], fake_encoder([]))
    chunk = _only_chunk(cache)
    assert (
        chunk.name.startswith("chunk-000000-sha256-")
        and chunk.name[20:-4] == hashlib.sha256(chunk.read_bytes()).hexdigest()
    )


@pytest.mark.parametrize(
    "damage", ["flip a byte", "truncate", "not an npz", "foreign name", "pickled object array", "NaN rows"]
)
def test_a_damaged_or_foreign_chunk_is_set_aside_named_and_re_encoded(tmp_path, damage):
    calls = []
    cache = EmbeddingCache(KEY, tmp_path)
    cache.encode(["aa", "b"], fake_encoder(calls))
    chunk = _only_chunk(cache)
    data = bytearray(chunk.read_bytes())
    if damage == "flip a byte":
        data[len(data) // 2] ^= 0xFF
        chunk.write_bytes(bytes(data))
    elif damage == "truncate":
        chunk.write_bytes(bytes(data[: len(data) // 3]))
    elif damage == "not an npz":
        chunk.write_bytes(b"not an npz file")
    elif damage == "foreign name":
        chunk = chunk.rename(chunk.with_name("chunk-000000-mine.npz"))
    else:  # a legacy-named chunk (no checksum to check) that a pickle-using tool or a broken encoder wrote
        chunk.unlink()
        chunk = cache.folder / ("chunk-000000-" + "0" * 32 + ".npz")
        if damage == "pickled object array":
            np.savez(chunk, hashes=np.array(["h"]), vectors=np.array([object()], dtype=object))
        else:
            from embedproof.models.cache import text_hash

            np.savez(
                chunk,
                hashes=np.array([text_hash("aa"), text_hash("b")]),
                vectors=np.array([[np.nan, 1.0], [1.0, 2.0]], np.float32),
            )
    fresh = EmbeddingCache(KEY, tmp_path)
    with pytest.warns(CacheCorruptionWarning, match=chunk.name):
        vectors, hits = fresh.encode(["aa", "b"], fake_encoder(calls))
    assert hits == 0 and calls[-1] == ["aa", "b"] and vectors.tolist() == [[2, 2], [1, 0]]
    assert chunk.with_name(
        chunk.name + ".corrupt"
    ).exists()  # kept for a look; the re-encoded chunk is a new, valid file
    again, hits = EmbeddingCache(KEY, tmp_path).encode(["aa", "b"], fake_encoder(calls))
    assert hits == 2 and again.tolist() == [[2, 2], [1, 0]]


def test_legacy_chunks_without_a_checksum_still_load(tmp_path):
    from embedproof.models.cache import text_hash

    cache = EmbeddingCache(KEY, tmp_path)
    cache.folder.mkdir(parents=True)
    np.savez(
        cache.folder / f"chunk-000000-{text_hash('aa')}.npz",
        hashes=np.array([text_hash("aa")]),
        vectors=np.array([[7.0, 8.0]], np.float32),
    )

    def must_not_run(texts):
        raise AssertionError("a readable legacy chunk must be used")

    vectors, hits = cache.encode(["aa"], must_not_run)
    assert hits == 1 and vectors.tolist() == [[7.0, 8.0]]


def test_a_model_that_returns_nan_is_refused_and_nothing_is_cached(tmp_path):
    cache = EmbeddingCache(KEY, tmp_path)
    with pytest.raises(EmbedproofError, match=r"NaN or infinite values for 1 text\(s\), e.g. 'bad'"):
        cache.encode(["ok", "bad"], lambda ts: np.array([[1.0, 0.0], [np.inf, 0.0]], np.float32))
    assert not list(cache.folder.glob("chunk-*"))


def test_sparse_rows_round_trip(tmp_path):
    import scipy.sparse as sp

    def must_not_run(texts):
        raise AssertionError("cached rows must not be re-encoded")

    cache = EmbeddingCache({**KEY, "kind": "sparse"}, tmp_path)
    cache.encode(["abc", "z"], lambda ts: sp.csr_matrix(np.array([[len(t), 0, 1.5] for t in ts], np.float32)))
    second, hits = EmbeddingCache({**KEY, "kind": "sparse"}, tmp_path).encode(["z", "abc"], must_not_run)
    assert hits == 2 and sp.issparse(second)
    assert second.toarray().tolist() == [[1, 0, 1.5], [3, 0, 1.5]]
