"""Reading the store for reports: the SQL that aggregates over deliveries and metric snapshots,
returned as pandas frames of plain columns (no ORM objects leave this module).

A delivery's counters are those of its last snapshot collected by the report time (snapshots are
cumulative and never summed). The snapshots a report needs (the last one, those around the
fixed ages of 24 h and 7 d, the one where engagement first reached half its latest value) are
found per delivery by index seeks on (delivery_id, collected_at), so the cost grows with the
number of deliveries, not of snapshots; tests check the result against a ROW_NUMBER() window
over all snapshots. A counter the platform does not give is NULL in SQL and NaN here, never 0.
This module knows nothing of figures or rendering and never calls a platform.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from itertools import chain
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import (
    Connection,
    Engine,
    String,
    and_,
    case,
    cast,
    false,
    func,
    null,
    or_,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from campaigns.schema import (
    SNAPSHOT_COUNTERS,
    Audience,
    AudienceChannel,
    AuditEntry,
    Campaign,
    Channel,
    Delivery,
    FollowerSample,
    Outcome,
    Post,
    PostAudience,
)
from reports.seeks import ENGAGEMENT_PARTS as ENGAGEMENT_PARTS
from reports.seeks import FIXED_AGES as FIXED_AGES
from reports.seeks import (
    ROLE_COLUMNS,
    SUMMARIZED,
    UNSNAPPED,
    UNSUMMARIZED,
    Query,
    Rows,
    epoch_seconds,
    summary_first_query,
    unsummarized_rows_query,
)

# The tables' columns: the queries here are on tables, not on the mapped classes (the first
# query compiled on a mapped class configures every ORM mapper, ~0.04 s of a fresh process that a
# report never needs).
_audience = Audience.__table__.c
_audience_channel = AudienceChannel.__table__.c
_campaign = Campaign.__table__.c
_channel = Channel.__table__.c
_delivery = Delivery.__table__.c
_follower_sample = FollowerSample.__table__.c
_outcome = Outcome.__table__.c
_post = Post.__table__.c
_post_audience = PostAudience.__table__.c

COUNTERS = SNAPSHOT_COUNTERS


@dataclass(frozen=True)
class Scope:
    """What a report covers, in two independent parts (docs/metrics.md, "What a report covers"):

    * the **period** (``since`` inclusive, ``until`` exclusive) says *which deliveries* count:
      those published in it, or due in it when not published by the report time;
    * the **report time** ``as_of`` says *what was known*: deliveries created by then, the
      state each had then (published only when ``published_at <= as_of``; other changes from
      the audit log), snapshots collected by then, deletions recorded by then, follower samples
      taken by then and outcomes imported by then. Nothing recorded later changes a figure, so
      a report as of a past time can be reproduced exactly.
    """

    as_of: datetime
    campaign: str | None = None
    audience: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    channel: str | None = None
    """Only deliveries through this channel (its name)."""
    country: str | None = None
    """Only campaigns for this country (ISO code, as in the campaign file)."""


@dataclass
class StoreData:
    """Everything a report reads, as frames. Times are aware UTC pandas timestamps."""

    scope: Scope
    dialect: str
    campaigns: pd.DataFrame
    audiences: pd.DataFrame
    deliveries: pd.DataFrame
    """One row per delivery in scope, with its post, channel, its state at the report time
    (``state``; ``state_now`` is the current one) and per-delivery metrics."""
    attribution: pd.DataFrame
    """(delivery_id, audience_id): the audiences a delivery reaches."""
    followers: pd.DataFrame
    outcomes: pd.DataFrame


def load(engine: Engine | Connection, scope: Scope) -> StoreData:
    """Run the report's queries and return their frames, all as of one state of the store.

    Given a PostgreSQL engine, the snapshot query runs on a second connection in a thread while
    this one runs the others, both reading the same state (the second transaction imports the
    first's snapshot, both REPEATABLE READ): the server works for both at once. On SQLite, and
    given a connection, everything runs on one connection: with the write-time summary the
    snapshot rows take ~35 ms of SQL, and a second connection's thread cost more in GIL
    hand-offs than it saved (load of a 10k/100k store: 175-181 ms alone against 204-255 ms
    with the thread, CPU 173-181 against 237-309 ms; bench/README, reports_build)."""
    with collector_paused():
        if isinstance(engine, Engine):
            with engine.connect() as conn:
                if conn.dialect.name == "postgresql":
                    conn = conn.execution_options(isolation_level="REPEATABLE READ")
                return _load(conn, scope, _helper(engine, conn))
        return _load(engine, scope)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused (then restored as it was): reading makes a tuple
    per row (several hundred thousand at 50,000 deliveries), none of them garbage, and each
    batch of new tuples set off the collector, whose full passes over every live object took
    about a tenth of the reading's CPU. Reference counting still frees everything as usual;
    only cycles wait for the collector's next pass."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _helper(engine: Engine, conn: Connection) -> Connection | None:
    """A second connection reading the same state of the store as ``conn`` (whose transaction
    this starts) on PostgreSQL, else None (`load`: SQLite reads on one connection)."""
    if conn.dialect.name != "postgresql":
        return None
    _read_only_settings(conn)
    exported = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
    helper = engine.connect().execution_options(isolation_level="REPEATABLE READ")
    try:
        helper.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{exported}'")
        _read_only_settings(helper)
    except BaseException:
        helper.close()
        raise
    return helper


def _read_only_settings(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        # The seek query's cost estimate makes PostgreSQL JIT-compile it, which takes longer
        # than running it; this transaction only reads.
        conn.exec_driver_sql("SET LOCAL jit = off")


def _load(conn: Connection, scope: Scope, helper: Connection | None = None) -> StoreData:
    ids = InScope(scope)
    dialect = conn.dialect.name
    if helper is None:
        _read_only_settings(conn)
        snapshot_frames = None
    else:
        # The snapshot query on the helper connection in a thread: the drivers release the
        # GIL while the database works, so the two connections' queries run side by side.
        pool = ThreadPoolExecutor(max_workers=1)
        snapshot_frames = pool.submit(_snapshot_rows, helper, ids, scope.as_of, dialect)
        pool.shutdown(wait=False)
    try:
        deliveries = _deliveries(conn, ids, scope.as_of)
        deliveries = _states_then(deliveries, _frame(conn, _states_query(ids, scope.as_of)), scope)
        attribution = _attribution(conn, ids, deliveries)
        campaigns = _frame(conn, _campaigns_query(scope))
        audiences = _frame(conn, _audiences_query(scope))
        channels = sorted(int(channel) for channel in deliveries["channel_id"].unique())
        followers = _last_stored(_frame(conn, _followers_query(scope, channels)))
        outcomes = _frame(conn, _outcomes_query(scope))
        # The followers from the daily samples while the snapshot thread still works (the
        # first snapshot's, for deliveries without a sample, are filled in after it).
        sampled = followers_at(deliveries, followers).to_numpy()
        # Our own replies here too: the snapshot thread's query is the reading's longest.
        own = _frame(conn, own_replies_query(ids, scope.as_of, dialect))
        if snapshot_frames is None:
            reduced = _snapshot_rows(conn, ids, scope.as_of, dialect)
        else:
            reduced = snapshot_frames.result()
    finally:
        if snapshot_frames is not None and helper is not None:
            snapshot_frames.exception()  # waits for the thread, whatever happened here
            helper.close()
    deliveries = _with_metrics(deliveries, delivery_metrics(reduced, own))
    # `followers_at` of the frame with its metrics (its rows in the same order), in two parts.
    first = deliveries["first_followers"].to_numpy(dtype="float64", na_value=np.nan)
    deliveries["followers_at_post"] = np.where(np.isnan(sampled), first, sampled)
    return StoreData(
        scope=scope,
        dialect=dialect,
        campaigns=campaigns,
        audiences=audiences,
        deliveries=deliveries,
        attribution=attribution,
        followers=followers,
        outcomes=outcomes,
    )


def _with_metrics(deliveries: pd.DataFrame, metrics: pd.DataFrame) -> pd.DataFrame:
    """``deliveries`` with each one's `delivery_metrics` columns, taken by position (a delivery
    without snapshots: none counted, none of our replies, both snapshot flags false, every
    other figure missing): the frame a left merge on ``delivery_id`` gave, without the merge's
    cost on the reading's critical path."""
    if metrics.empty:
        merged = deliveries.merge(metrics, how="left", left_on="delivery_id", right_index=True)
        merged["snapshots"] = merged["snapshots"].fillna(0).astype("int64")
        merged["own_replies"] = merged["own_replies"].fillna(0).astype("int64")
        for flag in ("deleted_snapshot", "simulated_snapshot"):
            merged[flag] = merged[flag].fillna(False).astype(bool)
        return merged
    at = metrics.index.get_indexer(pd.Index(deliveries["delivery_id"]))
    found = at >= 0
    columns: dict[str, np.ndarray] = {}
    for name in metrics.columns:
        values = metrics[name].to_numpy()[at]
        if name in ("snapshots", "own_replies"):
            columns[name] = np.where(found, values, 0).astype(np.int64)
        elif name in ("deleted_snapshot", "simulated_snapshot"):
            columns[name] = found & values
        elif values.dtype == np.bool_:
            # As the merge leaves them: True, False or missing (objects).
            flags = values.astype(object)
            flags[~found] = np.nan
            columns[name] = flags
        else:
            columns[name] = np.where(found, values, np.nan)
    return pd.concat([deliveries, pd.DataFrame(columns, index=deliveries.index)], axis=1)


