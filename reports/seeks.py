"""The SQL that finds, per published delivery, the few metric snapshots a report needs, and the
write-time summary that caches its rows (``delivery_metric_summary``).

`snapshot_rows_query` is the one definition of those rows; `store_summaries` writes it for the
deliveries a snapshot batch touched (`campaigns.bulk.insert_snapshots` calls it), and
`snapshot_rows` reads the valid summary rows and runs the query for the other deliveries.
SQLAlchemy only: no pandas or numpy here, so the scheduler daemon, which writes snapshots, never
loads them (`reports.data` turns these rows into frames).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Protocol, TypeAlias

from sqlalchemy import (
    CompoundSelect,
    Connection,
    Float,
    Select,
    and_,
    bindparam,
    case,
    cast,
    delete,
    extract,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    table,
    union_all,
)
from sqlalchemy import (
    column as column_clause,
)
from sqlalchemy.sql.elements import ColumnElement

from campaigns.schema import SNAPSHOT_COUNTERS, Delivery, DeliveryMetricSummary, MetricSnapshot

COUNTERS = SNAPSHOT_COUNTERS
ENGAGEMENT_PARTS: tuple[str, ...] = ("likes", "reposts", "replies", "quotes")
"""Engagements = the sum of these counters that the platform gives (NULL when it gives none)."""
FIXED_AGES: dict[str, int] = {"24h": 24 * 3600, "7d": 7 * 24 * 3600}
"""Ages (seconds after publication) at which posts are compared."""
Query: TypeAlias = "Select[*tuple[Any, ...]]"
Rows: TypeAlias = "Select[*tuple[Any, ...]] | CompoundSelect[*tuple[Any, ...]]"

_SNAPSHOT = table(
    MetricSnapshot.__tablename__,
    *(column_clause(c.name, c.type) for c in MetricSnapshot.__table__.columns),
)
"""``metric_snapshot`` as a lightweight table (the same name, columns and types) for
`snapshot_rows_query`'s ~20 aliases: an alias of the schema's Table makes a full schema Column
for each of its columns (about 40% of building that query, in every call), an alias of this a
plain column clause. The same SQL (only an equality's two sides may come the other way round)."""


class Conditions(Protocol):
    """Which deliveries a query reads, as conditions on its own delivery row
    (`reports.data.InScope` for a report's scope, `DeliveryIds` for given ids)."""

    def on(self, d: Any) -> list[ColumnElement[bool]]: ...


def epoch_seconds(column: Any, dialect: str) -> ColumnElement[float]:
    """Seconds since 1970 of a stored instant (SQLite keeps text, PostgreSQL timestamptz)."""
    if dialect == "sqlite":
        days: ColumnElement[float] = func.julianday(column, type_=Float)
        return (days - 2440587.5) * 86400.0
    return cast(extract("epoch", column), Float)


def engagement_expression(
    parts: Sequence[Any], last: Sequence[Any] | None = None
) -> ColumnElement[Any]:
    """The sum of the given counters, NULL when none is given (a missing counter is not 0).

    With ``last`` (the same counters of the delivery's last snapshot): the sum of those the
    last snapshot has (`known_sum`), NULL also when this snapshot lacks one of them. A post
    whose engagements are known has in its last snapshot every counter its channel gives
    (`reports.posts.engagements_known`), so for it this is the rule "every counter the channel
    gives", decided in SQL without the channel's list."""
    total = _given_sum(parts) if last is None else known_sum(parts, last)
    return case((and_(*(p.is_(None) for p in parts)), null()), else_=total)


def known_sum(parts: Sequence[Any], last: Sequence[Any]) -> ColumnElement[Any]:
    """The sum of the engagement counters (``parts``) that the delivery's last snapshot has
    (``last``, the same counters), NULL when this snapshot lacks one of them: a counter the
    channel gives but missing here makes this snapshot's engagements unknown, never summed
    as 0 (a counter the last snapshot lacks counts 0)."""
    total: ColumnElement[Any] | None = None
    for p, q in zip(parts, last, strict=True):
        term: ColumnElement[Any] = case((q.is_(None), 0), else_=p)
        total = term if total is None else total + term
    assert total is not None
    return total


def snapshot_complete(parts: Sequence[Any], reference: Sequence[Any]) -> ColumnElement[bool]:
    """Whether a snapshot has every engagement counter (``parts``) that a reference snapshot
    has (``reference``, the same counters): see `known_sum`."""
    return and_(*(or_(p.is_not(None), q.is_(None)) for p, q in zip(parts, reference, strict=True)))


def _given_sum(parts: Sequence[Any]) -> ColumnElement[Any]:
    """The sum of the given counters, a missing one counted as 0 (0 when none is given)."""
    total: ColumnElement[Any] = func.coalesce(parts[0], 0)
    for part in parts[1:]:
        total = total + func.coalesce(part, 0)
    return total


def shifted(column: Any, seconds: int, dialect: str) -> ColumnElement[Any]:
    """``column`` + ``seconds`` as an expression an index on the compared column can use."""
    if dialect == "sqlite":
        # Stored text is "YYYY-MM-DD HH:MM:SS.ffffff"; strftime gives milliseconds, so pad the
        # bound to the end of that millisecond.
        return func.strftime("%Y-%m-%d %H:%M:%f", column, f"+{seconds} seconds").concat("999")
    later: ColumnElement[Any] = column + literal_column(f"INTERVAL '{int(seconds)} seconds'")
    return later


ROLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "last": ("age", *COUNTERS, "deleted", "simulated"),
    "first": ("followers",),
    **{
        f"{side}_{age}": ("age", "eng", "impressions")
        for age in FIXED_AGES
        for side in ("lo", "hi")
    },
    "cross": ("age", "eng"),
    "prev": ("age", "eng"),
}
"""The snapshots found for each delivery, and the columns read from each (``eng``: the
engagements, `engagement_expression`; the last snapshot's are summed from its counters by
`delivery_metrics` instead of being read twice)."""


