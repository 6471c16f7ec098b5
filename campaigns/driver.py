"""SQLite: statements built once and run on the driver's cursor, their values converted by the
columns' types here, as SQLAlchemy would (the same SQL and stored values), without SQLAlchemy's
handling of each execution and each row: the daemon's writer runs a few such statements per post
(`campaigns.states.update_each`, `scheduler.dispatch.claim_in`), and on SQLite, where a
statement costs no round trip, that handling cost more Python than SQLite's own work on the
rows (bench/README.md, issue 14). PostgreSQL keeps SQLAlchemy's execution (its batches are one
statement each: `campaigns.states.update_each`)."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import Connection


class _Form(NamedTuple):
    """A statement compiled for a dialect, with the conversions of its values: each type's as
    adapted to the dialect (``dialect_impl``), as SQLAlchemy's execution uses it (SQLite keeps
    an instant as text with six decimals of the second; the generic type has no conversion)."""

    sql: str
    binds: tuple[tuple[str, Any, Any], ...]
    """Each positional parameter: its name, its type's conversion of a value (or None), and
    the value bound in the statement itself (an anonymous parameter's: a literal, a LIMIT's
    OFFSET)."""
    row: Any
    """The class of a result row (a named tuple of the selected columns' names), if any."""
    results: tuple[Any, ...]
    """Each selected column's conversion of a stored value (or None)."""


@lru_cache(maxsize=256)
def _form(statement: Any, dialect: Any) -> _Form:
    compiled = statement.compile(dialect=dialect)
    if "POSTCOMPILE" in compiled.string:
        raise ValueError("a statement with expanding parameters cannot run through the driver")
    binds = tuple(
        (name, bind.type.dialect_impl(dialect).bind_processor(dialect), bind.effective_value)
        for name in compiled.positiontup or ()
        for bind in (compiled.binds[name],)
    )
    columns = getattr(statement, "selected_columns", None)
    if columns is None:  # an UPDATE or INSERT
        return _Form(compiled.string, binds, None, ())
    results = tuple(
        column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
    )
    return _Form(compiled.string, binds, namedtuple("Row", columns.keys()), results)


def _values(form: _Form, params: Mapping[str, Any]) -> tuple[Any, ...]:
    out = []
    for name, convert, bound in form.binds:
        value = params.get(name, bound)
        out.append(value if convert is None else convert(value))
    return tuple(out)


def execute_many(connection: Connection, statement: Any, rows: Sequence[Mapping[str, Any]]) -> int:
    """``statement`` (built once; an UPDATE or INSERT whose parameters are all named and given
    in each of ``rows``) run for each of ``rows`` with one ``executemany`` of the driver: what
    ``connection.execute(statement, rows)`` stores. A value that is the very object the row
    before had for that parameter (a batch's instant, its worker) is converted once. How many
    rows it changed."""
    form = _form(statement, connection.dialect)
    last: list[Any] = [_NONE] * len(form.binds)
    done: list[Any] = [None] * len(form.binds)
    params = []
    for row in rows:
        out = []
        for index, (name, convert, bound) in enumerate(form.binds):
            value = row.get(name, bound)
            if convert is not None:
                if value is not last[index]:
                    last[index], done[index] = value, convert(value)
                value = done[index]
            out.append(value)
        params.append(tuple(out))
    return int(connection.exec_driver_sql(form.sql, params).rowcount)


_NONE = object()
"""No value yet."""


def rows(connection: Connection, statement: Any, params: Mapping[str, Any]) -> list[Any]:
    """The rows of the SELECT ``statement`` (built once; no expanding parameters) with
    ``params``, each a named tuple of its columns' values as SQLAlchemy's rows give them (by
    attribute: ``row.due_at``)."""
    form = _form(statement, connection.dialect)
    raw = connection.exec_driver_sql(form.sql, _values(form, params)).all()
    make, results = form.row._make, form.results
    return [
        make(
            [
                value if convert is None else convert(value)
                for value, convert in zip(row, results, strict=True)
            ]
        )
        for row in raw
    ]
