"""Shared fixtures: a fake clock, real databases (a temporary SQLite file; a PostgreSQL database
created for the test session and dropped after it), a workspace with the starter config.

PostgreSQL comes from ``ELSHI_TEST_POSTGRES_URL`` or ``postgresql://postgres@127.0.0.1:5432/test``.
When it is unreachable the PostgreSQL cases are skipped with the reason, except under ``CI=true``
where they fail: CI must prove the production database works."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
PG_ADMIN_URL = os.environ.get(
    "ELSHI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


@dataclass
class FakeClock:
    """A clock tests move by hand."""

    now: datetime = field(default_factory=lambda: datetime(2027, 3, 1, 9, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now = self.now + timedelta(**delta)
        return self.now

    def set(self, moment: datetime) -> None:
        assert moment.tzinfo is not None
        self.now = moment


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _pg_reachable() -> str | None:
    import psycopg

    try:
        with psycopg.connect(
            PG_ADMIN_URL.replace("postgresql+psycopg", "postgresql"), connect_timeout=3
        ):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL at {PG_ADMIN_URL} is unreachable: {str(exc).strip()}"


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    import psycopg

    problem = _pg_reachable()
    if problem:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{problem} (CI=true: PostgreSQL tests must run)")
        pytest.skip(problem)
    name = f"elshi_test_{uuid.uuid4().hex[:10]}"
    admin = PG_ADMIN_URL.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(pg_server_url: str) -> Iterator[str]:
    """The session's PostgreSQL database, emptied (schema dropped) after each test."""
    yield pg_server_url
    from sqlalchemy import create_engine, text

    engine = create_engine(pg_server_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'elshi.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using it runs twice: on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'elshi.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def engine(db_url: str) -> Iterator[object]:
    from campaigns.store import make_engine, upgrade

    engine = make_engine(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: object) -> object:
    from campaigns.store import session_factory

    return session_factory(engine)  # type: ignore[arg-type]


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory with the starter elshi.toml (sandbox channels), as the working directory."""
    from importlib.resources import files

    text = files("elshi").joinpath("templates/elshi.toml").read_text(encoding="utf-8")
    (tmp_path / "elshi.toml").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ELSHI_CONFIG", raising=False)
    monkeypatch.delenv("ELSHI_DATABASE_URL", raising=False)
    return tmp_path


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """CLI runs configure logging (levels of noisy libraries, a handler on the root logger);
    undo that after each test so one test's set-up cannot hide another's log records."""
    import logging

    manager = logging.root.manager
    levels = {
        name: lg.level for name, lg in manager.loggerDict.items() if isinstance(lg, logging.Logger)
    }
    root_level, root_handlers = logging.root.level, list(logging.root.handlers)
    yield
    for name, lg in list(manager.loggerDict.items()):
        if isinstance(lg, logging.Logger):
            lg.setLevel(levels.get(name, logging.NOTSET))
    logging.root.setLevel(root_level)
    logging.root.handlers[:] = root_handlers


@pytest.fixture(autouse=True)
def _cheap_password_hashing() -> Iterator[None]:
    """Argon2id with tiny parameters: a test hashes in microseconds, not 50 ms per password."""
    from argon2 import PasswordHasher

    from campaigns.people import use_hasher

    previous = use_hasher(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    yield
    use_hasher(previous)