def snapshot_rows_query(ids: Deliveries, as_of: datetime | None, dialect: str) -> Query:
    """One row per published delivery with the few snapshots a report needs, each found by an
    index seek on (delivery_id, collected_at): the last one collected by ``as_of`` (the current
    counters), the first one, those just before and just after each fixed age, and the first one
    where engagements reached half of the last value (with the one before it; the engagement
    counters are in that index, so on SQLite this scan reads the index alone). The cost grows
    with deliveries, not with the number of snapshots. ``as_of`` None: every snapshot (the
    write-time summary's row, `store_summaries`)."""
    snapshot = _SNAPSHOT
    s = snapshot.c
    # The published deliveries with what every seek and age needs, worked out once per
    # delivery: publication in seconds and the instants of the fixed ages.
    d = Delivery.__table__.c
    pub = (
        select(
            d.id.label("delivery_id"),
            epoch_seconds(d.published_at, dialect).label("published_s"),
            *(
                shifted(d.published_at, seconds, dialect).label(f"at_{label}")
                for label, seconds in FIXED_AGES.items()
            ),
        )
        .where(*ids.on(d), d.published_at.is_not(None))
        .cte("published")
        .prefix_with("MATERIALIZED")
    )

    def seek(*conditions: Any, last: bool, bounded: bool = True) -> Any:
        a = snapshot.alias().c
        order = (a.collected_at.desc(), a.id.desc()) if last else (a.collected_at, a.id)
        limit = [a.collected_at <= as_of] if bounded and as_of is not None else []
        # Forward, the first row at an instant is the one a later-stored row supersedes.
        current = [] if last else [stored_last(a, snapshot)]
        return (
            select(a.id)
            .where(
                a.delivery_id == pub.c.delivery_id,
                *limit,
                *current,
                *(c(a) for c in conditions),
            )
            .order_by(*order)
            .limit(1)
            .correlate(pub)
            .scalar_subquery()
        )

    columns: list[Any] = [
        pub.c.delivery_id,
        pub.c.published_s,
        seek(last=True).label("last_id"),
        seek(last=False).label("first_id"),
        # The measurements: a snapshot superseded by one stored later at the same instant
        # (`stored_last`) is not another one.
        select(func.count(s.collected_at.distinct()))
        .select_from(snapshot)
        .where(s.delivery_id == pub.c.delivery_id, *_collected_by(s, as_of))
        .correlate(pub)
        .scalar_subquery()
        .label("snapshots"),
    ]
    earlier = func.min if dialect == "sqlite" else func.least
    for label in FIXED_AGES:
        bound = pub.c[f"at_{label}"]
        # One upper bound, so that the index range ends where the backward scan starts.
        upper = bound if as_of is None else earlier(bound, literal(as_of, s.collected_at.type))
        lower_id = seek(lambda a, b=upper: a.collected_at <= b, last=True, bounded=False)
        upper_id = seek(lambda a, b=bound: a.collected_at > b, last=False)
        columns += [lower_id.label(f"lo_{label}_id"), upper_id.label(f"hi_{label}_id")]
    seeks = select(*columns).select_from(pub).cte("seeks").prefix_with("MATERIALIZED")

    last_snap = snapshot.alias("last_snap")
    last = last_snap.c
    # Only where the last engagements are positive, and there the counters' plain sum is the
    # engagements (a snapshot that gives none sums to 0, which never reaches half of them): the
    # scan evaluates neither the last value's condition nor `engagement_expression` per row.
    final = _given_sum([getattr(last, p) for p in ENGAGEMENT_PARTS])
    x = snapshot.alias().c
    crossing = (
        select(x.id)
        .where(
            x.delivery_id == seeks.c.delivery_id,
            *_collected_by(x, as_of),
            stored_last(x, snapshot),
            # NULL (no crossing) when this snapshot lacks a counter the last one has.
            known_sum(
                [getattr(x, p) for p in ENGAGEMENT_PARTS],
                [getattr(last, p) for p in ENGAGEMENT_PARTS],
            )
            * 2
            >= final,
        )
        .order_by(x.collected_at, x.id)
        .limit(1)
        .correlate(seeks, last_snap)
        .scalar_subquery()
    )
    with_cross = (
        select(seeks, case((final > 0, crossing), else_=null()).label("cross_id"))
        .join(last_snap, last.id == seeks.c.last_id, isouter=True)
        .cte("crossing")
        .prefix_with("MATERIALIZED")
    )
    cross_snap = snapshot.alias("cross_snap")
    c = cross_snap.c
    p = snapshot.alias().c
    # The one before the crossing among the snapshots whose engagements are known: those with
    # every counter the crossing has (it has each one the last snapshot has).
    previous = (
        select(p.id)
        .where(
            p.delivery_id == with_cross.c.delivery_id,
            p.collected_at < c.collected_at,
            stored_last(p, snapshot),
            snapshot_complete(
                [getattr(p, part) for part in ENGAGEMENT_PARTS],
                [getattr(c, part) for part in ENGAGEMENT_PARTS],
            ),
        )
        .order_by(p.collected_at.desc(), p.id.desc())
        .limit(1)
        .correlate(with_cross, cross_snap)
        .scalar_subquery()
    )
    ids_all = (
        select(with_cross, previous.label("prev_id"))
        .join(cross_snap, c.id == with_cross.c.cross_id, isouter=True)
        .cte("found")
        .prefix_with("MATERIALIZED")
    )

    published = ids_all.c.published_s
    out: list[Any] = [ids_all.c.delivery_id, ids_all.c.snapshots]
    query_from: Any = ids_all
    last_parts: list[Any] = []
    for role, wanted in ROLE_COLUMNS.items():
        role_snap = snapshot.alias(f"{role}_s")
        r = role_snap.c
        query_from = query_from.join(role_snap, r.id == ids_all.c[f"{role}_id"], isouter=True)
        if role == "last":
            last_parts = [getattr(r, part) for part in ENGAGEMENT_PARTS]
        for name in wanted:
            if name == "age":
                value: Any = epoch_seconds(r.collected_at, dialect) - published
            elif name == "eng":
                # Known only with every counter the last snapshot has (`snapshot_complete`).
                value = engagement_expression(
                    [getattr(r, part) for part in ENGAGEMENT_PARTS], last_parts
                )
            else:
                value = r[name]
            out.append(value.label(f"{role}_{name}"))
    return select(*out).select_from(query_from)


