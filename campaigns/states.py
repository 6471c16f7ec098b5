"""The delivery state machine: which transitions exist, and the one function that performs one
(setting the state and appending an audit entry in the same transaction).

Everything that changes a delivery's state — apply, approval, the daemon, the operator's commands
— goes through `transition` (one ORM row) or `transition_rows` (many rows by id, the daemon's
claims and results: plain UPDATE statements), so the audit log is complete and an impossible
move (publishing a draft, re-opening a published row) is an error rather than a silent
corruption. Each move is audited, brings its alert event (`campaigns.events`) into the same
transaction, and is logged (`_logged`), whichever of the two made it.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, cast, overload

from sqlalchemy import Connection, Table, bindparam, insert, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from campaigns import events
from campaigns.driver import execute_many
from campaigns.errors import CampaignsError
from campaigns.schema import DUE_STATES, AuditEntry, Delivery
from campaigns.schema import DeliveryState as S

TRANSITIONS: dict[S, frozenset[S]] = {
    S.draft: frozenset({S.approved, S.missed, S.cancelled}),
    S.approved: frozenset({S.draft, S.scheduled, S.publishing, S.missed, S.cancelled}),
    S.scheduled: frozenset({S.draft, S.approved, S.publishing, S.missed, S.cancelled}),
    S.publishing: frozenset({S.published, S.scheduled, S.approved, S.failed, S.needs_review}),
    S.published: frozenset(),
    S.failed: frozenset({S.draft, S.approved, S.scheduled, S.cancelled}),
    S.missed: frozenset({S.draft, S.approved, S.scheduled, S.cancelled}),
    S.needs_review: frozenset({S.published, S.scheduled, S.cancelled}),
    S.cancelled: frozenset({S.draft, S.approved}),
}


log = logging.getLogger("elshi.state")


class TransitionError(CampaignsError, ValueError):
    pass


def record(
    session: Session,
    *,
    actor: str,
    entity: str,
    entity_id: object,
    at: datetime,
    from_state: str | None = None,
    to_state: str | None = None,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one audit entry, and the alert event it implies (a delivery failed, needs review
    or was missed; a channel paused), in the caller's transaction."""
    session.add(
        AuditEntry(
            at=at,
            actor=actor,
            entity=entity,
            entity_id=str(entity_id),
            from_state=from_state,
            to_state=to_state,
            reason=reason,
            detail=detail,
        )
    )
    events.audited(
        session,
        entity=entity,
        entity_id=str(entity_id),
        at=at,
        from_state=from_state,
        to_state=to_state,
        reason=reason,
        detail=detail,
    )


def transition(
    session: Session,
    delivery: Delivery,
    to: S,
    *,
    actor: str,
    at: datetime,
    reason: str,
    detail: dict[str, Any] | None = None,
    force: bool = False,
    label: str | None = None,
) -> None:
    """Move ``delivery`` to ``to`` and audit it; raises `TransitionError` for a move the state
    machine does not have. ``force`` is for one case only: a platform confirmed a publication
    that arrived after the row moved on; the post exists, so the row must say so (audited)."""
    current = S(delivery.state)
    if force and to not in TRANSITIONS[current]:
        reason = f"{reason} (recorded out of order: the row was {current.value})"
    elif to not in TRANSITIONS[current]:
        raise TransitionError(
            f"delivery {delivery.id}: cannot go from {current.value} to {to.value}"
        )
    delivery.state = to.value
    delivery.updated_at = at
    if delivery.id is None:
        session.flush()
    record(
        session,
        actor=actor,
        entity="delivery",
        entity_id=delivery.id,
        at=at,
        from_state=current.value,
        to_state=to.value,
        reason=reason,
        detail=detail,
    )
    if label is None:
        post, channel = delivery.post, delivery.channel
        label = f"{post.campaign_id}/{post.key}" if post is not None else "?"
        if delivery.occurrence:
            label += f"#{delivery.occurrence + 1}"
        label += f"@{channel.name}" if channel is not None else ""
    _logged(delivery.id, label, current, to, reason)


@dataclass(frozen=True)
class RowMove:
    """One delivery row to move with `transition_rows`: from ``from_state`` (the row must still
    be in it, and match ``guard``) to ``to``, setting ``values`` as well."""

    delivery_id: int
    from_state: S
    to: S
    reason: str
    label: str
    values: Mapping[str, Any] = field(default_factory=dict)
    guard: Mapping[str, Any] = field(default_factory=dict)
    """Further column values the row must still have (a claim's fencing token)."""
    detail: dict[str, Any] | None = None


