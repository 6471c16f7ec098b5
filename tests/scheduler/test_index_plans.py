"""The dispatcher's seeks of due rows read an index on SQLite, as the statements are sent.

Since migration 0017 ``ix_delivery_due_instant`` is partial (``state IN ('approved',
'scheduled')``), and SQLite uses a partial index only when the query's WHERE has that term as
written: a bound IN list does not match, and the query then scans the whole table. The seeks
write the term with `campaigns.schema.due_state`; these tests read SQLite's plan of each
statement compiled as it is executed (bound values left bound)."""

from __future__ import annotations

from typing import Any

from tests.databases import db_url  # noqa: F401  (SQLite only: its planner is the one checked)


def _plan(engine: Any, statement: Any, **values: Any) -> list[str]:
    """SQLite's plan of ``statement`` as sent: the IN lists rendered as the driver gets them
    (literal only where the statement asks for it), every other value a bound parameter."""
    expanded = statement.compile(engine).construct_expanded_state(values)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {expanded.statement}",
            tuple(expanded.parameters[name] for name in expanded.positiontup or ()),
        ).all()
    return [row[-1] for row in rows]


def _scans(plan: list[str]) -> list[str]:
    """Steps that read a delivery table (or an alias of it) whole."""
    aliases = ("delivery", "parent", "replied")
    return [s for s in plan if s.startswith("SCAN ") and s.split()[1] in aliases]


def test_the_claim_pass_seeks_the_claimable_rows_through_the_partial_index(engine: Any) -> None:
    from scheduler.dispatch import _candidates, _claim_rows

    at = {"now": "2027-03-01 10:00:00.000000", "horizon": "2027-03-01 10:00:30.000000"}
    candidates = _plan(engine, _candidates(), **at)
    assert any(
        s.startswith("SEARCH delivery USING INDEX ix_delivery_due_instant (state=? AND")
        for s in candidates
    ), "\n".join(candidates)
    assert not _scans(candidates), "\n".join(candidates)
    rows = _plan(engine, _claim_rows(), **at, channel=1, limit=10)
    assert any(s.startswith("SEARCH delivery USING INDEX ix_delivery_") for s in rows), "\n".join(
        rows
    )
    assert not _scans(rows), "\n".join(rows)


def test_the_other_seeks_of_due_rows_read_an_index(engine: Any) -> None:
    """The next wake-up's per-channel firsts, the overdue checks of the health page, the status
    view and the Prometheus gauge, and a pause's overdue list: none reads the table whole."""
    from datetime import UTC, datetime

    from sqlalchemy.orm import Session

    from scheduler.recovery import _next_instants_queries

    for statement in _next_instants_queries():
        plan = _plan(engine, statement)
        assert not _scans(plan), "\n".join(plan)

    statements: list[str] = []

    from sqlalchemy import event

    def seen(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        if " delivery" in statement and statement.lstrip().startswith("SELECT"):
            statements.append(statement)

    from scheduler import health, operations, prometheus

    event.listen(engine, "before_cursor_execute", seen)
    try:
        now = datetime(2027, 3, 1, 10, tzinfo=UTC)
        with Session(engine) as session:
            health.overdue(session, now)
            operations.status(session, now)
            prometheus.render(session, now, [])
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    due = [s for s in statements if "IN ('approved', 'scheduled')" in s]
    assert len(due) >= 3, statements
    with engine.connect() as conn:
        for statement in due:
            params = tuple("2027-03-01 10:00:00.000000" for _ in range(statement.count("?")))
            plan = [r[-1] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)]
            assert not _scans(plan), statement + "\n" + "\n".join(plan)
