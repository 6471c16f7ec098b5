"""Defect class 1: the basis of a rate follows whether the platform *gives* impressions (the
counter is there, even 0, or NULL), never its value; the two bases are never mixed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


@pytest.fixture
def zero_impressions(engine: Any) -> Any:
    """X gives impressions; one X post reports 0 of them. Mastodon and Bluesky give none.

    =====  =========  ===========  ===========  =========
    post   platform   impressions  engagements  followers
    =====  =========  ===========  ===========  =========
    x0     x          0            0            10,000
    x1     x          1,000        30 (20+5+3+2) 10,000
    m1     mastodon   NULL         10 (7+2+1)   2,000
    b1     bluesky    NULL         6 (4+1+1+0)  500
    =====  =========  ===========  ===========  =========
    """
    with building(engine) as b:
        b.campaign("c")
        x, m, bs = b.channel("x", "x"), b.channel("m", "mastodon"), b.channel("b", "bluesky")
        everyone = b.audience("c", "all", name="All", channels=[x, m, bs])
        rows = [
            ("x0", x, {"impressions": 0, "likes": 0, "reposts": 0, "replies": 0, "quotes": 0}),
            ("x1", x, {"impressions": 1000, "likes": 20, "reposts": 5, "replies": 3, "quotes": 2}),
            ("m1", m, {"likes": 7, "reposts": 2, "replies": 1}),
            ("b1", bs, {"likes": 4, "reposts": 1, "replies": 1, "quotes": 0}),
        ]
        followers = {x: 10_000, m: 2_000, bs: 500}
        for i, (key, channel, counters) in enumerate(rows):
            post = b.post("c", audiences=[everyone], key=key)
            delivery = b.delivery(post, channel, due_at=T0 + i * H)
            b.snapshot(delivery, T0 + i * H + 8 * D, followers=followers[channel], **counters)
        for channel, count in followers.items():
            b.followers(channel, T0 - 2 * H, count)
    return engine


def test_a_post_reporting_zero_impressions_stays_in_the_rate_by_impressions(
    zero_impressions: Any,
) -> None:
    report = report_of(zero_impressions, AS_OF)
    row = one(report.table("audience_engagement"), audience_label="All · c")
    assert row["er_impr"] == pytest.approx((0 + 30) / (0 + 1000))
    assert row["er_impr_posts"] == 2
    assert row["er_foll"] == pytest.approx((10 + 6) / (2000 + 500))  # no X post among them
    assert row["er_foll_posts"] == 2
    posts = report.table("posts").frame.set_index("post_key")
    assert posts.loc["x0", "basis"] == "impressions"
    assert np.isnan(posts.loc["x0", "er_impr"])  # 0/0 has no per-post rate...
    assert row["er_impr_rated"] == 1  # ...so the mean of posts uses x1 only
    assert row["er_impr_mean"] == pytest.approx(0.03)


def test_the_fixed_age_value_keeps_the_same_basis(zero_impressions: Any) -> None:
    report = report_of(zero_impressions, AS_OF)
    at_7d = one(
        report.table("fixed_age"), audience_label="All · c", basis="by impressions", age="7d"
    )
    assert at_7d["posts"] == 2  # x0 and x1, interpolated from publication to the 8 d snapshot
    assert at_7d["rate"] == pytest.approx(30 / 1000)


# --- the property: bases are never mixed -----------------------------------------------------

_post = st.fixed_dictionaries(
    {
        "platform": st.sampled_from(["x", "mastodon"]),
        "impressions": st.one_of(st.none(), st.integers(0, 5000)),
        "eng_parts": st.lists(st.one_of(st.none(), st.integers(0, 60)), min_size=4, max_size=4),
        "followers": st.one_of(st.none(), st.integers(0, 20_000)),
        "post": st.integers(0, 6),
    }
)


def _posts(draw: list[dict[str, Any]]) -> pd.DataFrame:
    from reports.data import Scope, StoreData
    from reports.posts import posts_frame

    rows = []
    for i, p in enumerate(draw):
        parts = p["eng_parts"]
        eng = None if all(v is None for v in parts) else sum(v or 0 for v in parts)
        published = pd.Timestamp(T0 + i * H)
        # Mastodon gives no impressions; an X post's may be missing from its snapshot.
        impressions = p["impressions"] if p["platform"] == "x" else None
        rows.append(
            {
                "delivery_id": i,
                "post_id": p["post"],
                "campaign_id": "c",
                "channel_id": 1 if p["platform"] == "x" else 2,
                "channel": p["platform"],
                "platform": p["platform"],
                "state": "published",
                "published_at": published,
                "due_at": published,
                "remote_deleted_at": pd.NaT,
                "deleted_snapshot": False,
                "simulated_snapshot": False,
                "snapshots": 1,
                "impressions": impressions,
                "likes": parts[0],
                "reposts": parts[1],
                "replies": parts[2],
                "quotes": parts[3],
                "link_clicks": None,
                "eng": eng,
                "followers_at_post": p["followers"],
                "variant": None,
                **{f"{k}_{a}": None for a in ("24h", "7d") for k in ("eng", "impressions")},
            }
        )
    deliveries = pd.DataFrame(rows)
    for column in ("impressions", "likes", "reposts", "replies", "quotes", "link_clicks", "eng"):
        deliveries[column] = deliveries[column].astype("float64")
    for column in ("followers_at_post", "eng_24h", "impressions_24h", "eng_7d", "impressions_7d"):
        deliveries[column] = deliveries[column].astype("float64")
    data = StoreData(
        scope=Scope(as_of=T0 + 30 * D),
        dialect="sqlite",
        campaigns=pd.DataFrame(),
        audiences=pd.DataFrame(),
        deliveries=deliveries,
        attribution=pd.DataFrame(),
        followers=pd.DataFrame(),
        outcomes=pd.DataFrame(),
    )
    return posts_frame(data)


@settings(max_examples=60, deadline=None)
@given(st.lists(_post, min_size=1, max_size=12))
def test_the_two_bases_are_never_mixed(draw: list[dict[str, Any]]) -> None:
    from reports.aggregates import arrays, engagement_row

    posts = _posts(draw)
    # Each platform's posts are in one basis: X's in the rate by impressions (its connector
    # collects them), an X post whose own count is missing in neither rate.
    for platform, bases in posts.groupby("platform")["basis"]:
        assert bases.nunique() == 1, (platform, set(bases))
    gives = posts["platform"] == "x"
    assert (posts.loc[gives, "basis"] == "impressions").all()
    assert (posts.loc[~gives, "basis"] == "followers").all()
    row = engagement_row(arrays(posts), np.arange(len(posts)))
    known = posts["eng"].notna()
    by_impr = gives & posts["impressions"].notna() & known
    by_foll = ~gives & known & (posts["followers_at_post"] > 0)
    assert row["er_impr_posts"] == int(by_impr.sum())
    assert row["er_foll_posts"] == int(by_foll.sum())
    impressions = posts.loc[by_impr, "impressions"].sum()
    if impressions > 0:
        assert row["er_impr"] == pytest.approx(posts.loc[by_impr, "eng"].sum() / impressions)
    else:
        assert np.isnan(row["er_impr"])
    followers = posts.loc[by_foll, "followers_at_post"].sum()
    if followers > 0:
        assert row["er_foll"] == pytest.approx(posts.loc[by_foll, "eng"].sum() / followers)
    else:
        assert np.isnan(row["er_foll"])


# --- which platforms give impressions --------------------------------------------------------


def test_the_report_knows_which_connectors_collect_impressions() -> None:
    """`reports.posts.COLLECTS_IMPRESSIONS` (reports may not import connectors) against every
    registered connector's capabilities and the sandbox's imitations of them."""
    from connectors.registry import PLATFORMS, connector_class
    from connectors.sandbox import MIMIC
    from reports.posts import COLLECTS_IMPRESSIONS

    platforms = set(PLATFORMS) - {"sandbox"}
    collecting = {p for p in platforms if "impressions" in connector_class(p).capabilities.metrics}
    assert collecting == COLLECTS_IMPRESSIONS
    assert {p for p, counters in MIMIC.items() if "impressions" in counters} == collecting


def test_a_scope_holding_only_posts_with_missing_impressions_keeps_their_basis(
    engine: Any,
) -> None:
    """A period whose only X post lacks impressions: X still gives them (its connector collects
    them), so the post is not rated by followers, whatever else is in scope."""
    with building(engine) as b:
        b.campaign("c")
        x = b.channel("x", "x")
        everyone = b.audience("c", "all", name="All", channels=[x])
        for i, impressions in enumerate((None, 1000)):
            post = b.post("c", audiences=[everyone], key=f"p{i}")
            delivery = b.delivery(post, x, due_at=T0 + i * D)
            b.snapshot(
                delivery,
                T0 + i * D + 8 * D,
                impressions=impressions,
                likes=5,
                reposts=0,
                replies=0,
                quotes=0,
                followers=10_000,
            )
        b.followers(x, T0 - D, 10_000)
    report = report_of(engine, AS_OF, until=T0 + 12 * H)  # p0 only
    posts = report.table("posts").frame.set_index("post_key")
    assert list(posts.index) == ["p0"]
    assert posts.loc["p0", "basis"] == "impressions" and not posts.loc["p0", "rated"]
    row = one(report.table("audience_engagement"), audience_label="All · c")
    assert (row["er_impr_posts"], row["er_foll_posts"]) == (0, 0)
