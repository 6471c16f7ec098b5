"""Which daemons are alive, so that a dead one's claims are taken over in seconds, not after a
lease.

Each run of ``elshi run`` registers a `Worker` row (its id is what its claims carry as
``lease_owner``) under a stable *name*: ``[daemon] name``, by default the host name, with ``#2``,
``#3``... when that name is already running. It proves it holds the name with a lock that is
released the moment its process dies, even by SIGKILL (`NameLock`: a PostgreSQL advisory lock
on a connection of its own; on SQLite, ``flock`` on a file beside the database). So a run that
takes a name knows for certain that earlier runs of that name are dead (`register`), and any
daemon that finds the lock of another run's name free knows that run has ended
(`name_lock_free`, checked at every heartbeat).

Every heartbeat (`beat`) writes ``heartbeat_at`` and ``alive_until`` (`DEAD_AFTER_BEATS`
intervals later), renews the leases of the claims still waiting in this run's lanes, and says
whether any claim belongs to a dead run (``alive_until`` passed, or stopped) so recovery can
start at once: the run's claims that were never sent are handed back at once (if the run was
alive after all, its check before sending fails); the one it was sending is reconciled
``reconcile_after`` after that send started, as any unsure answer is, so even a run declared
dead by mistake has finished its call by then. This module never calls a platform.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import uuid
import zlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Engine, Table, or_, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from campaigns.schema import Delivery, Worker
from campaigns.schema import DeliveryState as S
from campaigns.states import record
from campaigns.store import server_spoke

log = logging.getLogger("elshi.daemon")

DEAD_AFTER_BEATS = 3
"""A run is dead once this many heartbeat intervals passed without a heartbeat."""
MAX_SLOTS = 64
_LOCK_SPACE = 0x656C7368  # "elsh": the first key of the advisory locks on daemon names
_DELIVERY = cast(Table, Delivery.__table__)
_WORKER = cast(Table, Worker.__table__)


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def default_name() -> str:
    return socket.gethostname()


class NameLock:
    """Proof that this process holds a daemon name: held until `release` or the process ends."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._held: Any = None
        self.name: str | None = None

    def acquire(self, base: str) -> str | None:
        """Take ``base``, or ``base#2``, ``base#3``...: the name taken, or None when this
        database gives no such lock (an in-memory SQLite database, or no ``fcntl``)."""
        for slot in range(1, MAX_SLOTS + 1):
            name = base if slot == 1 else f"{base}#{slot}"
            taken = self._try(name)
            if taken is None:
                return None
            if taken:
                self.name = name
                return name
        raise RuntimeError(f"{MAX_SLOTS} daemons named {base!r} are running already")

    def _try(self, name: str) -> bool | None:
        if self.engine.dialect.name == "postgresql":
            connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            connection.detach()  # closing it must end the database session, not pool it
            got = connection.execute(
                text("SELECT pg_try_advisory_lock(:space, :key)"),
                {"space": _LOCK_SPACE, "key": _signed_key(name)},
            ).scalar()
            if got:
                self._held = connection
                return True
            connection.close()
            return False
        database = make_url(self.engine.url).database
        try:
            import fcntl
        except ImportError:  # not on this system: heartbeats alone tell who is dead
            return None
        if not database or database == ":memory:":
            return None
        handle = _lock_path(database, name).open("a+b")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._held = handle
        return True

    def ensure(self) -> None:
        """Take the name again if the lock was lost while this process lives: on PostgreSQL
        the lock lives in a database session, which a server restart or a dropped connection
        ends; the other daemons would then take this run for dead at each of their heartbeats
        (its unsent claims handed back, over and over). Called at every heartbeat."""
        if self.name is None or self.engine.dialect.name != "postgresql":
            return  # a file lock lasts as long as the process
        if self._held is not None:
            try:
                if not _server_spoke(self._held):
                    return  # nothing came on the idle session: still ours, no round trip
                self._held.execute(text("SELECT 1"))
                return
            except Exception:
                try:
                    self._held.close()
                except Exception:
                    log.debug("closing the lost name lock's connection failed", exc_info=True)
                self._held = None
        if self._try(self.name):
            log.warning(
                "daemon name %s: its lock was lost (database connection); taken again", self.name
            )
        else:
            log.error(
                "daemon name %s: its lock was lost and another process holds it now", self.name
            )

    def release(self) -> None:
        """Let the name go. On PostgreSQL the lock is unlocked before the session is closed:
        closing alone ends the server's session a moment later, in its own process, so a run
        starting under the name at once (a restart) could still find it taken and take the
        next name, and a heartbeat of another daemon could still find this run alive."""
        name, self.name = self.name, None
        if self._held is None:
            return
        if name is not None and self.engine.dialect.name == "postgresql":
            try:
                self._held.execute(
                    text("SELECT pg_advisory_unlock(:space, :key)"),
                    {"space": _LOCK_SPACE, "key": _signed_key(name)},
                )
            except Exception:  # the session is gone already, and its lock with it
                log.debug("unlocking the name %s failed", name, exc_info=True)
        self._held.close()
        self._held = None