def _snapshot_rows(conn: Connection, ids: InScope, as_of: datetime, dialect: str) -> pd.DataFrame:
    """The sought snapshots of each delivery (`delivery_metrics`' input): `snapshot_rows`' rows
    (in another order), from the summary first, and by the seek query only when the summary
    lacks a delivery (`reports.seeks.summary_first_query`)."""
    first = _number_frame(conn, summary_first_query(ids, as_of))
    summarized = first.pop("summarized").to_numpy()
    reduced: pd.DataFrame
    if (summarized == UNSUMMARIZED).any():
        # The seek query reads every delivery without a valid row, the unsnapped ones too.
        rest = _number_frame(conn, unsummarized_rows_query(ids, as_of, dialect))
        reduced = pd.concat([first[summarized == SUMMARIZED], rest], ignore_index=True)
    else:
        reduced = first
        reduced.loc[summarized == UNSNAPPED, "snapshots"] = 0.0
    reduced["delivery_id"] = reduced["delivery_id"].astype("int64")
    return reduced


def _number_frame(conn: Connection, query: Rows) -> pd.DataFrame:
    """The rows of a query whose every column is a number or a boolean as float64 columns (NULL:
    NaN, true: 1.0), in one conversion of the driver's rows (no column needs a result
    processor beyond that)."""
    result = conn.execute(query)
    names = list(result.keys())
    cursor = result.cursor
    rows = cursor.fetchall() if cursor is not None else []
    result.close()
    # From one flat list: numpy converts it a third faster than the list of row tuples, whose
    # nesting it first inspects row by row (the same values).
    flat = list(chain.from_iterable(rows))
    values = np.array(flat, dtype=np.float64).reshape(len(rows), len(names))
    return pd.DataFrame(values, columns=names)


