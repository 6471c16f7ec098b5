"""Opening the database: the one place that creates engines and sessions and upgrades the schema.

SQLite (the embedded default) runs in WAL mode with foreign keys on and a busy timeout; its
transactions start with ``BEGIN`` or, for a claim, ``BEGIN IMMEDIATE`` (`immediate`), so two
daemons on one file never both take a row. PostgreSQL is reached through psycopg 3; claims there
use ``SELECT ... FOR UPDATE SKIP LOCKED``. Alembic migrations live in ``campaigns/migrations``.

`open_database` is what the application uses: it creates a new SQLite file with private
permissions (0600 unless configured; SQLite gives its -wal and -shm files the same), sets
PostgreSQL's connect and statement timeouts (a server that accepts connections but never
answers must not block a command forever), upgrades the schema, and turns the driver's
failures into one `StoreError` with a message an operator can act on.

Sessions made by `session_factory` wake running daemons when a transaction makes deliveries
claimable (`signal_wakeup`): a delivery created or moved into ``approved``/``scheduled`` or given
a new time, a channel resumed. Code that does such a change with plain UPDATE statements calls
`signal_wakeup` itself.
"""

from __future__ import annotations

import errno
import functools
import math
import os
import select as io_select
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from campaigns.errors import BusyError, CampaignInputError, StoreError

MIGRATIONS = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 30_000
PING_AFTER_IDLE_SECONDS = 10.0
"""A pooled PostgreSQL connection idle longer than this is pinged before it is handed out."""
_IDLE_SINCE = "elshi_idle_since"
_IMMEDIATE = "elshi_begin_immediate"
_BUSY_MS = "elshi_busy_timeout_ms"


def normalize_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here (SQLAlchemy's default would be psycopg2)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(
    url: str,
    *,
    connect_timeout: float | None = None,
    statement_timeout: float | None = None,
    **kwargs: Any,
) -> Engine:
    """An engine for ``url``; on PostgreSQL, ``connect_timeout`` and ``statement_timeout`` (in
    seconds) bound how long a connection attempt and one statement may take."""
    url = normalize_url(url)
    if make_url(url).get_backend_name() != "sqlite":
        connect_args: dict[str, Any] = dict(kwargs.pop("connect_args", {}))
        if connect_timeout is not None:
            # libpq counts whole seconds and treats 1 as 2.
            connect_args.setdefault("connect_timeout", max(2, math.ceil(connect_timeout)))
        if statement_timeout is not None:
            milliseconds = max(1, round(statement_timeout * 1000))
            connect_args.setdefault("options", f"-c statement_timeout={milliseconds}")
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        if not kwargs.get("pool_pre_ping"):
            _check_liveness_on_checkout(engine)
        return engine
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event, not the sqlite3 module, decide how transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if make_url(url).database not in (None, "", ":memory:"):
            mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
            if mode != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        # How long this transaction waits for the write lock (`applying` may ask for its own
        # wait); remembered per connection, so a pooled connection gets the default back.
        busy = int(options.get(_BUSY_MS, SQLITE_BUSY_TIMEOUT_MS))
        info = conn.connection.info
        if info.get(_BUSY_MS, SQLITE_BUSY_TIMEOUT_MS) != busy:
            conn.exec_driver_sql(f"PRAGMA busy_timeout={busy}")
            info[_BUSY_MS] = busy
        conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get(_IMMEDIATE, False) else "BEGIN")

    return engine


