"""The reviewer's check of issue 10 on a history of our own (`tests.reports.reviewed`): every
expected figure below is worked out by hand from docs/metrics.md with plain arithmetic
(fractions where the division matters), never by calling the report's code. Each test runs
on SQLite and on PostgreSQL (the two-backend ``engine`` fixture)."""

from __future__ import annotations

import json
import math
from fractions import Fraction as F
from pathlib import Path
from statistics import mean, median
from typing import Any

import numpy as np
import pytest

from tests.cli.conftest import Run
from tests.reports.awkward import one
from tests.reports.reviewed import (
    AS_OF,
    DE,
    DE_LABEL,
    IMITATES,
    SYD,
    SYD_LABEL,
    build,
    build_known,
)


def _report(engine: Any) -> Any:
    from reports.data import Scope, load
    from reports.figures import Options, build_report

    data = load(engine, Scope(as_of=AS_OF))
    return build_report(data, generated_at=AS_OF, options=Options(imitates=IMITATES))


@pytest.fixture
def report(engine: Any) -> Any:
    build(engine)
    return _report(engine)


# Engagements (likes + reposts + (replies − ours) + quotes) at the last snapshot by AS_OF.
ENG = {
    "x1": 25 + 5 + 3 + 1,  # the snapshot after AS_OF is not known
    "m1": 8 + 2 + (3 - 1) + 1,  # one of its 3 replies is our own thread reply mr
    "mr": 1,
    "t1": 66,  # Telegram gives likes only
    "x2": 0,
    "x3": 6 + 1,
    "x4a": 5 + 1,
    "x4b": 9 + 1 + 1 + 1,
    "m6": 6 + 1,  # deleted only after AS_OF
    "t7": 5,
    "s8": 20 + 3 + 2 + 1,
    "t12": 40,
}
IMPRESSIONS = {"x1": 2500, "x2": 0, "x4a": 500, "x4b": 600}  # x3: NULL (unknown)
FOLLOWERS_AT_POST = {"m1": 800, "mr": 800, "m6": 800, "t1": 3000, "t7": 3100, "s8": 1000}
FOLLOWERS_AT_POST["t12"] = 3060  # the 04-05 sample, the last before 04-08 23:00

# Values at 7 days (168 h): a snapshot at exactly 168 h is the value; otherwise linear
# interpolation, from zero at publication when the first snapshot is later.
ENG_7D = {
    "x1": F(27),
    "x4a": F(4),
    "x4b": F(12),
    "x2": F(0),
    "m1": F(5) + F(168 - 24, 200 - 24) * (13 - 5),  # 24 h: 4+1+(1−1)+0 = 5; 200 h: 13
    "mr": F(1) * F(168, 200),
    "m6": F(2) + F(168 - 24, 192 - 24) * (7 - 2),
    "t1": F(60),
    "s8": F(13) + F(168 - 24, 169 - 24) * (26 - 13),
    "t12": F(40),
}
IMPRESSIONS_7D = {"x1": 2000, "x4a": 400, "x4b": 600, "x2": 0}
BY_FOLLOWERS_7D = ("m1", "mr", "m6", "t1", "s8", "t12")  # t7 is younger than 7 days


def test_volumes_count_what_was_known_at_the_report_time(report: Any) -> None:
    campaign = one(report.table("campaigns"), campaign_id="au")
    # x1 m1 mr t1 x2 x3 x4a x4b x5 m6 t7 s8 t12; x10 was published after AS_OF, x11 created
    # after it.
    assert campaign["published"] == 13
    assert (campaign["missed"], campaign["failed"], campaign["waiting"]) == (1, 1, 1)
    assert campaign["deleted_after"] == 1  # x5; m6's deletion came after AS_OF
    assert campaign["published_share"] == pytest.approx(13 / 15)
    de = one(report.table("audience_volume"), audience_label=DE_LABEL)
    assert (de["published"], de["missed"], de["failed"]) == (8, 1, 1)
    syd = one(report.table("audience_volume"), audience_label=SYD_LABEL)
    assert (syd["published"], syd["waiting"]) == (6, 1)


