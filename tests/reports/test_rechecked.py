"""A second independent check of issue 10 on a history of our own (`tests.reports.rechecked`):
every expected figure is worked out by hand from docs/metrics.md with plain arithmetic, never by
calling the report's code; then every format (JSON, CSV, XLSX, HTML, Markdown, terminal) is
checked to show the same figures and to keep the awkward names inert. On SQLite: the SQL the
report runs is the same on PostgreSQL, whose own tests cover it."""

from __future__ import annotations

import csv
import io
from fractions import Fraction as F
from html import escape
from pathlib import Path
from statistics import median
from typing import Any

import numpy as np
import pytest

from tests.reports.awkward import (
    one,
    sqlite_engine,  # noqa: F401  (SQLite only)
)
from tests.reports.rechecked import AS_OF, EMPTY, EVIL, IND, LONG, build

L_EVIL, L_IND, L_LONG, L_EMPTY = (f"{name} · aw" for name in (EVIL, IND, LONG, EMPTY))
# Engagements (likes + reposts + replies + quotes the channel gives) at the last snapshot.
ENG = {"x1": 10, "x2a": 26, "x2b": 26, "b3": 0, "m4": 8, "x5": 0, "x6": 36}
# Exposure of each post's basis: X gives impressions (x1's are unknown, x5's are 0); Bluesky
# and Mastodon by followers at posting (Mastodon: no sample before m4, the first after it).
IMPRESSIONS = {"x2a": 2000, "x2b": 2000, "x5": 0, "x6": 1000}
FOLLOWERS = {"b3": 800, "m4": 320}


def _report(engine: Any, as_of: Any = AS_OF) -> Any:
    from reports.data import Scope, load
    from reports.figures import build_report

    return build_report(load(engine, Scope(as_of=as_of)), generated_at=as_of)


@pytest.fixture
def report(engine: Any) -> Any:
    build(engine)
    return _report(engine)


def ratio(keys: list[str], exposure: dict[str, int]) -> F:
    return F(sum(ENG[k] for k in keys), sum(exposure[k] for k in keys))


def test_volumes_rates_and_the_audience_no_post_reaches(report: Any) -> None:
    aw = one(report.table("campaigns"), campaign_id="aw")
    assert aw["published"] == 7 and aw["engagements"] == sum(ENG.values())
    # x1 gives no impressions though X does: its exposure is unknown, never by followers.
    assert (aw["impressions"], aw["posts_with_impressions"]) == (5000, 4)
    assert aw["er_impr"] == pytest.approx(float(ratio(list(IMPRESSIONS), IMPRESSIONS)))
    assert aw["er_impr_posts"] == 4
    assert aw["er_foll"] == pytest.approx(float(ratio(list(FOLLOWERS), FOLLOWERS)))
    assert aw["er_foll_posts"] == 2
    volume = report.table("audience_volume").frame
    assert volume["audience_label"].tolist() == sorted([L_EVIL, L_IND, L_LONG, L_EMPTY])
    assert one(report.table("audience_volume"), audience_label=L_IND)["published"] == 4
    empty = one(report.table("audience_volume"), audience_label=L_EMPTY)
    assert (empty["published"], empty["missed"], empty["waiting"]) == (0, 0, 0)
    assert np.isnan(empty["published_share"])
    quality = report.table("data_quality")
    assert one(quality, check="Posts whose exposure is unknown")["count"] == 1  # x1
    unreached = one(quality, check="Audiences no delivery reaches")
    assert unreached["count"] == 1 and unreached["detail"].endswith(f": {L_EMPTY}")
    assert EMPTY not in {card.title for card in report.cards}
    engagement = report.table("audience_engagement")
    ind = one(engagement, audience_label=L_IND)
    # x5's 0 impressions stay in the rate by impressions (adding 0 to the denominator).
    assert ind["er_impr"] == pytest.approx(36 / 1000) and ind["er_impr_posts"] == 2
    assert ind["er_foll"] == 0 and ind["er_foll_posts"] == 1  # b3: back to 0 of 800
    evil = one(engagement, audience_label=L_EVIL)
    assert evil["er_impr_posts"] == 0 and np.isnan(evil["er_impr"])
    long = one(engagement, audience_label=L_LONG)
    assert long["er_impr"] == pytest.approx(52 / 4000)
    assert long["er_foll"] == pytest.approx(8 / 320)