def stored_last(columns: Any, snapshots: Any) -> ColumnElement[bool]:
    """Whether a snapshot (``columns``) is the one stored last at its instant: of two collected
    at the same instant, the one stored last (the higher id) is the later one, and the other
    is superseded (docs/metrics.md, "Current value of a counter"). A seek backward in (time, id)
    order meets the one stored last first; a seek forward, and every seek that filters its rows
    (the half-life's crossing and the snapshot before it), must skip the superseded ones. An
    index seek on (delivery_id, collected_at, id) per row that reaches this condition."""
    other = snapshots.alias().c
    return ~(
        select(other.id)
        .where(
            other.delivery_id == columns.delivery_id,
            other.collected_at == columns.collected_at,
            other.id > columns.id,
        )
        .exists()
    )


def _collected_by(columns: Any, as_of: datetime | None) -> list[ColumnElement[bool]]:
    return [] if as_of is None else [columns.collected_at <= as_of]


SUMMARY_VERSION = 3
"""The version of `snapshot_rows_query` that `delivery_metric_summary` rows hold: a report uses
only rows of this version, so a change of the query must bump it (tests/reports/
test_delivery_summary.py pins the query's text to it); older rows are then read by the query
itself until their delivery's next snapshot rewrites them."""
SUMMARY_VALUES: tuple[str, ...] = (
    "snapshots",
    *(f"{role}_{name}" for role, wanted in ROLE_COLUMNS.items() for name in wanted),
)
"""`snapshot_rows_query`'s columns after ``delivery_id``, in its order: the summary's values."""
_SUMMARY_BATCH = 500
_summary = DeliveryMetricSummary.__table__.c
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryIds:
    """Given deliveries, by id (`Deliveries`): a tuple, or an expanding bind parameter."""

    ids: Any

    def on(self, d: Any) -> list[ColumnElement[bool]]:
        return [d.id.in_(self.ids)]


