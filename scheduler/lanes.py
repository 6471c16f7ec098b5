"""Claims waiting their turn, one queue (lane) per channel. A lane is drained in order by one
thread at a time, taken from a shared pool, so channels publish concurrently while one
channel's posts go out one after another. The lanes also know which claims this process holds,
for the heartbeat (which renews their leases) and for recovery (which must not take them), and
how long a send keeps each channel busy (a moving average), so the daemon claims no more than
it can send soon and leaves the rest to other daemons."""

from __future__ import annotations

import functools
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent import futures
from concurrent.futures import Executor, Future

from scheduler.dispatch import Claim, PassStats

log = logging.getLogger("elshi.scheduler")

_WEIGHT = 0.2
"""Of each new send in the moving average of a channel's busy time."""


class Lanes:
    def __init__(
        self,
        executor: Executor,
        serve: Callable[[Claim], Future[PassStats]],
        *,
        on_done: Callable[[str], None] | None = None,
    ) -> None:
        """``serve`` publishes one claim (its future resolves once the outcome is recorded:
        `scheduler.dispatch.send_claim`); ``on_done`` is told the channel of each claim done
        (the daemon claims more when the lanes run low)."""
        self._executor = executor
        self._serve = serve
        self._on_done = on_done
        self._queues: dict[str, deque[Claim]] = {}
        self._draining: set[str] = set()
        self._sending: set[str] = set()
        self._held: set[int] = set()
        self._busy_seconds: dict[str, float] = {}
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self.stats = PassStats()

    def submit(self, claims: Iterable[Claim]) -> None:
        start = []
        with self._lock:
            for claim in claims:
                self._queues.setdefault(claim.channel, deque()).append(claim)
                self._held.add(claim.delivery_id)
                if claim.channel not in self._draining:
                    self._draining.add(claim.channel)
                    start.append(claim.channel)
        for channel in start:
            self._executor.submit(self._drain, channel)

    def held(self) -> frozenset[int]:
        """Deliveries whose claims are queued or being sent here."""
        with self._lock:
            return frozenset(self._held)

    def outstanding(self) -> int:
        with self._lock:
            return len(self._held)

    def queued(self, channel: str) -> int:
        """Claims of ``channel`` waiting or being sent here."""
        with self._lock:
            return len(self._queues.get(channel, ())) + (channel in self._sending)

    def busy_seconds(self, channel: str | None = None) -> float | None:
        """How long one send keeps ``channel`` busy (any channel's, without one), on average;
        None before the first send."""
        with self._lock:
            if channel is not None and channel in self._busy_seconds:
                return self._busy_seconds[channel]
            values = list(self._busy_seconds.values())
        return sum(values) / len(values) if values else None

    def take_stats(self) -> PassStats:
        """What the lanes did since the last call."""
        with self._lock:
            stats, self.stats = self.stats, PassStats()
        return stats

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every lane is empty; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._draining, timeout)

    def _drain(self, channel: str) -> None:
        """Send the channel's claims one after another. A claim's outcome is recorded by the
        writer while the lane goes on to the next claim, whose check (queued after it)
        commits no earlier; the lane is idle once every outcome it queued is recorded."""
        booked: list[Future[None]] = []
        while True:
            with self._lock:
                queue = self._queues.get(channel)
                claim = queue.popleft() if queue else None
                if claim is not None:
                    self._sending.add(channel)
            if claim is None:
                futures.wait(booked)
                booked = []
                with self._lock:
                    if self._queues.get(channel):
                        continue  # more came meanwhile
                    self._queues.pop(channel, None)
                    self._draining.discard(channel)
                    self._idle.notify_all()
                    return
            try:
                recorded = self._serve(claim)
            except Exception:
                # Not recorded: the row's lease runs out and recovery deals with it.
                log.exception("delivery %s %s: publishing failed", claim.delivery_id, claim.label)
                recorded = Future()
                recorded.set_result(PassStats())
            with self._lock:
                self._sending.discard(channel)
            done: Future[None] = Future()
            booked = [f for f in booked if not f.done()] + [done]
            recorded.add_done_callback(functools.partial(self._book, channel, claim, done))

    def _book(
        self, channel: str, claim: Claim, done: Future[None], recorded: Future[PassStats]
    ) -> None:
        """The outcome of ``claim`` is recorded: count it."""
        try:
            stats = recorded.result()
            with self._lock:
                self._held.discard(claim.delivery_id)
                self.stats.add(stats)
                for seconds in stats.busy:
                    average = self._busy_seconds.get(channel, seconds)
                    self._busy_seconds[channel] = average + _WEIGHT * (seconds - average)
            if self._on_done is not None:
                self._on_done(channel)
        finally:
            done.set_result(None)