def test_half_life_with_a_post_back_at_zero_and_one_at_exactly_half(report: Any) -> None:
    table = report.table("half_life")
    # x1: half of 10 reached on the way to 6 at 24 h (from 0); x2a/x2b: 13 is half of 26 at
    # exactly 24 h; x6: half of 36 between 11 at 24 h and 36 at 168 h; x5: none to halve.
    hours = sorted([F(5, 6) * 24, F(24), F(24), 24 + F(18 - 11, 36 - 11) * 144])
    x = one(table, platform="x")
    assert x["posts"] == 4
    assert x["median"] == pytest.approx(float(median(hours)))
    assert x["p25"] == pytest.approx(float(hours[0] + F(3, 4) * (hours[1] - hours[0])))
    assert x["p75"] == pytest.approx(float(hours[2] + F(1, 4) * (hours[3] - hours[2])))
    assert one(table, platform="bluesky")["posts"] == 0  # b3 ends at 0: half of none
    assert one(table, platform="mastodon")["median"] == pytest.approx(24.0)


def test_slots_in_kolkata_half_hour_and_berlin_fall_back_hour(report: Any) -> None:
    slots = report.table("time_slots").frame
    # The X account's baseline at 7 days, one row per delivery: x2a, x2b 26/2000, x6 36/1000
    # (x5 has no rate of its own at 0 impressions, x1 no exposure).
    base = (F(26, 2000) * 2 + F(36, 1000)) / 3
    found = {
        (label, day, hour): (posts, index)
        for label, day, hour, posts, index in zip(
            slots["audience_label"], slots["weekday"], slots["hour"], slots["posts"],
            slots["index"], strict=True,
        )
    }  # fmt: skip
    # 00:30 UTC is 02:30 CEST and 01:30 UTC 02:30 CET: one Sunday slot, two posts; m4 is
    # Sunday 11:00 in Berlin, the only post of its account (index 1). x6, 03:45 UTC, is
    # Wednesday 09:15 in Kolkata.
    assert set(found) == {(L_LONG, "Sun", 2), (L_LONG, "Sun", 11), (L_IND, "Wed", 9)}
    assert found[L_LONG, "Sun", 2] == (2, pytest.approx(float(F(26, 2000) / base)))
    assert found[L_LONG, "Sun", 11] == (1, pytest.approx(1.0))
    assert found[L_IND, "Wed", 9] == (1, pytest.approx(float(F(36, 1000) / base)))
    cards = {card.title: card for card in report.cards}
    assert cards[IND].subtitle.endswith("only one slot used")
    assert cards[LONG].subtitle.endswith("too few posts per slot to name a best one")


def test_follower_growth_from_the_size_at_the_period_start(report: Any) -> None:
    table = report.table("follower_growth")
    # The period starts at x1's publication (10-01 04:30). X: 5000 (09-01, the last sample
    # at or before it) to 5100 (11-01), 61 days; Bluesky: its one sample (10-01 00:00);
    # Mastodon: no sample before the start, its first one in the period.
    x = one(table, channel="aw-x")
    assert (x["start"], x["end"], x["change"]) == (5000, 5100, 100)
    assert x["per_30_days"] == pytest.approx(100 / 61 * 30)
    assert (one(table, channel="aw-b")["start"], one(table, channel="aw-m")["start"]) == (800, 320)


def test_leaderboards_with_a_fitted_and_an_unfitted_platform(report: Any) -> None:
    board = report.table("leaderboard_variant")
    # X at 7 days with exposure: x2a, x2b (26/2000 each), x6 (36/1000).
    k, n = [26, 26, 36], [2000, 2000, 1000]
    m = F(sum(k), sum(n))
    s2 = sum(ni * (F(ki, ni) - m) ** 2 for ki, ni in zip(k, n, strict=True)) / sum(n)
    tau2 = s2 - m * (1 - m) / (F(sum(n)) / 3)
    strength = m * (1 - m) / tau2 - 1
    b = one(board, audience_label=L_LONG, variant="B")
    shrunk = (52 + m * strength) / (4000 + strength)
    assert (b["posts"], b["raw"]) == (2, pytest.approx(52 / 4000))
    assert b["shrunk"] == pytest.approx(float(shrunk))
    assert b["index"] == pytest.approx(float(shrunk / m))
    # Mastodon has one post at 7 days: no fit, pulled all the way to its own rate (8/320).
    c = one(board, audience_label=L_LONG, variant="C")
    assert (c["shrunk"], c["index"]) == (pytest.approx(8 / 320), pytest.approx(1.0))
    assert c["note"] == "fewer than 5 posts at 7 days: not ranked"
    # Kolkata's A: x5 (0 impressions) and x6 at 7 days.
    a = one(board, audience_label=L_IND, variant="A", basis="by impressions")
    assert a["posts"] == 2
    assert a["shrunk"] == pytest.approx(float((36 + m * strength) / (1000 + strength)))


