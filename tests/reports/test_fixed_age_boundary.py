"""Defect class 9: a snapshot taken at exactly 7 days (as the rehearsal and the collection
schedule take them) is the value at 7 days, not "missing"."""

from __future__ import annotations

from typing import Any

import pytest

from tests.reports.awkward import T0, D, H, building, one, report_of


@pytest.fixture
def on_the_dot(engine: Any) -> Any:
    """Two X posts, each with snapshots at 24 h and at exactly 7 d, nothing later; the second
    was published at 10:17:23.456789 (odd microseconds must not move the boundary)."""
    with building(engine) as b:
        b.campaign("c")
        x = b.channel("x", "x")
        everyone = b.audience("c", "all", name="All", channels=[x])
        for i, published in enumerate((T0, T0 + 2 * H + 17 * 60 * H / 3600 + 23.456789 * H / 3600)):
            post = b.post("c", audiences=[everyone], key=f"p{i}")
            delivery = b.delivery(post, x, due_at=published)
            b.snapshot(
                delivery,
                published + 1 * D,
                impressions=600,
                likes=9,
                reposts=1,
                replies=0,
                quotes=0,
                followers=5000,
            )
            b.snapshot(
                delivery,
                published + 7 * D,
                impressions=1000 + i,
                likes=18,
                reposts=2,
                replies=0,
                quotes=0,
                followers=5000,
            )
    return engine


def test_a_snapshot_at_exactly_seven_days_is_the_value_at_seven_days(on_the_dot: Any) -> None:
    report = report_of(on_the_dot, T0 + 9 * D)
    posts = report.table("posts").frame.set_index("post_key")
    assert posts.loc["p0", "rate_7d"] == pytest.approx(20 / 1000)
    assert posts.loc["p1", "rate_7d"] == pytest.approx(20 / 1001)
    at_7d = one(
        report.table("fixed_age"), audience_label="All · c", basis="by impressions", age="7d"
    )
    assert (at_7d["posts"], at_7d["missing"]) == (2, 0)
    quality = report.table("data_quality")
    assert one(quality, check="Posts older than 7d with no snapshot at or after 7d")["count"] == 0