def _signed_key(name: str) -> int:
    """The second key of a name's advisory lock: its CRC-32 as a signed 32-bit integer."""
    key = zlib.crc32(name.encode())
    return key - (1 << 32) if key >= 1 << 31 else key


def _server_spoke(connection: Any) -> bool:
    """Whether the server sent something on the idle session holding a name lock (its socket
    is readable): when it ends the session (a restart, pg_terminate_backend) it says so and
    closes the connection. Otherwise nothing comes, and the heartbeat needs no round trip to
    know the lock is held. True when that cannot be told (then a statement tells)."""
    try:
        return server_spoke(connection.connection.dbapi_connection)
    except Exception:
        return True


def name_lock_free(session: Session, name: str) -> bool | None:
    """Whether no process holds the lock of daemon name ``name`` (`NameLock`) at this moment:
    True means the run that registered under it has ended (a SIGKILL included) and nothing took
    the name since; None when this database gives no such lock. PostgreSQL: read from
    ``pg_locks`` (the server drops a dead client's session, and its locks, once the
    connection closes). SQLite: ``flock`` tried without waiting and let go at once (a run
    starting under that name in that instant takes the next free name instead)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        held = connection.execute(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND classid = :space AND objid = :key AND objsubid = 2 AND database ="
                " (SELECT oid FROM pg_database WHERE datname = current_database())"
            ),
            {"space": _LOCK_SPACE, "key": zlib.crc32(name.encode())},
        ).scalar()
        return not held
    database = make_url(connection.engine.url).database
    try:
        import fcntl
    except ImportError:
        return None
    if not database or database == ":memory:":
        return None
    path = _lock_path(database, name)
    if not path.exists():
        return None
    with path.open("a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return True


def _lock_path(database: str, name: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    return Path(f"{database}-daemon-{slug}.lock")


def register(
    session: Session, worker_id: str, name: str | None, now: datetime, heartbeat_seconds: float
) -> list[str]:
    """Record this run (alive for `DEAD_AFTER_BEATS` heartbeats). With a ``name`` it holds the
    lock of: the earlier runs of that name not marked stopped, now marked dead (returned)."""
    host, pid = socket.gethostname(), os.getpid()
    earlier: list[str] = []
    if name is not None:
        for previous in session.scalars(
            select(Worker).where(
                Worker.name == name, Worker.stopped_at.is_(None), Worker.id != worker_id
            )
        ):
            _declare_dead(session, previous, now, f"its name {name!r} was taken by {worker_id}")
            earlier.append(previous.id)
    worker = session.get(Worker, worker_id)
    if worker is None:
        worker = Worker(id=worker_id, host=host, pid=pid, started_at=now, heartbeat_at=now)
        session.add(worker)
    worker.name = name
    worker.heartbeat_at = now
    worker.alive_until = now + timedelta(seconds=DEAD_AFTER_BEATS * heartbeat_seconds)
    worker.stopped_at = None
    worker.stop_reason = None
    return earlier


@dataclass(frozen=True)
class Beat:
    dead_claims: bool
    """Some claim belongs to a dead run: recovery should run now."""
    was_declared_dead: bool
    """Another daemon had declared this run dead (its heartbeats were late)."""
    next_death: datetime | None = None
    """When the first other run holding claims will be dead unless it beats before."""


def beat(
    session: Session,
    worker_id: str,
    now: datetime,
    *,
    heartbeat_seconds: float,
    lease_seconds: float,
    held: Collection[int] = (),
    probe_locks: bool = False,
) -> Beat:
    """One heartbeat: this run is alive; the claims waiting in its lanes keep their leases.
    With ``probe_locks``, every other run holding claims whose name lock is free
    (`name_lock_free`) is declared dead now: its process ended, however recently it beat.

    An idle daemon beats every 30 s by default, so the usual beat is two plain statements:
    this run's row updated (the ORM only when that finds no live row: a first beat, or a run
    another daemon declared dead), and one read of the runs holding claims, from which the
    dead ones and the next death are worked out here."""
    alive_until = now + timedelta(seconds=DEAD_AFTER_BEATS * heartbeat_seconds)
    connection = session.connection()
    renewed = connection.execute(
        update(_WORKER)
        .where(_WORKER.c.id == worker_id, _WORKER.c.stopped_at.is_(None))
        .values(heartbeat_at=now, alive_until=alive_until)
    ).rowcount
    declared = False
    if renewed != 1:
        worker = session.scalar(
            select(Worker).where(Worker.id == worker_id).execution_options(populate_existing=True)
        )
        declared = worker is not None and worker.stopped_at is not None
        if worker is None:
            host, pid = socket.gethostname(), os.getpid()
            worker = Worker(id=worker_id, host=host, pid=pid, started_at=now, heartbeat_at=now)
            session.add(worker)
        worker.heartbeat_at = now
        worker.alive_until = alive_until
        worker.stopped_at = None
        worker.stop_reason = None
        session.flush()
    ids = sorted(held)
    for start in range(0, len(ids), 500):
        connection.execute(
            update(_DELIVERY)
            .where(
                _DELIVERY.c.id.in_(ids[start : start + 500]),
                _DELIVERY.c.state == S.publishing.value,
                _DELIVERY.c.lease_owner == worker_id,
                _DELIVERY.c.sending_at.is_(None),
            )
            .values(lease_expires_at=now + timedelta(seconds=lease_seconds))
        )
    holders = connection.execute(
        select(_WORKER.c.id, _WORKER.c.name, _WORKER.c.alive_until, _WORKER.c.stopped_at)
        .where(
            _WORKER.c.id != worker_id,
            _WORKER.c.id.in_(
                select(_DELIVERY.c.lease_owner).where(_DELIVERY.c.state == S.publishing.value)
            ),
        )
        .order_by(_WORKER.c.id)
    ).all()
    dead = False
    next_death: datetime | None = None
    own_name: list[str | None] = []
    for other_id, name, other_alive_until, stopped_at in holders:
        if stopped_at is not None or (other_alive_until is not None and other_alive_until < now):
            dead = True
            continue
        if probe_locks and name is not None:
            if not own_name:
                own_name.append(
                    connection.execute(
                        select(_WORKER.c.name).where(_WORKER.c.id == worker_id)
                    ).scalar()
                )
            if name != own_name[0] and name_lock_free(session, name):
                other = session.get(Worker, other_id, populate_existing=True)
                if other is not None:
                    _declare_dead(session, other, now, f"the lock of its name {name!r} is free")
                dead = True
                continue
        if other_alive_until is not None and (next_death is None or other_alive_until < next_death):
            next_death = other_alive_until
    return Beat(dead, declared, next_death)


def dead_run(now: datetime) -> Any:
    """The condition (on a `Worker` row) of a run that is dead: stopped, or silent too long.
    Runs of daemons older than the ``alive_until`` column never count as dead here."""
    return or_(Worker.stopped_at.is_not(None), Worker.alive_until < now)


STOPPED = "stopped"


def stop(session: Session, worker_id: str, now: datetime) -> None:
    """A normal stop (after its claims were handed back)."""
    session.execute(
        update(Worker)
        .where(Worker.id == worker_id)
        .values(heartbeat_at=now, stopped_at=now, stop_reason=STOPPED)
    )


def declare_dead(session: Session, worker: Worker, now: datetime) -> None:
    """Mark a silent run as dead (audited), once recovery takes over its claims."""
    if worker.stopped_at is None:
        _declare_dead(session, worker, now, f"no heartbeat since {worker.heartbeat_at:%H:%M:%S}")


def _declare_dead(session: Session, worker: Worker, now: datetime, why: str) -> None:
    worker.stopped_at = now
    worker.stop_reason = f"declared dead: {why}"
    record(
        session,
        actor="daemon",
        entity="worker",
        entity_id=worker.id,
        at=now,
        from_state="running",
        to_state="dead",
        reason=f"declared dead: {why}",
    )
    log.warning("daemon %s declared dead: %s", worker.id, why)
