"""Defect class 8: our own replies are not engagement. A thread continuation Elshi published
under its own post is counted by the platform in the parent's replies; the report subtracts
it from the moment it was published (docs/metrics.md, "Engagements")."""

from __future__ import annotations

from typing import Any

import pytest

from tests.reports.awkward import T0, D, H, building, one, report_of


@pytest.fixture
def thread(engine: Any) -> dict[str, int]:
    """On Bluesky (no impressions; 1,000 followers): post P and its continuation R, published
    10 minutes later on the same channel. Snapshots of P: at 1 h likes 4, reposts 1, replies 1
    (ours), quotes 0; at 8 d likes 10, reposts 2, replies 3, quotes 1. A second continuation
    R2 goes out after the report time. Another post Q on the channel has no thread."""
    with building(engine) as b:
        b.campaign("c")
        bsky = b.channel("bsky", "bluesky")
        everyone = b.audience("c", "all", name="All", channels=[bsky])
        parent = b.post("c", audiences=[everyone], key="P")
        reply = b.post("c", audiences=[everyone], key="R", reply_to=parent)
        later = b.post("c", audiences=[everyone], key="R2", reply_to=parent)
        other = b.post("c", audiences=[everyone], key="Q")
        p = b.delivery(parent, bsky, due_at=T0)
        r = b.delivery(reply, bsky, due_at=T0 + H / 6)
        b.delivery(later, bsky, due_at=T0 + 20 * D)
        q = b.delivery(other, bsky, due_at=T0 + 1 * H)
        b.snapshot(p, T0 + 1 * H, likes=4, reposts=1, replies=1, quotes=0, followers=1000)
        b.snapshot(p, T0 + 8 * D, likes=10, reposts=2, replies=3, quotes=1, followers=1000)
        b.snapshot(r, T0 + 8 * D, likes=2, reposts=0, replies=0, quotes=0, followers=1000)
        b.snapshot(q, T0 + 8 * D, likes=5, reposts=0, replies=1, quotes=0, followers=1000)
        b.followers(bsky, T0 - 1 * H, 1000)
    return {"P": p}


def test_our_own_reply_is_subtracted_from_replies_and_engagements(
    engine: Any, thread: dict[str, int]
) -> None:
    report = report_of(engine, T0 + 10 * D)
    posts = report.table("posts").frame.set_index("post_key")
    assert posts.loc["P", "replies"] == 3 - 1
    assert posts.loc["P", "own_replies"] == 1  # R2 was not published by the report time
    assert posts.loc["P", "eng"] == 10 + 2 + (3 - 1) + 1
    assert posts.loc["Q", "eng"] == 5 + 1  # no thread, nothing subtracted
    row = one(report.table("audience_engagement"), audience_label="All · c")
    assert row["er_foll"] == pytest.approx((15 + 2 + 6) / 3000)
    interactions = one(report.table("audience_interactions"), audience_label="All · c")
    assert interactions["conversation_mean"] == pytest.approx((2 + 0 + 1) / 3)


def test_the_value_at_a_fixed_age_subtracts_the_replies_published_by_then(
    engine: Any, thread: dict[str, int]
) -> None:
    posts = report_of(engine, T0 + 10 * D).table("posts").frame.set_index("post_key")
    # 24 h lies between the 1 h snapshot (eng 4+1+(1-1)+0 = 5) and the 8 d one (15).
    expected = 5 + (24 - 1) / (8 * 24 - 1) * (15 - 5)
    assert posts.loc["P", "rate_24h"] == pytest.approx(expected / 1000)


def test_the_data_quality_panel_counts_the_replies_subtracted(
    engine: Any, thread: dict[str, int]
) -> None:
    quality = report_of(engine, T0 + 10 * D).table("data_quality")
    assert one(quality, check="Our own thread replies subtracted")["count"] == 1