def transition_rows(
    session: Session,
    moves: Sequence[RowMove],
    *,
    actor: str,
    at: datetime,
    checked: bool = False,
    resumed: Collection[int] | None = None,
) -> list[RowMove]:
    """Move many delivery rows with plain UPDATE statements (no ORM objects), each audited and
    logged like `transition`. A row that is no longer in its ``from_state`` or no longer
    matches its ``guard`` is left alone; the moves that happened are returned. Rows of one
    shape are updated with one statement over all of them on PostgreSQL (`update_each`; the
    WHERE clause checks each row's state and guard, and RETURNING says which moved), which
    also writes their audit entries (`_moved_and_audited`: one statement, not two), one
    statement each on SQLite. ``checked``: the caller holds the rows' locks and found them in
    their ``from_state`` and ``guard``, so the guard is not repeated and every row must move
    (one ``executemany`` of the driver over all of them on SQLite, and one for their audit
    entries: `campaigns.driver.execute_many`). Raises
    `TransitionError` (before writing anything) for a move the state machine does not have.
    ORM objects of these rows already loaded in ``session`` are not refreshed. ``resumed``: the
    deliveries among ``moves`` that resumed from a pause, when the caller read that under the
    rows' locks (else it is read here: `events.audited_many`)."""
    for move in moves:
        if move.to not in TRANSITIONS[move.from_state]:
            raise TransitionError(
                f"delivery {move.delivery_id}: cannot go from {move.from_state.value} "
                f"to {move.to.value}"
            )
    connection = session.connection()
    shapes: dict[tuple[Any, ...], list[tuple[int, dict[str, Any]]]] = {}
    for index, move in enumerate(moves):
        guards = () if checked else tuple((k, v is None) for k, v in move.guard.items())
        params: dict[str, Any] = {"_id": move.delivery_id, "_at": at}
        params.update({"_from": move.from_state.value, "_to": move.to.value})
        params.update({f"_v_{name}": value for name, value in move.values.items()})
        if not checked:
            params.update({f"_g_{name}": v for name, v in move.guard.items() if v is not None})
        shapes.setdefault((tuple(move.values), guards), []).append((index, params))
    moved_at: set[int] = set()
    found_resumed: set[int] = set()
    audited_at: set[int] = set()
    """Moves whose audit entry their UPDATE wrote (`_moved_and_audited`)."""
    for (values, guards), rows in shapes.items():
        sets = (("state", "_to"), ("updated_at", "_at"), *((v, f"_v_{v}") for v in values))
        where = (("id", "_id"), ("state", "_from"))
        params_of = [params for _, params in rows]
        statement = _move_statement(values, guards)
        if _audits_itself(connection, rows):
            for index, params in rows:
                params["_a_reason"] = moves[index].reason
                params["_a_detail"] = moves[index].detail
            returned = _moved_and_audited(
                connection,
                params_of,
                actor=actor,
                where=where
                + (() if checked else tuple((g, f"_g_{g}") for g, n in guards if not n)),
                sets=sets,
                null=() if checked else tuple(g for g, is_null in guards if is_null),
            )
            if checked and len(returned) != len(rows):
                raise TransitionError(
                    f"{len(rows)} checked deliveries to move, {len(returned)} moved: "
                    "the caller did not hold their locks"
                )
            left = {row.id: row.resumed_from_pause for row in returned}
            for index, params in rows:
                if params["_id"] in left:  # ids are unique here (`_audits_itself`)
                    if left[params["_id"]] is not None:
                        found_resumed.add(params["_id"])
                    moved_at.add(index)
                    audited_at.add(index)
            continue
        if checked:
            moved = update_each(connection, statement, _DELIVERY, params_of, where=where, sets=sets)
            if moved not in (len(rows), -1):
                raise TransitionError(
                    f"{len(rows)} checked deliveries to move, {moved} moved: "
                    "the caller did not hold their locks"
                )
            moved_at.update(index for index, _ in rows)
            continue
        returned = update_each(
            connection,
            statement,
            _DELIVERY,
            params_of,
            where=where + tuple((g, f"_g_{g}") for g, is_null in guards if not is_null),
            sets=sets,
            null=tuple(g for g, is_null in guards if is_null),
            returning=("id", "resumed_from_pause"),
        )
        left = {row.id: row.resumed_from_pause for row in returned}
        for index, params in rows:
            if params["_id"] in left:  # a row moved once, by the first of its moves
                if left.pop(params["_id"]) is not None:
                    found_resumed.add(params["_id"])
                moved_at.add(index)
    done_at = [index for index in range(len(moves)) if index in moved_at]
    done = [moves[index] for index in done_at]
    if not checked and resumed is None:
        resumed = found_resumed
    entries = [
        {
            "at": at,
            "actor": actor,
            "entity": "delivery",
            "entity_id": str(move.delivery_id),
            "from_state": move.from_state.value,
            "to_state": move.to.value,
            "reason": move.reason,
            "detail": move.detail,
        }
        for move in done
    ]
    if entries:
        unwritten = [e for i, e in zip(done_at, entries, strict=True) if i not in audited_at]
        if len(unwritten) > 1 and connection.dialect.name == "sqlite":
            execute_many(connection, _AUDIT_INSERT, unwritten)
        elif unwritten:
            connection.execute(insert(_AUDIT), unwritten)
        events.audited_many(
            session,
            [{k: v for k, v in e.items() if k != "actor"} for e in entries],
            resumed=resumed,
        )
    for move in done:
        _logged(move.delivery_id, move.label, move.from_state, move.to, move.reason)
    if any(move.to in DUE_STATES for move in done):
        from campaigns.store import signal_wakeup

        signal_wakeup(session)
    return done


