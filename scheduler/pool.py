"""Connectors for the daemon: one instance per channel, created on first use, used by one
thread at a time (`lease`), closed at shutdown. The factory comes from the CLI, which knows the
configuration; the scheduler only knows channel names."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from connectors.base import Connector
from scheduler.errors import UnknownChannelError as UnknownChannelError

ConnectorFactory = Callable[[str], Connector]


class ConnectorPool:
    def __init__(self, factory: ConnectorFactory) -> None:
        self._factory = factory
        self._connectors: dict[str, Connector] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, channel: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(channel, threading.Lock())

    @contextmanager
    def lease(self, channel: str) -> Iterator[Connector]:
        """The channel's connector, exclusively for the duration of the block."""
        with self._lock(channel):
            connector = self._connectors.get(channel)
            if connector is None:
                connector = self._factory(channel)
                self._connectors[channel] = connector
            yield connector

    def close(self) -> None:
        with self._guard:
            connectors = list(self._connectors.values())
            self._connectors.clear()
        for connector in connectors:
            connector.close()
