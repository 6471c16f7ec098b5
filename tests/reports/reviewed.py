"""A small hand-built history for the reviewer's check of issue 10 (tests/reports/test_reviewed.py):
every figure is computed by hand in that test from docs/metrics.md. It differs from the other
awkward sets: an autumn daylight-saving switch (Australia/Sydney, 2027-04-04), a Telegram
channel (likes and followers only), a sandbox channel imitating Bluesky, an X post reporting 0
impressions beside an X post whose impressions are missing (NULL) in its snapshots, a recurring
post, a thread continuation on Mastodon, and data recorded after the report time.

Report time AS_OF = 2027-04-20 12:00 UTC. Campaign ``au``.

Channels (followers sampled 03-25; later samples as listed):

====  =========  ===========================  ======================================
 ch   platform   counters given               follower samples (UTC)
====  =========  ===========================  ======================================
 x    x          impressions, likes, reposts, 03-25 5000 · 04-10 5100 · 04-21 9999 (after)
                 replies, quotes, bookmarks,
                 link_clicks
 m    mastodon   likes, reposts, replies,     03-25 800 · 04-15 820
                 quotes
 t    telegram   likes                        03-25 3000 · 04-05 3060 · 04-19 3100 ·
                                              04-20 13:00 5000 (after)
 s    sandbox    likes, reposts, replies,     03-25 1000 (simulated)
      (bluesky)  quotes, bookmarks
====  =========  ===========================  ======================================

Audiences: SYD "悉尼华人 · Sydney Chinese" (Australia/Sydney) reached by x and t; DE
"Wirtschaftsverbände und Außenhandelskammern" (Europe/Berlin) reached by x, m and s.

Deliveries (published at the due time unless said; snapshot ages from publication;
X: impressions/likes/reposts/replies/quotes/bookmarks/link clicks):

=====  ====  ==========  ================  ===================================================
 key   post  channel     published (UTC)   snapshots
=====  ====  ==========  ================  ===================================================
 x1    P1    x           03-30 23:00       24h 1000/10/2/1/0/3/5 · 168h 2000/20/4/2/1/5/8 ·
       (SYD+DE)                            240h 2500/25/5/3/1/6/10 · a snapshot after AS_OF
 m1    P1    m           03-30 23:05       24h likes 4 reposts 1 replies 1 quotes 0 ·
                                           200h 8/2/3/1 (one of the replies is ours: mr)
 mr    R     m (reply    03-30 23:10       200h 1/0/0/0
       (DE)  to P1)
 t1    P1    t           03-30 23:02       24h likes 30 · 168h 60 · 300h 66
 x2    P2    x           04-06 23:00       24h 0/0/0/0/0/0/0 · 170h 0/0/0/0/0/0/0
       (SYD)
 x3    P3    x           04-01 23:00       24h NULL/3/0/0/0 · 190h NULL/6/1/0/0/0/NULL
       (SYD)
 x4a   P4    x occ. 0    03-31 09:00       168h 400/4/0/0/0/0/1 · 240h 500/5/1/0/0/0/2
 x4b   (DE)  x occ. 1    04-07 09:00       24h 300/3/0/0/0/0/1 · 168h 600/9/1/1/1/0/3
 x5    P5    x           04-01 09:00       24h 100/1/0/0/0/0/0; deleted 04-03 09:00
       (DE)
 m6    P6    m           04-02 09:00       24h 2/0/0/0 · 192h 6/1/0/0; deleted at AS_OF + 1 d
       (DE)                                (deletion and a ``deleted`` snapshot after AS_OF)
 t7    P7    t           AS_OF − 10 h      1h likes 5
       (SYD)
 t12   P12   t           04-08 23:00       24h likes 20 · 168h 40 (after the switch: 09:00 in
       (SYD)                               Sydney, where 23:00 UTC was 10:00 before it)
 s8    P8    s           04-05 09:00       24h 10/2/1/0/1 · 169h 20/3/2/1/2 (simulated)
       (DE)
 x9    P9    x           missed (04-03 09:00)
 m9    P9    m           failed (04-03 09:00)
 x10   P10   x           due AS_OF − 1 h, published AS_OF + 1 h (not yet published at AS_OF)
       (SYD)
 x11   P11   x           created after AS_OF (unknown at AS_OF), published AS_OF − 2 d
       (SYD)
=====  ====  ==========  ================  ===================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

AS_OF = datetime(2027, 4, 20, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)
M = timedelta(minutes=1)
SYD = "悉尼华人 · Sydney Chinese"
DE = "Wirtschaftsverbände und Außenhandelskammern"
SYD_LABEL = f"{SYD} · au"
DE_LABEL = f"{DE} · au"
IMITATES = {"rv-s": "bluesky"}

T1 = datetime(2027, 3, 30, 23, 0, tzinfo=UTC)
T2 = datetime(2027, 4, 6, 23, 0, tzinfo=UTC)
T3 = datetime(2027, 4, 1, 23, 0, tzinfo=UTC)
T4A = datetime(2027, 3, 31, 9, 0, tzinfo=UTC)
T4B = datetime(2027, 4, 7, 9, 0, tzinfo=UTC)
T5 = datetime(2027, 4, 1, 9, 0, tzinfo=UTC)
T6 = datetime(2027, 4, 2, 9, 0, tzinfo=UTC)
T7 = AS_OF - 10 * H
T8 = datetime(2027, 4, 5, 9, 0, tzinfo=UTC)
T9 = datetime(2027, 4, 3, 9, 0, tzinfo=UTC)
T12 = datetime(2027, 4, 8, 23, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Reviewed:
    engine: Any
    d: dict[str, int]
    channels: dict[str, int]


def _x(b: Any, d: int, at: datetime, *values: int | None) -> None:
    imp, lk, rp, rl, qt, bm, lc = values
    b.snapshot(
        d,
        at,
        impressions=imp,
        likes=lk,
        reposts=rp,
        replies=rl,
        quotes=qt,
        bookmarks=bm,
        link_clicks=lc,
        followers=5000,
    )


def _m(b: Any, d: int, at: datetime, lk: int, rp: int, rl: int, qt: int) -> None:
    b.snapshot(d, at, likes=lk, reposts=rp, replies=rl, quotes=qt, followers=800)


def build_known(engine: Any) -> Reviewed:
    """The store as it stood at AS_OF (nothing recorded after it)."""
    from reports.synthetic import Builder

    with engine.begin() as conn:
        b = Builder(conn, now=datetime(2027, 3, 1, tzinfo=UTC))
        b.campaign("au", title="Kasachstan – Australien 2027", country="AU")
        x = b.channel("rv-x", "x")
        m = b.channel("rv-m", "mastodon")
        t = b.channel("rv-t", "telegram")
        s = b.channel("rv-s", "sandbox")
        syd = b.audience(
            "au", "syd", name=SYD, channels=[x, t], timezone="Australia/Sydney", languages=["zh"]
        )
        de = b.audience("au", "wirt", name=DE, channels=[x, m, s])
        p1 = b.post("au", audiences=[syd, de], key="P1", narrative="silk", variant="A")
        r = b.post("au", audiences=[de], key="R", narrative="silk", reply_to=p1)
        p2 = b.post("au", audiences=[syd], key="P2", narrative="silk", variant="B")
        p3 = b.post("au", audiences=[syd], key="P3", narrative="steppe")
        p4 = b.post("au", audiences=[de], key="P4", narrative="steppe")
        p5 = b.post("au", audiences=[de], key="P5", narrative="steppe")
        p6 = b.post("au", audiences=[de], key="P6", narrative="silk")
        p7 = b.post("au", audiences=[syd], key="P7", narrative="silk")
        p8 = b.post("au", audiences=[de], key="P8", narrative="steppe")
        p9 = b.post("au", audiences=[de], key="P9", narrative="steppe")
        p10 = b.post("au", audiences=[syd], key="P10", narrative="silk")
        p12 = b.post("au", audiences=[syd], key="P12", narrative="steppe", variant="B")
        syd_tz = "Australia/Sydney"
        d = {
            "x1": b.delivery(p1, x, due_at=T1, remote_url="https://x.com/rv/1", timezone=syd_tz),
            "m1": b.delivery(p1, m, due_at=T1 + 5 * M),
            "mr": b.delivery(r, m, due_at=T1 + 10 * M),
            "t1": b.delivery(p1, t, due_at=T1 + 2 * M, timezone=syd_tz),
            "x2": b.delivery(p2, x, due_at=T2, timezone=syd_tz),
            "x3": b.delivery(p3, x, due_at=T3, timezone=syd_tz),
            "x4a": b.delivery(p4, x, due_at=T4A, occurrence=0),
            "x4b": b.delivery(p4, x, due_at=T4B, occurrence=1),
            "x5": b.delivery(p5, x, due_at=T5, remote_deleted_at=T5 + 2 * D),
            "m6": b.delivery(p6, m, due_at=T6),
            "t7": b.delivery(p7, t, due_at=T7, timezone=syd_tz),
            "s8": b.delivery(p8, s, due_at=T8),
            "x9": b.delivery(p9, x, due_at=T9, state="missed"),
            "m9": b.delivery(p9, m, due_at=T9, state="failed"),
            "t12": b.delivery(p12, t, due_at=T12, timezone=syd_tz),
            "x10": b.delivery(p10, x, due_at=AS_OF - H, published_at=AS_OF + H, timezone=syd_tz),
        }
        _x(b, d["x1"], T1 + 24 * H, 1000, 10, 2, 1, 0, 3, 5)
        _x(b, d["x1"], T1 + 168 * H, 2000, 20, 4, 2, 1, 5, 8)
        _x(b, d["x1"], T1 + 240 * H, 2500, 25, 5, 3, 1, 6, 10)
        _m(b, d["m1"], T1 + 5 * M + 24 * H, 4, 1, 1, 0)
        _m(b, d["m1"], T1 + 5 * M + 200 * H, 8, 2, 3, 1)
        _m(b, d["mr"], T1 + 10 * M + 200 * H, 1, 0, 0, 0)
        for hours, likes in ((24, 30), (168, 60), (300, 66)):
            b.snapshot(d["t1"], T1 + 2 * M + hours * H, likes=likes, followers=3000)
        _x(b, d["x2"], T2 + 24 * H, 0, 0, 0, 0, 0, 0, 0)
        _x(b, d["x2"], T2 + 170 * H, 0, 0, 0, 0, 0, 0, 0)
        _x(b, d["x3"], T3 + 24 * H, None, 3, 0, 0, 0, None, None)
        _x(b, d["x3"], T3 + 190 * H, None, 6, 1, 0, 0, 0, None)
        _x(b, d["x4a"], T4A + 168 * H, 400, 4, 0, 0, 0, 0, 1)
        _x(b, d["x4a"], T4A + 240 * H, 500, 5, 1, 0, 0, 0, 2)
        _x(b, d["x4b"], T4B + 24 * H, 300, 3, 0, 0, 0, 0, 1)
        _x(b, d["x4b"], T4B + 168 * H, 600, 9, 1, 1, 1, 0, 3)
        _x(b, d["x5"], T5 + 24 * H, 100, 1, 0, 0, 0, 0, 0)
        _m(b, d["m6"], T6 + 24 * H, 2, 0, 0, 0)
        _m(b, d["m6"], T6 + 192 * H, 6, 1, 0, 0)
        b.snapshot(d["t7"], T7 + H, likes=5, followers=3100)
        b.snapshot(d["t12"], T12 + 24 * H, likes=20, followers=3060)
        b.snapshot(d["t12"], T12 + 168 * H, likes=40, followers=3060)
        for hours, values in ((24, (10, 2, 1, 0, 1)), (169, (20, 3, 2, 1, 2))):
            lk, rp, rl, qt, bm = values
            b.snapshot(
                d["s8"],
                T8 + hours * H,
                simulated=True,
                likes=lk,
                reposts=rp,
                replies=rl,
                quotes=qt,
                bookmarks=bm,
                followers=1000,
            )
        march25 = datetime(2027, 3, 25, tzinfo=UTC)
        b.followers(x, march25, 5000)
        b.followers(x, datetime(2027, 4, 10, tzinfo=UTC), 5100)
        b.followers(m, march25, 800)
        b.followers(m, datetime(2027, 4, 15, tzinfo=UTC), 820)
        b.followers(t, march25, 3000)
        b.followers(t, datetime(2027, 4, 5, tzinfo=UTC), 3060)
        b.followers(t, datetime(2027, 4, 19, tzinfo=UTC), 3100)
        b.followers(s, march25, 1000, simulated=True)
    return Reviewed(engine, d, {"x": x, "m": m, "t": t, "s": s})


def add_later(world: Reviewed) -> None:
    """What was recorded after AS_OF: a snapshot, a deletion, follower samples and a delivery
    created later (published before AS_OF by its own clock)."""
    from sqlalchemy import update

    from campaigns.schema import Delivery
    from reports.synthetic import Builder

    d, ch = world.d, world.channels
    with world.engine.begin() as conn:
        b = Builder(conn, now=AS_OF + 2 * H)
        _x(b, d["x1"], AS_OF + 2 * H, 9000, 90, 9, 9, 9, 9, 90)
        b.snapshot(d["m6"], AS_OF + D, deleted=True)
        conn.execute(
            update(Delivery).where(Delivery.id == d["m6"]).values(remote_deleted_at=AS_OF + D)
        )
        b.followers(ch["x"], AS_OF + 12 * H, 9999)
        b.followers(ch["t"], AS_OF + H, 5000)
        p11 = b.post("au", audiences=[], key="P11", narrative="silk")
        x11 = b.delivery(p11, ch["x"], due_at=AS_OF - 2 * D)
        _x(b, x11, AS_OF - D, 7000, 70, 7, 7, 7, 7, 70)


def build(engine: Any) -> Reviewed:
    world = build_known(engine)
    add_later(world)
    return world
