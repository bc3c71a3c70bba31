import numpy as np
import pytest

from embedproof.errors import EmbedproofError
from embedproof.vectors.quantize import (
    Int8Calibration,
    bytes_per_vector,
    dequantize_int8,
    quantize_binary,
    quantize_int8,
    to_float16,
    unpack_binary,
)


@pytest.fixture
def corpus():
    rng = np.random.default_rng(0)
    v = rng.standard_normal((500, 32)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_bytes_per_vector():
    assert [bytes_per_vector(384, p) for p in ("float32", "float16", "int8", "binary")] == [1536, 768, 384, 48]
    assert bytes_per_vector(100, "binary") == 13  # bits are packed into whole bytes
    with pytest.raises(ValueError):
        bytes_per_vector(8, "int4")


def test_int8_round_trip_error_is_within_half_a_step(corpus):
    cal = Int8Calibration.fit(corpus)
    codes = quantize_int8(corpus, cal)
    assert codes.dtype == np.int8 and codes.min() == -128 and codes.max() == 127
    assert np.all(np.abs(dequantize_int8(codes, cal) - corpus) <= cal.steps / 2 + 1e-6)


def test_calibrating_on_the_corpus_not_the_query(corpus):
    # A range fitted on a single query collapses most other values onto the extreme codes (ST #2837).
    query_only = Int8Calibration.fit(corpus[:1])
    collapsed = quantize_int8(corpus, query_only)
    assert np.mean((collapsed == -128) | (collapsed == 127)) > 0.9
    spread = quantize_int8(corpus, Int8Calibration.fit(corpus))
    assert np.mean((spread == -128) | (spread == 127)) < 0.05


def test_calibration_is_stored_and_reused(tmp_path, corpus):
    cal = Int8Calibration.fit(corpus, sample_size=100, seed=3)
    assert cal.sample_size == 100
    loaded = Int8Calibration.load(cal.save(tmp_path / "cal.npz"))
    assert np.array_equal(quantize_int8(corpus, cal), quantize_int8(corpus, loaded))
    (tmp_path / "bad.npz").write_bytes(b"junk")
    with pytest.raises(EmbedproofError, match="bad.npz"):
        Int8Calibration.load(tmp_path / "bad.npz")


def test_binary_packs_sign_bits_and_unpacks_to_plus_minus_one():
    v = np.array([[0.5, -0.1, 0.0, 2.0, -3.0, 1.0, 1.0, -1.0, 0.3]], dtype=np.float32)
    packed = quantize_binary(v)
    assert packed.shape == (1, 2) and packed[0, 0] == 0b10010110 and packed[0, 1] == 0b10000000
    assert unpack_binary(packed, 9).tolist() == [[1, -1, -1, 1, -1, 1, 1, -1, 1]]
    assert to_float16(v).dtype == np.float16
