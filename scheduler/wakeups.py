"""Noticing within a second that deliveries became claimable elsewhere (an approval, an apply,
an operator's retry, a channel resumed, claims handed back by another daemon) without reading
the deliveries over and over. Writers signal it in their transaction
(`campaigns.store.signal_wakeup`); a `Watcher` thread per daemon waits for the signal on a
database connection of its own:

* PostgreSQL: ``LISTEN elshi_wakeup``; a notification arrives when the writer commits. The
  thread blocks on the connection's socket (and a pipe that `Watcher.stop` writes to) until the
  server sends something: an idle daemon's watcher does not wake at all.
* SQLite: ``PRAGMA data_version`` (a number that changes when another connection commits; it
  costs no read of a table), and only when it changed, the `WakeupSignal` counter. When it is
  read: on Linux, when the kernel reports a write to the database's files (inotify on the
  database and its ``-wal`` file), at most every half second, and every `SQLITE_AUTHORITY`
  seconds whatever happened; elsewhere, every half second.

Why inotify cannot miss a commit: in WAL mode (`campaigns.store` sets it) every commit appends
its pages to the ``-wal`` file with write(2) (after a checkpoint it writes them from the file's
start again: a write all the same), and the kernel reports every write to a watched file.
SQLite deletes that file (so a new one would not be watched) only when the last connection to
the database closes, and the watcher's own connection stays open while it watches; a database
in another journal mode commits by writing the database file itself, also watched. Should a
watch end anyway (the file deleted or moved), the watcher watches the files again, and the
check every `SQLITE_AUTHORITY` seconds bounds what an unforeseen case could delay. (Reading
the files' size and modification time every half second instead would wake the thread as often
as the check it replaces, which costs the same 4 µs as ``PRAGMA data_version``: the thread's
wake-ups, about 0.1 ms of CPU each, were the cost, not the check.)

The watcher calls ``wake`` and nothing else; the daemon decides what to do. This module never
calls a platform.
"""

from __future__ import annotations

import ctypes
import os
import select
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from campaigns.store import WAKEUP_CHANNEL, WAKEUP_SIGNAL
from scheduler.trouble import Trouble

SQLITE_EVERY = 0.5
"""Seconds at least between two SQLite change checks (every half second without inotify)."""
SQLITE_AUTHORITY = 10.0
"""Seconds at most between two SQLite change checks when inotify reports the writes."""
JOB = "wake-ups"
_STOP_WAIT = 5.0
"""Seconds `Watcher.stop` waits for the thread to end."""


RETRY_AT_MOST = 30.0
"""Seconds at most between two tries to watch again after the database failed: wake-ups should
come back soon after the database does (the daemon's own poll covers the gap)."""