def _frame(conn: Connection, query: Query) -> pd.DataFrame:
    result = conn.execute(query)
    names = list(result.keys())
    # The driver's rows as they are, turned into columns, each column then converted by its
    # type's result processor (what SQLAlchemy would do per value of each Row it builds; most
    # columns here have none): building a Row per result row cost more than the conversion.
    cursor = result.cursor
    rows = cursor.fetchall() if cursor is not None else []
    processors = _processors(conn, query, cursor.description if cursor is not None else None)
    result.close()
    columns: dict[str, pd.Series] = {}
    for name, column, process in zip(names, _columns(rows, len(names)), processors, strict=True):
        if process is not None:
            column = np.fromiter(map(process, column), dtype=object, count=len(column))
        columns[name] = _series(name, column)
    return pd.DataFrame(columns, columns=names)


def _series(name: str, column: np.ndarray) -> pd.Series:
    """A column of the driver's values (an object array, NULL as None) as `_frame` makes it."""
    # Column by column: handing pandas the rows makes it probe every row for array
    # attributes, which cost more than the query itself.
    first = next((v for v in column if v is not None), None)
    if isinstance(first, str):
        # Text stays plain objects (missing = NaN): the figures take and mask rows many
        # times, which is several times faster than on Arrow-backed strings (and making
        # those first would cost more than the query).
        texts = column.copy()
        missing = pd.isna(texts)
        if missing.any():
            texts[missing] = np.nan
        series = pd.Series(texts, dtype=object)
    else:
        values = column.tolist()
        numbers = _numbers(values) if _is_number(first) else None
        series = (
            numbers if numbers is not None else pd.Series(values, dtype=None if values else object)
        )
    if name.endswith("_at"):
        series = _instants(series)
    return series


def _columns(rows: Sequence[Any], width: int) -> list[np.ndarray]:
    """The driver's rows column by column as object arrays, the values as they are. One object
    matrix is made and cut into columns about twice as fast as Python transposes the row
    tuples; a row whose values numpy would take for another level of nesting (a list, as some
    drivers give for arrays) makes it transpose them instead."""
    if not rows:
        return [np.empty(0, dtype=object) for _ in range(width)]
    try:
        matrix = np.array(rows, dtype=object)
    except ValueError:
        matrix = None
    if matrix is None or matrix.shape != (len(rows), width):
        return [_objects(column) for column in zip(*rows, strict=True)]
    return [matrix[:, index] for index in range(width)]


def _objects(values: Sequence[Any]) -> np.ndarray:
    """The values as a 1-D object array, whatever each one is (a list stays one value)."""
    array = np.empty(len(values), dtype=object)
    for index, value in enumerate(values):
        array[index] = value
    return array


def _processors(conn: Connection, query: Query, description: Any) -> list[Any]:
    """Each selected column's result processor on this connection's dialect, given the driver's
    type code of the column (None: the driver's value is the value)."""
    dialect = conn.dialect
    codes = (
        [entry[1] for entry in description] if description else [None] * len(query.selected_columns)
    )
    return [
        column.type.dialect_impl(dialect).result_processor(dialect, code)
        for column, code in zip(query.selected_columns, codes, strict=True)
    ]


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _numbers(column: Sequence[Any]) -> pd.Series | None:
    """A column of numbers as pandas would infer it from the values (int64, or float64 with NaN
    for NULL), without its per-value inference; None when it holds anything else."""
    try:
        values = np.array(column, dtype=np.float64 if None in column else None)
    except (TypeError, ValueError):
        return None
    return pd.Series(values) if values.dtype.kind in "if" else None


def _raw_time(column: Any) -> ColumnElement[Any]:
    """A stored instant handed to pandas in a form it converts a column at a time, instead of
    row by row by the ORM type (the figures' hot path): SQLite's ISO text as stored, parsed
    as UTC; PostgreSQL's microseconds since 1970 (`_RawTime`). ``_frame`` makes every
    ``*_at`` column an aware UTC instant."""
    return _RawTime(column)


class _RawTime(FunctionElement[Any]):
    """`_raw_time`'s SQL: the value as stored, typed as text so that no result processor runs;
    on PostgreSQL the whole microseconds since 1970 (``EXTRACT`` gives an exact numeric; a
    timestamptz holds whole microseconds): psycopg's aware datetimes cost pandas about 2 us
    each to convert, the integers nothing (10k deliveries: 38 ms of the reading's CPU)."""

    type = String()
    name = "raw_time"
    inherit_cache = True


@compiles(_RawTime)
def _raw_time_as_stored(element: _RawTime, compiler: Any, **kw: Any) -> str:
    text: str = compiler.process(element.clauses, **kw)
    return text


@compiles(_RawTime, "postgresql")
def _raw_time_microseconds(element: _RawTime, compiler: Any, **kw: Any) -> str:
    return (
        f"CAST(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)}) * 1000000 AS BIGINT)"
    )


