"""Web workspace pages under load: server time against a one-query baseline, and page times
under 50 concurrent sessions against one session's.

    python bench/web_pages.py [--db sqlite|postgres] [--deliveries 10000] [--waiting 1000]
        [--runs 7] [--sessions 50] [--requests 20] [--workers 2]

1. **Server time** (in process, Flask's test client, a logged-in approver): the calendar's month
   view with ``--deliveries`` deliveries in that month, and the approval queue with ``--waiting``
   posts awaiting approval. The baseline for each is what the page cannot avoid: the same rows
   fetched with one hand-written SQL query (raw DB-API cursor, no ORM) and rendered with the same
   template in a request context. Median of ``--runs``, page and baseline run in turns (so
   both see the same load of a shared machine); the ratio is page / baseline.
2. **Concurrency**: ``elshi web`` (gunicorn, ``--workers`` processes × 4 threads) as a child
   process on the same database; a load generator in this process (asyncio + httpx on loopback)
   logs in ``--sessions`` people, each with its own cookies, and each makes ``--requests``
   requests over a mix of pages (week calendar, approval queue, a post, operations). Reported:
   p50/p99 page time with one session alone (the same mix, sequential) and with all sessions at
   once, and the ratio of the p99s. The loops are bounded in count and time and stop by
   themselves.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

from bench.dispatch import database, pct  # noqa: E402

PASSWORD = "bench password 1234"
CHANNELS = {f"ch{i}": "sandbox" for i in range(10)}
MONTH = datetime(2027, 3, 1, tzinfo=UTC)


def seed(db_url: str, deliveries: int, waiting: int) -> None:
    from argon2 import PasswordHasher

    from campaigns import people
    from campaigns.store import make_engine, session_factory
    from tests.scheduler.harness import seed_deliveries

    span = 27 * 86400
    seed_deliveries(
        db_url,
        CHANNELS,
        [MONTH + timedelta(seconds=span * i / deliveries, hours=1) for i in range(deliveries)],
        prefix="cal",
    )
    seed_deliveries(
        db_url,
        CHANNELS,
        [MONTH + timedelta(days=40, minutes=7 * i) for i in range(waiting)],
        prefix="wait",
        awaiting_approval=True,
        campaign="queue",
    )
    people.use_hasher(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    engine = make_engine(db_url)
    with session_factory(engine)() as session:
        now = datetime.now(UTC)
        admin = people.add_user(
            session,
            "admin",
            roles=["admin"],
            password=PASSWORD,
            by=people.Person.local("bench"),
            now=now,
        )
        for n in range(60):
            people.add_user(
                session,
                f"approver{n}",
                roles=["approver"],
                password=PASSWORD,
                by=people.Person.of(admin),
                now=now,
            )
        session.commit()
    engine.dispose()


def medians_ms(first: Any, second: Any, runs: int) -> tuple[float, float]:
    """Median times of two calls run in turns (first, second, first, …), so that both see the
    same moments of a shared machine's load."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        for call, out in ((first, times[0]), (second, times[1])):
            started = time.perf_counter()
            call()
            out.append((time.perf_counter() - started) * 1000)
    return statistics.median(times[0]), statistics.median(times[1])


CALENDAR_SQL = """
SELECT d.id, d.due_at, d.local_due, d.timezone, d.state, d.occurrence, d.language,
       p.id, p.key, c.id, c.title, ch.name, a.name
FROM delivery d JOIN post p ON d.post_id = p.id JOIN campaign c ON p.campaign_id = c.id
JOIN channel ch ON d.channel_id = ch.id LEFT JOIN audience a ON d.audience_id = a.id
WHERE d.due_at >= {p} AND d.due_at < {p} ORDER BY d.due_at, ch.name, d.id
"""
QUEUE_SQL = """
SELECT p.id, c.id, p.key, min(d.due_at), count(d.id), c.title
FROM delivery d JOIN post p ON d.post_id = p.id JOIN campaign c ON p.campaign_id = c.id
WHERE p.retired = {false} AND p.approval = 'pending' AND d.state = 'draft' AND d.due_at > {p}
GROUP BY p.id, c.id, p.key, c.title ORDER BY min(d.due_at), p.id
"""
CALENDAR_FIELDS = [
    "id",
    "due_at",
    "local_due",
    "timezone",
    "state",
    "occurrence",
    "language",
    "post_id",
    "post_key",
    "campaign",
    "campaign_title",
    "channel",
    "audience",
]
QUEUE_FIELDS = ["post_id", "campaign", "post", "due_at", "deliveries", "campaign_title"]


