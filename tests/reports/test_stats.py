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


def test_an_interval_of_a_ratio_contains_the_ratio_of_sums() -> None:
    eng, imp, posts = _posts(200, 0.02, seed=2)
    low, high = stats.ratio_interval(eng, imp, posts)
    assert low < eng.sum() / imp.sum() < high


def test_the_interval_treats_a_message_on_several_channels_as_one_cluster() -> None:
    # Two channels of one message are one cluster: duplicating every row into the same
    # clusters leaves the interval as it is, while treating them as separate posts narrows it.
    eng, imp, posts = _posts(60, 0.02, seed=3)
    once = stats.ratio_interval(eng, imp, posts)
    clustered = stats.ratio_interval(np.tile(eng, 2), np.tile(imp, 2), np.tile(posts, 2))
    separate = stats.ratio_interval(np.tile(eng, 2), np.tile(imp, 2), np.arange(120))
    assert clustered == pytest.approx(once)
    assert separate[1] - separate[0] < 0.85 * (once[1] - once[0])


def test_fieller_matches_a_hand_computed_interval() -> None:
    # Five posts: mean y = 100, mean x = 5000; sample variances 250 and 625,000, covariance
    # 10,000 (each divided by 5 for the means).
    y = np.array([80.0, 100.0, 90.0, 120.0, 110.0])
    x = np.array([4000.0, 4500.0, 5000.0, 5500.0, 6000.0])
    t = 2.7764451051977987  # t(0.975, 4)
    syy, sxy, sxx = 250.0 / 5, 10_000.0 / 5, 625_000.0 / 5
    a, b, c = 5000.0**2 - t * t * sxx, -2 * (100 * 5000 - t * t * sxy), 100.0**2 - t * t * syy
    root = math.sqrt(b * b - 4 * a * c)
    expected = ((-b - root) / (2 * a), (-b + root) / (2 * a))
    assert stats.ratio_interval(y, x, np.arange(5)) == pytest.approx(expected)
    assert stats.t_quantile(0.975, 4) == pytest.approx(t, abs=1e-8)


def _added(values: np.ndarray) -> float:
    """The sum of the values added one after the other, as `np.bincount` adds a group's."""
    total = 0.0
    for value in values.tolist():
        total += value
    return total


UNBOUNDED: list[int] = []


def _one_group(y: np.ndarray, x: np.ndarray) -> tuple[float, float]:
    """Fieller's interval of one group by the scalar formulas (`stats._fieller`,
    `stats.poisson_bounds`, `stats._log_t_interval`), one Python float at a time."""
    size, total, events = y.size, _added(x), _added(y)
    if size < stats.MIN_CLUSTERS or total <= 0:
        return math.nan, math.nan
    floor_low, floor_high = (bound / total for bound in stats.poisson_bounds(events))
    if events == 0.0:
        return 0.0, floor_high
    dy, dx = y - events / size, x - total / size
    spread = (_added(dy * dy), _added(dy * dx), _added(dx * dx))
    found = stats._fieller(size, events / size, total / size, spread, stats.LEVEL)
    if found is None:
        UNBOUNDED.append(size)
        found = stats._log_t_interval(y, x)
    return min(found[0], floor_low), max(found[1], floor_high)


def test_the_intervals_of_many_groups_at_once_are_each_groups_own_to_the_last_bit() -> None:
    # `fieller_groups` works every group out on arrays; each group's interval must be the
    # very floats of the scalar formulas on that group alone: no engagement, unbounded sets
    # (one huge post), proportional data (a double root), too few clusters.
    rng = np.random.default_rng(7)
    compared = 0
    for trial in range(300):
        sizes = rng.integers(0, 25, int(rng.integers(1, 30)))
        group = np.repeat(np.arange(sizes.size), sizes)
        x = rng.lognormal(5.0, 1.0 if trial % 4 == 1 else 0.5, group.size).round() + 1.0
        y = rng.binomial(x.astype(int), rng.uniform(0.0, 0.1)).astype(float)
        if trial % 4 == 1 and group.size:
            x[rng.integers(0, group.size)] *= 100.0
        if trial % 4 == 2:
            y = 0.0 * y
        if trial % 4 == 3:
            y = 0.05 * x
        low, high = stats.fieller_groups(group, y, x, sizes.size)
        for g in range(sizes.size):
            part = group == g
            expected = _one_group(y[part], x[part])
            got = (float(low[g]), float(high[g]))
            assert np.array_equal(np.array(got), np.array(expected), equal_nan=True), (trial, g)
            compared += 1
    assert compared > 3000 and len(UNBOUNDED) > 50


def test_an_interval_is_never_narrower_than_the_poisson_interval_of_the_total() -> None:
    # Five identical posts: no spread at all, but 30 engagements are still a noisy count.
    low, high = stats.ratio_interval([6] * 5, [300] * 5, range(5))
    k_low, k_high = stats.poisson_bounds(30)
    assert (low, high) == (pytest.approx(k_low / 1500), pytest.approx(k_high / 1500))
    assert 20 < k_low < 21 and 42 < k_high < 43.5  # exact: 20.24, 42.83