def _check_liveness_on_checkout(engine: Engine) -> None:
    """Hand out only live PostgreSQL connections, without a round trip for each transaction.

    SQLAlchemy's ``pool_pre_ping`` sends ``SELECT 1`` at every checkout: for a daemon that is
    one more round trip and server statement for each of a post's transactions. Here a pooled
    connection is pinged only when it has been idle for `PING_AFTER_IDLE_SECONDS` or when the
    server has sent something on it while it sat in the pool (its socket is readable): a server
    that ends a session (a restart, ``pg_terminate_backend``, a crash of the server) says so or
    closes the socket, so such a connection is pinged, fails and is replaced, as with the pre-ping.
    A failed ping raises `DisconnectionError`, on which the pool connects afresh."""

    @event.listens_for(engine, "connect")
    def _connected(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is not None:
            record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if (
            since is not None
            and time.monotonic() - since < PING_AFTER_IDLE_SECONDS
            and not server_spoke(dbapi_connection)
        ):
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise DisconnectionError("the pooled connection is gone") from error


def server_spoke(dbapi_connection: Any) -> bool:
    """Whether the server sent something on an idle psycopg connection (its socket is
    readable; also at end of file) or the connection is known closed. True when that cannot
    be told."""
    try:
        if dbapi_connection.closed or dbapi_connection.broken:
            return True
        readable, _, _ = io_select.select([dbapi_connection.pgconn.socket], [], [], 0)
    except Exception:
        return True
    return bool(readable)


def create_sqlite_file(url: str, mode: int) -> None:
    """Create the SQLite file of ``url`` with permissions ``mode`` if it does not exist yet
    (SQLite would create it with the process's umask, usually world-readable). SQLite creates
    the -wal and -shm files with the database file's permissions."""
    parsed = make_url(normalize_url(url))
    if (
        parsed.get_backend_name() != "sqlite"
        or parsed.database in (None, "", ":memory:")
        or parsed.database.startswith("file:")  # a URI (mode=ro...): SQLite decides
    ):
        return
    path = Path(parsed.database)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        return
    except OSError as exc:
        raise StoreError(f"cannot create the database file {path}: {exc.strerror}") from None
    try:
        os.fchmod(fd, mode)  # the umask may have taken bits away
    finally:
        os.close(fd)


def describe(exc: BaseException) -> str:
    """The driver's own words for a database failure, on one line, with what to do about it
    when the condition is a known one (`condition`)."""
    orig = getattr(exc, "orig", None) or exc
    text = " ".join(str(orig).split()) or type(orig).__name__
    found = condition(exc)
    return f"{text} ({_ADVICE[found]})" if found else text


_CONDITIONS = (
    ("full", ("database or disk is full", "no space left on device", "disk full")),
    (
        "read-only",
        (
            "attempt to write a readonly database",
            "read-only file system",
            "readonly database",
            "read-only transaction",
        ),
    ),
    ("locked", ("database is locked",)),
    ("timeout", ("timeout expired", "canceling statement due to statement timeout")),
    (
        "unreachable",
        (
            "connection refused",
            "could not connect",
            "connection failed",
            "server closed the connection",
            "unable to open database file",
            "disk i/o error",
        ),
    ),
)
_ADVICE = {
    "full": "the disk is full: free space where the database lives",
    "read-only": "the database cannot be written: check the file's permissions and the disk",
    "locked": "another process holds the database's write lock",
    "timeout": (
        "the database server did not answer in time ([database] connect_timeout and "
        "statement_timeout): is it running and reachable?"
    ),
    "unreachable": "the database cannot be reached or opened",
}


def condition(exc: BaseException) -> str | None:
    """A running condition the database is in, from a driver error: ``full``, ``read-only``,
    ``locked``, ``timeout`` or ``unreachable`` (trying again later may work); None for other
    errors (a bug or a constraint)."""
    orig = getattr(exc, "orig", None) or exc
    if isinstance(orig, OSError) and orig.errno in (errno.ENOSPC, errno.EDQUOT):
        return "full"
    if isinstance(orig, OSError) and orig.errno == errno.EROFS:
        return "read-only"
    text = str(orig).lower()
    for name, words in _CONDITIONS:
        if any(word in text for word in words):
            return name
    return None


def open_database(
    url: str,
    *,
    connect_timeout: float | None = None,
    statement_timeout: float | None = None,
    file_mode: int = 0o600,
    upgrade_schema: bool = True,
) -> Engine:
    """The application's database, created if needed and upgraded to the current schema
    (unless ``upgrade_schema`` is False); `StoreError` with the reason when it cannot be used."""
    create_sqlite_file(url, file_mode)
    engine = make_engine(url, connect_timeout=connect_timeout, statement_timeout=statement_timeout)
    try:
        if upgrade_schema:
            upgrade(engine)
        else:
            engine.connect().close()
    except DBAPIError as exc:
        engine.dispose()
        shown = engine.url.render_as_string(hide_password=True)
        raise StoreError(f"cannot use the database {shown}: {describe(exc)}") from None
    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    factory = sessionmaker(engine, expire_on_commit=False)
    event.listen(factory, "after_flush", _wake_on_claimable)
    event.listen(factory, "after_commit", _forget_signal)
    event.listen(factory, "after_rollback", _forget_signal)
    return factory


WAKEUP_CHANNEL = "elshi_wakeup"
"""The PostgreSQL ``NOTIFY`` channel daemons ``LISTEN`` on."""
WAKEUP_SIGNAL = "due"
"""The `WakeupSignal` row SQLite daemons watch."""
_SIGNALLED = "elshi_wakeup_signalled"


def signal_wakeup(session: Session) -> None:
    """Tell running daemons, once this transaction commits, that deliveries may have become
    claimable: PostgreSQL ``NOTIFY elshi_wakeup``; SQLite bumps the `WakeupSignal` counter
    (the daemons' cheap change check). Once per transaction."""
    if session.info.get(_SIGNALLED):
        return
    session.info[_SIGNALLED] = True
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"NOTIFY {WAKEUP_CHANNEL}")
    else:
        connection.exec_driver_sql(
            "INSERT INTO wakeup_signal (name, counter) VALUES (?, 1) "
            "ON CONFLICT (name) DO UPDATE SET counter = counter + 1",
            (WAKEUP_SIGNAL,),
        )


