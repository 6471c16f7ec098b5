"""Three leftovers of issue 10's independent check, each on a small history whose figures are
worked out by hand from docs/metrics.md:

1. of two differing snapshots collected at one instant, the one stored last counts in every
   figure: the half-life's crossing and the snapshot before it, the snapshot just after a fixed
   age, and the first snapshot's follower count (on SQLite and PostgreSQL: the seeks are SQL);
2. a leaderboard group with posts on a platform without a fitted prior (fewer than 3 posts at
   7 days) still has a shrunk rate and an index: that part is pulled all the way to its
   platform's typical rate;
3. follower growth covers the period the report's header shows (from the first post's
   publication when no --since is given): from the accounts' size at its start.
"""

from __future__ import annotations

from fractions import Fraction as F
from typing import Any

import pytest

from tests.reports.awkward import T0, D, H, building, one, report_of


def test_of_two_snapshots_at_one_instant_every_seek_takes_the_one_stored_last(
    engine: Any,
) -> None:
    with building(engine) as b:
        b.campaign("dup")
        x, m = b.channel("dup-x", "x"), b.channel("dup-m", "mastodon")
        audience = b.audience("dup", "a", channels=[x, m])
        half = b.delivery(b.post("dup", audiences=[audience]), x, due_at=T0)
        fixed = b.delivery(b.post("dup", audiences=[audience]), x, due_at=T0 + H)
        first = b.delivery(b.post("dup", audiences=[audience]), m, due_at=T0 + 2 * H)

        def x_snap(d: int, at: Any, impressions: int, likes: int) -> None:
            b.snapshot(d, at, impressions=impressions, likes=likes, reposts=0, replies=0, quotes=0)

        # `half`: 24 h 10 · 100 h stored 30, then corrected to 15 · 200 h 40. Half of 40 is
        # first reached at 200 h (15 at 100 h is below 20): 100 + (20 − 15)/(40 − 15)·100 h.
        x_snap(half, T0 + 24 * H, 1000, 10)
        x_snap(half, T0 + 100 * H, 1000, 30)
        x_snap(half, T0 + 100 * H, 1000, 15)
        x_snap(half, T0 + 200 * H, 1000, 40)
        # `fixed`: 20 h 100/10 · 30 h stored 400/50, then corrected to 200/20 · 300 h.
        x_snap(fixed, T0 + H + 20 * H, 100, 10)
        x_snap(fixed, T0 + H + 30 * H, 400, 50)
        x_snap(fixed, T0 + H + 30 * H, 200, 20)
        x_snap(fixed, T0 + H + 300 * H, 300, 30)
        # `first` (Mastodon, no follower sample): its first snapshot's followers, stored twice.
        for followers in (100, 250):
            b.snapshot(first, T0 + 2 * H + 24 * H, likes=5, reposts=0, replies=0,
                       followers=followers)  # fmt: skip
    report = report_of(engine, T0 + 30 * D)
    x_half = one(report.table("half_life"), platform="x")
    # `fixed`'s last snapshot (300 h) is past 7 d too: at 24 h it is 10 + 0.4·(20 − 10) = 14.
    fixed_half = 20 + (F(15) - 10) / (20 - 10) * 10
    expected = sorted([100 + F(20 - 15, 40 - 15) * 100, fixed_half])
    assert x_half["posts"] == 2
    assert x_half["median"] == pytest.approx(float(sum(expected) / 2))
    posts = report.table("posts").frame.set_index("delivery_id")
    assert posts.loc[first, "followers_at_post"] == 250
    fixed_24h = one(
        report.table("fixed_age"), audience_label="a · dup", basis="by impressions", age="24h"
    )
    share = F(24 - 20, 30 - 20)
    eng = [10 + share * (20 - 10), F(10, 24) * 24]  # `half` from 10 at 24 h
    exposure = [100 + share * (200 - 100), 1000]
    assert fixed_24h["posts"] == 2
    assert fixed_24h["rate"] == pytest.approx(float(sum(eng) / sum(exposure)))


