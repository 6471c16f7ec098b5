"""Bulk insert of metric snapshots: `campaigns.bulk.insert_snapshots` against the raw driver's
``executemany`` of the same rows (sqlite3 / psycopg 3), in the same run, on SQLite and PostgreSQL.

The raw side gets its ideal input (tuples already in the driver's form, conversion not timed);
each side writes into an emptied table and commits. Run:

    python bench/snapshot_insert.py --rows 200000 [--postgres postgresql://postgres@127.0.0.1/test]
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from sqlalchemy import Engine, text

from campaigns.bulk import SNAPSHOT_KEYS, insert_snapshots
from campaigns.store import make_engine, upgrade
from reports.synthetic import Builder

COLUMNS = ", ".join(SNAPSHOT_KEYS)


def make_rows(count: int, delivery_ids: list[int]) -> list[dict[str, Any]]:
    start = datetime(2027, 1, 1, tzinfo=UTC)
    rows = []
    for i in range(count):
        rows.append(
            {
                "delivery_id": delivery_ids[i % len(delivery_ids)],
                "collected_at": start + timedelta(seconds=i * 7),
                "impressions": 1000 + i,
                "likes": i % 97,
                "reposts": i % 13,
                "replies": i % 7,
                "quotes": None,
                "bookmarks": None,
                "link_clicks": i % 5,
                "followers": 8500,
                "deleted": False,
                "simulated": False,
            }
        )
    return rows


def prepare(engine: Engine) -> list[int]:
    upgrade(engine)
    with engine.begin() as conn:
        b = Builder(conn)
        campaign = b.campaign()
        channel = b.channel(f"bench-{uuid.uuid4().hex[:6]}", "x")
        audience = b.audience(campaign, "public", channels=[channel])
        post = b.post(campaign, audiences=[audience])
        due = datetime(2027, 1, 1, tzinfo=UTC)
        return [b.delivery(post, channel, due_at=due, occurrence=i) for i in range(50)]


def clear(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM metric_snapshot"))


def timed(action: Callable[[], None]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def ours(engine: Engine, rows: list[dict[str, Any]]) -> None:
    with engine.begin() as conn:
        insert_snapshots(conn, rows)


def raw(engine: Engine, rows: list[dict[str, Any]]) -> Callable[[], None]:
    sqlite = engine.dialect.name == "sqlite"
    marks = ", ".join(["?" if sqlite else "%s"] * len(SNAPSHOT_KEYS))
    sql = f"INSERT INTO metric_snapshot ({COLUMNS}) VALUES ({marks})"

    def value(key: str, v: Any) -> Any:
        if sqlite and key == "collected_at":
            return (
                v.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
            )
        if sqlite and isinstance(v, bool):
            return int(v)
        return v

    tuples = [tuple(value(k, row[k]) for k in SNAPSHOT_KEYS) for row in rows]

    def run() -> None:
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            if sqlite:
                cursor.execute("BEGIN")
            cursor.executemany(sql, tuples)
            connection.commit()
        finally:
            connection.close()

    return run


def measure(label: str, engine: Engine, count: int, repeat: int) -> None:
    ids = prepare(engine)
    rows = make_rows(count, ids)
    raw_run = raw(engine, rows)
    best_ours = best_raw = float("inf")
    for _ in range(repeat):
        clear(engine)
        best_raw = min(best_raw, timed(raw_run))
        clear(engine)
        best_ours = min(best_ours, timed(lambda: ours(engine, rows)))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM metric_snapshot")).scalar_one() == count
    print(
        f"{label:<10} {count:>9,} rows  raw executemany {count / best_raw:>10,.0f} rows/s  "
        f"insert_snapshots {count / best_ours:>10,.0f} rows/s  ratio {best_raw / best_ours:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    with TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        measure("sqlite", engine, args.rows, args.repeat)
        engine.dispose()
    if not args.no_postgres:
        measure_postgres(args.postgres, args.rows, args.repeat)


def measure_postgres(admin_url: str, count: int, repeat: int) -> None:
    import psycopg

    name = f"elshi_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        engine = make_engine(f"{admin_url.rsplit('/', 1)[0]}/{name}")
        measure("postgresql", engine, count, repeat)
        engine.dispose()
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