class Row:
    def __init__(self, fields: list[str], values: tuple[Any, ...]):
        self.__dict__.update(zip(fields, values, strict=True))


def server_times(db_url: str, runs: int) -> list[tuple[str, float, float, int]]:
    from flask_login import login_user

    from campaigns.schema import User
    from campaigns.store import make_engine
    from web import context, identity
    from web.app import create_app
    from web.filters import Filter
    from web.settings import WebSettings
    from web.views import calendar as cal

    engine = make_engine(db_url)
    settings = WebSettings(secret_key=b"b" * 32, timezone="UTC")
    app = create_app(settings, engine, clock=lambda: MONTH + timedelta(days=10))
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    client.post("/login", data={"username": "approver0", "password": PASSWORD, "csrf_token": token})
    sqlite = engine.dialect.name == "sqlite"

    def raw(sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        conn = engine.raw_connection()
        try:
            cur = conn.cursor()
            cur.execute(
                sql.format(p="?" if sqlite else "%s", false="0" if sqlite else "false"), params
            )
            return list(cur.fetchall())
        finally:
            conn.close()

    def as_utc(value: Any) -> datetime:
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value

    def in_request(path: str, render: Any) -> Any:
        with app.test_request_context(path):
            user = context.db().get(User, 2)
            assert user is not None
            login_user(identity.viewer_for(user))
            return render()

    def calendar_baseline() -> str:
        p = cal.period("month", MONTH.date() + timedelta(days=14))
        start = datetime.combine(p.first, datetime.min.time(), tzinfo=UTC)
        end = datetime.combine(p.last + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        bounds = (start.replace(tzinfo=None), end.replace(tzinfo=None)) if sqlite else (start, end)
        rows = [Row(CALENDAR_FIELDS, r) for r in raw(CALENDAR_SQL, bounds)]
        for r in rows:
            r.due_at = as_utc(r.due_at)
        return in_request(
            "/calendar?date=2027-03-15", lambda: cal.render_calendar(p, Filter(), rows)
        )

    def queue_baseline() -> str:
        from flask import render_template

        from web.filters import options

        now = MONTH + timedelta(days=10)
        items = []
        for r in raw(QUEUE_SQL, (now.replace(tzinfo=None) if sqlite else now,)):
            row = Row(QUEUE_FIELDS, r)
            row.due_at = as_utc(row.due_at)
            # The default chain (approval: true): one step, open to every approver.
            row.step, row.step_title, row.position, row.steps = "approval", "Approval", 1, 1
            items.append({"item": row, "campaign_title": row.campaign_title})
        return in_request(
            "/approvals",
            lambda: render_template(
                "queue.html", rows=items, f=Filter(), opts=options(context.db()), view="mine"
            ),
        )

    out = []
    for name, path, baseline in (
        ("calendar month", "/calendar?date=2027-03-15", calendar_baseline),
        ("approval queue", "/approvals", queue_baseline),
    ):
        body = client.get(path).get_data(as_text=True)
        count = body.count('class="ev ') if "calendar" in path else body.count('name="post"')
        base_body = baseline()
        assert count == (
            base_body.count('class="ev ') if "calendar" in path else base_body.count('name="post"')
        ), "baseline and page show different rows"
        page_ms, base_ms = medians_ms(lambda p=path: client.get(p), baseline, runs)
        out.append((name, page_ms, base_ms, count))
    engine.dispose()
    return out


MIX = (
    "/calendar?view=week&date=2027-03-15&channel=ch0",
    "/approvals",
    "/posts/{post}",
    "/operations?channel=ch1",
)
"""What one person clicks through: a week of one channel (about 230 deliveries), the approval
queue (the 1,000 waiting posts), a post, operations for one channel."""


async def _session(client: Any, base: str, username: str) -> None:
    page = (await client.get(f"{base}/login")).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    done = await client.post(
        f"{base}/login", data={"username": username, "password": PASSWORD, "csrf_token": token}
    )
    assert done.status_code == 302, done.text[:300]


async def _run(
    base: str, users: list[str], requests: int, post: int, deadline: float
) -> list[float]:
    import httpx

    times: list[float] = []

    async def one(username: str) -> None:
        async with httpx.AsyncClient(timeout=60) as client:
            await _session(client, base, username)
            for i in range(requests):
                if time.monotonic() > deadline:
                    return
                path = MIX[i % len(MIX)].format(post=post)
                started = time.perf_counter()
                response = await client.get(base + path)
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, (path, response.status_code)

    await asyncio.gather(*(one(u) for u in users))
    return times


def concurrency(
    db_url: str, root: Path, sessions: int, requests: int, workers: int
) -> dict[str, Any]:
    import socket

    from sqlalchemy import create_engine, text

    from campaigns.store import normalize_url

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = root / "elshi.toml"
    config.write_text(
        f'[database]\nurl = "{db_url}"\n\n[web]\nbind = "127.0.0.1:{port}"\n'
        f'base_url = "http://127.0.0.1:{port}"\nworkers = {workers}\ntimezone = "UTC"\n',
        encoding="utf-8",
    )
    env = {**os.environ, "ELSHI_WEB_SECRET_KEY": "s" * 40, "PYTHONPATH": str(HERE.parent)}
    env.pop("ELSHI_DATABASE_URL", None)
    log = Path(os.environ.get("ELSHI_BENCH_LOG", root / "web.log")).open("wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "elshi", "--config", str(config), "web"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        for _ in range(200):
            try:
                if httpx.get(base + "/login", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        engine = create_engine(normalize_url(db_url))
        with engine.connect() as conn:
            post = conn.execute(
                text("SELECT min(id) FROM post WHERE approval = 'pending'")
            ).scalar()
        engine.dispose()
        deadline = time.monotonic() + 900
        alone = asyncio.run(_run(base, ["approver0"], requests * 2, post, deadline))
        users = [f"approver{n}" for n in range(sessions)]
        started = time.perf_counter()
        crowd = asyncio.run(_run(base, users, requests, post, deadline))
        wall = time.perf_counter() - started
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        log.close()
    return {"alone": alone, "crowd": crowd, "wall": wall}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--deliveries", type=int, default=10_000)
    parser.add_argument("--waiting", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="elshi-bench-web-") as folder:
        root = Path(folder)
        with database(args.db, root) as url:
            started = time.perf_counter()
            seed(url, args.deliveries, args.waiting)
            print(
                f"seeded {args.deliveries} + {args.waiting} in {time.perf_counter() - started:.1f} s ({args.db})"
            )
            rows = server_times(url, args.runs)
            print("\n| page | rows | page (ms, median) | one query + same template (ms) | ratio |")
            print("|---|---:|---:|---:|---:|")
            for name, page_ms, base_ms, count in rows:
                print(
                    f"| {name} | {count:,} | {page_ms:.0f} | {base_ms:.0f} | {page_ms / base_ms:.2f}× |"
                )
            load = concurrency(url, root, args.sessions, args.requests, args.workers)
    alone, crowd = load["alone"], load["crowd"]
    print(
        f"\n| load ({args.workers} gunicorn workers × 4 threads) | requests | p50 (ms) | p99 (ms) |"
    )
    print("|---|---:|---:|---:|")
    print(f"| 1 session | {len(alone)} | {pct(alone, 0.50):.0f} | {pct(alone, 0.99):.0f} |")
    print(
        f"| {args.sessions} sessions at once | {len(crowd)} | {pct(crowd, 0.50):.0f} | "
        f"{pct(crowd, 0.99):.0f} |"
    )
    ratio = pct(crowd, 0.99) / pct(alone, 0.99)
    print(
        f"\np99 with {args.sessions} sessions / p99 alone: {ratio:.1f}× "
        f"({len(crowd) / load['wall']:.0f} pages/s over {load['wall']:.1f} s)"
    )
    worst = max(page_ms / base_ms for _, page_ms, base_ms, _ in rows)
    print(
        f"verdict: server time within {worst:.2f}× of one query + the same template (target ≤ 3×); machine shared with other work"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