def _wake_on_claimable(session: Session, _context: Any) -> None:
    from sqlalchemy import inspect

    from campaigns.schema import DUE_STATES, Channel, Delivery

    if session.info.get(_SIGNALLED):
        return
    due = {s.value for s in DUE_STATES}
    for obj in session.new:
        if isinstance(obj, Delivery) and obj.state in due:
            signal_wakeup(session)
            return
    for obj in session.dirty:
        if isinstance(obj, Delivery) and obj.state in due:
            attrs = inspect(obj).attrs
            if any(attrs[a].history.has_changes() for a in ("state", "due_at", "next_attempt_at")):
                signal_wakeup(session)
                return
        elif isinstance(obj, Channel):
            attrs = inspect(obj).attrs
            resumed = attrs.paused.history.has_changes() and not obj.paused
            if resumed or (attrs.blocked_until.history.has_changes() and obj.blocked_until is None):
                signal_wakeup(session)
                return


def _forget_signal(session: Session) -> None:
    session.info.pop(_SIGNALLED, None)


def writer_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose every transaction takes SQLite's write lock at its start (each one waits
    its turn for up to the busy timeout), for work that reads and then writes while other
    processes write too: a deferred transaction that has read cannot wait for the lock and
    fails at once with "database is locked". Plain sessions on PostgreSQL."""
    return sessionmaker(engine.execution_options(**{_IMMEDIATE: True}), expire_on_commit=False)


@contextmanager
def immediate(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose transaction takes SQLite's write lock at once (``BEGIN IMMEDIATE``);
    on PostgreSQL a plain transaction (callers lock rows with FOR UPDATE SKIP LOCKED)."""
    with factory() as session:
        session.connection(execution_options={_IMMEDIATE: True})
        yield session


APPLY_LOCK = 0x656C736861  # the PostgreSQL advisory lock id that serialises applies
APPLY_WAIT_SECONDS = SQLITE_BUSY_TIMEOUT_MS / 1000