def test_reach_and_rates_keep_each_basis_and_leave_unknowns_out(report: Any) -> None:
    campaign = one(report.table("campaigns"), campaign_id="au")
    assert campaign["posts"] == 12 and campaign["messages"] == 9  # each delivery once
    assert campaign["impressions"] == sum(IMPRESSIONS.values())
    assert campaign["posts_with_impressions"] == 4
    assert campaign["engagements"] == sum(ENG.values())
    assert campaign["posts_with_engagements"] == 12
    # By impressions: X only; x2's 0 impressions add 0; x3's missing impressions leave it out.
    impr = ("x1", "x2", "x4a", "x4b")
    assert campaign["er_impr"] == pytest.approx(
        sum(ENG[k] for k in impr) / sum(IMPRESSIONS[k] for k in impr)
    )
    assert (campaign["er_impr_posts"], campaign["er_impr_messages"]) == (4, 3)
    rates = [ENG[k] / IMPRESSIONS[k] for k in ("x1", "x4a", "x4b")]  # x2 has no rate of its own
    assert campaign["er_impr_mean"] == pytest.approx(mean(rates))
    assert campaign["er_impr_median"] == pytest.approx(median(rates))
    # By followers: Mastodon, Telegram and the sandbox imitating Bluesky; never an X post.
    foll = FOLLOWERS_AT_POST
    assert campaign["er_foll"] == pytest.approx(sum(ENG[k] for k in foll) / sum(foll.values()))
    assert (campaign["er_foll_posts"], campaign["er_foll_messages"]) == (7, 6)
    assert campaign["er_foll_mean"] == pytest.approx(mean(ENG[k] / foll[k] for k in foll))
    syd = one(report.table("audience_engagement"), audience_label=SYD_LABEL)
    assert syd["er_foll"] == pytest.approx((66 + 5 + 40) / (3000 + 3100 + 3060))
    assert syd["er_foll_posts"] == 3
    assert syd["er_impr"] == pytest.approx((34 + 0) / (2500 + 0))
    assert syd["er_impr_posts"] == 2
    de = one(report.table("audience_engagement"), audience_label=DE_LABEL)
    assert de["er_impr"] == pytest.approx((34 + 6 + 12) / (2500 + 500 + 600))
    assert de["er_foll"] == pytest.approx((13 + 1 + 7 + 26) / (800 + 800 + 800 + 1000))
    assert de["conversation_mean"] == pytest.approx((3 + 2 + 0 + 0 + 1 + 0 + 2) / 7)
    # The AMEC ladder shows the engagement table's rates, with the same n.
    for label, row in ((SYD_LABEL, syd), (DE_LABEL, de)):
        ladder = one(report.table("amec"), audience_label=label)
        for key in ("er_impr", "er_impr_posts", "er_foll", "er_foll_posts"):
            assert ladder[key] == pytest.approx(row[key]), (label, key)
    posts = report.table("posts").frame.set_index("post_key")
    x3 = posts[posts["channel"] == "rv-x"].loc["P3"]
    assert x3["basis"] == "impressions"  # X gives impressions; this post's are unknown
    assert np.isnan(x3["er_impr"]) and np.isnan(x3["er_foll"]) and not x3["rated"]


def test_the_rate_by_followers_never_takes_a_post_of_a_platform_giving_impressions(
    report: Any,
) -> None:
    posts = report.table("posts").frame
    for frame, basis in ((posts, "followers"), (posts, "impressions")):
        platforms = set(frame.loc[frame["basis"] == basis, "platform_label"])
        other = set(frame.loc[(frame["basis"] != basis) & (frame["basis"] != ""), "platform_label"])
        assert not platforms & other, (basis, platforms, other)
    sentences = " ".join(report.summary.sentences)
    assert "by followers at posting (mastodon, sandbox imitating bluesky, telegram):" in sentences


