"""Defect class 3: a report as of a past time T is reproducible. The period chooses which
deliveries count; the report time T says what was known: deliveries created by T, their state
at T (a publication after T is not known at T), snapshots, deletions, follower samples and
outcomes recorded by T. A report as of T comes out identical before and after later data."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, update

from tests.cli.conftest import Run
from tests.reports.awkward import T0, D, H, building, one, report_of

T = T0 + 10 * D
LABEL = "All · c"


def _audit(b: Any, delivery: int, at: datetime, before: str | None, after: str) -> None:
    from campaigns.schema import AuditEntry

    b.conn.execute(
        insert(AuditEntry),
        [
            {
                "at": at,
                "actor": "test",
                "entity": "delivery",
                "entity_id": str(delivery),
                "from_state": before,
                "to_state": after,
            }
        ],
    )


def _snap(b: Any, delivery: int, at: datetime, impressions: int, likes: int) -> None:
    b.snapshot(
        delivery,
        at,
        impressions=impressions,
        likes=likes,
        reposts=1,
        replies=0,
        quotes=0,
        followers=5000,
    )


def _world_at_t(engine: Any) -> dict[str, int]:
    """The store as it stood at T."""
    with building(engine, now=T0 - 5 * D) as b:
        b.campaign("c")
        x = b.channel("x", "x")
        everyone = b.audience("c", "all", name="All", channels=[x])
        ids: dict[str, int] = {"x": x}
        for key, due, state in (
            ("d1", T0, "published"),
            ("d2", T0 + 2 * D, "published"),
            ("d3", T0 + 1 * D, "published"),
            ("d4", T0 + 9 * D, "scheduled"),  # retrying at T; it goes out at T + 1 h
            ("d5", T0 + 20 * D, "approved"),  # due after T
            ("d7", T - 2 * H, "approved"),  # missed only at T + 1 h, by the sweep
        ):
            post = b.post("c", audiences=[everyone], key=key)
            ids[key] = b.delivery(post, x, due_at=due, state=state)
            _audit(b, ids[key], T0 - 5 * D, "draft", "approved")
        _audit(b, ids["d4"], T0 + 9 * D + 1 * H, "publishing", "scheduled")  # a retry
        _snap(b, ids["d1"], T0 + 1 * D, 800, 10)
        _snap(b, ids["d1"], T0 + 8 * D, 1000, 14)
        _snap(b, ids["d2"], T0 + 3 * D, 400, 6)
        _snap(b, ids["d3"], T0 + 1 * D + 6 * H, 300, 3)
        b.followers(x, T0 - 1 * D, 5000)
        b.followers(x, T - 1 * D, 5100)
    return ids


def _later_data(engine: Any, ids: dict[str, int]) -> None:
    """What happened after T: snapshots, a deletion, follower samples, a publication, a missed
    delivery, a delivery and an outcome recorded later."""
    from campaigns.schema import Delivery, Outcome

    with building(engine, now=T + 1 * D) as b:
        _snap(b, ids["d2"], T + 1 * D, 900, 30)
        _snap(b, ids["d1"], T + 3 * D, 1100, 15)
        b.conn.execute(
            update(Delivery)
            .where(Delivery.id == ids["d3"])
            .values(remote_deleted_at=T + 2 * D, updated_at=T + 2 * D)
        )
        b.snapshot(ids["d3"], T + 2 * D, deleted=True)
        b.followers(ids["x"], T + 1 * D, 9000)
        b.conn.execute(
            update(Delivery)
            .where(Delivery.id == ids["d4"])
            .values(
                state="published",
                published_at=T + 1 * H,
                remote_url="https://x.com/e/4",
                updated_at=T + 1 * H,
            )
        )
        _audit(b, ids["d4"], T + 1 * H, "publishing", "published")
        _snap(b, ids["d4"], T + 2 * H, 50, 5)
        b.conn.execute(
            update(Delivery)
            .where(Delivery.id == ids["d7"])
            .values(state="missed", updated_at=T + 1 * H)
        )
        _audit(b, ids["d7"], T + 1 * H, "approved", "missed")
        b.conn.execute(
            insert(Outcome).values(
                campaign_id="c",
                audience_id=None,
                on_date=date(2027, 5, 5),
                metric="event_registrations",
                value=40,
                source="form",
                imported_at=T + 1 * D,
            )
        )
        post = b.post("c", audiences=[], key="late")
        b.delivery(post, ids["x"], due_at=T0 + 4 * D)  # created after T, dated before it


def _figures(report: Any) -> str:
    from reports.render_data import to_json

    document = json.loads(to_json(report))
    document.pop("generated_at")
    return json.dumps(document, sort_keys=True)


def test_a_report_as_of_t_is_identical_before_and_after_later_data(engine: Any) -> None:
    ids = _world_at_t(engine)
    before = report_of(engine, T)
    _later_data(engine, ids)
    after = report_of(engine, T)
    assert _figures(after) == _figures(before)
    assert [c.figures for c in after.cards] == [c.figures for c in before.cards]
    assert after.summary.to_dict() == before.summary.to_dict()


def test_what_was_known_at_t_by_hand(engine: Any) -> None:
    ids = _world_at_t(engine)
    _later_data(engine, ids)
    report = report_of(engine, T)
    volume = one(report.table("audience_volume"), audience_label=LABEL)
    # d1, d2, d3 published by T; d4 went out after T, d5 is due later, d7 was not missed yet.
    assert (volume["published"], volume["waiting"], volume["missed"]) == (3, 3, 0)
    assert volume["deleted_after"] == 0  # d3's deletion was recorded after T
    engagement = one(report.table("audience_engagement"), audience_label=LABEL)
    # d1 at 8 d: 1000 impressions, 15 engagements; d2 at 3 d: 400, 7; d3 at 30 h: 300, 4.
    assert engagement["er_impr"] == pytest.approx((15 + 7 + 4) / (1000 + 400 + 300))
    growth = one(report.table("follower_growth"), channel="x")
    assert (growth["start"], growth["end"]) == (5000, 5100)
    assert report.table("outcomes").frame.empty
    posts = report.table("posts").frame
    assert set(posts["post_key"]) == {"d1", "d2", "d3", "d4", "d5", "d7"}  # not "late"
    assert posts.set_index("post_key").loc["d4", "state"] == "scheduled"


def test_a_report_now_sees_the_later_data(engine: Any) -> None:
    ids = _world_at_t(engine)
    _later_data(engine, ids)
    volume = one(report_of(engine, T + 5 * D).table("audience_volume"), audience_label=LABEL)
    assert (volume["published"], volume["missed"], volume["deleted_after"]) == (4, 1, 1)


def test_the_period_does_not_move_the_report_time(
    workspace: Path, run: Run, sqlite_url: str
) -> None:
    from campaigns.store import make_engine, upgrade

    engine = make_engine(f"sqlite:///{workspace / 'elshi.db'}")
    upgrade(engine)
    ids = _world_at_t(engine)
    _later_data(engine, ids)
    engine.dispose()
    at = T.strftime("%Y-%m-%dT%H:%M")
    document = json.loads(
        run("report", "--as-of", at, "--until", "2027-07-31", "--format", "json").output
    )
    assert document["as_of"].startswith(at)
    rows = document["tables"]["audience_volume"]["rows"]
    assert rows[0]["published"] == 3  # d4, published after T, is not counted as published