_DELIVERY = cast(Table, Delivery.__table__)
_AUDIT = cast(Table, AuditEntry.__table__)
_AUDIT_COLUMNS = ("at", "actor", "entity", "entity_id", "from_state", "to_state", "reason")
_AUDIT_INSERT = insert(_AUDIT).values(
    {column: bindparam(column) for column in (*_AUDIT_COLUMNS, "detail")}
)
"""The INSERT of `transition_rows`' audit entries (each entry's keys), built once."""


def _audits_itself(connection: Connection, rows: Sequence[tuple[int, dict[str, Any]]]) -> bool:
    """Whether these moves of one shape are written with their audit entries in one statement
    (`_moved_and_audited`): on PostgreSQL, two rows or more (as `update_each`), each row once
    (a row named twice moves once, audited by its first move: the statements apart do that)."""
    if connection.dialect.name != "postgresql" or len(rows) < 2:
        return False
    return len({params["_id"] for _, params in rows}) == len(rows)


def _moved_and_audited(
    connection: Connection,
    rows: Sequence[Mapping[str, Any]],
    *,
    actor: str,
    where: tuple[tuple[str, str], ...],
    sets: tuple[tuple[str, str], ...],
    null: tuple[str, ...],
) -> list[Any]:
    """PostgreSQL: `update_each` of delivery moves (``rows``: `transition_rows`' parameters,
    with each move's audit ``_a_reason`` and ``_a_detail``) and the audit entry of every row it
    moved, in one statement (a data-modifying WITH: the INSERT reads the UPDATE's RETURNING),
    in the moves' order, as the INSERT of `transition_rows` writes them; the moved rows' id and
    resumed_from_pause."""
    params: dict[str, Any] = {
        param: [row[param] for row in rows]
        for _, param in (*where, *sets, ("reason", "_a_reason"), ("detail", "_a_detail"))
    }
    shared, values = shared_values(params, keep=where[0][1])
    values["_a_actor"] = actor
    return list(connection.execute(_audited_update(where, sets, null, shared), values))