def test_values_at_7_days_include_the_boundary_and_leave_the_young_out(report: Any) -> None:
    campaign = one(report.table("campaigns"), campaign_id="au")
    impr = list(IMPRESSIONS_7D)
    assert campaign["er_impr_7d"] == pytest.approx(
        float(sum(ENG_7D[k] for k in impr) / sum(IMPRESSIONS_7D[k] for k in impr))
    )
    assert (campaign["er_impr_7d_posts"], campaign["er_impr_7d_missing"]) == (4, 0)
    foll_7d = sum(ENG_7D[k] for k in BY_FOLLOWERS_7D) / sum(
        FOLLOWERS_AT_POST[k] for k in BY_FOLLOWERS_7D
    )
    assert campaign["er_foll_7d"] == pytest.approx(float(foll_7d))
    assert campaign["er_foll_7d_posts"] == 6 and campaign["er_foll_7d_young"] == 1
    # Fieller's interval over the five messages (P1 = m1 + t1, R, P6, P8, P12) with t(4).
    y = [
        ENG_7D["m1"] + ENG_7D["t1"],
        ENG_7D["mr"],
        ENG_7D["m6"],
        ENG_7D["s8"],
        ENG_7D["t12"],
    ]
    x = [800 + 3000, 800, 800, 1000, 3060]
    low, high = _fieller([float(v) for v in y], x, t=2.7764451051977987)
    assert campaign["er_foll_7d_low"] == pytest.approx(max(low, 0.0), abs=1e-9)
    assert campaign["er_foll_7d_high"] == pytest.approx(high)
    assert math.isnan(campaign["er_impr_7d_low"])  # 3 messages: too few for an interval
    syd_24h = one(
        report.table("fixed_age"),
        audience_label=SYD_LABEL,
        basis="by followers at posting",
        age="24h",
    )
    assert syd_24h["rate"] == pytest.approx((30 + 20) / (3000 + 3060))
    assert (syd_24h["posts"], syd_24h["immature"]) == (2, 1)
    de_24h = one(
        report.table("fixed_age"),
        audience_label=DE_LABEL,
        basis="by followers at posting",
        age="24h",
    )
    # m1 at 24 h: 5; mr: 1 × 24/200 from zero; m6: 2; s8: 13.
    assert de_24h["rate"] == pytest.approx((5 + 24 / 200 + 2 + 13) / (800 + 800 + 800 + 1000))


def _fieller(y: list[float], x: list[int], t: float) -> tuple[float, float]:
    """The R with (ȳ − R·x̄)² ≤ t²·Var(ȳ − R·x̄), written out as a quadratic in R."""
    n = len(y)
    my, mx = sum(y) / n, sum(x) / n
    syy = sum((a - my) ** 2 for a in y) / (n - 1) / n
    sxx = sum((b - mx) ** 2 for b in x) / (n - 1) / n
    sxy = sum((a - my) * (b - mx) for a, b in zip(y, x, strict=True)) / (n - 1) / n
    qa, qb, qc = mx * mx - t * t * sxx, -2 * (my * mx - t * t * sxy), my * my - t * t * syy
    root = math.sqrt(qb * qb - 4 * qa * qc)
    return (-qb - root) / (2 * qa), (-qb + root) / (2 * qa)


def test_half_life_per_platform(report: Any) -> None:
    table = report.table("half_life")
    # Hours at which engagements first reach half their latest value, over posts whose last
    # snapshot is at least 7 days old (x2 has no engagement; t7 is 10 h old).
    x = [
        24 + (17 - 13) / (27 - 13) * (168 - 24),  # x1: 34 → 17
        24 + (3.5 - 3) / (7 - 3) * (190 - 24),  # x3: 7 → 3.5 (its engagements are known)
        3 / 4 * 168,  # x4a: 6 → 3, from zero to 4 at 168 h
        24 + (6 - 3) / (12 - 3) * (168 - 24),  # x4b: 12 → 6
    ]
    mastodon = [24 + (6.5 - 5) / (13 - 5) * (200 - 24), 0.5 * 200, 24 + 1.5 / 5 * (192 - 24)]
    telegram = [24 + (33 - 30) / (60 - 30) * (168 - 24), 24.0]
    for platform, hours in (("x", x), ("mastodon", mastodon), ("telegram", telegram)):
        row = one(table, platform=platform)
        assert row["posts"] == len(hours)
        assert row["median"] == pytest.approx(median(hours))
        assert row["p25"] == pytest.approx(np.quantile(hours, 0.25))
    assert one(table, platform="sandbox imitating bluesky")["median"] == pytest.approx(24.0)


def test_follower_growth_ignores_samples_after_the_report_time(report: Any) -> None:
    table = report.table("follower_growth")
    x = one(table, channel="rv-x")
    assert (x["start"], x["end"], x["change"]) == (5000, 5100, 100)
    assert x["per_30_days"] == pytest.approx(100 * 30 / 16)
    t = one(table, channel="rv-t")
    assert (t["start"], t["end"]) == (3000, 3100)
    assert t["per_30_days"] == pytest.approx(100 * 30 / 25)
    m = one(table, channel="rv-m")
    assert m["change_pct"] == pytest.approx(20 / 800)
    s = one(table, channel="rv-s")
    assert s["platform"] == "sandbox imitating bluesky" and bool(s["simulated"])


