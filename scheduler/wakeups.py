"""Noticing within a second that deliveries became claimable elsewhere (an approval, an apply,
an operator's retry, a channel resumed, claims handed back by another daemon) without reading
the deliveries over and over. Writers signal it in their transaction
(`campaigns.store.signal_wakeup`); a `Watcher` thread per daemon waits for the signal on a
database connection of its own:

* PostgreSQL: ``LISTEN elshi_wakeup``; a notification arrives when the writer commits.
* SQLite: every half second ``PRAGMA data_version`` (a number that changes when another
  connection commits; it costs no read of a table), and only when it changed, the
  `WakeupSignal` counter.

The watcher calls ``wake`` and nothing else; the daemon decides what to do. This module never
calls a platform.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from campaigns.store import WAKEUP_CHANNEL, WAKEUP_SIGNAL
from scheduler.trouble import Trouble

SQLITE_EVERY = 0.5
"""Seconds between two SQLite change checks."""
JOB = "wake-ups"
_PG_WAIT = 1.0
"""Seconds a PostgreSQL wait lasts before the watcher looks whether it should stop."""


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

    def start(self, *, wait: float = 10.0) -> Watcher:
        """Start watching; returns once the watcher listens (or after ``wait`` seconds)."""
        self._thread.start()
        self.ready.wait(wait)
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=_PG_WAIT + 1)

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
        connection.execute(f"LISTEN {WAKEUP_CHANNEL}")
        self._watching()
        while not self._stop.is_set():
            for _ in connection.notifies(timeout=_PG_WAIT, stop_after=1):
                self.wake()

    def _poll(self, connection: Any) -> None:
        def read(sql: str, *params: str) -> Any:
            row = connection.execute(sql, params).fetchone()
            return None if row is None else row[0]

        version = read("PRAGMA data_version")
        counter = read("SELECT counter FROM wakeup_signal WHERE name = ?", WAKEUP_SIGNAL)
        self._watching()
        while not self._stop.wait(SQLITE_EVERY):
            now = read("PRAGMA data_version")
            if now == version:
                continue
            version = now
            seen = read("SELECT counter FROM wakeup_signal WHERE name = ?", WAKEUP_SIGNAL)
            if seen != counter:
                counter = seen
                self.wake()
