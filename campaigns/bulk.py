"""Fast appends to the append-only metric tables, for the scheduler's collection rounds, the
synthetic history of tests and benchmarks, and imports.

`insert_snapshots` converts the rows once, in one tight loop, to the driver's own form and hands
them over on the caller's connection (so inside its transaction; it never commits): PostgreSQL
gets ``COPY ... FROM STDIN`` (psycopg 3), SQLite the driver's ``executemany`` of one prepared
``INSERT``, any other database a SQLAlchemy Core ``insert()`` executemany. Going around
SQLAlchemy's per-row type processing is what makes this several times faster; the conversion
keeps the store's rules (aware datetimes stored as UTC, naive ones refused). A counter absent
from a row is stored as NULL (not given), never 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from sqlalchemy import Connection, insert
from sqlalchemy.orm import Session

from campaigns.schema import SNAPSHOT_COUNTERS, MetricSnapshot

SNAPSHOT_KEYS: tuple[str, ...] = (
    "delivery_id",
    "collected_at",
    *SNAPSHOT_COUNTERS,
    "deleted",
    "simulated",
)
BATCH_ROWS = 20_000


def _utc(value: object) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(f"collected_at {value!r}: the store keeps aware UTC datetimes")
    return value if value.tzinfo is UTC else value.astimezone(UTC)


def _tuples(
    rows: Iterable[Mapping[str, Any]], *, sqlite: bool, deliveries: set[int]
) -> Iterator[list[Any]]:
    known = frozenset(SNAPSHOT_KEYS)
    for row in rows:
        if not known.issuperset(row):
            raise ValueError(f"metric_snapshot has no column(s) {sorted(set(row) - known)}")
        values: list[Any] = list(map(row.get, SNAPSHOT_KEYS))
        deliveries.add(values[0])
        at = values[1]
        if at.__class__ is not datetime or at.tzinfo is not UTC:
            at = _utc(at)
        if sqlite:
            # SQLAlchemy's SQLite DATETIME format: naive UTC with microseconds (drop "+00:00").
            values[1] = at.isoformat(" ", "microseconds")[:26]
            values[-2] = 1 if values[-2] else 0
            values[-1] = 1 if values[-1] else 0
        else:
            values[1] = at
            values[-2] = bool(values[-2])
            values[-1] = bool(values[-1])
        yield values


def insert_snapshots(target: Session | Connection, rows: Iterable[Mapping[str, Any]]) -> int:
    """Append metric snapshots; returns the number of rows written.

    ``rows`` are mappings with ``delivery_id`` and ``collected_at`` (an aware datetime) and any of
    the counters (``impressions``, ``likes``, ``reposts``, ``replies``, ``quotes``, ``bookmarks``,
    ``link_clicks``, ``followers``), ``deleted``, ``simulated``. Runs inside the caller's
    transaction (a Session or a Connection) and does not commit.

    Then, in the same transaction, the written deliveries' rows of the write-time summary that
    reports read (`reports.seeks.store_summaries`, which never fails the snapshots: the store's
    triggers have already removed those deliveries' rows, and without a new one a report reads
    the snapshots themselves)."""
    connection = target.connection() if isinstance(target, Session) else target
    if not connection.in_transaction():
        connection.begin()
    deliveries: set[int] = set()
    written = _insert(connection, rows, deliveries)
    # The summary is a reports' cache of reports' own query: imported here, not at the top
    # (campaigns imports nothing of reports; only this write reaches it).
    from reports.seeks import store_summaries

    store_summaries(connection, deliveries)
    return written


def _insert(connection: Connection, rows: Iterable[Mapping[str, Any]], deliveries: set[int]) -> int:
    dialect = connection.dialect.name
    columns = ", ".join(SNAPSHOT_KEYS)
    written = 0
    if dialect in ("postgresql", "sqlite"):
        # The driver's own cursor on the caller's connection: same transaction, no per-row
        # processing by SQLAlchemy (the values are already in the driver's form).
        dbapi: Any = connection.connection.driver_connection
        cursor = dbapi.cursor()
        try:
            if dialect == "postgresql":
                with cursor.copy(f"COPY metric_snapshot ({columns}) FROM STDIN") as copy:
                    for values in _tuples(rows, sqlite=False, deliveries=deliveries):
                        copy.write_row(values)
                        written += 1
            else:
                marks = ", ".join("?" * len(SNAPSHOT_KEYS))
                sql = f"INSERT INTO metric_snapshot ({columns}) VALUES ({marks})"
                cursor.executemany(sql, _tuples(rows, sqlite=True, deliveries=deliveries))
                written = max(cursor.rowcount, 0)
        finally:
            cursor.close()
        return written
    statement = insert(MetricSnapshot.__table__)  # type: ignore[arg-type]
    for values in _batches(_tuples(rows, sqlite=False, deliveries=deliveries)):
        connection.execute(statement, [dict(zip(SNAPSHOT_KEYS, v, strict=True)) for v in values])
        written += len(values)
    return written


def _batches(values: Iterator[list[Any]]) -> Iterator[list[list[Any]]]:
    while batch := list(islice(values, BATCH_ROWS)):
        yield batch