def test_the_data_quality_panel_and_the_simulated_mark(report: Any) -> None:
    quality = report.table("data_quality")
    assert one(quality, check="Posts whose engagements are unknown")["count"] == 0
    assert one(quality, check="Posts whose exposure is unknown")["count"] == 1  # x3
    assert one(quality, check="Posts deleted on the platform")["count"] == 1
    assert one(quality, check="Our own thread replies subtracted")["count"] == 1
    assert one(quality, check="Simulated posts (sandbox)")["count"] == 1
    assert one(quality, check="Immature posts (younger than 7d)")["count"] == 1
    assert one(quality, check="Posts older than 7d with no snapshot at or after 7d")["count"] == 0
    assert report.simulated
    assert bool(one(report.table("audience_engagement"), audience_label=DE_LABEL)["simulated"])
    assert not bool(one(report.table("audience_engagement"), audience_label=SYD_LABEL)["simulated"])


def test_time_slots_follow_the_audience_clock_across_the_switch(report: Any) -> None:
    slots = report.table("time_slots").frame
    syd = slots[slots["audience_label"] == SYD_LABEL]
    # 23:00 UTC is 10:00 in Sydney before 2027-04-04 (AEDT, +11) and 09:00 after it (AEST).
    assert sorted(zip(syd["weekday"], syd["hour"], syd["posts"], strict=True)) == [
        ("Fri", 9, 1),  # t12, 04-09 09:00 AEST
        ("Wed", 10, 2),  # x1 and t1, 03-31 10:00 AEDT
    ]
    # Each account's baseline: the mean of its deliveries' rates at 7 days, one row each.
    x_base = mean([27 / 2000, 4 / 400, 12 / 600])  # x2 has no rate, x3 no known exposure
    t_base = mean([60 / 3000, 40 / 3060])
    wed = syd[syd["hour"] == 10].iloc[0]
    assert wed["index"] == pytest.approx(mean([27 / 2000 / x_base, 60 / 3000 / t_base]))
    fri = syd[syd["hour"] == 9].iloc[0]
    assert fri["index"] == pytest.approx(40 / 3060 / t_base)
    de = slots[slots["audience_label"] == DE_LABEL].set_index(["weekday", "hour"])
    m = {k: float(ENG_7D[k]) / 800 for k in ("m1", "mr", "m6")}
    m_base = mean(m.values())
    assert de.loc[("Wed", 1), "index"] == pytest.approx(
        mean([27 / 2000 / x_base, m["m1"] / m_base, m["mr"] / m_base])
    )
    assert de.loc[("Wed", 11), "index"] == pytest.approx(mean([0.01, 0.02]) / x_base)
    # Only DE's Wed 01 has 3 posts: no audience has two slots to compare, so none names a best.
    for card in report.cards:
        assert card.subtitle.endswith("too few posts per slot to name a best one"), card.title


def test_shrinkage_and_the_lists_of_posts(report: Any) -> None:
    # Mastodon's prior at 7 days (m1, mr, m6; 800 followers each), moments less sampling noise.
    k = [ENG_7D["m1"], ENG_7D["mr"], ENG_7D["m6"]]
    n = 800
    m = sum(k) / (3 * n)
    s2 = sum((ki / n - m) ** 2 for ki in k) / 3
    tau2 = s2 - m * (1 - m) / n
    strength = m * (1 - m) / tau2 - 1
    shrunk = (k[0] + m * strength) / (n + strength)
    row = one(
        report.table("leaderboard_variant"),
        audience_label=DE_LABEL,
        basis="by followers at posting",
        variant="A",
    )
    assert row["raw"] == pytest.approx(float(k[0] / n))
    assert row["shrunk"] == pytest.approx(float(shrunk))
    assert row["index"] == pytest.approx(float(shrunk / m))
    top = set(report.table("top_posts").frame["delivery_id"])
    bottom = set(report.table("bottom_posts").frame["delivery_id"])
    assert not top & bottom
    posts = report.table("posts").frame
    x3 = int(posts.loc[(posts["post_key"] == "P3"), "delivery_id"].iloc[0])
    assert x3 not in top | bottom  # no known rate