def _instants(series: pd.Series) -> pd.Series:
    """A ``*_at`` column of `_frame` as aware UTC instants: numbers are `_RawTime`'s microseconds
    since 1970 (float64 when some are NULL: exact below 2**53, i.e. before the year 2255),
    anything else (text, datetimes, only NULLs) is parsed by pandas."""
    if series.dtype.kind in "iuf":
        values = series.to_numpy()
        missing = np.isnan(values) if values.dtype.kind == "f" else None
        whole = (values if missing is None else np.where(missing, 0, values)).astype(np.int64)
        instants = whole.astype("datetime64[us]")
        if missing is not None:
            instants[missing] = np.datetime64("NaT")
        return pd.Series(instants).dt.tz_localize("UTC")
    # No cache of repeated values: instants rarely repeat, and looking for repeats cost more
    # than parsing them (same values either way).
    return pd.to_datetime(series, utc=True, cache=False)


def _known_published(as_of: datetime, d: Any = None) -> ColumnElement[bool]:
    """Published by the report time (a later publication was not known then); ``d``: the
    delivery columns (default the ``delivery`` table's)."""
    d = Delivery.__table__.c if d is None else d
    return and_(d.published_at.is_not(None), d.published_at <= as_of)


def _event_time(as_of: datetime, d: Any) -> ColumnElement[Any]:
    """When a delivery happened as seen at the report time: its publication when known by
    then, else its due time."""
    return case((_known_published(as_of, d), d.published_at), else_=d.due_at)


@dataclass(frozen=True)
class InScope:
    """The deliveries a report covers, as conditions on a query's own delivery row (no
    ``IN (SELECT id ...)`` list of every delivery in scope for each query to probe)."""

    scope: Scope

    def on(self, d: Any) -> list[ColumnElement[bool]]:
        """The conditions on delivery columns ``d`` (a table's or alias's ``.c``)."""
        scope = self.scope
        conditions: list[ColumnElement[bool]] = [d.created_at <= scope.as_of]
        post = Post.__table__.c
        if scope.campaign is not None:
            conditions.append(
                d.post_id.in_(
                    select(post.id).where(post.campaign_id == scope.campaign).correlate(None)
                )
            )
        if scope.country is not None:
            campaigns = _country_campaigns(scope.country)
            conditions.append(
                d.post_id.in_(
                    select(post.id).where(post.campaign_id.in_(campaigns)).correlate(None)
                )
            )
        if scope.channel is not None:
            channel = Channel.__table__.c
            conditions.append(
                d.channel_id.in_(
                    select(channel.id).where(channel.name == scope.channel).correlate(None)
                )
            )
        if scope.since is not None:
            conditions.append(_event_time(scope.as_of, d) >= scope.since)
        if scope.until is not None:
            conditions.append(_event_time(scope.as_of, d) < scope.until)
        if scope.audience is not None:
            pairs = _attribution_pairs().subquery("reach")
            conditions.append(
                d.id.in_(
                    select(pairs.c.delivery_id)
                    .where(pairs.c.audience_id == scope.audience)
                    .correlate(None)
                )
            )
        return conditions


def _country_campaigns(country: str) -> Query:
    return select(_campaign.id).where(_campaign.country == country)


def _attribution_pairs() -> Query:
    """A delivery reaches the audiences its post targets AND its channel reaches."""
    return (
        select(_delivery.id.label("delivery_id"), _post_audience.audience_id)
        .join(PostAudience.__table__, _post_audience.post_id == _delivery.post_id)
        .join(
            AudienceChannel.__table__,
            and_(
                _audience_channel.audience_id == _post_audience.audience_id,
                _audience_channel.channel_id == _delivery.channel_id,
            ),
        )
    )


def _attribution(conn: Connection, ids: InScope, deliveries: pd.DataFrame) -> pd.DataFrame:
    """(delivery_id, audience_id) of `_attribution_pairs` for the deliveries in scope, ordered by
    both: joined here from the deliveries' frame (their post and channel) and the two small
    link tables, instead of SQL scanning every delivery row again (the same pairs: each delivery
    has one post and one channel, and both links are unique). An empty answer is the query's
    own (its columns' types)."""
    if len(deliveries):
        links = _id_pairs(conn, select(_post_audience.post_id, _post_audience.audience_id))
        reach = _id_pairs(conn, select(_audience_channel.audience_id, _audience_channel.channel_id))
        if len(links) and len(reach):
            delivery, audience = _reached(deliveries, links, reach)
            if delivery.size:
                return pd.DataFrame({"delivery_id": delivery, "audience_id": audience})
    return _frame(conn, _attribution_query(ids))


def _id_pairs(conn: Connection, query: Query) -> npt.NDArray[np.int64]:
    """The rows of a query of two NOT NULL id columns as an (n, 2) int64 array."""
    result = conn.execute(query)
    cursor = result.cursor
    rows = cursor.fetchall() if cursor is not None else []
    result.close()
    return np.array(rows, dtype=np.int64).reshape(len(rows), 2)


