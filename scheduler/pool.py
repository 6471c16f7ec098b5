"""Connectors for the daemon: a few instances per channel, created on first use, each used by
one thread at a time (`lease`), closed at shutdown. The factory comes from the CLI, which knows
the configuration; the scheduler only knows channel names.

A channel's lane may have several calls in flight at once (`scheduler.lanes`), and the client
libraries do not all allow one client to be used by two threads (python-telegram-bot runs on
the connector's own asyncio loop; Mastodon.py and the Mastodon connector keep the last
response's rate-limit headers on the instance). So each call gets an instance of its own: a
lease takes an idle instance of the channel (the one used last, whose HTTP session is warm)
or, when all are in use and fewer than ``per_channel`` exist, makes one more; otherwise it
waits for one to come back. Instances of one channel share their logins through the session
store, as the connectors of several daemons do (a second instance makes no new login); making
one touches no network (its client is built on first use)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from connectors.base import Connector
from scheduler.errors import UnknownChannelError as UnknownChannelError

ConnectorFactory = Callable[[str], Connector]

PER_CHANNEL = 3
"""Instances of one channel's connector at most (so calls on that channel at once)."""


@dataclass
class _Instances:
    idle: list[Connector] = field(default_factory=list)
    made: int = 0


class ConnectorPool:
    def __init__(self, factory: ConnectorFactory, *, per_channel: int = PER_CHANNEL) -> None:
        self._factory = factory
        self.per_channel = max(1, per_channel)
        self._channels: dict[str, _Instances] = {}
        self._made: list[Connector] = []
        self._guard = threading.Condition()

    @contextmanager
    def lease(self, channel: str) -> Iterator[Connector]:
        """An instance of the channel's connector, exclusively for the duration of the block."""
        with self._guard:
            instances = self._channels.setdefault(channel, _Instances())
            while not instances.idle and instances.made >= self.per_channel:
                self._guard.wait()
            connector = instances.idle.pop() if instances.idle else None
            if connector is None:
                instances.made += 1
        if connector is None:
            try:
                connector = self._factory(channel)
            except BaseException:
                with self._guard:
                    instances.made -= 1
                    self._guard.notify_all()
                raise
            with self._guard:
                self._made.append(connector)
        try:
            yield connector
        finally:
            with self._guard:
                instances.idle.append(connector)
                self._guard.notify_all()

    def instances(self, channel: str) -> int:
        """How many instances of the channel's connector were made (for tests and benches)."""
        with self._guard:
            instances = self._channels.get(channel)
            return instances.made if instances is not None else 0

    def close(self) -> None:
        with self._guard:
            connectors, self._made = self._made, []
            self._channels.clear()
        for connector in connectors:
            connector.close()
