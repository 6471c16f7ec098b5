"""An independent check of issue 10 on a history of our own (`tests.reports.checked`): every
expected figure is worked out by hand from docs/metrics.md with plain arithmetic (fractions
where the division matters), never by calling the report's code. The tests on the store run on
SQLite and on PostgreSQL (the two-backend ``engine`` fixture)."""

from __future__ import annotations

import csv
import json
import math
from fractions import Fraction as F
from html import escape
from pathlib import Path
from statistics import mean, median
from typing import Any

import numpy as np
import pytest

from tests.cli.conftest import Run
from tests.reports.awkward import one
from tests.reports.checked import ALM, AS_OF, BER, IMITATES, SHA, build


def _report(engine: Any) -> Any:
    from reports.data import Scope, load
    from reports.figures import Options, build_report

    data = load(engine, Scope(as_of=AS_OF))
    return build_report(data, generated_at=AS_OF, options=Options(imitates=IMITATES))


@pytest.fixture
def report(engine: Any) -> Any:
    build(engine)
    return _report(engine)


def pct(value: F | float) -> str:
    return f"{100 * float(value):.2f}%"


# Engagements (likes + reposts + replies + quotes, those the channel gives) at the last
# snapshot by AS_OF, and the exposure of each post's basis.
ENG = {"x1": 38 + 8 + 3 + 1, "x2": 6 + 1, "x3a": 10, "x3b": 13 + 2 + 1 + 1, "x5": 1}
ENG |= {"s12": 9 + 2 + 1, "b10": 20 + 4 + 2 + 1, "m13": 6 + 1 + 1, "m8": 9 + 2 + 1}
IMPRESSIONS = {"x1": 2100, "x2": 300, "x3a": 500, "x3b": 850, "x5": 10, "s12": 900}
# Bluesky: no sample before 11-01 09:00, the first after it (11-05); Mastodon: no sample at
# all, the first snapshot's count.
FOLLOWERS = {"b10": 1200, "m13": 700, "m8": 700}
# At 7 days (168 h): each post below has a snapshot at exactly 168 h (x3b's twice, the same).
ENG_7D = {"x1": 40 + 8 + 3 + 1, "x3a": 10, "x3b": 12 + 2 + 1 + 1, "s12": 12, "b10": 27, "m13": 8}
IMPRESSIONS_7D = {"x1": 2000, "x3a": 500, "x3b": 800, "s12": 900}


def test_volumes_rates_and_the_counters_a_platform_corrected(report: Any) -> None:
    ck = one(report.table("campaigns"), campaign_id="ck")
    # Twelve deliveries less m8 (campaign solo): x5, published at AS_OF, counts; x6 is deleted.
    assert (ck["published"], ck["deleted_after"], ck["posts"]) == (11, 1, 10)
    impr = list(IMPRESSIONS)
    assert ck["er_impr"] == pytest.approx(
        sum(ENG[k] for k in impr) / sum(IMPRESSIONS[k] for k in impr)
    )
    assert ck["er_impr_posts"] == 6
    assert ck["impressions"] == sum(IMPRESSIONS.values()) + 900  # tv14's views are impressions
    foll = ("b10", "m13")
    assert ck["er_foll"] == pytest.approx(
        sum(ENG[k] for k in foll) / sum(FOLLOWERS[k] for k in foll)
    )
    assert ck["er_foll_posts"] == 2
    solo = one(report.table("campaigns"), campaign_id="solo")
    assert solo["er_foll"] == pytest.approx(12 / 700) and solo["er_foll_posts"] == 1
    posts = report.table("posts").frame.set_index("delivery_id")
    assert bool(posts["deleted"].sum() == 1)
    quality = report.table("data_quality")
    unknown = one(quality, check="Posts whose engagements are unknown")
    assert unknown["count"] == 1  # tv14: its channel gives views and no reaction at all
    assert "its channel gives none" in unknown["detail"]
    assert one(quality, check="Posts older than 24h with no snapshot at or after 24h")["count"] == 1
    assert one(quality, check="Posts older than 7d with no snapshot at or after 7d")["count"] == 1
    assert one(quality, check="Immature posts (younger than 24h)")["count"] == 1  # x5