def _reached(
    deliveries: pd.DataFrame, links: npt.NDArray[np.int64], reach: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(delivery, audience) of every delivery and each audience its post targets (``links``:
    post, audience) that its channel reaches (``reach``: audience, channel), ordered by both:
    the inner joins of the two links on the delivery's post and then (audience, channel), on
    arrays (each pair once: both links are unique)."""
    post = deliveries["post_id"].to_numpy(dtype=np.int64)
    channel = deliveries["channel_id"].to_numpy(dtype=np.int64)
    delivery = deliveries["delivery_id"].to_numpy(dtype=np.int64)
    by_post = np.argsort(links[:, 0], kind="stable")
    linked_post, linked_audience = links[by_post, 0], links[by_post, 1]
    start = np.searchsorted(linked_post, post, side="left")
    counts = np.searchsorted(linked_post, post, side="right") - start
    row = np.repeat(np.arange(post.size), counts)
    first = np.repeat(start - (np.cumsum(counts) - counts), counts)
    audience = linked_audience[first + np.arange(row.size)]
    # (audience, channel) as one number each, to test membership in one pass.
    width = int(max(channel.max(), reach[:, 1].max())) + 1
    kept = np.isin(audience * width + channel[row], reach[:, 0] * width + reach[:, 1])
    delivery, audience = delivery[row[kept]], audience[kept]
    order = np.lexsort((audience, delivery))
    return delivery[order], audience[order]


def _attribution_query(ids: InScope) -> Query:
    # Ordered by both keys: by the delivery alone, the order of its audiences was the plan's.
    return (
        _attribution_pairs()
        .where(*ids.on(Delivery.__table__.c))
        .order_by(_delivery.id, _post_audience.audience_id)
    )


_POST_TEXTS: dict[str, Any] = {
    "campaign_id": _post.campaign_id,
    "post_key": _post.key,
    "category": _post.category,
    "narrative": _post.narrative,
    "variant": _post.variant,
}
_CHANNEL_TEXTS: dict[str, Any] = {"channel": _channel.name, "platform": _channel.platform}
"""The deliveries frame's columns from its post and its channel (`_deliveries`)."""


def _deliveries(conn: Connection, ids: InScope, as_of: datetime) -> pd.DataFrame:
    """`_deliveries_query`'s frame, with its post's and channel's columns taken from one small
    frame of each by the delivery's post and channel instead of joined in SQL: one text object
    per post or channel instead of one per delivery (about a third fewer values for the driver
    to make and for `_frame` to convert, and the figures hash each text once). The same
    frame; read by the query itself when a delivery's post is not among those read."""
    query = _deliveries_query(ids, as_of)
    own = _frame(conn, _delivery_rows_query(ids, as_of))
    if own.empty:
        return _frame(conn, query)
    taken: dict[str, pd.Series] = {}
    for key, texts, source in (
        ("post_id", _POST_TEXTS, _posts_query(ids.scope)),
        ("channel_id", _CHANNEL_TEXTS, select(_channel.id, *_labelled(_CHANNEL_TEXTS))),
    ):
        found = _frame(conn, source)
        at = pd.Index(found["id"]).get_indexer(pd.Index(own[key]))
        if (at < 0).any():
            return _frame(conn, query)
        for name in texts:
            values = found[name].to_numpy(dtype=object, copy=True)
            values[pd.isna(values)] = None  # the driver's NULL, as the query would give it
            taken[name] = _series(name, values[at])  # (per post: fewer values to test)
    names = [column.name for column in query.selected_columns]
    return pd.DataFrame({name: taken.get(name, own.get(name)) for name in names}, columns=names)


def _labelled(columns: dict[str, Any]) -> list[Any]:
    return [column.label(name) for name, column in columns.items()]


def _posts_query(scope: Scope) -> Query:
    """The posts of the campaigns in scope (`_POST_TEXTS`), by id."""
    query: Query = select(_post.id, *_labelled(_POST_TEXTS))
    if scope.campaign is not None:
        query = query.where(_post.campaign_id == scope.campaign)
    if scope.country is not None:
        query = query.where(_post.campaign_id.in_(_country_campaigns(scope.country)))
    return query


def _deliveries_query(ids: InScope, as_of: datetime) -> Query:
    """Every column of the deliveries frame, its post's and channel's joined."""
    columns = _delivery_columns(as_of)
    return (
        select(
            *columns[:2],
            *_labelled(_POST_TEXTS),
            columns[2],
            *_labelled(_CHANNEL_TEXTS),
            *columns[3:],
        )
        .join(Post.__table__, _post.id == _delivery.post_id)
        .join(Channel.__table__, _channel.id == _delivery.channel_id)
        .where(*ids.on(Delivery.__table__.c))
        .order_by(_delivery.id)
    )


def _delivery_rows_query(ids: InScope, as_of: datetime) -> Query:
    """The deliveries frame's columns from the delivery row alone."""
    return (
        select(*_delivery_columns(as_of))
        .where(*ids.on(Delivery.__table__.c))
        .order_by(_delivery.id)
    )


def _delivery_columns(as_of: datetime) -> list[Any]:
    known = _known_published(as_of)
    return [
        _delivery.id.label("delivery_id"),
        _delivery.post_id,
        _delivery.channel_id,
        _delivery.language,
        _delivery.timezone,
        _delivery.state.label("state_now"),
        _raw_time(_delivery.due_at).label("due_at"),
        _raw_time(case((known, _delivery.published_at), else_=null())).label("published_at"),
        case((known, _delivery.remote_url), else_=null()).label("remote_url"),
        _raw_time(
            case(
                (_delivery.remote_deleted_at <= as_of, _delivery.remote_deleted_at),
                else_=null(),
            )
        ).label("remote_deleted_at"),
        _delivery.collect_failures,
        func.substr(_delivery.text, 1, 160).label("text"),
    ]


def _states_query(ids: InScope, as_of: datetime) -> Query:
    """For deliveries changed after the report time (and not published by then): their state
    at the report time, from the audit log's last transition by then (NULL when none: the row
    was still in its first state, a draft)."""
    a = AuditEntry.__table__.c
    then = (
        select(a.to_state)
        .where(
            a.entity == "delivery",
            a.entity_id == cast(_delivery.id, String),
            a.at <= as_of,
            a.to_state.is_not(None),
        )
        .order_by(a.at.desc(), a.id.desc())
        .limit(1)
        .correlate(Delivery.__table__)
        .scalar_subquery()
    )
    return select(_delivery.id.label("delivery_id"), then.label("state_then")).where(
        *ids.on(Delivery.__table__.c),
        _delivery.updated_at > as_of,
        ~_known_published(as_of),
    )


def _states_then(deliveries: pd.DataFrame, then: pd.DataFrame, scope: Scope) -> pd.DataFrame:
    """``state`` = the state at the report time: published when published by then; the audit
    log's state for rows changed later; otherwise the current state (unchanged since)."""
    d = deliveries
    state = d["state_now"].astype(object).copy()
    if len(then):
        earlier = d["delivery_id"].map(then.set_index("delivery_id")["state_then"])
        changed = d["delivery_id"].isin(then["delivery_id"])
        state = state.where(~changed, earlier.fillna("draft"))
    state = state.where(d["published_at"].isna(), "published")
    # A row published after the report time that the audit log still calls published (or
    # nothing): at the report time it was waiting to go out.
    state = state.where(~((state == "published") & d["published_at"].isna()), "scheduled")
    d["state"] = state
    return d


def _campaigns_query(scope: Scope) -> Query:
    query: Query = select(
        _campaign.id.label("campaign_id"),
        _campaign.title,
        _campaign.country,
        _campaign.timezone,
        _campaign.starts_on,
        _campaign.ends_on,
    ).order_by(_campaign.id)
    if scope.campaign is not None:
        query = query.where(_campaign.id == scope.campaign)
    if scope.country is not None:
        query = query.where(_campaign.country == scope.country)
    return query


def _audiences_query(scope: Scope) -> Query:
    """The audiences in scope. ``audience`` is the name the report shows: an audience whose
    campaign has another audience of the same name (names are not unique, keys are) is
    "name (key)", so that each audience is one row of every table (the tables group by this
    name and the campaign: two audiences sharing it were one row, their posts counted twice)."""
    other = Audience.__table__.alias("same_name").c
    shared = (
        select(other.id)
        .where(
            other.campaign_id == _audience.campaign_id,
            other.name == _audience.name,
            other.id != _audience.id,
        )
        .exists()
    )
    query: Query = select(
        _audience.id.label("audience_id"),
        _audience.campaign_id,
        _audience.key.label("audience_key"),
        case((shared, _audience.name + " (" + _audience.key + ")"), else_=_audience.name).label(
            "audience"
        ),
        _audience.audience_group.label("audience_group"),
        _audience.timezone.label("audience_timezone"),
    ).order_by(_audience.campaign_id, _audience.id)
    if scope.campaign is not None:
        query = query.where(_audience.campaign_id == scope.campaign)
    if scope.country is not None:
        query = query.where(_audience.campaign_id.in_(_country_campaigns(scope.country)))
    if scope.audience is not None:
        query = query.where(_audience.id == scope.audience)
    if scope.channel is not None:
        # A channel's report is about the audiences that channel reaches (`audience_channel`):
        # every other audience of the campaign was listed with zeros, as if planned for and
        # missed through it.
        channel = Channel.__table__.c
        query = query.where(
            _audience.id.in_(
                select(_audience_channel.audience_id)
                .join(Channel.__table__, channel.id == _audience_channel.channel_id)
                .where(channel.name == scope.channel)
            )
        )
    return query


def _followers_query(scope: Scope, channels: Sequence[int]) -> Query:
    """The follower samples of ``channels`` (those of the deliveries in scope, taken from the
    deliveries' frame: asking the store again for them scanned every delivery row)."""
    return (
        select(
            _follower_sample.channel_id,
            _channel.name.label("channel"),
            _channel.platform,
            _raw_time(_follower_sample.sampled_at).label("sampled_at"),
            _follower_sample.followers,
            _follower_sample.simulated,
        )
        .join(Channel.__table__, _channel.id == _follower_sample.channel_id)
        .where(
            _follower_sample.channel_id.in_(channels), _follower_sample.sampled_at <= scope.as_of
        )
        .order_by(_follower_sample.channel_id, _follower_sample.sampled_at, _follower_sample.id)
    )


def _last_stored(samples: pd.DataFrame) -> pd.DataFrame:
    """The follower samples with one per channel and instant: of two taken at the same instant,
    the one stored last (as of snapshots: `reports.seeks.stored_last`), whichever way a figure
    reads them (backward or forward from a publication, the first or last of a period).
    ``samples`` in (channel, instant, id) order."""
    if len(samples) < 2:
        return samples
    channel = samples["channel_id"].to_numpy()
    instant = samples["sampled_at"].to_numpy()
    superseded = np.r_[(channel[1:] == channel[:-1]) & (instant[1:] == instant[:-1]), False]
    return samples[~superseded].reset_index(drop=True) if superseded.any() else samples


def _outcomes_query(scope: Scope) -> Query:
    query = select(
        _outcome.campaign_id,
        _outcome.audience_id,
        _outcome.on_date,
        _outcome.metric,
        _outcome.value,
        _outcome.source,
    ).order_by(_outcome.campaign_id, _outcome.audience_id, _outcome.metric, _outcome.on_date)
    query = query.where(_outcome.imported_at <= scope.as_of)
    if scope.campaign is not None:
        query = query.where(_outcome.campaign_id == scope.campaign)
    if scope.country is not None:
        query = query.where(_outcome.campaign_id.in_(_country_campaigns(scope.country)))
    if scope.channel is not None:
        # Outcomes (registrations, enquiries…) belong to a campaign or audience, never to one
        # channel: a channel's report leaves them out rather than credit them to it.
        query = query.where(false())
    if scope.audience is not None:
        query = query.where(
            or_(_outcome.audience_id == scope.audience, _outcome.audience_id.is_(None))
        )
    if scope.since is not None:
        query = query.where(_outcome.on_date >= _day(scope.since))
    if scope.until is not None:
        query = query.where(_outcome.on_date < _day(scope.until))
    return query


def _day(moment: datetime) -> date:
    return moment.date()


def _nanoseconds(instants: pd.Series) -> npt.NDArray[np.int64]:
    """Aware instants as nanoseconds since 1970 (NaT: the smallest int64)."""
    values: npt.NDArray[np.int64] = np.asarray(instants.dt.as_unit("ns").array.asi8)
    return values


def own_replies_query(ids: InScope, as_of: datetime, dialect: str) -> Query:
    """Our own replies to each delivery: the thread continuations Elshi published under it (a
    delivery of a post whose ``reply_to`` is this delivery's post, on the same channel and
    occurrence), published by the report time, with their age when published and, if deleted
    by then, when deleted (seconds after the parent's publication). Platforms count them in
    the parent's replies; the report subtracts them. Driven from the few reply posts, so the
    cost follows the threads, not the deliveries."""
    post = Post.__table__.c
    replies = (
        select(post.id.label("post_id"), post.reply_to_post_id.label("parent_post_id"))
        .where(post.reply_to_post_id.is_not(None))
        .cte("reply_posts")
        .prefix_with("MATERIALIZED")
    )
    child_table = Delivery.__table__.alias("own_reply")
    parent_table = Delivery.__table__.alias("parent")
    child, parent = child_table.c, parent_table.c
    published = epoch_seconds(parent.published_at, dialect)
    deleted = case(
        (child.remote_deleted_at <= as_of, epoch_seconds(child.remote_deleted_at, dialect)),
        else_=null(),
    )
    return (
        select(
            parent.id.label("delivery_id"),
            (epoch_seconds(child.published_at, dialect) - published).label("reply_age"),
            (deleted - published).label("deleted_age"),
        )
        .select_from(replies)
        .join(child_table, child.post_id == replies.c.post_id)
        .join(
            parent_table,
            and_(
                parent.post_id == replies.c.parent_post_id,
                parent.channel_id == child.channel_id,
                parent.occurrence == child.occurrence,
            ),
        )
        .where(
            parent.published_at.is_not(None),
            child.published_at.is_not(None),
            child.published_at <= as_of,
            *ids.on(parent),
        )
    )


BOUNDARY_SECONDS = 0.001
"""A snapshot within this of a fixed age is *at* that age (stored instants round-trip through
text on SQLite, so an exact 7 d can come back a microsecond off)."""


def _own_at(own: pd.DataFrame, index: pd.Index, ages: pd.Series) -> pd.Series:
    """How many of our own replies each delivery had at the given age (NaN age: 0)."""
    if own.empty:
        return pd.Series(0.0, index=index)
    joined = own.join(ages.rename("at"), on="delivery_id")
    alive = (joined["reply_age"] <= joined["at"] + BOUNDARY_SECONDS) & ~(
        joined["deleted_age"] <= joined["at"]
    )
    counts = alive.groupby(joined["delivery_id"]).sum()
    return counts.reindex(index, fill_value=0).astype("float64")


def delivery_metrics(rows: pd.DataFrame, own: pd.DataFrame | None = None) -> pd.DataFrame:
    """From the sought snapshots: per delivery the latest counters, the values at the fixed ages
    (interpolated linearly between the snapshots around that age, a snapshot at exactly that age
    included; from zero at publication when the first snapshot is later), and the engagement
    half-life (seconds). ``own`` (from `own_replies_query`) lists our own replies: each is
    subtracted from ``replies`` and engagements from the moment it was published.

    On numpy arrays, with pandas' rules for what it replaced (``clip`` keeps a missing value
    and treats a missing bound as none; ``where`` and ``fillna`` as written): this runs after
    the snapshot thread, on the reading's critical path."""
    columns = [
        "snapshots",
        "last_age",
        "eng",
        *COUNTERS,
        "own_replies",
        "first_followers",
        "deleted_snapshot",
        "simulated_snapshot",
        *(f"{k}_{a}" for a in FIXED_AGES for k in ("eng", "impressions")),
        *(f"after_{a}" for a in FIXED_AGES),
        "half_life",
    ]
    if rows.empty:
        return pd.DataFrame(columns=columns, index=pd.Index([], name="delivery_id"))
    index = pd.Index(rows["delivery_id"], name="delivery_id")

    def number(name: str) -> npt.NDArray[np.float64]:
        values: npt.NDArray[np.float64] = rows[name].to_numpy(dtype=np.float64, na_value=np.nan)
        return values

    nan = np.nan
    # `engagement_expression` of the last counters: NaN when none is given (exact: whole numbers).
    parts = np.vstack([number(f"last_{part}") for part in ENGAGEMENT_PARTS])
    last_eng = np.where((~np.isnan(parts)).any(axis=0), np.nansum(parts, axis=0), nan)
    eng = {role: number(f"{role}_eng") for role, wanted in ROLE_COLUMNS.items() if "eng" in wanted}
    eng["last"] = last_eng
    last_replies = number("last_replies")
    own_replies = np.zeros(len(index))
    own = own if own is not None and len(own) else None
    if own is not None:
        own = own.astype({"reply_age": "float64", "deleted_age": "float64"})
    for role, values in eng.items():
        if own is None:
            mine = np.zeros(len(index))
        else:
            ages = pd.Series(number(f"{role}_age"), index=index)
            mine = _own_at(own, index, ages).to_numpy(dtype=np.float64)
            mine = np.where(~np.isnan(values), mine, 0.0)
        if role == "last":
            given = ~np.isnan(last_replies)
            bound = np.where(given, last_replies, 0.0)
            taken = np.where(np.isnan(mine) | (mine <= bound), mine, bound)
            taken = np.where(given, taken, 0.0)
            last_replies = last_replies - taken
            own_replies = taken
        else:
            taken = mine
        less = values - taken
        eng[role] = np.where(np.isnan(less) | (less >= 0.0), less, 0.0)
    out: dict[str, Any] = {}
    snapshots = number("snapshots")
    out["snapshots"] = np.where(np.isnan(snapshots), 0.0, snapshots).astype(np.int64)
    out["last_age"] = number("last_age")
    out["eng"] = eng["last"]
    for name in COUNTERS:
        out[name] = last_replies if name == "replies" else number(f"last_{name}")
    out["own_replies"] = own_replies
    out["first_followers"] = number("first_followers")
    # True or 1.0 (a number frame); NULL (no snapshot) is False.
    out["deleted_snapshot"] = (rows["last_deleted"] == 1).to_numpy(dtype=bool)
    out["simulated_snapshot"] = (rows["last_simulated"] == 1).to_numpy(dtype=bool)
    after: dict[str, np.ndarray] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for label, seconds in FIXED_AGES.items():
            lo_age, hi_age = number(f"lo_{label}_age"), number(f"hi_{label}_age")
            at_age = np.abs(lo_age - seconds) <= BOUNDARY_SECONDS
            share = (seconds - lo_age) / (hi_age - lo_age)
            for key in ("eng", "impressions"):
                lo = eng[f"lo_{label}"] if key == "eng" else number(f"lo_{label}_{key}")
                hi = eng[f"hi_{label}"] if key == "eng" else number(f"hi_{label}_{key}")
                between = lo + share * (hi - lo)
                from_zero = hi * seconds / hi_age
                value = np.where(~np.isnan(lo_age), between, from_zero)
                value = np.where(~np.isnan(hi_age), value, nan)
                out[f"{key}_{label}"] = np.where(at_age, lo, value)
            after[f"after_{label}"] = ~np.isnan(hi_age) | at_age
        out.update(after)
        cross_age = number("cross_age")
        prev_age = np.where(np.isnan(number("prev_age")), 0.0, number("prev_age"))
        prev_eng = np.where(np.isnan(eng["prev"]), 0.0, eng["prev"])
        rise = eng["cross"] - prev_eng
        rise = np.where(rise == 0.0, nan, rise)
        half = prev_age + (eng["last"] / 2 - prev_eng) / rise * (cross_age - prev_age)
    # `Series.clip(lower=prev_age, upper=cross_age)`: both bounds test the unclipped value; a
    # missing upper bound is none (and none at all when every one is missing).
    missing = np.isnan(half)
    clipped = np.where(missing | (half >= prev_age), half, prev_age)
    if not np.isnan(cross_age).all():
        upper = np.where(np.isnan(cross_age), np.inf, cross_age)
        clipped = np.where(missing | (half <= upper), clipped, cross_age)
    half = np.where(np.isnan(clipped), cross_age, clipped)
    out["half_life"] = np.where(~np.isnan(cross_age), half, nan)
    return pd.DataFrame(out, index=index, columns=columns)


def followers_at(deliveries: pd.DataFrame, followers: pd.DataFrame) -> pd.Series:
    """The account's follower count when each delivery went out: the last daily sample at or
    before publication, else the first after it, else the first snapshot's ``followers``.

    Per channel by binary search on its samples' instants (what ``merge_asof`` did backward,
    then forward: among samples at the same instant, the last one backward and the first one
    forward, in the order of a sort by instant)."""
    values = np.full(len(deliveries), np.nan)
    published = deliveries["published_at"]
    known = published.notna().to_numpy()
    if known.any() and not followers.empty:
        right = followers[["channel_id", "sampled_at", "followers"]].sort_values("sampled_at")
        channels = right["channel_id"].to_numpy(dtype=np.int64)
        by_channel = np.argsort(channels, kind="stable")  # each channel's samples by instant
        channels = channels[by_channel]
        sampled = _nanoseconds(right["sampled_at"])[by_channel]
        counts = right["followers"].to_numpy(dtype=np.float64)[by_channel]
        moments = _nanoseconds(published)
        delivery_channels = deliveries["channel_id"].to_numpy(dtype=np.int64)
        starts = np.flatnonzero(np.r_[True, channels[1:] != channels[:-1]])
        for start, end in zip(starts.tolist(), [*starts[1:].tolist(), channels.size], strict=True):
            rows = np.flatnonzero(known & (delivery_channels == channels[start]))
            if not rows.size:
                continue
            times, found = sampled[start:end], counts[start:end]
            at = moments[rows]
            before = np.searchsorted(times, at, side="right") - 1
            after = np.searchsorted(times, at, side="left")
            backward = np.where(before >= 0, found[np.maximum(before, 0)], np.nan)
            forward = np.where(after < times.size, found[np.minimum(after, times.size - 1)], np.nan)
            values[rows] = np.where(np.isnan(backward), forward, backward)
    result = pd.Series(values, index=deliveries.index, dtype="float64")
    if "first_followers" in deliveries:
        result = result.fillna(deliveries["first_followers"].astype("float64"))
    return result