@dataclass(frozen=True)
class _Unsummarized:
    """The deliveries of ``ids`` (`Conditions`) without a summary row valid at ``as_of`` (`_valid_summary`)."""

    ids: Deliveries
    as_of: datetime

    def on(self, d: Any) -> list[ColumnElement[bool]]:
        valid = select(_summary.delivery_id).where(
            _summary.delivery_id == d.id, *_valid_summary(d, self.as_of)
        )
        return [*self.ids.on(d), ~valid.exists()]


Deliveries: TypeAlias = "Conditions | DeliveryIds | _Unsummarized"
"""The deliveries a query reads: conditions on a delivery row (``.on(d)``)."""


def _valid_summary(d: Any, as_of: datetime) -> list[ColumnElement[bool]]:
    """When delivery ``d``'s summary row gives `snapshot_rows_query`'s row at ``as_of``: of this
    version of the query, computed for the delivery's publication as it is now, and with every
    snapshot of the delivery collected by ``as_of`` (then each seek's bound at ``as_of`` keeps
    them all, and the row over all snapshots is the row at ``as_of``; the triggers delete the
    row on any change of a snapshot)."""
    return [
        _summary.version == SUMMARY_VERSION,
        _summary.computed_for_published_at == d.published_at,
        _summary.last_collected_at <= as_of,
    ]


def _summary_rows_query(ids: Conditions, as_of: datetime) -> Query:
    """The valid summary rows of the deliveries in scope, as `snapshot_rows_query`'s rows."""
    d = Delivery.__table__.c
    return (
        select(_summary.delivery_id, *(_summary[name] for name in SUMMARY_VALUES))
        .join(Delivery.__table__, d.id == _summary.delivery_id)
        .where(*ids.on(d), d.published_at.is_not(None), *_valid_summary(d, as_of))
    )


def snapshot_rows(ids: Conditions, as_of: datetime, dialect: str) -> Rows:
    """`snapshot_rows_query`'s rows: the valid rows of the write-time summary, and the query
    itself for every other delivery in scope (the same rows, byte for byte)."""
    return union_all(
        _summary_rows_query(ids, as_of),
        snapshot_rows_query(_Unsummarized(ids, as_of), as_of, dialect),
    )


SUMMARIZED, UNSNAPPED, UNSUMMARIZED = 1, 2, 0
"""`summary_first_query`'s ``summarized`` column: the delivery's row is its summary row's values;
it has no snapshot collected by the report time (its row: no snapshot, every other value NULL);
or neither (`unsummarized_rows_query` reads it)."""


