"""Shared fixtures: a fake clock, real databases (a temporary SQLite file; a PostgreSQL database
created for the test session and dropped after it), a workspace with the starter config.

`db_url` gives each test a database of its own already migrated to head: a copy of a database
the real Alembic migrations brought to head once per test session (SQLite: the file copied;
PostgreSQL: ``CREATE DATABASE ... TEMPLATE``). Migrating per test cost ~0.2 s of CPU on SQLite
and ~1 s on PostgreSQL (with the schema dropped after), a copy a few milliseconds and ~0.1 s.
`pg_url` and `sqlite_url` stay empty, for the tests whose subject is a database elshi creates
or migrates itself.

PostgreSQL comes from ``ELSHI_TEST_POSTGRES_URL`` or ``postgresql://postgres@127.0.0.1:5432/test``.
When it is unreachable the PostgreSQL cases are skipped with the reason, except under ``CI=true``
where they fail: CI must prove the production database works."""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
PG_ADMIN_URL = os.environ.get(
    "ELSHI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Leave what collection made (modules, test functions, their parameters: ~170k objects,
    alive until the session ends) out of the garbage collector's later passes, as `elshi run`
    does for its daemon (`elshi.commands.run._settle_memory`). Otherwise every full collection
    walks them all: the suite's automatic passes and the ``gc.collect()`` some tests call cost
    ~0.1-0.3 s of CPU each on this host, about a third of a CLI test module's CPU. What tests
    make afterwards is collected as before. Hypothesis is imported first: its plugins register
    their random generators at import and check with ``gc.get_referrers``, which does not see
    frozen objects (a false "could be garbage collected" warning)."""
    import gc

    import hypothesis  # noqa: F401

    gc.collect()
    gc.freeze()


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


def _pg_admin() -> str:
    return PG_ADMIN_URL.replace("postgresql+psycopg", "postgresql")


def _pg_execute(statement: str) -> None:
    import psycopg

    with psycopg.connect(_pg_admin(), autocommit=True) as conn:
        conn.execute(statement)


@pytest.fixture(scope="session")
def _pg_server() -> str:
    """The server's base URL (without a database) once it answers; skipped (failed under
    ``CI=true``) when it does not."""
    problem = _pg_reachable()
    if problem:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{problem} (CI=true: PostgreSQL tests must run)")
        pytest.skip(problem)
    return _pg_admin().rsplit("/", 1)[0]


@pytest.fixture(scope="session")
def pg_server_url(_pg_server: str) -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    name = f"elshi_test_{uuid.uuid4().hex[:10]}"
    _pg_execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{_pg_server}/{name}"
    finally:
        _pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(pg_server_url: str) -> Iterator[str]:
    """The session's PostgreSQL database, empty (no schema: for tests where elshi's own
    processes create and migrate it), emptied (schema dropped) after each test."""
    yield pg_server_url
    from sqlalchemy import create_engine, text

    engine = create_engine(pg_server_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


class _Dropper:
    """Drops the tests' PostgreSQL databases in threads of their own: DROP DATABASE waits for a
    checkpoint (seconds while other work has written much), which no test needs to wait for.
    Several drop at once: one checkpoint serves every drop waiting for it. With one thread, on
    a busy host (drops of 1.3-3.5 s each), the drops fell behind tests that take their copy in
    milliseconds, and the session's end waited 36-58 s for them (the 29 PostgreSQL cases of
    the web's `ws_any`)."""

    THREADS = 4

    def __init__(self) -> None:
        import queue
        import threading

        self.names: queue.Queue[str | None] = queue.Queue()
        self.failures: list[str] = []
        self.threads = [
            threading.Thread(target=self._work, name=f"drop-test-databases-{i}", daemon=True)
            for i in range(self.THREADS)
        ]
        for thread in self.threads:
            thread.start()

    def _work(self) -> None:
        while (name := self.names.get()) is not None:
            try:
                _pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except Exception as exc:  # reported at the end of the session
                self.failures.append(f"{name}: {exc}")

    def close(self) -> None:
        for _thread in self.threads:
            self.names.put(None)
        for thread in self.threads:
            thread.join()
        assert not self.failures, f"test databases not dropped: {self.failures}"


@pytest.fixture(scope="session")
def _pg_migrated_template(_pg_server: str) -> Iterator[tuple[str, _Dropper]]:
    """The name of a PostgreSQL database migrated to head once for the test session, copied
    by `pg_migrated_url` (nothing connects to it afterwards: a template must be idle), and
    the thread dropping the copies."""
    from campaigns.store import make_engine, upgrade

    name = f"elshi_test_{uuid.uuid4().hex[:10]}_migrated"
    _pg_execute(f'CREATE DATABASE "{name}"')
    dropper = _Dropper()
    try:
        engine = make_engine(f"{_pg_server}/{name}")
        upgrade(engine)
        engine.dispose()
        yield name, dropper
    finally:
        try:
            dropper.close()
        finally:
            _pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_migrated_url(_pg_server: str, _pg_migrated_template: tuple[str, _Dropper]) -> Iterator[str]:
    """A PostgreSQL database of the test's own, at the schema's head: a copy of the session's
    migrated database, dropped after the test."""
    template, dropper = _pg_migrated_template
    name = f"{template}_{uuid.uuid4().hex[:8]}"
    _pg_execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield f"{_pg_server}/{name}"
    finally:
        dropper.names.put(name)


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once for the test session (copied by `migrated_db_url`)."""
    from campaigns.store import make_engine, upgrade

    path = tmp_path_factory.mktemp("migrated") / "elshi.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as conn:  # everything in the file itself, none of it in its log
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    return path


def migrated_db_url(request: pytest.FixtureRequest, tmp_path: Path, kind: str) -> str:
    """A database of the test's own already at the schema's head: ``kind`` "sqlite" (a copy
    of `migrated_sqlite` at ``tmp_path/elshi.db``) or "postgres" (`pg_migrated_url`). For the
    `db_url` fixtures of this suite."""
    if kind == "sqlite":
        path = tmp_path / "elshi.db"
        shutil.copyfile(request.getfixturevalue("migrated_sqlite"), path)
        return f"sqlite:///{path}"
    assert kind == "postgres", kind
    return str(request.getfixturevalue("pg_migrated_url"))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'elshi.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using it runs twice: on SQLite and on PostgreSQL, each time on a database of
    its own already migrated to head."""
    return migrated_db_url(request, tmp_path, request.param)


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


def wait_for(predicate: Callable[[], object], seconds: float = 10.0) -> bool:
    """Whether ``predicate`` comes true within ``seconds`` of real time, asked every 0.05 s:
    for what another process does (a server ending a session), which no injected clock moves."""
    pause = threading.Event()
    for _ in range(max(1, round(seconds / 0.05))):
        if predicate():
            return True
        pause.wait(0.05)
    return bool(predicate())
