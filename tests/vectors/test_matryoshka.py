import numpy as np
import pytest

from embedproof.models.card import get_card
from embedproof.vectors.matryoshka import (
    UnsafeDimensionError,
    check_dimension,
    matryoshka_ladder,
    normalize,
    truncate_matryoshka,
)


def test_truncation_keeps_prefix_and_renormalises():
    v = np.array([[3.0, 4.0, 12.0]], dtype=np.float32)
    out = truncate_matryoshka(normalize(v), 2)
    assert np.allclose(out, [[0.6, 0.8]])
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0)


def test_zero_rows_stay_zero_and_bad_dims_are_errors():
    assert normalize(np.zeros((1, 3))).tolist() == [[0.0, 0.0, 0.0]]
    with pytest.raises(ValueError):
        truncate_matryoshka(np.ones((1, 4)), 8)


def test_ladder_uses_card_dims_or_powers_of_two():
    assert matryoshka_ladder(get_card("nomic-embed-text-v1.5"), 768) == [768, 512, 256, 128, 64]
    assert matryoshka_ladder(get_card("all-MiniLM-L6-v2"), 384) == [384, 256, 128, 64]
    assert matryoshka_ladder(get_card("bge-base-en-v1.5"), 768) == [768, 512, 256, 128, 64]


def test_below_64_is_refused_without_override_and_unvalidated_with_it():
    card = get_card("nomic-embed-text-v1.5")
    with pytest.raises(UnsafeDimensionError, match="--allow-unvalidated-dims"):
        check_dimension(card, 32, 768)
    validated, warnings = check_dimension(card, 32, 768, allow_unvalidated=True)
    assert validated is False and any("unvalidated" in w for w in warnings)


def test_non_matryoshka_model_is_warned_matryoshka_model_is_not():
    validated, warnings = check_dimension(get_card("all-MiniLM-L6-v2"), 128, 384)
    assert validated and any("not trained with Matryoshka" in w for w in warnings)
    assert check_dimension(get_card("nomic-embed-text-v1.5"), 256, 768) == (True, [])
    assert check_dimension(get_card("all-MiniLM-L6-v2"), 384, 384) == (True, [])
