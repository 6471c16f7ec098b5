"""A second small hand-built history for an independent check of issue 10's reports
(tests/reports/test_rechecked.py works out every expected figure by hand from docs/metrics.md).
Its traps differ from `tests.reports.checked`'s: an X post whose snapshots lack impressions
(its exposure unknown, never moved to the rate by followers) beside one reporting 0; a Bluesky
post whose counters fall back to 0 (deleted remotely, never flagged); an audience in Asia/Kolkata
(UTC+05:30: a post at 03:45 UTC is 09:15 there, not 08:45 or 09:45); Berlin's autumn fall-back
hour, when 02:30 happens twice (00:30 and 01:30 UTC); a message variant with one Mastodon post
(a platform too small for a fitted prior); an audience no post targets; audience names with
HTML, CSV-formula and Markdown characters, a CJK name and a long German compound.

Report time AS_OF = 2027-11-15 12:00 UTC. Campaign ``aw``.

Channels: aw-x (x; samples 09-01 5000, 11-01 5100), aw-b (bluesky; 10-01 00:00 800), aw-m
(mastodon, no quotes; sample 11-01 320 only, after its post).

Audiences: EVIL (Europe/Berlin: x, b), IND "印度商界人士" (Asia/Kolkata: x, b), LONG (Europe/Berlin:
x, m), EMPTY "Nobody posts here" (x; no post targets it).

=====  ==========  =======  ================  =============================================
 key   post        channel  published (UTC)   snapshots (age: impressions/likes/reposts/replies/quotes)
=====  ==========  =======  ================  =============================================
 x1    P1 A n1     x        10-01 04:30       24h –/5/1/0/0 · 168h –/9/1/0/0 (no impressions)
       (EVIL IND)
 x2a   P2 B n2     x occ 0  10-31 00:30       24h 1000/10/2/1/0 · 168h 2000/20/4/2/0
 x2b   (LONG)      x occ 1  10-31 01:30       the same (both 02:30 in Berlin, CEST then CET)
 b3    P3 n1       b        10-05 09:00       24h –/10/2/1/0 · 168h –/0/0/0/0 (gone remotely)
       (EVIL IND)
 m4    P4 C n2     m        10-10 09:00       24h –/3/1/0/– · 168h –/6/1/1/– (followers 300, 310)
       (LONG)
 x5    P5 A n1     x        10-12 03:45       24h 0/0/0/0/0 · 168h 0/0/0/0/0 (0 impressions)
       (IND)
 x6    P6 A n1     x        10-20 03:45       24h 500/10/1/0/0 · 168h 1000/30/3/2/1
       (IND)
=====  ==========  =======  ================  =============================================
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

AS_OF = datetime(2027, 11, 15, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
EVIL = "=cmd|' /C calc'!A0 <script>alert(1)</script>"
IND = "印度商界人士"
LONG = "Donaudampfschifffahrtsgesellschaftskapitänswitwenrentenversicherungsanstalt Öffentlichkeit"
EMPTY = "Nobody posts here"


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2027, month, day, hour, minute, tzinfo=UTC)


PUBLISHED = {
    "x1": at(10, 1, 4, 30),
    "x2a": at(10, 31, 0, 30),
    "x2b": at(10, 31, 1, 30),
    "b3": at(10, 5, 9),
    "m4": at(10, 10, 9),
    "x5": at(10, 12, 3, 45),
    "x6": at(10, 20, 3, 45),
}


def build(engine: Any) -> dict[str, int]:
    """The history above; delivery key → id."""
    from reports.synthetic import Builder

    with engine.begin() as conn:
        b = Builder(conn, now=at(9, 1, 0))
        b.campaign("aw", title="Awkward <b>&amp; co</b>")
        x, bs, m = (
            b.channel("aw-x", "x"),
            b.channel("aw-b", "bluesky"),
            b.channel("aw-m", "mastodon"),
        )
        evil = b.audience("aw", "evil", name=EVIL, channels=[x, bs])
        ind = b.audience("aw", "ind", name=IND, channels=[x, bs], timezone="Asia/Kolkata")
        long = b.audience("aw", "long", name=LONG, channels=[x, m])
        b.audience("aw", "empty", name=EMPTY, channels=[x])
        p1 = b.post("aw", audiences=[evil, ind], key="P1", narrative="n1", variant="A")
        p2 = b.post("aw", audiences=[long], key="P2", narrative="n2", variant="B")
        p3 = b.post("aw", audiences=[evil, ind], key="P3", narrative="n1")
        p4 = b.post("aw", audiences=[long], key="P4", narrative="n2", variant="C")
        p5 = b.post("aw", audiences=[ind], key="P5", narrative="n1", variant="A")
        p6 = b.post("aw", audiences=[ind], key="P6", narrative="n1", variant="A")
        when = PUBLISHED
        d = {
            "x1": b.delivery(p1, x, due_at=when["x1"]),
            "x2a": b.delivery(p2, x, due_at=when["x2a"], occurrence=0),
            "x2b": b.delivery(p2, x, due_at=when["x2b"], occurrence=1),
            "b3": b.delivery(p3, bs, due_at=when["b3"]),
            "m4": b.delivery(p4, m, due_at=when["m4"]),
            "x5": b.delivery(p5, x, due_at=when["x5"]),
            "x6": b.delivery(p6, x, due_at=when["x6"]),
        }

        def snap(key: str, hours: int, *values: int | None, **kw: Any) -> None:
            imp, lk, rp, rl, qt = values
            b.snapshot(
                d[key],
                when[key] + hours * H,
                impressions=imp,
                likes=lk,
                reposts=rp,
                replies=rl,
                quotes=qt,
                **kw,
            )

        snap("x1", 24, None, 5, 1, 0, 0)
        snap("x1", 168, None, 9, 1, 0, 0)
        for key in ("x2a", "x2b"):
            snap(key, 24, 1000, 10, 2, 1, 0)
            snap(key, 168, 2000, 20, 4, 2, 0)
        snap("b3", 24, None, 10, 2, 1, 0)
        snap("b3", 168, None, 0, 0, 0, 0)
        snap("m4", 24, None, 3, 1, 0, None, followers=300)
        snap("m4", 168, None, 6, 1, 1, None, followers=310)
        snap("x5", 24, 0, 0, 0, 0, 0)
        snap("x5", 168, 0, 0, 0, 0, 0)
        snap("x6", 24, 500, 10, 1, 0, 0)
        snap("x6", 168, 1000, 30, 3, 2, 1)
        b.followers(x, at(9, 1, 0), 5000)
        b.followers(x, at(11, 1, 0), 5100)
        b.followers(bs, at(10, 1, 0), 800)
        b.followers(m, at(11, 1, 0), 320)
    return d