def test_top_and_bottom_posts_of_a_platform_pulled_to_its_typical_rate(
    report: Any, engine: Any
) -> None:
    # X at 7 days (x1 27/2000, x4a 4/400, x4b 12/600; x2 has 0 exposure): m = 43/3000 and the
    # spread of the rates is below what sampling noise explains, so every X post is shrunk
    # all the way to m (index 1.00); among them their own rates order the lists.
    n = {"x1": 2000, "x4a": 400, "x4b": 600}
    m = sum(ENG_7D[k] for k in n) / sum(n.values())
    s2 = sum(n[k] * (ENG_7D[k] / n[k] - m) ** 2 for k in n) / sum(n.values())
    assert s2 - m * (1 - m) / (F(sum(n.values())) / 3) <= 0
    ids = _ids(engine)
    top = list(report.table("top_posts").frame["delivery_id"])
    bottom = list(report.table("bottom_posts").frame["delivery_id"])
    # Six posts have an index (Telegram's two and the sandbox's one have no prior): the top
    # list takes the better half. Mastodon: m1 1.58, m6 1.01, mr 0.41 (worked out above).
    assert top == [ids["m1"], ids["m6"], ids["x4b"]]
    assert bottom == [ids["mr"], ids["x4a"], ids["x1"]]
    x1 = report.table("bottom_posts").frame.set_index("delivery_id").loc[ids["x1"]]
    low, high = _wilson(10, 2500)  # its link clicks of its impressions
    assert (x1["ctr_low"], x1["ctr_high"]) == (pytest.approx(low), pytest.approx(high))


