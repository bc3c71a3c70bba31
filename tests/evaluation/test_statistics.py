"""Intervals, paired tests, Holm and power against scipy and against hand-worked values."""

import numpy as np
import pytest
from scipy import stats

from embedproof.errors import EmbedproofError
from embedproof.evaluation.statistics import (
    StatsSettings,
    bootstrap_means,
    holm,
    mean_interval,
    minimum_detectable_difference,
    paired_test,
    percentile_intervals,
    queries_needed,
)


def _mean_diff(x, y, axis=-1):
    return np.mean(x - y, axis=axis)


def _scores(n, shift, seed):
    """Per-query nDCG-like values in [0, 1] for two runs, b about `shift` below a, with ties at 0 and 1."""
    rng = np.random.default_rng(seed)
    a = np.clip(rng.beta(2, 2, n) + rng.choice([0, 0, 0.6, -0.6], n), 0, 1)
    b = np.clip(a - shift + rng.normal(0, 0.25, n), 0, 1)
    return a, b


def test_exact_sign_flip_p_equals_scipy_exact_permutation_test():
    a, b = _scores(10, 0.1, seed=1)
    ours = paired_test(a, b).p_value  # 2^10 patterns ≤ 10,000 resamples: every sign pattern
    theirs = stats.permutation_test(
        (a, b), _mean_diff, permutation_type="samples", vectorized=True, n_resamples=5000
    ).pvalue
    assert ours == pytest.approx(theirs, abs=1e-12)


@pytest.mark.parametrize("shift", [0.0, 0.03, 0.06])
def test_monte_carlo_p_agrees_with_scipy_within_sampling_error(shift):
    a, b = _scores(300, shift, seed=2)
    ours = paired_test(a, b, StatsSettings(permutation_resamples=20_000)).p_value
    theirs = stats.permutation_test(
        (a, b),
        _mean_diff,
        permutation_type="samples",
        vectorized=True,
        n_resamples=20_000,
        random_state=np.random.default_rng(7),
    ).pvalue
    # two Monte Carlo estimates of the same p: each has a standard error ≤ 0.0036 at 20,000 resamples
    assert ours == pytest.approx(theirs, abs=0.015)


def test_bootstrap_interval_agrees_with_scipy_percentile_bootstrap():
    a, _ = _scores(300, 0.0, seed=3)
    ours = mean_interval(a, StatsSettings(bootstrap_resamples=20_000))
    theirs = stats.bootstrap(
        (a,), np.mean, method="percentile", n_resamples=20_000, random_state=np.random.default_rng(9)
    ).confidence_interval
    assert ours[0] == pytest.approx(theirs.low, abs=0.004) and ours[1] == pytest.approx(theirs.high, abs=0.004)
    assert ours[0] < a.mean() < ours[1]


def test_paired_difference_interval_comes_from_the_shared_draw():
    a, b = _scores(120, 0.05, seed=4)
    settings = StatsSettings()
    draw = bootstrap_means(np.vstack([a, b]), settings)
    test = paired_test(a, b, settings, resampled=(draw[0], draw[1]))
    assert test.ci == pytest.approx(tuple(np.percentile(draw[0] - draw[1], [2.5, 97.5])))
    assert test.diff == pytest.approx(np.mean(a - b)) and test.ci[0] < test.diff < test.ci[1]
    assert test.wins + test.losses + test.ties == 120
    assert paired_test(a, b, settings) == test  # the same seed draws the same query sets


def test_wins_losses_ties_by_hand():
    t = paired_test([1.0, 0.5, 0.2, 0.0], [0.5, 0.5, 0.4, 0.0])
    assert (t.wins, t.losses, t.ties) == (1, 1, 2) and t.diff == pytest.approx(0.075)
    assert t.p_value == pytest.approx(1.0)  # 16 sign patterns: |mean| ≥ 0.075 in all of them (0.5 and 0.2 flips)


def test_holm_by_hand():
    # sorted 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 → kept monotone at 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0]) and holm([]) == []


def test_minimum_detectable_difference_has_the_power_it_claims():
    assert minimum_detectable_difference(0.2, 300) == pytest.approx(2.8015852 * 0.2 / np.sqrt(300), rel=1e-6)
    assert queries_needed(0.2, minimum_detectable_difference(0.2, 300)) in (300, 301)
    # simulate: a true difference equal to the MDD is detected by a paired test about 80% of the time
    rng = np.random.default_rng(5)
    n, sd = 100, 0.2
    mdd = minimum_detectable_difference(sd, n)
    diffs = rng.normal(mdd, sd, size=(4000, n))
    power = np.mean(stats.ttest_1samp(diffs, 0.0, axis=1).pvalue < 0.05)
    assert power == pytest.approx(0.80, abs=0.03)


def test_latency_percentile_intervals_cover_queries_and_rounds():
    rng = np.random.default_rng(6)
    samples = rng.lognormal(1.0, 0.3, size=(3, 200))
    ci = percentile_intervals(samples)
    for p in (50, 95, 99):
        lo, hi = ci[f"p{p}"]
        assert lo <= np.percentile(samples, p) <= hi
    shifted = samples.copy()
    shifted[2] *= 3  # one round on a busy machine: the interval must widen to admit it
    assert percentile_intervals(shifted)["p50"][1] > ci["p50"][1] * 1.3
    assert percentile_intervals(samples) == ci  # seeded


def test_settings_refuse_too_few_resamples():
    with pytest.raises(EmbedproofError, match="1,000"):
        StatsSettings(bootstrap_resamples=100)
    with pytest.raises(EmbedproofError, match="alpha"):
        StatsSettings(alpha=1.5)
    assert StatsSettings.from_dict({"seed": 3, "unknown": 1}).seed == 3