def summary_first_query(ids: Conditions, as_of: datetime) -> Query:
    """`snapshot_rows`' rows for the deliveries a summary row gives (``summarized``
    `SUMMARIZED`, `UNSNAPPED`), and a row of NULLs for each other published delivery in scope
    (`UNSUMMARIZED`), in `snapshot_rows_query`'s columns and then ``summarized``: one scan of
    the deliveries and one probe of the summary each. A reader runs `unsummarized_rows_query`
    only when a delivery is unsummarized, in the same transaction (the same deliveries), so
    the seek query is neither built nor compiled nor run when the summary holds every one (the
    case of a report as of now: the collector writes a delivery's row with its snapshots).

    A delivery without a snapshot collected by ``as_of`` (just published, or a report as of
    before its first) has no valid row; its `snapshot_rows_query` row is known without the
    query: no snapshot counted and every seek empty (NULL). A probe of the snapshot index
    tells, asked only of deliveries without a valid row."""
    d = Delivery.__table__.c
    s = _SNAPSHOT.c
    valid = and_(_summary.delivery_id == d.id, *_valid_summary(d, as_of))
    unsnapped = ~select(s.id).where(s.delivery_id == d.id, s.collected_at <= as_of).exists()
    summarized = case(
        (_summary.delivery_id.is_not(None), SUMMARIZED),
        (unsnapped, UNSNAPPED),
        else_=UNSUMMARIZED,
    )
    return (
        select(
            d.id.label("delivery_id"),
            *(_summary[name] for name in SUMMARY_VALUES),
            summarized.label("summarized"),
        )
        .select_from(Delivery.__table__.outerjoin(DeliveryMetricSummary.__table__, valid))
        .where(*ids.on(d), d.published_at.is_not(None))
    )


def unsummarized_rows_query(ids: Conditions, as_of: datetime, dialect: str) -> Query:
    """`snapshot_rows_query`'s rows of the deliveries in scope without a valid summary row
    (those `summary_first_query` calls `UNSUMMARIZED`, and those `UNSNAPPED`)."""
    return snapshot_rows_query(_Unsummarized(ids, as_of), as_of, dialect)


def store_summaries(conn: Connection, delivery_ids: Iterable[int]) -> None:
    """(Re)write the summary rows of these deliveries from `snapshot_rows_query` over all of
    their snapshots, in ``conn``'s transaction (`campaigns.bulk.insert_snapshots` calls it after
    each insert). Under a savepoint: if it fails, the deliveries are left without a row (a
    report reads them by the query) and the caller's snapshots stay."""
    ids = sorted(set(delivery_ids))
    if not ids:
        return
    forget, compute = _summary_statements(conn.dialect.name)
    try:
        with conn.begin_nested():
            for start in range(0, len(ids), _SUMMARY_BATCH):
                chunk = {"ids": ids[start : start + _SUMMARY_BATCH]}
                conn.execute(forget, chunk)
                conn.execute(compute, chunk)
    except Exception as exc:  # a summary never costs a snapshot
        _log.warning(
            "delivery summaries not written (%s); reports read these deliveries' snapshots",
            type(exc).__name__,
        )


@cache
def _summary_statements(dialect: str) -> tuple[Any, Any]:
    """`store_summaries`' DELETE and INSERT ... SELECT for a list of deliveries (``ids``), built
    once per dialect (building the query took most of a small batch's time)."""
    ids: Any = bindparam("ids", expanding=True)
    d = Delivery.__table__.c
    s = _SNAPSHOT.c
    target: Any = DeliveryMetricSummary.__table__
    rows = snapshot_rows_query(DeliveryIds(ids), None, dialect).subquery("rows")
    last = select(func.max(s.collected_at)).where(s.delivery_id == rows.c.delivery_id)
    values = select(
        rows.c.delivery_id,
        literal(SUMMARY_VERSION),
        d.published_at,
        last.scalar_subquery(),
        *(rows.c[name] for name in SUMMARY_VALUES),
    ).join(Delivery.__table__, d.id == rows.c.delivery_id)
    names = ["delivery_id", "version", "computed_for_published_at", "last_collected_at"]
    return (
        delete(target).where(target.c.delivery_id.in_(ids)),
        insert(target).from_select([*names, *SUMMARY_VALUES], values),
    )
