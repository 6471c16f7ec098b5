"""Defect class 7: intervals that cover. A simulation measures the coverage of the report's 95%
interval of a ratio of sums on a known generator (10 posts of lognormal size with lognormal
rates and Poisson counts, seeded); below 5 messages there is no interval but a "too few posts"
note; a group's interval is the same in every table."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from tests.reports.awkward import (
    T0,
    D,
    H,
    building,
    one,
    report_of,
    sqlite_engine,  # noqa: F401  (SQLite only)
)

TRUE_RATE = 0.02


def _coverage(size_sigma: float, rate_sigma: float, posts: int, runs: int, seed: int) -> float:
    """Share of simulated campaigns whose interval contains the true ratio E[y] / E[x] (the
    rate factor has mean 1 and is independent of the size, so the true ratio is TRUE_RATE)."""
    from reports import stats

    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(runs):
        impressions = np.round(2000 * rng.lognormal(0.0, size_sigma, posts)) + 1
        rates = TRUE_RATE * rng.lognormal(-(rate_sigma**2) / 2, rate_sigma, posts)
        engagements = rng.poisson(impressions * rates).astype(float)
        low, high = stats.ratio_interval(engagements, impressions, np.arange(posts))
        hits += bool(low <= TRUE_RATE <= high)
    return hits / runs


@pytest.mark.parametrize(("size_sigma", "rate_sigma"), [(0.8, 0.5), (1.0, 0.6)])
def test_the_interval_covers_at_least_93_percent_at_10_posts(
    size_sigma: float, rate_sigma: float
) -> None:
    # A percentile cluster bootstrap covers 85-86% on these generators.
    assert _coverage(size_sigma, rate_sigma, posts=10, runs=2000, seed=20270321) >= 0.93


def test_the_interval_still_covers_at_30_posts() -> None:
    assert _coverage(0.8, 0.5, posts=30, runs=1000, seed=7) >= 0.93


@pytest.fixture
def small_and_large(engine: Any) -> Any:
    """Audience "Few": 4 messages (one of them on two channels); audience "Many": 8 messages.
    Every post is 10 days old with a snapshot at exactly 7 days."""
    with building(engine) as b:
        b.campaign("c")
        x1, x2 = b.channel("x1", "x"), b.channel("x2", "x")
        few = b.audience("c", "few", name="Few", channels=[x1, x2])
        many = b.audience("c", "many", name="Many", channels=[x1])
        plan = [(few, [x1, x2])] + [(few, [x1])] * 3 + [(many, [x1])] * 8
        for i, (audience, channels) in enumerate(plan):
            post = b.post("c", audiences=[audience], key=f"p{i}")
            for channel in channels:
                at = T0 + i * H
                delivery = b.delivery(post, channel, due_at=at)
                b.snapshot(
                    delivery,
                    at + 7 * D,
                    impressions=1000 + 100 * i,
                    likes=10 + i,
                    reposts=1,
                    replies=0,
                    quotes=0,
                    followers=5000,
                )
    return engine


def test_fewer_than_five_messages_show_the_figure_without_an_interval(
    small_and_large: Any,
) -> None:
    from reports.render_html import render

    report = report_of(small_and_large, T0 + 10 * D)
    few = one(report.table("audience_engagement"), audience_label="Few · c")
    assert few["er_impr_posts"] == 5 and few["er_impr_messages"] == 4
    assert math.isnan(few["er_impr_low"]) and few["er_impr"] > 0
    card = next(c for c in report.cards if c.title == "Few")
    rate = next(f for f in card.figures if f.label == "Engagement rate by impressions")
    assert rate.low is None and "too few posts for an interval" in rate.note
    assert "too few posts for an interval" in render(report)


def test_a_group_shows_the_same_interval_in_every_table(small_and_large: Any) -> None:
    report = report_of(small_and_large, T0 + 10 * D)
    engagement = one(report.table("audience_engagement"), audience_label="Many · c")
    at_7d = one(
        report.table("fixed_age"), audience_label="Many · c", basis="by impressions", age="7d"
    )
    assert (at_7d["rate_low"], at_7d["rate_high"]) == (
        engagement["er_impr_7d_low"],
        engagement["er_impr_7d_high"],
    )
    narrative = one(report.table("by_narrative"), audience_label="Many · c")
    assert (narrative["er_impr_low"], narrative["er_impr_high"]) == (
        engagement["er_impr_low"],
        engagement["er_impr_high"],
    )
    card = next(c for c in report.cards if c.title == "Many")
    rate = next(f for f in card.figures if f.label == "Engagement rate by impressions")
    assert (rate.low, rate.high) == (engagement["er_impr_low"], engagement["er_impr_high"])
    again = report_of(small_and_large, T0 + 10 * D)
    assert (
        one(again.table("audience_engagement"), audience_label="Many · c")["er_impr_low"]
        == (engagement["er_impr_low"])
    )