def test_values_at_fixed_ages_from_zero_and_the_post_without_a_later_snapshot(
    report: Any,
) -> None:
    ck = one(report.table("campaigns"), campaign_id="ck")
    impr = list(IMPRESSIONS_7D)
    assert ck["er_impr_7d"] == pytest.approx(
        float(F(sum(ENG_7D[k] for k in impr), sum(IMPRESSIONS_7D[k] for k in impr)))
    )
    # x2's snapshots all fall before 24 h: missing at both ages; x5 is too young.
    assert (ck["er_impr_7d_posts"], ck["er_impr_7d_young"], ck["er_impr_7d_missing"]) == (4, 1, 1)
    ber = one(
        report.table("fixed_age"), audience_label=f"{BER} · ck", basis="by impressions", age="24h"
    )
    # x3a and x3b have their first snapshot at 168 h: from zero at publication.
    share = F(24, 168)
    eng = 28 + share * 10 + share * 16 + 6
    exposure = 1000 + share * 500 + share * 800 + 500
    assert ber["rate"] == pytest.approx(float(eng / exposure))
    assert (ber["posts"], ber["missing"], ber["immature"]) == (4, 1, 0)


def test_half_life_after_a_correction_and_without_the_post_seen_only_young(report: Any) -> None:
    table = report.table("half_life")
    # x2's last snapshot was taken 10 h after publication: not among them, however old it is.
    x = [F(25, 28) * 24, F(5, 10) * 168, F(17, 2) / 16 * 168]
    assert one(table, platform="x")["posts"] == 3
    assert one(table, platform="x")["median"] == pytest.approx(float(median(x)))
    assert one(table, platform="x")["p25"] == pytest.approx(
        float(np.quantile([float(v) for v in x], 0.25))
    )
    # t7: likes corrected from 50 to 45; half of 45 is reached on the way to 30 at 24 h.
    telegram = one(table, platform="telegram")
    assert (telegram["posts"], telegram["median"]) == (1, pytest.approx(22.5 / 30 * 24))
    assert one(table, platform="bluesky")["median"] == pytest.approx(24 + 0.5 / 14 * 144)
    assert one(table, platform="mastodon")["posts"] == 2  # m13 and solo's m8, both 24 h


def test_time_slots_in_each_audience_clock_across_berlin_switch(report: Any) -> None:
    slots = report.table("time_slots").frame
    # x3a (10-26 08:00 UTC, CEST) and x3b (11-09 09:00 UTC, CET) are both Tuesday 10:00 in
    # Berlin; in Shanghai (no switch) 16:00 and 17:00.
    x_base = mean([F(52, 2000), F(10, 500), F(16, 800)])
    ber = slots[slots["audience_label"] == f"{BER} · ck"].set_index(["weekday", "hour"])
    assert sorted(ber.index) == [("Thu", 10), ("Thu", 11), ("Tue", 10), ("Wed", 10)]
    assert ber.loc[("Tue", 10), "posts"] == 2
    assert ber.loc[("Tue", 10), "index"] == pytest.approx(float(F(2, 100) / x_base))
    # m13's account baseline is ck-m's two posts, m8 of the other campaign included.
    assert ber.loc[("Thu", 10), "index"] == pytest.approx(float(F(8, 700) / F(10, 700)))
    sha = slots[slots["audience_label"] == f"{SHA} · ck"]
    assert sorted(zip(sha["weekday"], sha["hour"], strict=True)) == [
        ("Mon", 17),
        ("Thu", 17),
        ("Tue", 16),
        ("Tue", 17),
    ]


def test_the_summary_names_only_the_platforms_behind_its_rate(report: Any) -> None:
    # By impressions at 7 days: x1, x3a, x3b (X) and s12 (sandbox imitating X). Telegram's
    # tv14 gives views but no reactions: its engagements are unknown, so it is no part of the
    # rate, and neither is t7 (no value by impressions): Telegram is not named beside it.
    rate = F(90, 4200)
    assert (
        f"Engagement rate by impressions (sandbox imitating x, x): {pct(rate)} over 4 posts "
        "(too few posts for an interval; at least 5 messages are needed)."
    ) in report.summary.sentences
    found = report.summary.campaigns[0].bases[0]
    assert found.platforms == ("sandbox imitating x", "x")
    assert (
        "Engagement rate by followers at posting (mastodon): 1.71% over 1 post (too few posts "
        "for an interval; at least 5 messages are needed)."
    ) in report.summary.sentences


