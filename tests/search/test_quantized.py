import numpy as np
import pytest

from embedproof.search.quantized import binary_search, hamming_distances, int8_search
from embedproof.vectors.quantize import Int8Calibration, quantize_binary, quantize_int8


def test_rescoring_fixes_a_wrong_int8_first_pass():
    # With ranges [0, 1] the code offset (-128) dominates small values: doc 0 = (0.55, 0) gets codes
    # (12, -128) and wins the integer dot product with the query's codes (124, -128) by the (-128)·(-128)
    # term (17,872 vs 3,476), although doc 1 = (0.61, 0.5) has the larger float dot product with the query
    # (0.99, 0): 0.6039 > 0.5445.
    docs = np.array([[0.55, 0.0], [0.61, 0.5]], dtype=np.float32)
    query = np.array([[0.99, 0.0]], dtype=np.float32)
    cal = Int8Calibration(np.zeros(2, np.float32), np.ones(2, np.float32), sample_size=2)
    codes = quantize_int8(docs, cal)
    assert codes.tolist() == [[12, -128], [27, -1]]
    assert quantize_int8(query, cal).tolist() == [[124, -128]]
    first, _ = int8_search(query, codes, cal, k=1, rescore_multiplier=0)
    rescored, scores = int8_search(query, codes, cal, k=1, rescore_multiplier=2)
    assert first.tolist() == [[0]] and rescored.tolist() == [[1]]
    assert scores[0, 0] == pytest.approx(0.99 * (27 + 128.5) / 255, abs=1e-6)  # dequantised, not the raw code


def test_hamming_distances_by_hand():
    a = np.array([[0b11110000], [0b00000000]], dtype=np.uint8)
    b = np.array([[0b11110000], [0b11111111], [0b00000001]], dtype=np.uint8)
    assert hamming_distances(a, b).tolist() == [[0, 4, 5], [4, 8, 1]]
    wide = np.zeros((1, 16), np.uint8)
    wide_docs = np.full((2, 16), 0xFF, np.uint8)
    wide_docs[1, :8] = 0
    assert hamming_distances(wide, wide_docs).tolist() == [[128, 64]]  # the 64-bit word path


def test_binary_search_with_rescoring_recovers_exact_order():
    rng = np.random.default_rng(1)
    docs = rng.standard_normal((300, 64)).astype(np.float32)
    queries = docs[:20] + 0.05 * rng.standard_normal((20, 64)).astype(np.float32)
    idx, _ = binary_search(queries, quantize_binary(docs), 64, k=1, rescore_multiplier=10)
    assert idx[:, 0].tolist() == list(range(20))