@lru_cache(maxsize=256)
def _audited_update(
    where: tuple[tuple[str, str], ...],
    sets: tuple[tuple[str, str], ...],
    null: tuple[str, ...],
    shared: tuple[str, ...] = (),
) -> Any:
    """The statement of `_moved_and_audited` (built once per shape): ``WITH v AS (unnest(...)
    WITH ORDINALITY), moved AS (UPDATE delivery ... FROM v ... RETURNING), audit AS (INSERT INTO
    audit_log SELECT ... FROM moved ORDER BY the ordinality) SELECT id, resumed_from_pause FROM
    moved``; the parameters of ``shared`` are one value for every row (`shared_values`), not
    an array."""
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    table, audit = _DELIVERY, _AUDIT
    columns = [(table.c[column], param) for column, param in where + sets]
    columns += [(audit.c.reason, "_a_reason"), (audit.c.detail, "_a_detail")]
    types = {param: column.type for column, param in columns}
    arrayed = [(column, param) for column, param in columns if param not in shared]
    arrays = ", ".join(
        f"CAST(:{param} AS {column.type.compile(dialect=dialect)}[])" for column, param in arrayed
    )
    names = ", ".join(param for _, param in arrayed)

    def value(param: str) -> str:
        return _value_of(param, shared, types[param], dialect)

    def kept(param: str) -> str:  # a value of the moved row, for the audit entry
        return value(param) if param in shared else f"moved.{param}"

    conditions = [f"{table.name}.{column} = {value(param)}" for column, param in where]
    conditions += [f"{table.name}.{column} IS NULL" for column in null]
    carried = [p for p in ("_from", "_to", "_at", "_a_reason", "_a_detail") if p not in shared]
    statement = text(
        f"WITH v AS (SELECT * FROM unnest({arrays}) WITH ORDINALITY AS v({names}, _a_ord)), "
        f"moved AS (UPDATE {table.name} SET "
        + ", ".join(f"{column} = {value(param)}" for column, param in sets)
        + " FROM v WHERE "
        + " AND ".join(conditions)
        + f" RETURNING {table.name}.id, {table.name}.resumed_from_pause, "
        + "".join(f"v.{param}, " for param in carried)
        + "v._a_ord), "
        f"audit AS (INSERT INTO {audit.name} (at, actor, entity, entity_id, from_state, "
        f"to_state, reason, detail) SELECT {kept('_at')}, :_a_actor, 'delivery', "
        f"CAST(moved.id AS VARCHAR), {kept('_from')}, {kept('_to')}, {kept('_a_reason')}, "
        f"{kept('_a_detail')} FROM moved ORDER BY moved._a_ord) "
        "SELECT moved.id, moved.resumed_from_pause FROM moved"
    )
    return statement.bindparams(
        *(
            bindparam(
                param, type_=column.type if param in shared else postgresql.ARRAY(column.type)
            )
            for column, param in columns
        ),
        bindparam("_a_actor", type_=audit.c.actor.type),
    )


def shared_values(
    params: Mapping[str, list[Any]], *, keep: str
) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The parameters (other than ``keep``) whose value is the same for every row of a batch
    statement, and the statement's values: each of those bound once, as a plain value, instead
    of as an array of that value (a batch of claims or publications shares its states, instant,
    worker and most columns; each array element costs the driver Python to dump and the server
    a column of ``unnest`` to read), the others as their arrays. Measure a statement's server
    time before binding its values so: the check before sending
    (`scheduler.dispatch._begin_sending`) got a generic plan 3.5 times as costly with them."""
    shared: list[str] = []
    values: dict[str, Any] = {}
    for param, column in params.items():
        first = column[0]
        kind = type(first)
        if param != keep and all(type(other) is kind and other == first for other in column[1:]):
            shared.append(param)
            values[param] = first
        else:
            values[param] = column
    return tuple(shared), values


def _value_of(param: str, shared: tuple[str, ...], type_: Any, dialect: Any) -> str:
    """SQL for ``param`` in a batch statement: the column ``v.param`` of the ``unnest``, or the
    one value bound for every row, cast to its column's type."""
    if param in shared:
        return f"CAST(:{param} AS {type_.compile(dialect=dialect)})"
    return f"v.{param}"


@overload
def update_each(
    connection: Connection,
    statement: Any,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    where: tuple[tuple[str, str], ...],
    sets: tuple[tuple[str, str], ...],
    null: tuple[str, ...] = (),
    returning: tuple[()] = (),
) -> int: ...


@overload
def update_each(
    connection: Connection,
    statement: Any,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    where: tuple[tuple[str, str], ...],
    sets: tuple[tuple[str, str], ...],
    null: tuple[str, ...] = (),
    returning: tuple[str, ...],
) -> list[Any]: ...


