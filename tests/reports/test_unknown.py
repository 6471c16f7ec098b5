"""Defect class 2: unknown is not zero. A post whose engagements are unknown leaves every
aggregate in its numerator *and* denominator, and every aggregate says how many posts it used;
so one audience shows one ER everywhere (engagement table, AMEC ladder, campaign, breakdowns)."""

from __future__ import annotations

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

AS_OF = T0 + 10 * D
LABEL = "All · c"


@pytest.fixture
def gaps(engine: Any) -> Any:
    """Three X posts in one audience:

    ====  ===========  =====  =======  =======  ======  ===========
    post  impressions  likes  reposts  replies  quotes  engagements
    ====  ===========  =====  =======  =======  ======  ===========
    a     1,000        12     4        2        2       20
    b     500          NULL   NULL     NULL     NULL    unknown
    c     800          0      0        0        0       0 (known zero)
    ====  ===========  =====  =======  =======  ======  ===========
    """
    with building(engine) as b:
        b.campaign("c")
        x = b.channel("x", "x")
        everyone = b.audience("c", "all", name="All", channels=[x])
        counters = {
            "a": {"impressions": 1000, "likes": 12, "reposts": 4, "replies": 2, "quotes": 2},
            "b": {"impressions": 500},
            "c": {"impressions": 800, "likes": 0, "reposts": 0, "replies": 0, "quotes": 0},
        }
        for i, (key, values) in enumerate(counters.items()):
            post = b.post("c", audiences=[everyone], key=key, narrative="n1")
            delivery = b.delivery(post, x, due_at=T0 + i * H)
            b.snapshot(delivery, T0 + i * H + 8 * D, followers=10_000, **values)
    return engine


def test_a_post_with_unknown_engagements_leaves_numerator_and_denominator(gaps: Any) -> None:
    report = report_of(gaps, AS_OF)
    row = one(report.table("audience_engagement"), audience_label=LABEL)
    assert row["er_impr"] == pytest.approx((20 + 0) / (1000 + 800))
    assert row["er_impr_posts"] == 2
    assert row["er_impr_mean"] == pytest.approx((0.02 + 0.0) / 2)
    assert row["engagements"] == 20 and row["posts_with_engagements"] == 2
    assert row["impressions"] == 2300  # reach is known for all three
    assert row["posts_with_impressions"] == 3


def test_the_amec_ladder_shows_the_same_rate_as_the_engagement_table(gaps: Any) -> None:
    report = report_of(gaps, AS_OF)
    ladder = one(report.table("amec"), audience_label=LABEL)
    assert ladder["er_impr"] == pytest.approx(20 / 1800)
    assert ladder["er_impr_posts"] == 2
    campaign = one(report.table("campaigns"), campaign_id="c")
    assert campaign["er_impr"] == pytest.approx(20 / 1800)
    narrative = one(report.table("by_narrative"), audience_label=LABEL, narrative="n1")
    assert narrative["er_impr"] == pytest.approx(20 / 1800)


def test_means_of_counters_use_the_posts_that_give_them_and_say_how_many(gaps: Any) -> None:
    row = one(report_of(gaps, AS_OF).table("audience_interactions"), audience_label=LABEL)
    assert row["amplification_mean"] == pytest.approx((6 + 0) / 2)
    assert row["amplification_posts"] == 2
    assert row["applause_mean"] == pytest.approx(6.0) and row["applause_posts"] == 2


def test_the_data_quality_panel_counts_posts_with_unknown_engagements(gaps: Any) -> None:
    quality = report_of(gaps, AS_OF).table("data_quality")
    assert one(quality, check="Posts whose engagements are unknown")["count"] == 1
    posts = report_of(gaps, AS_OF).table("posts").frame.set_index("post_key")
    assert np.isnan(posts.loc["b", "eng"]) and np.isnan(posts.loc["b", "er_impr"])