def test_an_ab_test_whose_variant_has_only_young_posts_is_shown(report: Any) -> None:
    table = report.table("ab_tests")
    # Shanghai by impressions: A = x1, x3a, x3b at 7 days; B = x5 only, published at AS_OF.
    row = one(table, audience_label=f"{SHA} · ck", basis="by impressions")
    assert (row["variant_a"], row["posts_a"], row["variant_b"], row["posts_b"]) == ("A", 3, "B", 0)
    assert row["rate_a"] == pytest.approx(78 / 3300)
    assert math.isnan(row["rate_b"]) and row["young"] == 1
    assert row["verdict"] == "too few posts to tell"
    # Berlin and the alumni have variant A only: nothing to compare.
    assert len(table.frame) == 1
    board = one(
        report.table("leaderboard_variant"),
        audience_label=f"{SHA} · ck",
        basis="by impressions",
        variant="B",
    )
    assert (board["posts"], board["young"]) == (0, 1)


def test_the_cards_count_one_post_as_one_post(report: Any) -> None:
    cards = {card.title: card for card in report.cards}
    sha = cards[SHA]
    notes = [f.note for f in sha.figures if f.label == "Engagement rate by followers at posting"]
    assert notes == ["1 post · too few posts for an interval · median post 2.25%"]
    alm = [f.note for f in cards[ALM].figures if f.label == "Engagement rate by impressions"]
    assert alm == [f"1 post · too few posts for an interval · median post {pct(F(50, 2100))}"]


def test_the_outputs_show_the_summary_and_the_ab_row(workspace: Path, run: Run) -> None:
    from openpyxl import load_workbook

    from campaigns.store import make_engine, upgrade

    with (workspace / "elshi.toml").open("a", encoding="utf-8") as toml:
        toml.write('\n[channels.ck-s]\nplatform = "sandbox"\nmimic = "x"\n')
    engine = make_engine(f"sqlite:///{workspace / 'elshi.db'}")
    upgrade(engine)
    build(engine)
    engine.dispose()
    when = AS_OF.strftime("%Y-%m-%dT%H:%M")
    sentence = f"Engagement rate by impressions (sandbox imitating x, x): {pct(F(90, 4200))}"
    document = json.loads(run("report", "--as-of", when, "--format", "json").output)
    assert any(s.startswith(sentence) for s in document["executive_summary"]["sentences"])
    rows = document["tables"]["ab_tests"]["rows"]
    assert [(r["variant_a"], r["variant_b"], r["young"], r["verdict"]) for r in rows] == [
        ("A", "B", 1, "too few posts to tell")
    ]
    # A row's own flag, never the report's: only Berlin's Wednesday (s12, the sandbox's one
    # post, Wednesday 10:00 in Berlin) and its week include a simulated post.
    by_weekday = document["tables"]["by_weekday"]["rows"]
    flagged = [(r["audience_label"], r["weekday_name"]) for r in by_weekday if r["simulated"]]
    assert flagged == [(f"{BER} · ck", "Wed")] and len(by_weekday) > 1
    weeks = document["tables"]["trend_weekly"]["rows"]
    assert [(r["audience_label"], r["week"][:10]) for r in weeks if r["simulated"]] == [
        (f"{BER} · ck", "2027-11-01")
    ]
    assert not any(r["simulated"] for r in document["tables"]["top_posts"]["rows"])
    # Every table built from posts flags the rows that hold s12, and only those.
    tables = document["tables"]
    ber = f"{BER} · ck"
    expected = {
        "audience_volume": [(ber,)],
        "amec": [(ber,)],
        "fixed_age": [(ber, "by impressions", "24h"), (ber, "by impressions", "7d")],
        "leaderboard_narrative": [(ber, "by impressions", "steppe")],
        "leaderboard_variant": [(ber, "by impressions", "(none)")],
        "ab_tests": [],  # Shanghai's A (X posts) against B (x5)
        "half_life": [("sandbox imitating x",)],
        "time_slots": [(ber, "Wed", 10)],
        "platform_counters": [("sandbox imitating x",)],
        "outcomes": [],
    }
    for name, rows in expected.items():
        keys = list(tables[name]["rows"][0])[: len(rows[0])] if rows else []
        found = [tuple(r[k] for k in keys) for r in tables[name]["rows"] if r["simulated"]]
        assert found == rows, name
    flags = {c["campaign_id"]: c["simulated"] for c in document["executive_summary"]["campaigns"]}
    assert flags == {"ck": True, "solo": False}
    run("report", "--as-of", when, "--format", "csv", "--out", "tables")
    with (workspace / "tables" / "summary.csv").open(encoding="utf-8", newline="") as handle:
        summary = list(csv.DictReader(handle))
    assert [r["simulated"] for r in summary if r["sentence"].startswith("Solo (solo)")] == ["False"]
    assert summary[0]["sentence"].startswith("Kasachstan") and summary[0]["simulated"] == "True"
    run("report", "--as-of", when, "--format", "html", "--out", "r.html")
    html = (workspace / "r.html").read_text(encoding="utf-8")
    assert sentence in html and "telegram, x)" not in html
    assert "1 posts" not in html
    # The report's own words are never cut short (a post's text may be, not a detail).
    details = [r["detail"] for r in document["tables"]["data_quality"]["rows"]]
    assert max(len(d) for d in details) > 90
    assert all(escape(d) in html for d in details)
    run("report", "--as-of", when, "--format", "xlsx", "--out", "r.xlsx")
    book = load_workbook(workspace / "r.xlsx")
    texts = [str(c.value) for sheet in book for row in sheet.iter_rows() for c in row if c.value]
    assert any(t.startswith(sentence) for t in texts)
    assert "too few posts to tell" in texts