def update_each(
    connection: Connection,
    statement: Any,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    where: tuple[tuple[str, str], ...],
    sets: tuple[tuple[str, str], ...],
    null: tuple[str, ...] = (),
    returning: tuple[str, ...] = (),
) -> int | list[Any]:
    """Run the UPDATE ``statement`` once for each of ``rows`` (its parameters) and return how
    many rows it changed, or with ``returning`` (column names) the changed rows' values of
    those columns. On PostgreSQL, two rows or more go in one statement instead, with the same
    effect: ``UPDATE table SET column = v.param ... FROM unnest(<one array per parameter>) AS
    v WHERE table.column = v.param ... AND <null> IS NULL ...`` for the ``(column,
    parameter)`` pairs of ``where`` and ``sets`` and the columns of ``null`` (``statement``
    must be the plain UPDATE of exactly those conditions and values). The server then
    executes one statement, not one per row (the daemon's batches). On SQLite, two rows or
    more without ``returning`` are one ``executemany`` of the driver (`campaigns.driver`).
    Rows of ``rows`` naming the same table row change it once."""
    columns = tuple(table.c[name] for name in returning)
    if connection.dialect.name != "postgresql" or len(rows) < 2:
        if not returning:
            if len(rows) > 1 and connection.dialect.name == "sqlite":
                return execute_many(connection, statement, rows)
            result = connection.execute(statement, list(rows))
            return int(result.rowcount)  # type: ignore[attr-defined]
        one = statement.returning(*columns)
        return [changed for row in rows for changed in connection.execute(one, dict(row))]
    params = {param: [row[param] for row in rows] for _, param in where + sets}
    shared, values = shared_values(params, keep=where[0][1])
    statement = _unnest_update(table, where, sets, null, returning, shared)
    result = connection.execute(statement, values)
    if returning:
        return list(result)
    return int(result.rowcount)  # type: ignore[attr-defined]


@lru_cache(maxsize=256)
def _unnest_update(
    table: Table,
    where: tuple[tuple[str, str], ...],
    sets: tuple[tuple[str, str], ...],
    null: tuple[str, ...] = (),
    returning: tuple[str, ...] = (),
    shared: tuple[str, ...] = (),
) -> Any:
    """The PostgreSQL statement of `update_each` (built once per shape); the parameters of
    ``shared`` are one value for every row (`shared_values`), not an array."""
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    pairs = where + sets
    types = {param: table.c[column].type for column, param in pairs}
    arrayed = [(column, param) for column, param in pairs if param not in shared]
    arrays = ", ".join(
        f"CAST(:{param} AS {table.c[column].type.compile(dialect=dialect)}[])"
        for column, param in arrayed
    )
    names = ", ".join(param for _, param in arrayed)

    def value(param: str) -> str:
        return _value_of(param, shared, types[param], dialect)

    conditions = [f"{table.name}.{column} = {value(param)}" for column, param in where]
    conditions += [f"{table.name}.{column} IS NULL" for column in null]
    statement = text(
        f"UPDATE {table.name} SET "
        + ", ".join(f"{column} = {value(param)}" for column, param in sets)
        + f" FROM unnest({arrays}) AS v({names}) WHERE "
        + " AND ".join(conditions)
        + (" RETURNING " + ", ".join(f"{table.name}.{c}" for c in returning) if returning else "")
    )
    return statement.bindparams(
        *(
            bindparam(
                param,
                type_=table.c[column].type
                if param in shared
                else postgresql.ARRAY(table.c[column].type),
            )
            for column, param in pairs
        )
    )


@lru_cache(maxsize=128)
def _move_statement(values: tuple[str, ...], guards: tuple[tuple[str, bool], ...]) -> Any:
    """``UPDATE delivery SET state, updated_at, <values> WHERE id, state, <guards>``, built
    once per shape (a guard that is None means IS NULL)."""
    table = _DELIVERY
    condition = [table.c.id == bindparam("_id"), table.c.state == bindparam("_from")]
    condition += [
        table.c[name].is_(None) if is_null else table.c[name] == bindparam(f"_g_{name}")
        for name, is_null in guards
    ]
    return (
        update(table)
        .where(*condition)
        .values(
            {
                "state": bindparam("_to"),
                "updated_at": bindparam("_at"),
                **{name: bindparam(f"_v_{name}") for name in values},
            }
        )
    )


def _logged(delivery_id: int, label: str, current: S, to: S, reason: str) -> None:
    """The log line of one move (every delivery state change has one)."""
    log.info(
        "delivery %s %s: %s → %s (%s)",
        delivery_id,
        label,
        current.value,
        to.value,
        reason,
        extra={"delivery": delivery_id, "from_state": current.value, "state": to.value},
    )
