"""The write-time per-delivery summary (`delivery_metric_summary`, migration 0016): a cache of
`reports.seeks.snapshot_rows_query` that can never change a figure. A report reads the valid
rows and the query for every other delivery; after random histories written by every path
(the writer, Core inserts and raw SQL that bypass it, corrections down, deletions, moved
snapshots, a changed publication, snapshots exactly at 24 h and 7 d, duplicates, reports as of
the past) both readings are the same frame, value for value, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import delete, func, insert, select, text, update

from campaigns.schema import Delivery, DeliveryMetricSummary, MetricSnapshot
from tests.reports.conftest import AS_OF, Fixed

H = timedelta(hours=1)
T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
FAR = datetime(2028, 1, 1, tzinfo=UTC)
_summary = DeliveryMetricSummary.__table__.c
_snapshot = MetricSnapshot.__table__


def _frames(engine: Any, as_of: datetime) -> tuple[pd.DataFrame, ...]:
    """(the query alone, the summary with the query for the rest in one statement, the summary
    first and the query only when it lacks a delivery, as a report reads), sorted by delivery."""
    from reports.data import InScope, Scope, _number_frame, _snapshot_rows
    from reports.seeks import snapshot_rows, snapshot_rows_query

    ids = InScope(Scope(as_of=as_of))
    dialect = engine.dialect.name
    with engine.connect() as conn:
        seek = _number_frame(conn, snapshot_rows_query(ids, as_of, dialect))
        both = _number_frame(conn, snapshot_rows(ids, as_of, dialect))
        first = _snapshot_rows(conn, ids, as_of, dialect)
    seek["delivery_id"] = seek["delivery_id"].astype("int64")
    both["delivery_id"] = both["delivery_id"].astype("int64")
    return tuple(
        f.sort_values("delivery_id", kind="stable").reset_index(drop=True)
        for f in (seek, both, first)
    )


def _valid(engine: Any, as_of: datetime) -> int:
    """How many deliveries a report as of ``as_of`` reads from the summary."""
    from reports.data import InScope, Scope
    from reports.seeks import _summary_rows_query

    query = _summary_rows_query(InScope(Scope(as_of=as_of)), as_of).subquery()
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(query)).scalar_one())


def _same(engine: Any, as_of: datetime) -> None:
    seek, both, first = _frames(engine, as_of)
    pd.testing.assert_frame_equal(seek, both, check_exact=True)
    pd.testing.assert_frame_equal(seek, first, check_exact=True)


def _store(engine: Any) -> tuple[list[int], dict[int, datetime]]:
    from reports.synthetic import Builder

    with engine.begin() as conn:
        b = Builder(conn, now=datetime(2027, 2, 1, tzinfo=UTC))
        b.campaign("de", title="Summary")
        x = b.channel("de-x", "x")
        mastodon = b.channel("de-mastodon", "mastodon")
        public = b.audience("de", "public", name="Public", channels=[x, mastodon])
        post = b.post("de", audiences=[public], narrative="gateway")
        published: dict[int, datetime] = {}
        for i in range(6):
            due = T0 + i * 7 * H
            d = b.delivery(
                post, x if i % 2 else mastodon, due_at=due, audience_id=public, occurrence=i
            )
            published[d] = due
        # A delivery never published: no row, whatever is written for it.
        b.delivery(post, x, due_at=T0, state="failed", audience_id=public, occurrence=9)
    return list(published), published


def _counters(rng: random.Random) -> dict[str, int | None]:
    def value() -> int | None:
        return None if rng.random() < 0.15 else rng.randint(0, 60)

    return {
        "impressions": value(),
        "likes": value(),
        "reposts": value(),
        "replies": value(),
        "quotes": value(),
        "followers": value(),
    }


def _instant(rng: random.Random, published: datetime) -> datetime:
    choice = rng.random()
    if choice < 0.15:
        return published + 24 * H
    if choice < 0.3:
        return published + 7 * 24 * H
    if choice < 0.35:
        return published - H  # before publication
    return published + timedelta(seconds=rng.randint(0, 10 * 24 * 3600))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_summary_and_query_give_the_same_rows_after_random_histories(
    engine: Any, seed: int
) -> None:
    from campaigns.bulk import insert_snapshots

    rng = random.Random(seed)
    deliveries, published = _store(engine)
    used = 0
    for _ in range(45):
        op = rng.random()
        d = rng.choice(deliveries)
        with engine.begin() as conn:
            ids = [int(i) for i in conn.execute(select(_snapshot.c.id)).scalars()]
            if op < 0.45 or not ids:  # the writer, a batch over a few deliveries
                rows = []
                for _ in range(rng.randint(1, 4)):
                    e = rng.choice(deliveries)
                    rows.append(
                        {
                            "delivery_id": e,
                            "collected_at": _instant(rng, published[e]),
                            "deleted": rng.random() < 0.05,
                            **_counters(rng),
                        }
                    )
                insert_snapshots(conn, rows)
            elif op < 0.6:  # Core, around the writer
                values = {"delivery_id": d, "collected_at": _instant(rng, published[d])}
                conn.execute(insert(_snapshot).values(**values, **_counters(rng)))
            elif op < 0.68:  # raw SQL, around the writer and SQLAlchemy's types
                at = _instant(rng, published[d])
                stored: Any = at.strftime("%Y-%m-%d %H:%M:%S.%f")
                if conn.dialect.name != "sqlite":
                    stored = at
                conn.execute(
                    text(
                        "INSERT INTO metric_snapshot (delivery_id, collected_at, likes, replies, "
                        "deleted, simulated) VALUES (:d, :at, :likes, 0, false, false)"
                    ),
                    {"d": d, "at": stored, "likes": rng.randint(0, 5)},
                )
            elif op < 0.78:  # a correction, often down
                conn.execute(
                    update(_snapshot)
                    .where(_snapshot.c.id == rng.choice(ids))
                    .values(likes=rng.randint(0, 3), reposts=None)
                )
            elif op < 0.84:  # a snapshot moved to another delivery
                conn.execute(
                    update(_snapshot).where(_snapshot.c.id == rng.choice(ids)).values(delivery_id=d)
                )
            elif op < 0.92:
                conn.execute(delete(_snapshot).where(_snapshot.c.id == rng.choice(ids)))
            else:  # the publication time corrected
                published[d] = published[d] + timedelta(minutes=rng.choice([-90, 30, 600]))
                conn.execute(
                    update(Delivery.__table__)
                    .where(Delivery.__table__.c.id == d)
                    .values(published_at=published[d])
                )
        # Far ahead, the fixture's report time, the past, at and just before d's latest.
        for as_of in (FAR, AS_OF, T0 + 3 * 24 * H, *_times(engine, d)[-2:]):
            _same(engine, as_of)
        used += _valid(engine, FAR)
    # The summary was read (the comparisons above are not of the query with itself).
    assert used > 0


def _times(engine: Any, delivery: int) -> list[datetime]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(MetricSnapshot.collected_at)
                .where(MetricSnapshot.delivery_id == delivery)
                .order_by(MetricSnapshot.collected_at)
            ).scalars()
        )


def test_the_writer_stores_a_valid_row_and_any_other_write_removes_it(fixed: Fixed) -> None:
    from campaigns.bulk import insert_snapshots

    d1 = fixed.d["d1"]

    def has_row() -> bool:
        with fixed.engine.connect() as conn:
            found = conn.execute(select(_summary.delivery_id).where(_summary.delivery_id == d1))
            return found.first() is not None

    assert has_row()
    assert _valid(fixed.engine, AS_OF) == 4  # d1-d4; d7 has a snapshot after the report time
    at = datetime(2027, 3, 5, tzinfo=UTC)
    for write in (
        insert(_snapshot).values(delivery_id=d1, collected_at=at, likes=1),
        update(_snapshot).where(_snapshot.c.delivery_id == d1).values(likes=2),
        delete(_snapshot).where(_snapshot.c.collected_at == at),
        update(Delivery.__table__)
        .where(Delivery.__table__.c.id == d1)
        .values(published_at=datetime(2027, 3, 1, 10, 1, tzinfo=UTC)),
    ):
        with fixed.engine.begin() as conn:
            insert_snapshots(conn, [{"delivery_id": d1, "collected_at": at - H, "likes": 3}])
        assert has_row()
        with fixed.engine.begin() as conn:
            conn.execute(write)
        assert not has_row(), write
        _same(fixed.engine, AS_OF)


def test_a_report_is_the_same_with_and_without_the_summary(fixed: Fixed) -> None:
    from reports.data import Scope, load
    from reports.figures import build_report
    from reports.render_data import to_json
    from reports.render_html import render

    def outputs() -> tuple[str, str]:
        report = build_report(load(fixed.engine, Scope(as_of=AS_OF)), generated_at=AS_OF)
        return render(report), to_json(report)

    assert _valid(fixed.engine, AS_OF) > 0
    cached = outputs()
    with fixed.engine.begin() as conn:
        conn.execute(delete(DeliveryMetricSummary.__table__))
    assert _valid(fixed.engine, AS_OF) == 0
    assert outputs() == cached


def test_with_every_row_valid_a_report_reads_the_summary_alone(fixed: Fixed) -> None:
    """When each delivery with a snapshot by the report time has a valid row, the snapshots are
    read in one statement, the seek query not run, and give the query's rows; a published
    delivery without a snapshot (d4's deleted here, its row with them) is among them: none
    counted, every value missing. As of before d7's later snapshot its row is not valid, and
    the seek query reads it (and d4) in a second statement."""
    from sqlalchemy import event

    from reports.data import InScope, Scope, _snapshot_rows

    with fixed.engine.begin() as conn:
        conn.execute(delete(_snapshot).where(_snapshot.c.delivery_id == fixed.d["d4"]))
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            statements.append(statement)

    event.listen(fixed.engine, "before_cursor_execute", seen)
    try:
        for as_of, reads in ((FAR, 1), (AS_OF, 2)):
            statements.clear()
            with fixed.engine.connect() as conn:
                rows = _snapshot_rows(conn, InScope(Scope(as_of=as_of)), as_of, conn.dialect.name)
            assert len(statements) == reads, as_of
            seek, _, first = _frames(fixed.engine, as_of)
            pd.testing.assert_frame_equal(seek, first, check_exact=True)
            by_id = rows.set_index("delivery_id")
            assert by_id.loc[fixed.d["d4"], "snapshots"] == 0
            assert by_id.loc[fixed.d["d4"]].drop("snapshots").isna().all()
    finally:
        event.remove(fixed.engine, "before_cursor_execute", seen)


def test_a_failed_summary_keeps_the_snapshots(engine: Any) -> None:
    """The summary is written under a savepoint: when it fails, the snapshots stay and the
    delivery has no row. Made to fail for real: on PostgreSQL engagements past bigint's range
    (the query's sum overflows), on both with the table gone (a store at 0015)."""
    from alembic import command

    from campaigns.bulk import insert_snapshots
    from campaigns.store import alembic_config

    deliveries, published = _store(engine)
    d = deliveries[0]

    def count() -> int:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(_snapshot).where(_snapshot.c.delivery_id == d)
                ).scalar_one()
            )

    if engine.dialect.name == "postgresql":
        huge = 2**62
        with engine.begin() as conn:
            insert_snapshots(
                conn,
                [
                    {
                        "delivery_id": d,
                        "collected_at": published[d] + H,
                        "likes": huge,
                        "reposts": huge,
                    }
                ],
            )
        assert count() == 1
        with engine.connect() as conn:
            assert (
                conn.execute(select(func.count()).select_from(DeliveryMetricSummary)).scalar() == 0
            )
    command.downgrade(alembic_config(engine), "0015")
    with engine.begin() as conn:
        insert_snapshots(conn, [{"delivery_id": d, "collected_at": published[d] + 2 * H}])
    assert count() == (2 if engine.dialect.name == "postgresql" else 1)