def test_a_leaderboard_group_on_a_platform_without_a_prior_is_shrunk_to_its_typical_rate(
    sqlite_url: str,
) -> None:
    from campaigns.store import make_engine, upgrade

    engine = make_engine(sqlite_url)
    upgrade(engine)
    with building(engine) as b:
        b.campaign("lb")
        x, bs = b.channel("lb-x", "x"), b.channel("lb-b", "bluesky")
        audience = b.audience("lb", "a", channels=[x, bs])
        x_values = {"gold": [(1000, 30), (1000, 20), (2000, 30)], "blue": [(1000, 10)]}
        deliveries = []
        for narrative, values in x_values.items():
            for i, (impressions, likes) in enumerate(values):
                d = b.delivery(
                    b.post("lb", audiences=[audience], narrative=narrative), x, due_at=T0 + i * H
                )
                deliveries.append(d)
                b.snapshot(d, T0 + i * H + 7 * D, impressions=impressions, likes=likes,
                           reposts=0, replies=0, quotes=0)  # fmt: skip
        # Bluesky: two posts at 7 days (too few for a fit), one of each narrative.
        b.followers(bs, T0 - D, 500)
        for i, (narrative, likes) in enumerate((("gold", 40), ("blue", 10))):
            d = b.delivery(b.post("lb", audiences=[audience], narrative=narrative), bs,
                           due_at=T0 + i * H)  # fmt: skip
            b.snapshot(d, T0 + i * H + 7 * D, likes=likes, reposts=0, replies=0, quotes=0)
    report = report_of(engine, T0 + 30 * D, options={"min_posts": 1})
    engine.dispose()
    board = report.table("leaderboard_narrative")
    # X at 7 days: k = 30, 20, 30, 10 over n = 1000, 1000, 2000, 1000; m = 90/5000.
    k, n = [30, 20, 30, 10], [1000, 1000, 2000, 1000]
    m = F(sum(k), sum(n))
    s2 = sum(ni * (F(ki, ni) - m) ** 2 for ki, ni in zip(k, n, strict=True)) / sum(n)
    tau2 = s2 - m * (1 - m) / (F(sum(n)) / 4)
    strength = m * (1 - m) / tau2 - 1
    assert tau2 > 0

    def shrunk(ki: int, ni: int) -> F:
        return (ki + m * strength) / (ni + strength)

    # Bluesky (by followers, 500 at posting): no prior; its typical rate is 50/1000, and each
    # group's Bluesky part is pulled all the way to it (index 1.00).
    typical = F(50, 1000)
    gold = one(board, narrative="gold", basis="by followers at posting")
    assert gold["shrunk"] == pytest.approx(float(typical))
    assert gold["index"] == pytest.approx(1.0)
    assert gold["raw"] == pytest.approx(40 / 500)
    assert gold["note"] == "" and gold["rank"] == 1
    gold_x = one(board, narrative="gold", basis="by impressions")
    assert gold_x["shrunk"] == pytest.approx(float(shrunk(80, 4000)))
    assert gold_x["index"] == pytest.approx(float(shrunk(80, 4000) / m))


