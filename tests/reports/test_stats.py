"""The statistics behind the intervals, leaderboards and A/B verdicts (plain numbers, no
database)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from reports import stats


def _posts(n: int, rate: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    impressions = rng.integers(500, 5000, n).astype(float)
    per_post = rate * rng.lognormal(0.0, 0.4, n)
    engagements = rng.binomial(impressions.astype(int), np.clip(per_post, 0, 1)).astype(float)
    return engagements, impressions, np.arange(n)


def test_bootstrap_interval_is_reproducible_with_the_same_seed() -> None:
    eng, imp, posts = _posts(200, 0.02, seed=1)
    first = stats.bootstrap_ratio(eng, imp, posts, seed=42)
    again = stats.bootstrap_ratio(eng, imp, posts, seed=42)
    other = stats.bootstrap_ratio(eng, imp, posts, seed=43)
    assert first == again
    assert first != other


def test_bootstrap_interval_contains_the_ratio_of_sums() -> None:
    eng, imp, posts = _posts(200, 0.02, seed=2)
    low, high = stats.bootstrap_ratio(eng, imp, posts, seed=1)
    assert low < eng.sum() / imp.sum() < high


def test_bootstrap_resamples_whole_posts_not_rows() -> None:
    # Two channels of one post are one cluster: duplicating every row into the same clusters
    # leaves the interval as it is, while treating them as separate posts narrows it.
    eng, imp, posts = _posts(60, 0.02, seed=3)
    once = stats.bootstrap_ratio(eng, imp, posts, seed=5)
    clustered = stats.bootstrap_ratio(np.tile(eng, 2), np.tile(imp, 2), np.tile(posts, 2), seed=5)
    separate = stats.bootstrap_ratio(np.tile(eng, 2), np.tile(imp, 2), np.arange(120), seed=5)
    assert clustered == pytest.approx(once)
    assert separate[1] - separate[0] < 0.85 * (once[1] - once[0])


def test_one_post_has_no_interval() -> None:
    assert all(math.isnan(v) for v in stats.bootstrap_ratio([5], [100], [1], seed=1))


def test_wilson_interval_matches_the_textbook_values() -> None:
    low, high = stats.wilson([10, 0], [100, 20])
    assert low[0] == pytest.approx(0.05522, abs=1e-4)
    assert high[0] == pytest.approx(0.17437, abs=1e-4)
    assert low[1] == 0.0 and high[1] == pytest.approx(0.16113, abs=1e-4)


def test_wilson_has_no_interval_without_trials() -> None:
    low, high = stats.wilson([0, 3], [0, np.nan])
    assert np.isnan(low).all() and np.isnan(high).all()


def test_empirical_bayes_pulls_small_samples_toward_the_prior_more_than_large_ones() -> None:
    eng, imp, _ = _posts(300, 0.02, seed=4)
    prior = stats.fit_beta_prior(eng, imp)
    assert prior is not None
    assert prior.mean == pytest.approx(np.mean(eng / imp), rel=1e-6)
    lucky_small = float(prior.shrink(60, 1000))  # 6% on one post's worth of impressions
    lucky_large = float(prior.shrink(60 * 40, 1000 * 40))  # 6% sustained over 40 posts' worth
    assert prior.mean < lucky_small < lucky_large < 0.06
    assert lucky_small - prior.mean < 0.5 * (0.06 - prior.mean)


def test_a_prior_needs_at_least_three_posts_with_spread() -> None:
    assert stats.fit_beta_prior([1, 2], [100, 100]) is None
    assert stats.fit_beta_prior([2, 2, 2], [100, 100, 100]) is None


def test_a_clear_difference_between_variants_is_beyond_noise() -> None:
    a = _posts(120, 0.015, seed=6)
    b = _posts(120, 0.030, seed=7)
    result = stats.compare_ratios(a, b, seed=1)
    assert result.distinguishable
    assert result.low > 0 and result.p_value < 0.01


def test_two_samples_of_the_same_rate_are_not_distinguishable() -> None:
    a = _posts(80, 0.02, seed=8)
    b = _posts(80, 0.02, seed=9)
    result = stats.compare_ratios(a, b, seed=1)
    assert not result.distinguishable
    assert result.low < 0 < result.high and result.p_value > 0.05


def test_seeds_for_figures_do_not_depend_on_the_order_they_are_asked_for() -> None:
    assert stats.seed_for(1, "er", "Public") == stats.seed_for(1, "er", "Public")
    assert stats.seed_for(1, "er", "Public") != stats.seed_for(1, "er", "Think tanks")