def test_a_report_time_before_any_snapshot_says_why(engine: Any) -> None:
    build(engine)
    report = _report(engine, as_of=AS_OF.replace(month=10, day=1))
    # x1 went out at 04:30; its first snapshot is a day later. One published post, six due.
    assert report.summary.sentences[0] == (
        "Every counter is n/a: no metric snapshot of the published post was collected by the "
        "report time (2027-10-01 12:00 UTC). The daemon (elshi run) collects snapshots after "
        "publication."
    )
    volume = report.table("audience_volume")
    assert one(volume, audience_label=L_IND)["waiting"] == 3


def test_every_format_shows_the_same_figures_and_keeps_the_names_inert(
    report: Any, tmp_path: Path
) -> None:
    import json

    from openpyxl import load_workbook

    from reports.render_data import csv_files, to_json
    from reports.render_html import render
    from reports.render_text import terminal_summary, to_markdown
    from reports.render_xlsx import write_xlsx

    document = json.loads(to_json(report))
    rows = {r["audience_label"]: r for r in document["tables"]["audience_engagement"]["rows"]}
    assert set(rows) == {L_EVIL, L_IND, L_LONG}  # the raw names in JSON
    assert rows[L_LONG]["er_impr"] == pytest.approx(0.013)
    assert rows[L_EVIL]["er_impr"] is None and rows[L_EVIL]["er_foll"] == 0
    text = csv_files(report)["audience_engagement.csv"]
    table = {r["audience_label"]: r for r in csv.DictReader(io.StringIO(text))}
    # CSV: a formula-like name gets its leading apostrophe; n/a is an empty field.
    assert set(table) == {"'" + L_EVIL, L_IND, L_LONG}
    assert float(table[L_LONG]["er_impr"]) == pytest.approx(0.013)
    assert table["'" + L_EVIL]["er_impr"] == "" and float(table["'" + L_EVIL]["er_foll"]) == 0
    path = write_xlsx(report, tmp_path / "r.xlsx")
    sheet = load_workbook(path)["audience_engagement"]
    cells = [[c.value for c in row] for row in sheet.iter_rows()]
    header = next(i for i, row in enumerate(cells) if "Audience" in row)
    names = [row[0] for row in cells[header + 1 :] if row[0]]
    assert names == sorted(["'" + L_EVIL, L_IND, L_LONG])  # never a formula
    column = cells[header].index("ER by impressions (ratio of sums, 95% CI)")
    long = next(row for row in cells[header + 1 :] if row[0] == L_LONG)
    assert long[column] == pytest.approx(0.013)  # a number formatted as %, not text
    html = render(report)
    assert "<script>alert" not in html and escape(L_EVIL) in html and escape(L_EMPTY) in html
    assert "<b>&amp; co</b>" not in html and escape("Awkward <b>&amp; co</b>") in html
    assert "1.30%" in html and "2.50%" in html
    markdown = to_markdown(report)
    assert "<script>" not in markdown and "=cmd\\|" in markdown  # the | cannot split a row
    terminal = terminal_summary(report)
    line = next(t for t in terminal.splitlines() if t.startswith(L_LONG))
    assert line.split()[-2:] == ["1.30%", "2.50%"]


def test_a_campaign_whose_posts_all_lack_impressions_says_so(engine: Any) -> None:
    from datetime import timedelta

    from tests.reports.awkward import building

    start, day = AS_OF - timedelta(days=20), timedelta(days=1)
    with building(engine, now=start - day) as b:
        b.campaign("ni", title="No impressions")
        x = b.channel("ni-x", "x")
        audience = b.audience("ni", "a", name="A", channels=[x])
        for i in range(3):
            d = b.delivery(b.post("ni", audiences=[audience]), x, due_at=start + i * day)
            b.snapshot(d, start + (i + 8) * day, impressions=None, likes=5, reposts=1, replies=0,
                       quotes=0)  # fmt: skip
    report = _report(engine)
    # X gives impressions: these posts' exposure is unknown (not "no figures", and not a
    # platform that gives none).
    assert report.summary.sentences == (
        "No impressions (ni): no engagement rate at 7 days: the engagements or exposure of 3 "
        "posts are unknown (see data quality).",
    )
    (card,) = report.cards
    reach = next(f for f in card.figures if f.label == "Reach (impressions)")
    assert reach.value is None
    assert reach.note == "unknown: missing on the 3 posts whose platform gives them"