def test_follower_growth_covers_the_period_the_header_shows(sqlite_url: str) -> None:
    from campaigns.store import make_engine, upgrade
    from reports.render_text import to_markdown

    engine = make_engine(sqlite_url)
    upgrade(engine)
    with building(engine) as b:
        b.campaign("fg")
        x = b.channel("fg-x", "x")
        audience = b.audience("fg", "a", channels=[x])
        d = b.delivery(b.post("fg", audiences=[audience]), x, due_at=T0 + 12 * H)
        b.snapshot(d, T0 + 36 * H, impressions=100, likes=1, reposts=0, replies=0, quotes=0)
        # Samples before the first post (not in the period), at and after it.
        for days, followers in ((-20, 1000), (0, 1500), (1, 1600), (11, 1900)):
            b.followers(x, T0 + days * D, followers)
    report = report_of(engine, T0 + 10 * D)
    engine.dispose()
    # The header's period: the first post's publication (T0 + 12 h) to the report time. The
    # accounts' size at its start is the last sample at or before it (T0: 1500, not the one
    # of 20 days before the campaign posted), growing to the last one in it (1600; the
    # sample after the report time is not known).
    assert report.period == (T0 + 12 * H, T0 + 10 * D)
    row = one(report.table("follower_growth"), channel="fg-x")
    assert (row["start"], row["end"], row["change"]) == (1500, 1600, 100)
    assert (row["from"], row["to"]) == (T0, T0 + D)
    assert "period 2027-05-03 20:00 UTC – 2027-05-13 08:00 UTC" in to_markdown(report)


def test_two_audiences_of_one_name_are_two_rows_and_no_post_counts_twice(engine: Any) -> None:
    with building(engine) as b:
        b.campaign("dn")
        x = b.channel("dn-x", "x")
        de = b.audience("dn", "de-students", name="Students", channels=[x])
        cn = b.audience(
            "dn", "cn-students", name="Students", channels=[x], timezone="Asia/Shanghai"
        )
        b.audience("dn", "press", name="Press", channels=[x])
        both = b.delivery(b.post("dn", audiences=[de, cn]), x, due_at=T0)
        only = b.delivery(b.post("dn", audiences=[de]), x, due_at=T0 + H)
        for d, likes in ((both, 10), (only, 30)):
            b.snapshot(d, T0 + 8 * D, impressions=1000, likes=likes, reposts=0, replies=0,
                       quotes=0)  # fmt: skip
    report = report_of(engine, T0 + 30 * D)
    volume = report.table("audience_volume")
    # Each audience its own row (named with its key, as their names are the same): the post
    # reaching both counts once in each, never twice in one "Students" row of 3 posts.
    assert one(volume, audience_label="Students (de-students) · dn")["published"] == 2
    assert one(volume, audience_label="Students (cn-students) · dn")["published"] == 1
    assert one(volume, audience_label="Press · dn")["published"] == 0
    engagement = report.table("audience_engagement")
    assert one(engagement, audience_label="Students (de-students) · dn")["er_impr"] == (
        pytest.approx(40 / 2000)
    )
    assert one(engagement, audience_label="Students (cn-students) · dn")["er_impr"] == (
        pytest.approx(10 / 1000)
    )
    titles = sorted(card.title for card in report.cards)
    assert titles == ["Students (cn-students)", "Students (de-students)"]


def test_of_two_follower_samples_at_one_instant_the_one_stored_last_counts(engine: Any) -> None:
    with building(engine) as b:
        b.campaign("fs")
        m = b.channel("fs-m", "mastodon")
        audience = b.audience("fs", "a", channels=[m])
        early = b.delivery(b.post("fs", audiences=[audience]), m, due_at=T0 - 2 * H)
        later = b.delivery(b.post("fs", audiences=[audience]), m, due_at=T0)
        for d in (early, later):
            b.snapshot(d, T0 + 8 * D, likes=9, reposts=0, replies=0)
        for when, first, corrected in ((T0 - H, 400, 450), (T0 + 5 * D, 500, 520)):
            b.followers(m, when, first)
            b.followers(m, when, corrected)
    report = report_of(engine, T0 + 30 * D)
    posts = report.table("posts").frame.set_index("delivery_id")
    # `early` has no sample before it: the first after it (T0 - 1 h), as stored last; `later`
    # the last at or before it, the same sample.
    assert posts.loc[early, "followers_at_post"] == 450
    assert posts.loc[later, "followers_at_post"] == 450
    growth = one(report.table("follower_growth"), channel="fs-m")
    assert (growth["start"], growth["end"], growth["change"]) == (450, 520, 70)