def lock_applies(session: Session) -> None:
    """Serialise applies: on PostgreSQL, take the transaction-level advisory lock of applies
    (released at commit or rollback; taking it again in the same transaction is free), so a
    second apply of the same file waits and then finds the first one's rows instead of failing
    on a unique violation. On SQLite the apply's transaction holds the write lock from its
    start (`applying`, or a `writer_factory` session), which excludes every other writer."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({APPLY_LOCK})")


@contextmanager
def applying(
    factory: sessionmaker[Session], *, wait_seconds: float = APPLY_WAIT_SECONDS
) -> Iterator[Session]:
    """A session for an apply: SQLite's write lock taken at its start (``BEGIN IMMEDIATE``),
    PostgreSQL's advisory lock of applies (`lock_applies`), each waited for at most
    ``wait_seconds`` while another apply (or, on SQLite, another writer) holds it; then
    `BusyError`, with nothing changed. Two simultaneous applies of one file thus run one
    after the other: the second finds the first's rows and has nothing to do."""
    from sqlalchemy.exc import OperationalError

    milliseconds = max(0, round(wait_seconds * 1000))
    with factory() as session:
        try:
            connection = session.connection(
                execution_options={_IMMEDIATE: True, _BUSY_MS: milliseconds}
            )
            if connection.dialect.name == "postgresql":
                previous = connection.exec_driver_sql("SHOW lock_timeout").scalar_one()
                connection.exec_driver_sql(f"SET LOCAL lock_timeout = {max(1, milliseconds)}")
                lock_applies(session)
                connection.exec_driver_sql(
                    "SELECT set_config('lock_timeout', %(value)s, true)", {"value": previous}
                )
        except OperationalError as exc:
            if not _is_busy(exc):
                raise
            session.rollback()
            raise BusyError(
                f"another apply (or another process writing to the database) did not finish "
                f"within {wait_seconds:g} s; nothing was changed. Try again when it is done "
                f"([database] lock_wait sets how long to wait)"
            ) from None
        yield session


def _is_busy(exc: BaseException) -> bool:
    """SQLite's "database is locked" or PostgreSQL's lock_timeout (SQLSTATE 55P03)."""
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlstate", None) == "55P03":
        return True
    return "database is locked" in str(orig or exc)


def alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    cfg.attributes["engine"] = engine
    return cfg


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@functools.cache
def head_revision() -> str | None:
    """The newest migration's revision. Read once per process (~15 ms of parsing the migration
    files, which every command's `upgrade` asked for again): they do not change under it."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def _check_target(revision: str, current: str | None) -> None:
    from alembic.script import ScriptDirectory

    known = [script.revision for script in ScriptDirectory(str(MIGRATIONS)).walk_revisions()]
    if revision not in known:
        shown = revision if revision.isprintable() else repr(revision)
        raise CampaignInputError(
            f"--revision {shown}: no such migration (known: head, {known[-1]} to {known[0]})"
        )
    if current in known and known.index(revision) > known.index(current):
        raise CampaignInputError(
            f"--revision {revision}: older than the database's {current}; "
            "elshi db upgrade never downgrades"
        )


MIGRATION_LOCK = 0x656C736869  # "elshi": the PostgreSQL advisory lock id for migrations


def upgrade(engine: Engine, revision: str = "head") -> bool:
    """Bring the schema to ``revision``; True when something was applied. Cheap when current.
    Several processes starting at once migrate one by one: on PostgreSQL under an advisory
    lock, on SQLite under the write lock. A ``revision`` that is not ``head`` nor a known
    migration, or one older than the database's (this never downgrades), is a
    `CampaignInputError`."""
    if revision == "head" and current_revision(engine) == head_revision():
        return False
    if revision != "head":
        current = current_revision(engine)
        _check_target(revision, current)
        if revision == current:
            return False
    from alembic import command

    if engine.dialect.name != "postgresql":
        # The migration's transaction takes SQLite's write lock at its start and reads the
        # current revision under it: a second process upgrading at the same time waits, then
        # finds nothing to do (instead of failing with "database is locked").
        command.upgrade(alembic_config(engine.execution_options(**{_IMMEDIATE: True})), revision)
        return True
    from sqlalchemy import text

    with engine.connect() as lock:
        lock.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK})
        try:
            if revision == "head" and current_revision(engine) == head_revision():
                return False
            command.upgrade(alembic_config(engine), revision)
            return True
        finally:
            lock.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK})
            lock.commit()