class Watcher:
    def __init__(
        self, engine: Engine, wake: Callable[[], None], *, trouble: Trouble | None = None
    ) -> None:
        self.engine = engine
        self.wake = wake
        self.trouble = trouble or Trouble(longest=RETRY_AT_MOST)
        """Says a failure once (with the daemon's other jobs, when it is the daemon's)."""
        self._stop = threading.Event()
        self.ready = threading.Event()
        """Set once the watcher listens (signals committed before that are not reported)."""
        self._thread = threading.Thread(target=self._run, name="wakeups", daemon=True)
        self._connection: Any = None
        self._stop_r, self._stop_w = os.pipe()
        """Written to by `stop`: wakes the thread blocked on a socket or an inotify file."""
        self._pipe_lock = threading.Lock()
        self._pipe_open = True

    def start(self, *, wait: float = 10.0) -> Watcher:
        """Start watching; returns once the watcher listens (or after ``wait`` seconds)."""
        self._thread.start()
        self.ready.wait(wait)
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._pipe_lock:
            if self._pipe_open:
                os.write(self._stop_w, b"x")
        self._thread.join(timeout=_STOP_WAIT)
        with self._pipe_lock:
            if self._pipe_open and not self._thread.is_alive():
                self._pipe_open = False
                os.close(self._stop_r)
                os.close(self._stop_w)

    def _await(self, fd: int, timeout: float | None) -> bool:
        """Block until ``fd`` is readable, ``timeout`` passes or `stop` is called; False when
        stopping."""
        readable, _, _ = select.select([fd, self._stop_r], [], [], timeout)
        return self._stop_r not in readable and not self._stop.is_set()

    def _run(self) -> None:
        postgres = self.engine.dialect.name == "postgresql"
        while not self._stop.is_set():
            try:
                connection = self._connect()
                try:
                    (self._listen if postgres else self._poll)(connection)
                finally:
                    connection.close()
            except Exception as exc:
                pause = self.trouble.failed(JOB, exc)  # logged once, not at every retry
                self.wake()  # a signal may have been missed meanwhile
                self._stop.wait(min(pause, RETRY_AT_MOST))

    def _watching(self) -> None:
        self.ready.set()
        self.trouble.succeeded(JOB)

    def _connect(self) -> Any:
        raw = self.engine.raw_connection()
        connection = raw.driver_connection
        raw.detach()  # ours for good, not the pool's
        return connection

    def _listen(self, connection: Any) -> None:
        connection.autocommit = True
        # A notification read with the answer to a statement goes to the handlers.
        connection.add_notify_handler(lambda _notify: self.wake())
        connection.execute(f"LISTEN {WAKEUP_CHANNEL}")
        self._watching()
        pgconn = connection.pgconn
        while self._await(pgconn.socket, None):
            pgconn.consume_input()  # raises once the connection is lost: connect again
            woken = False
            while pgconn.notifies() is not None:
                woken = True
            if woken:
                self.wake()

    def _poll(self, connection: Any) -> None:
        def read(sql: str, *params: str) -> Any:
            row = connection.execute(sql, params).fetchone()
            return None if row is None else row[0]

        version = read("PRAGMA data_version")
        counter = read("SELECT counter FROM wakeup_signal WHERE name = ?", WAKEUP_SIGNAL)
        files = [row[2] for row in connection.execute("PRAGMA database_list") if row[1] == "main"]
        writes = _Writes.watch([files[0], f"{files[0]}-wal"] if files and files[0] else [])
        self._watching()
        checked = time.monotonic()
        try:
            while True:
                if writes is None:
                    if self._stop.wait(SQLITE_EVERY):
                        return
                else:
                    if not self._await(writes.fd, SQLITE_AUTHORITY):
                        return
                    rest = checked + SQLITE_EVERY - time.monotonic()
                    if rest > 0 and self._stop.wait(rest):  # writes in a row: a check at most
                        return  # every SQLITE_EVERY, reading what came meanwhile
                    if writes.drain():
                        writes.close()  # a watched file went: watch the files again
                        writes = _Writes.watch(writes.paths)
                    checked = time.monotonic()
                now = read("PRAGMA data_version")
                if now == version:
                    continue
                version = now
                seen = read("SELECT counter FROM wakeup_signal WHERE name = ?", WAKEUP_SIGNAL)
                if seen != counter:
                    counter = seen
                    self.wake()
        finally:
            if writes is not None:
                writes.close()


_IN_MODIFY = 0x2
_IN_MOVE_SELF = 0x800
_IN_DELETE_SELF = 0x400
_IN_IGNORED = 0x8000
_GONE = _IN_MOVE_SELF | _IN_DELETE_SELF | _IN_IGNORED
_EVENT_HEADER = 16
"""struct inotify_event: wd, mask, cookie, len (4 bytes each), then len bytes of name."""


class _Writes:
    """Linux inotify on files: a descriptor that becomes readable when one of them is written."""

    def __init__(self, fd: int, paths: list[str]) -> None:
        self.fd = fd
        self.paths = paths

    @classmethod
    def watch(cls, paths: list[str]) -> _Writes | None:
        """Watch the writes to ``paths`` (those that exist; the first one must); None where
        inotify is not available (not Linux) or the first file cannot be watched."""
        libc = _libc()
        if libc is None or not paths:
            return None
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            return None
        mask = _IN_MODIFY | _IN_MOVE_SELF | _IN_DELETE_SELF
        for index, path in enumerate(paths):
            if libc.inotify_add_watch(fd, os.fsencode(path), mask) < 0 and index == 0:
                os.close(fd)
                return None
        return cls(fd, paths)

    def drain(self) -> bool:
        """Read the events reported so far; True when a watched file went away (deleted,
        moved, or its watch ended)."""
        gone = False
        while True:
            try:
                data = os.read(self.fd, 4096)
            except BlockingIOError:
                return gone
            for offset in _offsets(data):
                mask = int.from_bytes(data[offset + 4 : offset + 8], sys.byteorder)
                gone = gone or bool(mask & _GONE)

    def close(self) -> None:
        os.close(self.fd)


def _offsets(data: bytes) -> list[int]:
    offsets, offset = [], 0
    while offset + _EVENT_HEADER <= len(data):
        offsets.append(offset)
        offset += _EVENT_HEADER + int.from_bytes(data[offset + 12 : offset + 16], sys.byteorder)
    return offsets


_LIBC: list[Any] = []


def _libc() -> Any:
    """The C library, when it has inotify (Linux); None elsewhere. The symbols already loaded
    in this process: no search (ctypes.util.find_library runs ldconfig, 30 ms or more, while a
    daemon starting waits for its watcher)."""
    if not _LIBC:
        found = None
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if hasattr(libc, "inotify_init1") and hasattr(libc, "inotify_add_watch"):
                found = libc
        except OSError:
            pass
        _LIBC.append(found)
    return _LIBC[0]
