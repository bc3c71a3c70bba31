"""Cohen's kappa: agreement between two judges beyond what their grade frequencies give by chance.

κ = (p_o − p_e) / (1 − p_e), p_o the share of pairs graded alike, p_e = Σ_k p_a(k)·p_b(k) (Cohen 1960). Written
out here (ten lines) rather than taking scikit-learn as a dependency for one function; the tests check it against a
hand-worked textbook table and against `sklearn.metrics.cohen_kappa_score` where that is installed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

__all__ = ["cohen_kappa", "AGREEMENT_FLOOR"]

# Below this, the model judge "does not agree" with the person (Landis & Koch: 0.41-0.60 is "moderate").
AGREEMENT_FLOOR = 0.4


def cohen_kappa(a: Sequence[int], b: Sequence[int]) -> float | None:
    """Unweighted Cohen's kappa of two equally long grade lists; None with no pairs. 1.0 when both judges used one
    and the same grade throughout (nothing left to chance)."""
    if len(a) != len(b):
        raise ValueError("cohen_kappa needs two equally long lists of grades")
    n = len(a)
    if n == 0:
        return None
    observed = sum(x == y for x, y in zip(a, b)) / n
    count_a, count_b = Counter(a), Counter(b)
    expected = sum(count_a[k] * count_b[k] for k in count_a) / (n * n)
    if expected == 1.0:
        return 1.0
    return (observed - expected) / (1.0 - expected)