def test_too_few_messages_have_no_interval() -> None:
    four = stats.ratio_interval([5, 6, 7, 8], [100, 120, 90, 110], [1, 2, 3, 4])
    assert all(math.isnan(v) for v in four)
    five = stats.ratio_interval([5, 6, 7, 8, 9], [100, 120, 90, 110, 95], [1, 2, 3, 4, 5])
    assert all(math.isfinite(v) for v in five)


def test_a_rate_with_no_engagement_at_all_still_has_an_upper_bound() -> None:
    low, high = stats.ratio_interval([0] * 6, [100] * 6, range(6))
    assert low == 0 and high == pytest.approx(-math.log(0.025) / 600)


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
    assert prior.mean == pytest.approx(eng.sum() / imp.sum())  # exposure-weighted
    lucky_small = float(prior.shrink(6, 100))  # 6% on a tiny post
    lucky_large = float(prior.shrink(60 * 40, 1000 * 40))  # 6% sustained over 40 posts' worth
    assert prior.mean < lucky_small < lucky_large < 0.06
    assert lucky_small - prior.mean < 0.5 * (0.06 - prior.mean)


def test_the_prior_removes_the_sampling_variance_by_hand() -> None:
    # k/n: 10/1000, 30/1000, 20/1000 → m = 0.02, s² = (0.01² + 0.01² + 0)/3,
    # τ² = s² − m(1 − m)/1000, α + β = m(1 − m)/τ² − 1.
    prior = stats.fit_beta_prior([10, 30, 20], [1000, 1000, 1000])
    assert prior is not None
    tau2 = 2 * 0.01**2 / 3 - 0.02 * 0.98 / 1000
    assert prior.mean == pytest.approx(0.02)
    assert prior.strength == pytest.approx(0.02 * 0.98 / tau2 - 1)


def test_posts_that_vary_no_more_than_noise_are_shrunk_all_the_way() -> None:
    prior = stats.fit_beta_prior([2, 2, 2], [100, 100, 100])
    assert prior is not None and math.isinf(prior.strength)
    assert float(prior.shrink(9, 100)) == pytest.approx(0.02)


def test_a_prior_needs_at_least_three_posts_with_engagement() -> None:
    assert stats.fit_beta_prior([1, 2], [100, 100]) is None
    assert stats.fit_beta_prior([0, 0, 0], [100, 100, 100]) is None


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


def test_comparisons_with_too_few_messages_are_not_judged() -> None:
    a = _posts(4, 0.01, seed=10)
    b = _posts(40, 0.05, seed=11)
    result = stats.compare_ratios(a, b, seed=1)
    assert math.isnan(result.low) and not result.distinguishable


def test_seeds_for_figures_do_not_depend_on_the_order_they_are_asked_for() -> None:
    assert stats.seed_for(1, "er", "Public") == stats.seed_for(1, "er", "Public")
    assert stats.seed_for(1, "er", "Public") != stats.seed_for(1, "er", "Think tanks")


def test_a_permutation_test_started_on_a_worker_thread_gives_the_lazy_p_value() -> None:
    # The report starts its permutation tests on a thread of their own and reads them later:
    # the same draws, so the same p-value as reading it lazily in the caller's thread.
    from concurrent.futures import ThreadPoolExecutor

    a, b = _posts(40, 0.02, seed=5), _posts(40, 0.026, seed=6)
    lazy = stats.compare_ratios(a, b, seed=3, reps=500)
    started = stats.compare_ratios(a, b, seed=3, reps=500)
    with ThreadPoolExecutor(max_workers=1) as pool:
        started.start(pool)
        assert started.p_value == lazy.p_value
    assert 0.0 < lazy.p_value <= 1.0


def test_compensated_sums_are_pandas_grouped_sums() -> None:
    # pandas' grouped sum compensates rounding (Kahan): a plain running sum of 1e16, 1, 1 stays
    # at 1e16; the leaderboards' sums must be pandas' to the last bit.
    import pandas as pd

    from reports.aggregates import compensated_sums

    values = np.array([1e16, 1.0, 1.0, 0.1, 0.2, 0.3, np.nan])
    codes = np.array([0, 0, 0, 1, 1, 1, 1])
    sums = compensated_sums(codes, 3, {"v": values})["v"]
    assert sums[0] == 1e16 + 2.0 != np.bincount(codes, weights=np.nan_to_num(values))[0]
    expected = pd.Series(values).groupby(codes).sum()
    assert sums[:2].tolist() == expected.tolist()
    assert sums[2] == 0.0  # a group without rows


def test_a_comparisons_seed_key_from_its_collapsed_clusters_is_the_clusters_own() -> None:
    """compare_ratios seeds its permutations by the clusters' key, taken from the distinct
    clusters it collapsed: the same key as `_clusters_key` of the clusters themselves."""
    from reports.stats import _clusters_key, _collapsed, _key_of

    rng = np.random.default_rng(4)
    ids = rng.integers(0, 10**12, 300)
    for clusters in (ids, ids.astype(np.int32), ids.tolist(), ids[:1], ids.astype(np.uint64)):
        values = np.ones(len(clusters))
        _num, _den, distinct = _collapsed(values, values, clusters)
        assert _key_of(clusters, distinct) == _clusters_key(clusters)
