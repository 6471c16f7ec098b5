"""Unknown is not zero, for each engagement counter (issue 10, class 2): a post whose snapshot
lacks one counter its platform gives (X's quote_count, Mastodon's replies) has unknown
engagements — left out of every rate's numerator and denominator, of the values at a fixed
age and of the half-life, and counted — never summed as if the missing counter were 0; a
counter that is 0 is 0; a counter the platform does not give (Telegram: likes only) is n/a and
not part of its engagements. An earlier snapshot lacking a counter the latest one has is
unknown too: never a fixed-age value's end, nor the half-life's crossing or the snapshot
before it. Every expected figure is plain arithmetic here (docs/metrics.md), never the
report's code; each test runs on SQLite and on PostgreSQL (the two-backend ``engine``).

Campaign ``pc``, one audience (Berlin) reached by every channel; followers sampled 03-25:
x 5000, m 800, t 3000. Published 2027-04-01 09:00 UTC (+ minutes), report time 05-01 12:00.
X counters: impressions / likes / reposts / replies / quotes; Mastodon: likes / reposts /
replies / quotes; Telegram: likes.

====  =====================================================================================
 xa   24 h 400/8/2/1/0 · 168 h 900/18/4/2/1 · 240 h 1000/20/4/2/1           (complete)
 xb   24 h 300/4/1/0/0 · 240 h 800/10/3/1/NULL        (quote count missing at the end)
 xc   24 h 300/3/1/0/0 · 168 h 500/5/1/0/0 · 240 h 500/5/1/0/0            (quotes 0)
 xd   24 h 200/2/0/0/0 · 100 h 300/6/2/0/NULL · 200 h 600/10/2/1/1
      (complete at the end; the 100 h snapshot lacks quotes)
 ma   24 h 4/1/0/0 · 200 h 10/2/1/1
 mb   24 h 2/0/0/0 · 200 h 5/1/NULL/0                  (replies missing at the end)
 ta   24 h 10 · 168 h 25 · 300 h 30
====  =====================================================================================
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction as F
from statistics import mean, median
from typing import Any

import numpy as np
import pytest

from tests.reports.awkward import one

AS_OF = datetime(2027, 5, 1, 12, 0, tzinfo=UTC)
T0 = datetime(2027, 4, 1, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)
M = timedelta(minutes=1)
LABEL = "Partners · pc"


def _build(engine: Any) -> dict[str, int]:
    from reports.synthetic import Builder

    with engine.begin() as conn:
        b = Builder(conn, now=datetime(2027, 3, 1, tzinfo=UTC))
        b.campaign("pc", title="Partial counters", country="DE")
        x = b.channel("pc-x", "x")
        m = b.channel("pc-m", "mastodon")
        t = b.channel("pc-t", "telegram")
        aud = b.audience("pc", "partners", name="Partners", channels=[x, m, t])
        d: dict[str, int] = {}
        for i, (key, channel) in enumerate(
            (("xa", x), ("xb", x), ("xc", x), ("xd", x), ("ma", m), ("mb", m), ("ta", t))
        ):
            post = b.post("pc", audiences=[aud], key=key.upper())
            d[key] = b.delivery(post, channel, due_at=T0 + i * M)

        def xs(key: str, hours: float, *values: int | None) -> None:
            imp, lk, rp, rl, qt = values
            at = T0 + list(d).index(key) * M + hours * H
            b.snapshot(
                d[key],
                at,
                impressions=imp,
                likes=lk,
                reposts=rp,
                replies=rl,
                quotes=qt,
                followers=5000,
            )

        def ms(key: str, hours: float, lk: int, rp: int, rl: int | None, qt: int) -> None:
            at = T0 + list(d).index(key) * M + hours * H
            b.snapshot(d[key], at, likes=lk, reposts=rp, replies=rl, quotes=qt, followers=800)

        xs("xa", 24, 400, 8, 2, 1, 0)
        xs("xa", 168, 900, 18, 4, 2, 1)
        xs("xa", 240, 1000, 20, 4, 2, 1)
        xs("xb", 24, 300, 4, 1, 0, 0)
        xs("xb", 240, 800, 10, 3, 1, None)
        xs("xc", 24, 300, 3, 1, 0, 0)
        xs("xc", 168, 500, 5, 1, 0, 0)
        xs("xc", 240, 500, 5, 1, 0, 0)
        xs("xd", 24, 200, 2, 0, 0, 0)
        xs("xd", 100, 300, 6, 2, 0, None)
        xs("xd", 200, 600, 10, 2, 1, 1)
        ms("ma", 24, 4, 1, 0, 0)
        ms("ma", 200, 10, 2, 1, 1)
        ms("mb", 24, 2, 0, 0, 0)
        ms("mb", 200, 5, 1, None, 0)
        for hours, likes in ((24, 10), (168, 25), (300, 30)):
            b.snapshot(d["ta"], T0 + 6 * M + hours * H, likes=likes, followers=3000)
        march25 = datetime(2027, 3, 25, tzinfo=UTC)
        b.followers(x, march25, 5000)
        b.followers(m, march25, 800)
        b.followers(t, march25, 3000)
    return d


@pytest.fixture
def report(engine: Any) -> Any:
    from reports.data import Scope, load
    from reports.figures import build_report

    _build(engine)
    return build_report(load(engine, Scope(as_of=AS_OF)), generated_at=AS_OF)


# Engagements at the last snapshot: xb and mb lack a counter their platform gives.
ENG = {"xa": 20 + 4 + 2 + 1, "xc": 5 + 1 + 0 + 0, "xd": 10 + 2 + 1 + 1, "ma": 10 + 2 + 1 + 1}
ENG["ta"] = 30  # Telegram gives likes only
IMPRESSIONS = {"xa": 1000, "xc": 500, "xd": 600}
FOLLOWERS = {"ma": 800, "ta": 3000}


def test_a_partly_missing_counter_leaves_the_post_out_of_both_rates(report: Any) -> None:
    campaign = one(report.table("campaigns"), campaign_id="pc")
    assert campaign["engagements"] == sum(ENG.values()) == 91
    assert campaign["posts_with_engagements"] == 5
    assert campaign["er_impr"] == pytest.approx(F(27 + 6 + 14, 1000 + 500 + 600))
    assert campaign["er_impr_posts"] == 3
    assert campaign["er_impr_mean"] == pytest.approx(mean([27 / 1000, 6 / 500, 14 / 600]))
    assert campaign["er_foll"] == pytest.approx(F(14 + 30, 800 + 3000))
    assert campaign["er_foll_posts"] == 2
    row = one(report.table("audience_engagement"), audience_label=LABEL)
    assert row["er_impr"] == pytest.approx(F(47, 2100)) and row["er_impr_posts"] == 3
    assert row["er_foll"] == pytest.approx(F(44, 3800)) and row["er_foll_posts"] == 2
    ladder = one(report.table("amec"), audience_label=LABEL)
    for key in ("er_impr", "er_impr_posts", "er_foll", "er_foll_posts"):
        assert ladder[key] == pytest.approx(row[key]), key
    quality = report.table("data_quality")
    assert one(quality, check="Posts whose engagements are unknown")["count"] == 2  # xb, mb
    assert one(quality, check="Posts whose exposure is unknown")["count"] == 0
    posts = report.table("posts").frame.set_index("post_key")
    for key in ("XB", "MB"):
        assert np.isnan(posts.loc[key, "eng"]) and not posts.loc[key, "rated"]
    assert posts.loc["XC", "eng"] == 6 and posts.loc["TA", "eng"] == 30


def test_per_counter_figures_use_the_posts_whose_counters_are_known(report: Any) -> None:
    row = one(report.table("audience_engagement"), audience_label=LABEL)
    # Amplification = reposts + quotes: xb's quotes are missing; Telegram gives neither (n/a).
    amplification = {"xa": 4 + 1, "xc": 1 + 0, "xd": 2 + 1, "ma": 2 + 1, "mb": 1 + 0}
    assert row["amplification_posts"] == 5
    assert row["amplification_mean"] == pytest.approx(mean(amplification.values()))
    assert row["amplification_median"] == pytest.approx(median(amplification.values()))
    # Conversation = replies (none of ours): mb's replies are missing; Telegram gives none.
    conversation = {"xa": 2, "xb": 1, "xc": 0, "xd": 1, "ma": 1}
    assert row["conversation_posts"] == 5
    assert row["conversation_mean"] == pytest.approx(mean(conversation.values()))
    applause = [20, 10, 5, 10, 10, 5, 30]  # likes: every post gives them
    assert row["applause_posts"] == 7 and row["applause_mean"] == pytest.approx(mean(applause))


def test_values_at_7_days_need_every_counter_in_both_snapshots(report: Any) -> None:
    campaign = one(report.table("campaigns"), campaign_id="pc")
    # xa and xc have a snapshot at exactly 168 h; xd's snapshot before 168 h lacks quotes, so
    # its value at 7 days is unknown (counted as missing), as are xb's and mb's.
    assert campaign["er_impr_7d"] == pytest.approx(F(25 + 6, 900 + 500))
    assert campaign["er_impr_7d_posts"] == 2
    ma_7d = F(5) + F(168 - 24, 200 - 24) * (14 - 5)
    assert campaign["er_foll_7d"] == pytest.approx((ma_7d + 25) / (800 + 3000))
    assert campaign["er_foll_7d_posts"] == 2
    fixed = one(report.table("fixed_age"), audience_label=LABEL, basis="by impressions", age="7d")
    # Missing: xd, rated but unknown at 7 d (xb, not rated, is among the posts whose
    # engagements are unknown).
    assert (fixed["posts"], fixed["missing"]) == (2, 1)


def test_the_half_life_skips_snapshots_lacking_a_counter(report: Any) -> None:
    row = one(report.table("half_life"), platform="x")
    hours = [
        24 + (F(27, 2) - 11) / (25 - 11) * (168 - 24),  # xa: 27 → 13.5
        F(3, 4) * 24,  # xc: 6 → 3, from zero to 4 at 24 h
        # xd: 14 → 7; the 100 h snapshot (6+2+0, quotes missing) is neither the crossing
        # nor the one before it: from 2 at 24 h to 14 at 200 h.
        24 + (F(7) - 2) / (14 - 2) * (200 - 24),
    ]  # xb: its engagements are unknown
    assert row["posts"] == 3
    assert row["median"] == pytest.approx(float(median(hours)))
    low, high = np.quantile([float(h) for h in hours], [0.25, 0.75])  # linear, as documented
    assert row["p25"] == pytest.approx(low)
    assert row["p75"] == pytest.approx(high)  # half-way from xa's 49.7 h to xd's 97.3 h


def _build_two_servers(engine: Any) -> None:
    """Campaign ``ms``: two Mastodon channels on servers of different versions. ``ms-new``
    sends quote counts (4.5 and later): NA 10/2/1/1, NB 6/1/0/NULL (its quotes missing);
    ``ms-old`` never does: OA 8/2/1/NULL, OB 4/0/0/NULL (likes/reposts/replies/quotes, one
    snapshot at 200 h). Followers: new 1000, old 500."""
    from reports.synthetic import Builder

    with engine.begin() as conn:
        b = Builder(conn, now=datetime(2027, 3, 1, tzinfo=UTC))
        b.campaign("ms", title="Two servers", country="DE")
        new = b.channel("ms-new", "mastodon")
        old = b.channel("ms-old", "mastodon")
        aud = b.audience("ms", "partners", name="Partners", channels=[new, old])
        rows = (
            ("NA", new, 1000, (10, 2, 1, 1)),
            ("NB", new, 1000, (6, 1, 0, None)),
            ("OA", old, 500, (8, 2, 1, None)),
            ("OB", old, 500, (4, 0, 0, None)),
        )
        for i, (key, channel, followers, (lk, rp, rl, qt)) in enumerate(rows):
            post = b.post("ms", audiences=[aud], key=key)
            delivery = b.delivery(post, channel, due_at=T0 + i * M)
            b.snapshot(
                delivery,
                T0 + i * M + 200 * H,
                likes=lk,
                reposts=rp,
                replies=rl,
                quotes=qt,
                followers=followers,
            )
        march25 = datetime(2027, 3, 25, tzinfo=UTC)
        b.followers(new, march25, 1000)
        b.followers(old, march25, 500)


def test_a_counter_one_server_gives_does_not_make_another_servers_posts_unknown(
    engine: Any,
) -> None:
    from reports.data import Scope, load
    from reports.figures import build_report

    _build_two_servers(engine)
    report = build_report(load(engine, Scope(as_of=AS_OF)), generated_at=AS_OF)
    campaign = one(report.table("campaigns"), campaign_id="ms")
    # NB lacks the quote count its own channel gives: unknown. The old server's channel gives
    # no quote count at all: OA and OB are likes + reposts + replies.
    eng = {"NA": 10 + 2 + 1 + 1, "OA": 8 + 2 + 1, "OB": 4 + 0 + 0}
    assert campaign["posts_with_engagements"] == 3
    assert campaign["engagements"] == sum(eng.values()) == 29
    assert campaign["er_foll"] == pytest.approx(F(29, 1000 + 500 + 500))
    assert campaign["er_foll_posts"] == 3
    quality = report.table("data_quality")
    assert one(quality, check="Posts whose engagements are unknown")["count"] == 1
    posts = report.table("posts").frame.set_index("post_key")
    assert np.isnan(posts.loc["NB", "eng"])
    assert posts.loc["OA", "eng"] == 11 and posts.loc["OB", "eng"] == 4
