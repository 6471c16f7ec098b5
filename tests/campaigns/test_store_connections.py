"""PostgreSQL connections from the pool: live ones are handed out without a round trip, and one
whose session the server ended is replaced before anyone uses it (`campaigns.store`)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

import campaigns.store as store
from tests.conftest import wait_for

pytestmark = pytest.mark.postgres


def _counting_pings(engine: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    pings: list[int] = []
    do_ping = engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        pings.append(1)
        return bool(do_ping(dbapi_connection))

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return pings


def _backend_pid(engine: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_connection_in_use_is_handed_out_without_a_ping_and_an_idle_one_with_one(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLAlchemy's pre-ping sent SELECT 1 at every checkout: a round trip and a server
    statement more for each of a post's transactions in the daemon."""
    engine = store.make_engine(pg_url, pool_size=1, max_overflow=0)
    try:
        pings = _counting_pings(engine, monkeypatch)
        first = _backend_pid(engine)
        for _ in range(5):
            assert _backend_pid(engine) == first
        assert pings == []
        monkeypatch.setattr(store, "PING_AFTER_IDLE_SECONDS", 0.0)
        assert _backend_pid(engine) == first
        assert pings == [1]
    finally:
        engine.dispose()


def test_a_connection_whose_session_the_server_ended_is_replaced_at_checkout(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server says so on the socket when it ends a session (a restart, a crash,
    pg_terminate_backend): the pooled connection is pinged, found gone and replaced, and the
    caller gets a working one, well before the idle time that pings every connection."""
    engine = store.make_engine(pg_url, pool_size=1, max_overflow=0)
    admin = store.make_engine(pg_url)
    try:
        pings = _counting_pings(engine, monkeypatch)
        old = _backend_pid(engine)
        with admin.begin() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": old})
        record = engine.pool._pool.queue[0]  # type: ignore[attr-defined]
        assert wait_for(lambda: store.server_spoke(record.dbapi_connection))
        new = _backend_pid(engine)
        assert new != old
        assert pings == [1]
    finally:
        engine.dispose()
        admin.dispose()