def _triggers(engine: Any) -> set[str]:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            found = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
        else:
            found = conn.execute(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"))
        return {name for name in found.scalars() if "summary" in name}


def test_the_summary_migration_downgrades_and_fills_the_table_when_upgraded(
    fixed: Fixed,
) -> None:
    from alembic import command
    from sqlalchemy import inspect

    from campaigns.store import alembic_config, upgrade

    engine = fixed.engine
    assert len(_triggers(engine)) >= 4
    command.downgrade(alembic_config(engine), "0015")
    assert "delivery_metric_summary" not in inspect(engine).get_table_names()
    assert _triggers(engine) == set()
    upgrade(engine, "head")
    assert len(_triggers(engine)) >= 4
    # Filled from the query: every published delivery with snapshots, read as the query reads.
    assert _valid(engine, FAR) == 5
    for as_of in (AS_OF, FAR):
        _same(engine, as_of)


def test_the_summary_version_names_the_query_it_caches() -> None:
    """A change of `snapshot_rows_query` must bump `SUMMARY_VERSION` (rows of another version
    are not read): this pins the query's text to the version. On failure, bump the version and
    write the new digest here."""
    from sqlalchemy.dialects import postgresql, sqlite

    from reports.seeks import SUMMARY_VERSION, DeliveryIds, snapshot_rows_query

    texts = [
        str(
            snapshot_rows_query(DeliveryIds((1, 2)), None, name).compile(
                dialect=dialect, compile_kwargs={"literal_binds": True}
            )
        )
        for name, dialect in (("sqlite", sqlite.dialect()), ("postgresql", postgresql.dialect()))
    ]
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    assert (SUMMARY_VERSION, digest) == (3, "be68422e98bb3506")


def test_writing_snapshots_loads_neither_pandas_nor_numpy(tmp_path: Any) -> None:
    """The daemon writes snapshots through `campaigns.bulk.insert_snapshots`, which writes the
    summary by `reports.seeks`: a fresh process that migrates a store and writes a snapshot (and
    its summary row) must not have loaded pandas or numpy (tens of MiB and ~0.5 s in a daemon
    that never needs them)."""
    import subprocess
    import sys

    script = f"""
import sys
from datetime import UTC, datetime
from sqlalchemy import create_engine
from alembic import command
from campaigns.bulk import insert_snapshots
from campaigns.store import alembic_config
engine = create_engine("sqlite:///{tmp_path / "w.db"}")
command.upgrade(alembic_config(engine), "head")
with engine.begin() as conn:
    insert_snapshots(conn, [{{"delivery_id": 1, "collected_at": datetime(2027, 1, 1, tzinfo=UTC)}}])
loaded = sorted(m for m in ("pandas", "numpy") if m in sys.modules)
print("loaded:", loaded)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "loaded: []" in done.stdout, done.stdout


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
@pytest.mark.postgres
def test_a_concurrent_snapshot_leaves_no_stale_row_on_postgresql(engine: Any) -> None:
    """Read committed: while the writer's transaction (its summary row written, not committed)
    is open, another transaction inserts a snapshot of the same delivery around the writer. Its
    trigger waits for the writer's advisory lock, then deletes the committed row: the delivery
    is read by the query, with both snapshots."""
    import threading

    from campaigns.bulk import insert_snapshots

    deliveries, published = _store(engine)
    d = deliveries[0]
    writer = engine.connect()
    writer.begin()
    insert_snapshots(writer, [{"delivery_id": d, "collected_at": published[d] + H, "likes": 4}])
    done = threading.Event()

    def other() -> None:
        with engine.begin() as conn:
            conn.execute(
                insert(_snapshot).values(delivery_id=d, collected_at=published[d] + 2 * H, likes=9)
            )
        done.set()

    thread = threading.Thread(target=other)
    thread.start()
    with engine.connect() as watcher:
        waiting = 0
        # Until the other transaction waits for the lock (polled, no sleeping; the bound only
        # keeps a broken lock from hanging the test on a loaded host).
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            waiting = watcher.execute(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            ).scalar_one()
            if waiting:
                break
            watcher.rollback()
    assert waiting == 1
    assert not done.is_set()
    writer.commit()
    writer.close()
    thread.join()
    with engine.connect() as conn:
        rows = conn.execute(select(_summary.delivery_id).where(_summary.delivery_id == d)).all()
    assert rows == []
    seek, both, first = _frames(engine, FAR)
    pd.testing.assert_frame_equal(seek, both, check_exact=True)
    pd.testing.assert_frame_equal(seek, first, check_exact=True)
    assert seek.loc[seek["delivery_id"] == d, "snapshots"].item() == 2


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
@pytest.mark.postgres
def test_one_transaction_writes_snapshots_of_many_deliveries_on_postgresql(engine: Any) -> None:
    """The summary triggers' advisory locks are held to the end of the transaction in the
    server's shared lock table (6,400 slots on a default server): a lock per delivery made an
    import of a few thousand deliveries' snapshots fail ("out of shared memory") and write
    nothing. A transaction holds at most one lock per bucket (migration 0018), in bucket order,
    however many deliveries it writes; and the summary rows it writes are valid."""
    import importlib

    from campaigns.bulk import insert_snapshots
    from reports.synthetic import Builder

    buckets = importlib.import_module("campaigns.migrations.versions.0018_summary_lock_buckets")
    count = buckets.BUCKETS + 300
    with engine.begin() as conn:
        b = Builder(conn, now=datetime(2027, 2, 1, tzinfo=UTC))
        b.campaign("de", title="Many")
        x = b.channel("de-x", "x")
        public = b.audience("de", "public", name="Public", channels=[x])
        post = b.post("de", audiences=[public], narrative="gateway")
        ids = [
            b.delivery(post, x, due_at=T0 + i * H, audience_id=public, occurrence=i)
            for i in range(count)
        ]
    with engine.begin() as conn:
        insert_snapshots(
            conn,
            [
                {"delivery_id": d, "collected_at": T0 + i * H + 24 * H, "likes": i % 7}
                for i, d in enumerate(ids)
            ],
        )
        held = conn.execute(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                "AND pid = pg_backend_pid() AND granted"
            )
        ).scalar_one()
    assert 0 < held <= buckets.BUCKETS
    assert _valid(engine, FAR) == count
    _same(engine, FAR)


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
@pytest.mark.postgres
def test_the_lock_bucket_migration_downgrades_and_upgrades_again(engine: Any) -> None:
    from alembic import command

    from campaigns.store import alembic_config, upgrade

    def keys() -> set[str]:
        with engine.connect() as conn:
            sources = conn.execute(
                text("SELECT prosrc FROM pg_proc WHERE proname LIKE 'delivery_metric_summary_%'")
            ).scalars()
            return {"bucket" if "% 1024" in s else "delivery" for s in sources}

    assert keys() == {"bucket"}
    command.downgrade(alembic_config(engine), "0017")
    assert keys() == {"delivery"}
    upgrade(engine, "head")
    assert keys() == {"bucket"}
