"""A small hand-built history for an independent check of issue 10's reports
(tests/reports/test_checked.py computes every expected figure by hand from docs/metrics.md).
Its traps differ from the other awkward sets: Berlin's autumn daylight-saving switch
(2027-10-31 01:00 UTC) inside the period while Shanghai has none, a post reaching three
audiences, a recurring post published at the same Berlin clock time on both sides of the
switch, counters corrected downwards by the platform, two identical snapshots at the same
instant, a post whose snapshots all fall before 24 h, a post published exactly at the report
time, a deleted post with snapshots after its deletion, a Mastodon channel with no follower
samples, a Bluesky channel sampled only after its post went out, a sandbox channel imitating X,
a Telegram channel whose snapshots give views but no reactions beside one that gives reactions
only, an A/B test whose variant B has only a post younger than 7 days, and a campaign of one
post.

Report time AS_OF = 2027-11-20 12:00 UTC. Campaigns ``ck`` and ``solo``.

Channels: ck-x (x; samples 10-01 5000), ck-t (telegram, likes; 10-01 3000), ck-tv (telegram,
views only; 10-01 2000), ck-m (mastodon, no quotes; no follower sample: snapshots 700 then
720), ck-b (bluesky; samples 11-05 1200, 11-15 1300, 11-21 2000 after AS_OF), ck-s (sandbox
imitating x; 10-01 900, simulated).

Audiences: BER "Berliner Öffentlichkeit" (Europe/Berlin: x, t, m, s), SHA "上海商界"
(Asia/Shanghai: x, t, tv, b), ALM "Alumni" (Europe/Berlin: x, m, b); ``solo``: ONE (m).

=====  =====  =======  ================  ===============================================
 key   post   channel  published (UTC)   snapshots (age: impressions/likes/reposts/replies/quotes)
=====  =====  =======  ================  ===============================================
 x1    P1 A   x        10-28 09:00       24h 1000/20/5/2/1 · 168h 2000/40/8/3/1 ·
       (BER SHA ALM)                     240h 2100/38/8/3/1 (likes corrected 40 → 38)
 x2    P2     x        11-02 09:00       2h 100/1/0/0/0 · 10h 300/6/1/0/0 (nothing later)
       (BER)
 x3a   P3 A   x occ 0  10-26 08:00       168h 500/10/0/0/0
 x3b   (BER   x occ 1  11-09 09:00       168h 800/12/2/1/1 twice (same instant) ·
       SHA)                              200h 850/13/2/1/1
 x5    P5 B   x        AS_OF             at AS_OF 10/1/0/0/0
       (SHA)
 x6    P6     x        10-25 09:00       24h 400/4/0/0/0 · 72h 450/5/0/0/0 · 96h deleted;
       (BER)                             remote_deleted_at 10-27 09:00
 t7    P7     t        10-29 02:00       likes 24h 30 · 168h 50 · 300h 45 (corrected)
       (BER SHA)
 b10   P10    b        11-01 09:00       24h –/10/2/1/0 · 168h –/20/4/2/1
       (SHA ALM)
 s12   P12    s        11-03 09:00       24h 500/5/1/0/0 · 168h 900/9/2/1/0 (simulated)
       (BER)
 m13   P13    m        11-04 09:00       24h –/3/0/1/– · 168h –/6/1/1/–
       (BER ALM)
 tv14  P14    tv       11-05 09:00       views 24h 400 · 168h 900, no reactions
       (SHA)
 m8    P8     m        10-20 10:00       24h –/5/1/0/– · 168h –/9/2/1/–   (campaign solo)
=====  =====  =======  ================  ===============================================
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

AS_OF = datetime(2027, 11, 20, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
BER = "Berliner Öffentlichkeit"
SHA = "上海商界"
ALM = "Alumni"
IMITATES = {"ck-s": "x"}


def at(month: int, day: int, hour: int) -> datetime:
    return datetime(2027, month, day, hour, 0, tzinfo=UTC)


PUBLISHED = {
    "x1": at(10, 28, 9),
    "x2": at(11, 2, 9),
    "x3a": at(10, 26, 8),
    "x3b": at(11, 9, 9),
    "x5": AS_OF,
    "x6": at(10, 25, 9),
    "t7": at(10, 29, 2),
    "m8": at(10, 20, 10),
    "b10": at(11, 1, 9),
    "s12": at(11, 3, 9),
    "m13": at(11, 4, 9),
    "tv14": at(11, 5, 9),
}


@dataclass(frozen=True)
class Checked:
    engine: Any
    d: dict[str, int]


def build(engine: Any) -> Checked:
    from reports.synthetic import Builder

    with engine.begin() as conn:
        b = Builder(conn, now=at(10, 1, 0))
        b.campaign("ck", title="Kasachstan – Herbst 2027")
        b.campaign("solo", title="Solo")
        x, t = b.channel("ck-x", "x"), b.channel("ck-t", "telegram")
        tv, m = b.channel("ck-tv", "telegram"), b.channel("ck-m", "mastodon")
        bs, s = b.channel("ck-b", "bluesky"), b.channel("ck-s", "sandbox")
        ber = b.audience("ck", "ber", name=BER, channels=[x, t, m, s])
        sha = b.audience("ck", "sha", name=SHA, channels=[x, t, tv, bs], timezone="Asia/Shanghai")
        alm = b.audience("ck", "alm", name=ALM, channels=[x, m, bs])
        one = b.audience("solo", "one", name="One", channels=[m])
        p1 = b.post("ck", audiences=[ber, sha, alm], key="P1", narrative="silk", variant="A")
        p2 = b.post("ck", audiences=[ber], key="P2", narrative="silk")
        p3 = b.post("ck", audiences=[ber, sha], key="P3", narrative="steppe", variant="A")
        p5 = b.post("ck", audiences=[sha], key="P5", narrative="steppe", variant="B")
        p6 = b.post("ck", audiences=[ber], key="P6", narrative="silk")
        p7 = b.post("ck", audiences=[ber, sha], key="P7", narrative="steppe")
        p8 = b.post("solo", audiences=[one], key="P8", narrative="solo")
        p10 = b.post("ck", audiences=[sha, alm], key="P10", narrative="silk")
        p12 = b.post("ck", audiences=[ber], key="P12", narrative="steppe")
        p13 = b.post("ck", audiences=[ber, alm], key="P13", narrative="silk")
        p14 = b.post("ck", audiences=[sha], key="P14", narrative="silk")
        when = PUBLISHED
        d = {
            "x1": b.delivery(p1, x, due_at=when["x1"], remote_url="https://x.com/ck/1"),
            "x2": b.delivery(p2, x, due_at=when["x2"]),
            "x3a": b.delivery(p3, x, due_at=when["x3a"], occurrence=0),
            "x3b": b.delivery(p3, x, due_at=when["x3b"], occurrence=1),
            "x5": b.delivery(p5, x, due_at=when["x5"]),
            "x6": b.delivery(p6, x, due_at=when["x6"], remote_deleted_at=at(10, 27, 9)),
            "t7": b.delivery(p7, t, due_at=when["t7"]),
            "m8": b.delivery(p8, m, due_at=when["m8"]),
            "b10": b.delivery(p10, bs, due_at=when["b10"]),
            "s12": b.delivery(p12, s, due_at=when["s12"]),
            "m13": b.delivery(p13, m, due_at=when["m13"]),
            "tv14": b.delivery(p14, tv, due_at=when["tv14"]),
        }

        def snap(key: str, hours: float, *values: int | None, **kw: Any) -> None:
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

        snap("x1", 24, 1000, 20, 5, 2, 1, followers=5000)
        snap("x1", 168, 2000, 40, 8, 3, 1, followers=5000)
        snap("x1", 240, 2100, 38, 8, 3, 1, followers=5000)
        snap("x2", 2, 100, 1, 0, 0, 0, followers=5000)
        snap("x2", 10, 300, 6, 1, 0, 0, followers=5000)
        snap("x3a", 168, 500, 10, 0, 0, 0, followers=5000)
        snap("x3b", 168, 800, 12, 2, 1, 1, followers=5000)
        snap("x3b", 168, 800, 12, 2, 1, 1, followers=5000)
        snap("x3b", 200, 850, 13, 2, 1, 1, followers=5000)
        snap("x5", 0, 10, 1, 0, 0, 0, followers=5000)
        snap("x6", 24, 400, 4, 0, 0, 0, followers=5000)
        snap("x6", 72, 450, 5, 0, 0, 0, followers=5000)
        b.snapshot(d["x6"], when["x6"] + 96 * H, deleted=True)
        for hours, likes in ((24, 30), (168, 50), (300, 45)):
            b.snapshot(d["t7"], when["t7"] + hours * H, likes=likes, followers=3000)
        snap("m8", 24, None, 5, 1, 0, None, followers=700)
        snap("m8", 168, None, 9, 2, 1, None, followers=720)
        snap("b10", 24, None, 10, 2, 1, 0)
        snap("b10", 168, None, 20, 4, 2, 1)
        snap("s12", 24, 500, 5, 1, 0, 0, followers=900, simulated=True)
        snap("s12", 168, 900, 9, 2, 1, 0, followers=900, simulated=True)
        snap("m13", 24, None, 3, 0, 1, None, followers=700)
        snap("m13", 168, None, 6, 1, 1, None, followers=710)
        for hours, views in ((24, 400), (168, 900)):
            b.snapshot(d["tv14"], when["tv14"] + hours * H, impressions=views, followers=2000)
        b.followers(x, at(10, 1, 0), 5000)
        b.followers(t, at(10, 1, 0), 3000)
        b.followers(tv, at(10, 1, 0), 2000)
        b.followers(bs, at(11, 5, 0), 1200)
        b.followers(bs, at(11, 15, 0), 1300)
        b.followers(bs, at(11, 21, 0), 2000)
        b.followers(s, at(10, 1, 0), 900, simulated=True)
    return Checked(engine, d)
