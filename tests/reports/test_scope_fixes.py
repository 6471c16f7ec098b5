"""Report leftovers of issue 10 found after its check, each on a small history worked out by
hand from docs/metrics.md: the audiences a channel's report lists; outcomes of audiences without
posts on the AMEC ladder; the snapshots a post is counted with when one supersedes another.
"""

from __future__ import annotations

import math
from typing import Any

from reports.model import is_missing
from reports.render_text import to_markdown
from tests.reports.awkward import T0, D, H, building, one, report_of


def _three_audiences(engine: Any) -> dict[str, int]:
    """Campaign ``ch``: "Public" reached by X and Mastodon, "Press" by X only, "Diaspora" by
    Mastodon only. One post to Public and Press goes out on both channels."""
    with building(engine) as b:
        b.campaign("ch")
        x, m = b.channel("ch-x", "x"), b.channel("ch-m", "mastodon")
        public = b.audience("ch", "public", name="Public", channels=[x, m])
        press = b.audience("ch", "press", name="Press", channels=[x])
        diaspora = b.audience("ch", "diaspora", name="Diaspora", channels=[m])
        post = b.post("ch", audiences=[public, press])
        on_x = b.delivery(post, x, due_at=T0)
        on_m = b.delivery(post, m, due_at=T0 + H)
        b.snapshot(on_x, T0 + 2 * D, impressions=1000, likes=10, reposts=0, replies=0, quotes=0)
        b.snapshot(on_m, T0 + 2 * D, likes=4, reposts=1, replies=0, followers=500)
    return {"public": public, "press": press, "diaspora": diaspora, "x": on_x, "m": on_m}


def test_a_channels_report_lists_only_the_audiences_that_channel_reaches(engine: Any) -> None:
    _three_audiences(engine)
    report = report_of(engine, T0 + 10 * D, channel="ch-m")
    volume = report.table("audience_volume").frame
    # Press is not reached through Mastodon: it was a row of zeros, as if something planned for
    # it had not gone out there. Diaspora is reached through Mastodon and nothing was planned
    # for it: a row of zeros, said so in the data-quality panel.
    assert sorted(volume["audience_label"]) == ["Diaspora · ch", "Public · ch"]
    assert one(report.table("audience_volume"), audience_label="Public · ch")["published"] == 1
    assert one(report.table("audience_volume"), audience_label="Diaspora · ch")["published"] == 0
    unreached = one(report.table("data_quality"), check="Audiences no delivery reaches")
    assert unreached["count"] == 1
    assert unreached["detail"].endswith(": Diaspora · ch")
    # Through X: Public and Press (both reached by the post), not Diaspora.
    on_x = report_of(engine, T0 + 10 * D, channel="ch-x").table("audience_volume").frame
    assert sorted(on_x["audience_label"]) == ["Press · ch", "Public · ch"]
    # Without a channel every audience of the campaign is listed, as before.
    every = report_of(engine, T0 + 10 * D).table("audience_volume").frame
    assert sorted(every["audience_label"]) == ["Diaspora · ch", "Press · ch", "Public · ch"]


def test_a_superseded_snapshot_is_not_counted_as_a_measurement_of_its_own(engine: Any) -> None:
    with building(engine) as b:
        b.campaign("sup")
        x = b.channel("sup-x", "x")
        audience = b.audience("sup", "a", channels=[x])
        d = b.delivery(b.post("sup", audiences=[audience]), x, due_at=T0)

        def snap(at: Any, likes: int) -> None:
            b.snapshot(d, at, impressions=1000, likes=likes, reposts=0, replies=0, quotes=0)

        # 24 h · 48 h stored with 30 likes, then corrected to 15 at the same instant · 5 d.
        snap(T0 + D, 10)
        snap(T0 + 2 * D, 30)
        snap(T0 + 2 * D, 15)
        snap(T0 + 5 * D, 20)
    # As of 3 d the seek query reads the snapshots (the write-time summary covers all four):
    # two instants measured, 24 h and 48 h; the 48 h value is the one stored last.
    early = one(report_of(engine, T0 + 3 * D).table("posts"), delivery_id=d)
    assert (early["snapshots"], early["likes"]) == (2, 15)
    # As of 10 d from the write-time summary: three instants, not four snapshots.
    late = one(report_of(engine, T0 + 10 * D).table("posts"), delivery_id=d)
    assert (late["snapshots"], late["likes"]) == (3, 20)


def _outcome(b: Any, audience: int | None, metric: str, value: float, day: int) -> None:
    from sqlalchemy import insert

    from campaigns.schema import Outcome

    b.conn.execute(
        insert(Outcome),
        [
            {
                "campaign_id": "oc",
                "audience_id": audience,
                "on_date": (T0 + day * D).date(),
                "metric": metric,
                "value": value,
                "source": "Eventbrite",
                "imported_from": "o.csv",
                "imported_at": T0,
            }
        ],
    )


def test_every_audience_is_a_row_of_the_amec_ladder_with_or_without_posts(engine: Any) -> None:
    with building(engine) as b:
        b.campaign("oc")
        x = b.channel("oc-x", "x")
        public = b.audience("oc", "public", name="Public", channels=[x])
        lapsed = b.audience("oc", "lapsed", name="Lapsed", channels=[x])
        alumni = b.audience("oc", "alumni", name="Alumni", channels=[x])
        b.audience("oc", "quiet", name="Quiet", channels=[x])
        d = b.delivery(b.post("oc", audiences=[public]), x, due_at=T0)
        b.snapshot(d, T0 + 2 * D, impressions=1000, likes=40, reposts=5, replies=5, quotes=0)
        b.delivery(b.post("oc", audiences=[lapsed]), x, due_at=T0 + H, state="missed")
        _outcome(b, public, "event_registrations", 30, 1)
        _outcome(b, alumni, "event_registrations", 7, 2)
        _outcome(b, alumni, "event_registrations", 5, 3)
        _outcome(b, lapsed, "survey_awareness", 0.25, 2)
    report = report_of(engine, T0 + 10 * D)
    ladder = report.table("amec")
    # The ladder has the volume table's rows: Alumni's 7 + 5 registrations were left out of it
    # (no post, so no row), while Lapsed, whose one delivery was missed, had one.
    assert ladder.frame["audience_label"].tolist() == [
        "Alumni · oc",
        "Lapsed · oc",
        "Public · oc",
        "Quiet · oc",
    ]
    public = one(ladder, audience_label="Public · oc")
    assert (public["published"], public["engagements"], public["er_impr"]) == (1, 50, 50 / 1000)
    assert public["outcomes"] == "event_registrations 30"
    # Without posts, Alumni and Lapsed read alike: 0 published, nothing measured, out-takes
    # n/a (never 0), and their outcomes (a count summed, a level's latest value).
    alumni = one(ladder, audience_label="Alumni · oc")
    lapsed = one(ladder, audience_label="Lapsed · oc")
    assert alumni["outcomes"] == "event_registrations 12"
    assert lapsed["outcomes"] == "survey_awareness 0.25"
    assert is_missing(one(ladder, audience_label="Quiet · oc")["outcomes"])
    for name in ("published", "posts_with_impressions", "er_impr_posts", "er_foll_posts"):
        assert alumni[name] == lapsed[name] == 0, name
    for name in ("impressions", "engagements", "er_impr", "er_foll", "link_clicks"):
        assert math.isnan(alumni[name]) and math.isnan(lapsed[name]), name
    text = to_markdown(report).split("### Evaluation ladder", 1)[1]
    assert "event\\_registrations 12" in next(
        line for line in text.splitlines() if line.startswith("| Alumni · oc")
    )
