from __future__ import annotations

import random

import pytest

from embedproof.judge.kappa import cohen_kappa


def test_the_textbook_two_by_two_table():
    # 50 items, two raters: yes/yes 20, yes/no 5, no/yes 10, no/no 15 (the worked example of Cohen's kappa on
    # Wikipedia): p_o = 35/50 = 0.7, p_e = 0.5·0.6 + 0.5·0.4 = 0.5, so κ = (0.7 − 0.5) / (1 − 0.5) = 0.4
    a = [1] * 20 + [1] * 5 + [0] * 10 + [0] * 15
    b = [1] * 20 + [0] * 5 + [1] * 10 + [0] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)


def test_agrees_with_scikit_learn_on_graded_lists():
    sklearn = pytest.importorskip("sklearn.metrics")
    rng = random.Random(7)
    for _ in range(20):
        n = rng.randint(5, 60)
        a = [rng.randint(0, 2) for _ in range(n)]
        b = [x if rng.random() < 0.6 else rng.randint(0, 2) for x in a]
        if len(set(a)) == 1 and len(set(b)) == 1:
            continue
        assert cohen_kappa(a, b) == pytest.approx(sklearn.cohen_kappa_score(a, b))


def test_edges():
    assert cohen_kappa([], []) is None
    assert cohen_kappa([2, 2, 2], [2, 2, 2]) == 1.0
    assert cohen_kappa([0, 1, 0, 1], [1, 0, 1, 0]) == pytest.approx(-1.0)
    with pytest.raises(ValueError):
        cohen_kappa([1], [1, 2])
