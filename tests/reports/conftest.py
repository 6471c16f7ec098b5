"""A small fixed history whose figures are computed by hand in the tests, written into a real
database (each test using it runs on SQLite and on PostgreSQL).

Campaign ``de``; channels X (gives impressions, link clicks) and Mastodon (no impressions, no
quotes). Audience "Public" (Europe/Berlin) is reached by X and Mastodon, "Think tanks"
(Asia/Shanghai) by X only. Report time: 2027-03-10 12:00 UTC.

=====  ====  ========  =================  =========================================================
 d     post  channel   state              snapshots (age: impressions/likes/reposts/replies/quotes)
=====  ====  ========  =================  =========================================================
 d1    P1    X         published 03-01    inserted 48h, 1h, 12h: 1h 500/8/1/1/0 · 12h 1400/20/2/2/0
       (Public + Think tanks)  10:00 UTC  · 48h 2000/30/6/3/1 (eng 40), 10 link clicks
 d2    P1    Mastodon  published 03-01    2h –/5/1/0/– · 30h –/9/2/1/– (eng 12; 2000 followers)
 d3    P2    X         published 03-02    24h 1000/15/3/2/0 (eng 20) · 192h 1750/22/4/3/1 (eng 30),
       (Public)                           6 link clicks
 d4    P3    X         published 03-03    1h 300/3/0/0/0, then a ``deleted`` snapshot at 5h
       (Think tanks)
 d5    P4    X         missed
 d6    P4    Mastodon  failed
 d7    P5    X         published 03-10    1h 80/2/0/0/0 · a snapshot after the report time
       (Think tanks)   02:00 (10 h old)   (200/50/...) that must be ignored
=====  ====  ========  =================  =========================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.cli.conftest import run  # noqa: F401  (the CLI fixture, shared with these tests)

AS_OF = datetime(2027, 3, 10, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)


@dataclass(frozen=True)
class Fixed:
    engine: Any
    public: int
    thinktanks: int
    x: int
    mastodon: int
    d: dict[str, int]


def build_fixed(engine: Any) -> Fixed:
    from reports.synthetic import Builder

    with engine.begin() as conn:
        b = Builder(conn, now=datetime(2027, 2, 1, tzinfo=UTC))
        b.campaign("de", title="Kasachstan in Deutschland")
        x = b.channel("de-x", "x")
        mastodon = b.channel("de-mastodon", "mastodon")
        public = b.audience("de", "public", name="Public", channels=[x, mastodon])
        thinktanks = b.audience(
            "de", "thinktanks", name="Think tanks", channels=[x], timezone="Asia/Shanghai"
        )
        p1 = b.post("de", audiences=[public, thinktanks], narrative="gateway", variant="A")
        p2 = b.post("de", audiences=[public], narrative="heritage", variant="B")
        p3 = b.post("de", audiences=[thinktanks], narrative="gateway")
        p4 = b.post("de", audiences=[public], narrative="heritage")
        p5 = b.post("de", audiences=[thinktanks], narrative="gateway")
        t1 = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)
        t2 = datetime(2027, 3, 1, 10, 5, tzinfo=UTC)
        t3 = datetime(2027, 3, 2, 10, 0, tzinfo=UTC)
        t4 = datetime(2027, 3, 3, 9, 0, tzinfo=UTC)
        t7 = datetime(2027, 3, 10, 2, 0, tzinfo=UTC)
        d = {
            "d1": b.delivery(p1, x, due_at=t1, audience_id=public, remote_url="https://x.com/e/1"),
            "d2": b.delivery(p1, mastodon, due_at=t2, audience_id=public),
            "d3": b.delivery(p2, x, due_at=t3, audience_id=public, remote_url="https://x.com/e/3"),
            "d4": b.delivery(
                p3, x, due_at=t4, audience_id=thinktanks, remote_deleted_at=t4 + 5 * H
            ),
            "d5": b.delivery(p4, x, due_at=t3, state="missed", audience_id=public),
            "d6": b.delivery(p4, mastodon, due_at=t3, state="failed", audience_id=public),
            "d7": b.delivery(p5, x, due_at=t7, audience_id=thinktanks, collect_failures=2),
        }

        def x_snap(
            key: str, at: datetime, imp: int, lk: int, rp: int, rl: int, qt: int, **kw: Any
        ) -> None:
            b.snapshot(
                d[key],
                at,
                impressions=imp,
                likes=lk,
                reposts=rp,
                replies=rl,
                quotes=qt,
                followers=10_000,
                **kw,
            )

        x_snap("d1", t1 + 48 * H, 2000, 30, 6, 3, 1, link_clicks=10)
        x_snap("d1", t1 + 1 * H, 500, 8, 1, 1, 0, link_clicks=2)
        x_snap("d1", t1 + 12 * H, 1400, 20, 2, 2, 0, link_clicks=6)
        b.snapshot(d["d2"], t2 + 2 * H, likes=5, reposts=1, replies=0, followers=2000)
        b.snapshot(d["d2"], t2 + 30 * H, likes=9, reposts=2, replies=1, followers=2000)
        x_snap("d3", t3 + 24 * H, 1000, 15, 3, 2, 0, link_clicks=4)
        x_snap("d3", t3 + 192 * H, 1750, 22, 4, 3, 1, link_clicks=6)
        x_snap("d4", t4 + 1 * H, 300, 3, 0, 0, 0)
        b.snapshot(d["d4"], t4 + 5 * H, deleted=True)
        x_snap("d7", t7 + 1 * H, 80, 2, 0, 0, 0)
        x_snap("d7", AS_OF + 2 * H, 200, 50, 9, 9, 9)
        b.followers(x, datetime(2027, 3, 1, 6, 0, tzinfo=UTC), 10_000)
        b.followers(x, datetime(2027, 3, 9, 6, 0, tzinfo=UTC), 10_100)
        b.followers(mastodon, datetime(2027, 3, 1, 6, 0, tzinfo=UTC), 2000)
    return Fixed(engine, public, thinktanks, x, mastodon, d)


@pytest.fixture
def fixed(engine: Any) -> Fixed:
    return build_fixed(engine)


@pytest.fixture
def fixed_report(fixed: Fixed) -> Any:
    from reports.data import Scope, load
    from reports.figures import build_report

    return build_report(load(fixed.engine, Scope(as_of=AS_OF)), generated_at=AS_OF)


def row(table: Any, **match: Any) -> dict[str, Any]:
    """The one row of a report table whose columns equal ``match``."""
    frame = table.frame
    for key, value in match.items():
        frame = frame[frame[key] == value]
    assert len(frame) == 1, f"{len(frame)} rows match {match} in {table.name}"
    return dict(frame.iloc[0])