def _ids(engine: Any) -> dict[str, int]:
    """Delivery key → id, read back from the store by post key, channel and occurrence."""
    from sqlalchemy import select

    from campaigns.schema import Channel, Delivery, Post

    keys = {
        ("P1", "rv-x", 0): "x1",
        ("P1", "rv-m", 0): "m1",
        ("R", "rv-m", 0): "mr",
        ("P4", "rv-x", 0): "x4a",
        ("P4", "rv-x", 1): "x4b",
        ("P6", "rv-m", 0): "m6",
    }
    query = (
        select(Post.key, Channel.name, Delivery.occurrence, Delivery.id)
        .join(Post, Post.id == Delivery.post_id)
        .join(Channel, Channel.id == Delivery.channel_id)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return {keys[(k, c, o)]: int(i) for k, c, o, i in rows if (k, c, o) in keys}


def _wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def test_a_report_as_of_t_is_the_same_before_and_after_later_data(engine: Any) -> None:
    from reports.render_data import to_json

    world = build_known(engine)
    before = json.loads(to_json(_report(engine)))
    from tests.reports.reviewed import add_later

    add_later(world)
    after = json.loads(to_json(_report(engine)))
    before.pop("generated_at", None), after.pop("generated_at", None)
    assert before == after


def test_the_cli_outputs_show_the_same_figures(workspace: Path, run: Run) -> None:
    from openpyxl import load_workbook

    from campaigns.store import make_engine, upgrade

    with (workspace / "elshi.toml").open("a", encoding="utf-8") as toml:
        toml.write('\n[channels.rv-s]\nplatform = "sandbox"\nmimic = "bluesky"\n')
    engine = make_engine(f"sqlite:///{workspace / 'elshi.db'}")
    upgrade(engine)
    build(engine)
    engine.dispose()
    at = AS_OF.strftime("%Y-%m-%dT%H:%M")
    document = json.loads(run("report", "--as-of", at, "--format", "json").output)
    assert document["simulated"] is True
    table = document["tables"]["audience_engagement"]
    syd = next(r for r in table["rows"] if r["audience_label"] == SYD_LABEL)
    assert syd["er_foll"] == pytest.approx((66 + 5 + 40) / (3000 + 3100 + 3060))
    assert syd["er_foll_posts"] == 3  # x3 (X, impressions unknown) is not among them
    assert syd["er_impr"] == pytest.approx(34 / 2500)
    platforms = [r["platform"] for r in document["tables"]["platform_counters"]["rows"]]
    assert "sandbox imitating bluesky" in platforms
    sentences = " ".join(document["executive_summary"]["sentences"])
    assert "by followers at posting (mastodon, sandbox imitating bluesky, telegram):" in sentences
    run("report", "--as-of", at, "--format", "xlsx", "--out", "r.xlsx")
    book = load_workbook(workspace / "r.xlsx")
    for name in book.sheetnames:
        assert "SIMULATED" in str(book[name].cell(row=1, column=1).value), name
    sheet = book["audience_engagement"]
    header = [c.value for c in sheet[4]]
    cells = {
        sheet.cell(row=r, column=1).value: [c.value for c in sheet[r]]
        for r in range(5, sheet.max_row + 1)
    }
    syd_row = cells[SYD_LABEL]
    foll = syd_row[header.index("ER by followers (ratio of sums, 95% CI)")]
    assert foll == pytest.approx((66 + 5 + 40) / (3000 + 3100 + 3060))
    assert DE in str(list(cells)) and SYD in str(list(cells))


# --- the executive summary on a campaign with a clear winner by impressions and none by
# followers (its own small history: X reaches Students and Business, Mastodon Business only;
# every post 8 days old, one snapshot at exactly 7 days; X 1,000 impressions a post, Mastodon
# 2,000 followers) ---------------------------------------------------------------------------

STUDENTS = [36, 46, 38, 47, 40, 38]  # likes at 7 days, X
BUSINESS_X = [10, 12, 9, 11, 10, 8]
BUSINESS_M = [20, 22, 18, 25, 15]


def _clear_winner(engine: Any) -> Any:
    from datetime import UTC, datetime, timedelta

    from reports.synthetic import Builder

    hour, day = timedelta(hours=1), timedelta(days=1)
    start = datetime(2027, 6, 1, 9, tzinfo=UTC)
    with engine.begin() as conn:
        b = Builder(conn, now=datetime(2027, 5, 1, tzinfo=UTC))
        b.campaign("kz", title="Kazakhstan")
        x, m = b.channel("kz-x", "x"), b.channel("kz-m", "mastodon")
        students = b.audience("kz", "students", name="Students", channels=[x])
        business = b.audience("kz", "business", name="Business", channels=[x, m])
        i = 0
        for audience, channel, likes in (
            (students, x, STUDENTS),
            (business, x, BUSINESS_X),
            (business, m, BUSINESS_M),
        ):
            for k in likes:
                post = b.post("kz", audiences=[audience], narrative="n1")
                at = start + i * hour
                i += 1
                d = b.delivery(post, channel, due_at=at)
                given = {"impressions": 1000} if channel == x else {}
                b.snapshot(
                    d, at + 7 * day, likes=k, reposts=0, replies=0, quotes=0, followers=1, **given
                )
        b.followers(x, start - day, 5000)
        b.followers(m, start - day, 2000)
    return start + 29 * day


def _interval(likes: list[int], exposure: int, t: float) -> tuple[float, float]:
    """Fieller's interval, never narrower than the Poisson interval of the total (the
    Wilson-Hilferty bounds; docs/metrics.md, "Uncertainty")."""
    low, high = _fieller([float(k) for k in likes], [exposure] * len(likes), t)
    k, z, total = sum(likes), 1.959964, exposure * len(likes)
    p_low = k * (1 - 1 / (9 * k) - z / (3 * math.sqrt(k))) ** 3
    p_high = (k + 1) * (1 - 1 / (9 * (k + 1)) + z / (3 * math.sqrt(k + 1))) ** 3
    return min(max(low, 0.0), p_low / total), max(high, p_high / total)


def test_the_summary_names_the_groups_whose_interval_clears_the_campaign_rate(
    engine: Any,
) -> None:
    from reports.data import Scope, load
    from reports.figures import build_report

    as_of = _clear_winner(engine)
    report = build_report(load(engine, Scope(as_of=as_of)), generated_at=as_of)
    t5 = 2.5705818366147395  # Student's t, 97.5%, 5 degrees of freedom
    campaign = sum(STUDENTS + BUSINESS_X) / 12_000
    students, business = _interval(STUDENTS, 1000, t5), _interval(BUSINESS_X, 1000, t5)
    assert students[0] > campaign > business[1]
    foll = sum(BUSINESS_M) / 10_000

    def pct(v: float) -> str:
        return f"{100 * v:.2f}"

    whole = _interval(STUDENTS + BUSINESS_X, 1000, 2.200985160082949)  # t on 11 d.f.
    assert report.summary.sentences[1:] == (
        f"Engagement rate by impressions (x): {pct(campaign)}% "
        f"[{pct(whole[0])}–{pct(whole[1])}] over 12 posts.",
        f"Higher than the campaign's {pct(campaign)}% by impressions: Students "
        f"{pct(sum(STUDENTS) / 6000)}% [{pct(students[0])}–{pct(students[1])}] (6 posts).",
        f"Lower than the campaign's {pct(campaign)}% by impressions: Business "
        f"{pct(sum(BUSINESS_X) / 6000)}% [{pct(business[0])}–{pct(business[1])}] (6 posts).",
        "No narrative stands out from noise by impressions.",
        # Business is the whole of the rate by followers: nothing to set apart from it.
        f"Engagement rate by followers at posting (mastodon): {pct(foll)}% "
        + "[{}–{}] over 5 posts.".format(
            *(pct(v) for v in _interval(BUSINESS_M, 2000, 2.7764451051977987))
        ),
        "No audience or narrative stands out from noise by followers at posting.",
    )