def test_of_two_snapshots_at_one_instant_the_one_stored_last_counts(sqlite_url: str) -> None:
    from datetime import timedelta

    from campaigns.store import make_engine, upgrade
    from reports.data import Scope, load
    from reports.figures import build_report
    from reports.synthetic import Builder

    engine = make_engine(sqlite_url)
    upgrade(engine)
    hour, start = timedelta(hours=1), AS_OF - timedelta(days=20)
    with engine.begin() as conn:
        b = Builder(conn, now=start - 24 * hour)
        b.campaign("dup")
        x, m = b.channel("dup-x", "x"), b.channel("dup-m", "mastodon")
        audience = b.audience("dup", "a", channels=[x, m])
        d = b.delivery(b.post("dup", audiences=[audience]), x, due_at=start)
        e = b.delivery(b.post("dup", audiences=[audience]), m, due_at=start)
        for hours, likes in ((24, 10), (168, 30), (168, 20), (200, 40), (200, 35)):
            b.snapshot(d, start + hours * hour, impressions=1000, likes=likes, reposts=0,
                       replies=0, quotes=0)  # fmt: skip
        b.snapshot(e, start + 24 * hour, likes=5, reposts=0, replies=0, followers=111)
        b.followers(m, start - hour, 400)
        b.followers(m, start, 500)  # taken at the instant of publication: at or before it
    report = build_report(load(engine, Scope(as_of=AS_OF)), generated_at=AS_OF)
    engine.dispose()
    campaign = one(report.table("campaigns"), campaign_id="dup")
    assert campaign["er_impr"] == pytest.approx(35 / 1000)  # not 40
    assert campaign["er_impr_7d"] == pytest.approx(20 / 1000)  # not 30
    assert campaign["er_foll"] == pytest.approx(5 / 500)


def test_the_report_as_of_its_time_ignores_what_came_later(engine: Any) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from campaigns.schema import Delivery
    from reports.render_data import to_json
    from reports.synthetic import Builder
    from tests.reports.checked import PUBLISHED

    world = build(engine)
    before = json.loads(to_json(_report(engine)))
    hour = timedelta(hours=1)
    with engine.begin() as conn:
        b = Builder(conn, now=AS_OF + hour)
        d = world.d
        # x5 (published at AS_OF) and t7 (its likes corrected again) get later snapshots; m13 is
        # deleted; x2 at last gets a snapshot past 7 days; Bluesky a sample at posting time
        # recorded late; a delivery created later claims to have gone out before AS_OF.
        b.snapshot(d["x5"], AS_OF + hour, impressions=99, likes=9, reposts=0, replies=0, quotes=0)
        b.snapshot(d["t7"], AS_OF + 2 * hour, likes=10, followers=3000)
        b.snapshot(d["x2"], AS_OF + hour, impressions=900, likes=60, reposts=0, replies=0, quotes=0)
        b.snapshot(d["m13"], AS_OF + 3 * hour, deleted=True)
        conn.execute(
            update(Delivery).where(Delivery.id == d["m13"]).values(remote_deleted_at=AS_OF + hour)
        )
        late = b.post("ck", audiences=[], key="LATE")
        x = conn.execute(Delivery.__table__.select().where(Delivery.id == d["x1"])).one().channel_id
        b.delivery(late, x, due_at=PUBLISHED["x2"])
    after = json.loads(to_json(_report(engine)))
    before.pop("generated_at", None), after.pop("generated_at", None)
    assert before == after
