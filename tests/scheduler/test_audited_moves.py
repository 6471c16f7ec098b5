"""Delivery moves and their audit entries written by one statement on PostgreSQL
(`campaigns.states.transition_rows`) leave the same rows as the UPDATE and the INSERT apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from campaigns import states
from campaigns.schema import AuditEntry, Delivery
from campaigns.schema import DeliveryState as S
from campaigns.states import RowMove, transition_rows
from campaigns.store import immediate, make_engine, session_factory
from tests.scheduler.harness import seed_deliveries

AT = datetime(2027, 3, 1, 9, 0, 0, 123456, tzinfo=UTC)
WHOLE = AT.replace(microsecond=0)
SECOND = timedelta(seconds=1)


def _moves(ids: list[int], *, published: bool) -> list[RowMove]:
    if not published:
        return [
            RowMove(
                i,
                S.approved,
                S.publishing,
                reason=f"claimed (attempt 1, from approved) {n}",
                label=f"load/p{i}",
                values={"attempts": 1, "lease_owner": "w1", "lease_expires_at": AT},
            )
            for n, i in enumerate(ids)
        ]
    return [
        RowMove(
            i,
            S.publishing,
            S.published,
            reason=f"published (attempt 1), {n}s late" if n % 2 else "published (attempt 1)",
            label=f"load/p{i}",
            values={"remote_id": f"r{i}", "published_at": AT, "lease_owner": None},
            detail={"remote_id": f"r{i}", "url": None if n % 3 else f"https://x.example/{i}"},
            guard={"lease_owner": "w1", "attempts": 1},
        )
        for n, i in enumerate(ids)
    ]


def _run(url: str, *, together: bool, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    seed_deliveries(url, {"c1": "mastodon", "c2": "mastodon"}, [AT] * 12, prefix="a")
    engine = make_engine(url)
    sessions = session_factory(engine)
    if not together:
        monkeypatch.setattr(states, "_audits_itself", lambda connection, rows: False)
    with immediate(sessions) as session:
        ids = sorted(session.scalars(select(Delivery.id)))
        # claims (checked: the caller holds the locks), in an order that is not the ids'
        claimed = ids[::-1][:10]
        transition_rows(
            session, _moves(claimed, published=False), actor="daemon:w1", at=AT, checked=True
        )
        session.commit()
    with immediate(sessions) as session:
        # publications guarded by the fencing token: one of them no longer holds it
        session.execute(text("UPDATE delivery SET attempts = 2 WHERE id = :i"), {"i": claimed[3]})
        session.execute(
            text("UPDATE delivery SET resumed_from_pause = 1 WHERE id = :i"), {"i": claimed[5]}
        )
        moves = _moves(claimed[1:9], published=True)
        done = transition_rows(session, moves, actor="daemon:w1", at=AT + timedelta(seconds=1))
        assert [m.delivery_id for m in done] == [i for i in claimed[1:9] if i != claimed[3]]
        session.commit()
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                AuditEntry.at,
                AuditEntry.actor,
                AuditEntry.entity,
                AuditEntry.entity_id,
                AuditEntry.from_state,
                AuditEntry.to_state,
                AuditEntry.reason,
                text("detail::text"),
                text("detail IS NULL"),
            )
            .where(AuditEntry.entity == "delivery")
            .order_by(AuditEntry.id)
        ).all()
        events = connection.execute(text("SELECT kind, at FROM alert_event ORDER BY id")).all()
        deliveries = connection.execute(
            text(
                "SELECT id, state, attempts, lease_owner, lease_expires_at, remote_id, "
                "published_at, updated_at > now(), resumed_from_pause FROM delivery ORDER BY id"
            )
        ).all()
    engine.dispose()
    return [rows, events, deliveries]


def test_moves_audited_by_their_own_statement_leave_what_the_two_statements_leave(
    pg_url: str, pg_server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    apart = _run(pg_url, together=False, monkeypatch=monkeypatch)
    monkeypatch.undo()
    with make_engine(pg_url).begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    together = _run(pg_url, together=True, monkeypatch=monkeypatch)

    audit, events, deliveries = together
    assert len(audit) == 10 + 7
    # the claims' detail is JSON null (SQLAlchemy's JSON type writes None so), the
    # publications' an object
    assert [row[-2] == "null" for row in audit] == [True] * 10 + [False] * 7
    assert audit == apart[0]
    assert events == apart[1]
    assert len(events) == 1  # the publication after a resume
    assert [tuple(r) for r in deliveries] == [tuple(r) for r in apart[2]]


def test_a_value_every_row_of_a_batch_shares_is_bound_once(pg_url: str) -> None:
    """A batch statement binds a value that all its rows share (the states, the instant, the
    worker, an attempt) once, not as an array of copies (each element costs the driver Python
    to dump and the server an ``unnest`` column); the rows it leaves are those of the moves
    one by one."""
    from sqlalchemy import event

    seed_deliveries(pg_url, {"c1": "mastodon"}, [AT] * 6, prefix="s")
    engine = make_engine(pg_url)
    sent: list[dict[str, Any]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _params(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith(("UPDATE", "WITH")):
            sent.append(dict(parameters))

    sessions = session_factory(engine)
    with immediate(sessions) as session:
        ids = sorted(session.scalars(select(Delivery.id)))
        claims = [
            RowMove(
                i,
                S.approved,
                S.publishing,
                reason="claimed (attempt 1, from approved)",
                label=f"load/p{i}",
                values={"attempts": 1, "lease_owner": "w1", "lease_expires_at": AT + n * SECOND},
            )
            for n, i in enumerate(ids)
        ]
        transition_rows(session, claims, actor="daemon:w1", at=AT, checked=True)
        states.update_each(
            session.connection(),
            None,
            states._DELIVERY,
            [{"_id": i, "now": AT, "rec": n % 2} for n, i in enumerate(ids)],
            where=(("id", "_id"),),
            sets=(("sending_at", "now"), ("reconcile_attempts", "rec")),
        )
        session.commit()
    moved, marked = sent
    assert moved["_id"] == ids
    for shared in ("_from", "_to", "_at", "_v_attempts", "_v_lease_owner", "_a_reason"):
        assert not isinstance(moved[shared], list), shared
    assert moved["_v_lease_expires_at"] == [AT + n * SECOND for n in range(6)]
    assert marked["now"] == AT and marked["rec"] == [0, 1, 0, 1, 0, 1]
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                Delivery.state,
                Delivery.attempts,
                Delivery.lease_owner,
                Delivery.lease_expires_at,
                Delivery.sending_at,
                Delivery.reconcile_attempts,
            ).order_by(Delivery.id)
        ).all()
        audit = connection.execute(
            select(AuditEntry.entity_id, AuditEntry.from_state, AuditEntry.to_state)
            .where(AuditEntry.reason == "claimed (attempt 1, from approved)")
            .order_by(AuditEntry.id)
        ).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [
        ("publishing", 1, "w1", AT + n * SECOND, AT, n % 2) for n in range(6)
    ]
    assert [tuple(r) for r in audit] == [(str(i), "approved", "publishing") for i in ids]


def test_the_check_before_sending_binds_every_column_as_an_array_even_for_one_check(
    pg_url: str,
) -> None:
    """The check before sending keeps its columns as ``unnest`` arrays, a lone check's too: with
    its values bound as plain parameters (as `states.shared_values` does for the batch moves)
    the server's generic plan of the prepared statement cost it 3.5 times the CPU a check
    (a 60 s spread sends mostly lone checks; bench/README.md, 2026-12-01)."""
    from datetime import datetime

    from sqlalchemy import event

    from scheduler.dispatch import SendCheck, Verdict, begin_sends, claim_in
    from scheduler.policy import Settings

    now = datetime.now(UTC)
    seed_deliveries(pg_url, {"c1": "mastodon"}, [now - SECOND], prefix="k")
    engine = make_engine(pg_url)
    sessions = session_factory(engine)
    settings = Settings(worker_id="w1")
    with immediate(sessions) as session:
        claims = claim_in(session, settings, now, rate_for=lambda name, platform: 60.0).claims
        session.commit()
    assert len(claims) == 1
    sent: list[dict[str, Any]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _params(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE"):
            sent.append(dict(parameters))

    with immediate(sessions) as session:
        verdicts = begin_sends(session, [SendCheck(claims[0], settings, now)])
        session.commit()
    engine.dispose()
    assert verdicts == [Verdict.SEND]
    (check,) = sent
    columns = ("c_ids", "c_owners", "c_attempts", "c_recs", "c_nows", "c_leases")
    assert {name: isinstance(check[name], list) for name in columns} == dict.fromkeys(columns, True)


def _sqlite_run(url: str) -> list[Any]:
    """Claims, then publications, each batch moved as checked (the writer's SQLite path:
    `states.update_each` and the audit INSERT over many rows); every column as stored."""
    seed_deliveries(url, {"c1": "mastodon", "c2": "mastodon"}, [AT] * 12, prefix="a")
    engine = make_engine(url)
    sessions = session_factory(engine)
    with immediate(sessions) as session:
        claimed = sorted(session.scalars(select(Delivery.id)))[::-1][:10]
        claims = [  # an instant on the second too: stored with its six decimals all the same
            RowMove(**{**vars(move), "values": {**move.values, "claimed_at": WHOLE}})
            for move in _moves(claimed, published=False)
        ]
        moved = transition_rows(session, claims, actor="daemon:w1", at=AT, checked=True)
        assert len(moved) == 10
        session.commit()
    with immediate(sessions) as session:
        moves = [
            RowMove(**{**vars(move), "guard": {}}) for move in _moves(claimed[1:9], published=True)
        ]
        transition_rows(session, moves, actor="daemon:w1", at=AT + SECOND, checked=True)
        session.commit()
    with engine.connect() as connection:
        stored = [
            connection.execute(text(f"SELECT * FROM {table} ORDER BY 1")).all()
            for table in ("delivery", "audit_log", "alert_event")
        ]
    engine.dispose()
    return stored


def test_sqlite_batches_through_the_driver_store_what_sqlalchemy_stores(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite the writer's batch UPDATEs and audit INSERTs go to the driver's executemany
    with their values converted once (`states.execute_many`): every stored value (instants to
    the microsecond, NULLs, JSON) is what SQLAlchemy's own executemany stores."""
    batches: list[int] = []
    original = states.execute_many

    def counted(connection: Any, statement: Any, rows: Any) -> int:
        batches.append(len(rows))
        return original(connection, statement, rows)

    monkeypatch.setattr(states, "execute_many", counted)
    through_driver = _sqlite_run(f"sqlite:///{tmp_path / 'driver.db'}")
    assert batches == [10, 10, 8, 8]  # claims, their audit; publications, theirs
    monkeypatch.setattr(
        states,
        "execute_many",
        lambda connection, statement, rows: connection.execute(statement, list(rows)).rowcount,
    )
    by_sqlalchemy = _sqlite_run(f"sqlite:///{tmp_path / 'sqlalchemy.db'}")
    assert [len(rows) for rows in through_driver] == [12, 18, 0]
    assert "2027-03-01 09:00:00.000000" in {v for row in through_driver[0] for v in row}
    for ours, theirs in zip(through_driver, by_sqlalchemy, strict=True):
        # the timestamps of seeding differ between the two databases; all else is the same
        assert [_without_seeding(row) for row in ours] == [_without_seeding(r) for r in theirs]


def _without_seeding(row: Any) -> tuple[Any, ...]:
    """A stored row less the instants of its seeding (now; the moves' are in 2027)."""
    return tuple(v for v in row if not (isinstance(v, str) and v[:4].isdigit() and v < "2027"))
