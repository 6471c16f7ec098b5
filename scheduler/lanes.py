"""Claims waiting their turn, one queue (lane) per channel, sent by threads of a shared pool.

Channels publish concurrently, and so may one channel: up to ``per_channel`` of its posts can
be in flight at once (each call with a connector instance of its own: `scheduler.pool`), never
faster than the channel's rate (each claim still waits for the send slot the claim pass gave
it). What must stay one after another does:

* **Start order.** A channel's claims start in the order they were claimed (their slots',
  which is their due order): a claim is handed to a thread only once the one before it has
  started its call (`Turn.calling`) or ended without one, so a post never starts before an
  earlier-due post of its channel; their answers may come back in any order.
* **An error holds the channel.** After an answer other than a publication (a rate limit, a
  pause, a transient or unsure answer), no further call on that channel starts until that
  answer is recorded: the next claim's check, queued after it, sees what it wrote (a blocked
  or paused channel, a handed-back row), and a claim already checked waits before its call
  and is checked again (`Turn.calling` says so: its check may have come before the record).
* **Replies.** A reply is claimable only once its parent's publication is committed
  (`scheduler.dispatch.claimable`), so it never starts before its parent's result is in.

The lanes also know which claims this process holds, for the heartbeat (which renews their
leases) and for recovery (which must not take them), and how long a send keeps a channel busy
(a moving average per send), so the daemon claims no more than it can send soon and leaves the
rest to other daemons. A lane is idle once every outcome it queued is recorded."""

from __future__ import annotations

import functools
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field

from connectors.base import ConnectorError, Published
from scheduler.dispatch import Claim, PassStats

log = logging.getLogger("elshi.scheduler")

_WEIGHT = 0.2
"""Of each new send in the moving average of a channel's busy time."""


@dataclass
class _Lane:
    queue: deque[Claim] = field(default_factory=deque)
    in_flight: int = 0
    """Claims handed to a thread whose call has not been answered (or that ended without one)."""
    starting: bool = False
    """A claim was handed to a thread and has not started its call yet."""
    holding: int = 0
    """Answers other than a publication not yet recorded: no call starts meanwhile."""
    unrecorded: int = 0
    """Claims handed to a thread whose outcome is not yet recorded."""
    errors: int = 0
    """Answers other than a publication so far."""
    errors_at_start: int = 0
    """``errors`` when the claim now starting was handed to its thread."""


class Turn:
    """One claim's place in its lane, told by `scheduler.dispatch.send_claim` when the call
    starts and when it is answered."""

    def __init__(self, lanes: Lanes, channel: str, lane: _Lane) -> None:
        self._lanes = lanes
        self._channel = channel
        self._lane = lane
        self.called = False
        self.answered_at_all = False
        self.holds = False
        self._errors = lane.errors_at_start  # set by `Lanes._next` for this claim

    def calling(self) -> bool:
        """Just before the call (its check said send): waits while an error answer of the
        channel is being recorded, then lets the next claim of the lane start. True when an
        error answer came after this claim was handed to its thread: its check may have
        been made before that answer was recorded, so the claim is checked again. (A claim
        starts only when no error answer is unrecorded, so one that came before its start is
        seen by its check.)"""
        lanes = self._lanes
        with lanes._lock:
            lanes._recorded.wait_for(lambda: not self._lane.holding)
            self.called = True
            self._lane.starting = False
            since = self._lane.errors != self._errors
            claim = lanes._next(self._lane)
        lanes._spawn(self._channel, self._lane, claim)
        return since

    def answered(self, result: Published | ConnectorError) -> None:
        """The platform answered (or the call failed): one call fewer in flight; an answer other
        than a publication holds the channel until it is recorded."""
        lanes = self._lanes
        with lanes._lock:
            self.answered_at_all = True
            self._lane.in_flight -= 1
            if not isinstance(result, Published):
                self.holds = True
                self._lane.holding += 1
                self._lane.errors += 1
            claim = lanes._next(self._lane)
        lanes._spawn(self._channel, self._lane, claim)

    def _ended(self) -> Claim | None:
        """The send returned (under the lanes' lock): what it did not say, said now."""
        if not self.called:
            self._lane.starting = False
        if not self.answered_at_all:
            self.answered_at_all = True
            self._lane.in_flight -= 1
        return self._lanes._next(self._lane)


class Lanes:
    def __init__(
        self,
        executor: Executor,
        serve: Callable[[Claim, Turn], Future[PassStats]],
        *,
        on_done: Callable[[str], None] | None = None,
        per_channel: int = 1,
    ) -> None:
        """``serve`` publishes one claim, telling its `Turn` when the call starts and when it
        is answered (its future resolves once the outcome is recorded:
        `scheduler.dispatch.send_claim`); ``on_done`` is told the channel of each claim done
        (the daemon claims more when the lanes run low); ``per_channel``: calls of one
        channel in flight at once at most."""
        self._executor = executor
        self._serve = serve
        self._on_done = on_done
        self.per_channel = max(1, per_channel)
        self._lanes: dict[str, _Lane] = {}
        self._held: set[int] = set()
        self._busy_seconds: dict[str, float] = {}
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._recorded = threading.Condition(self._lock)
        self.stats = PassStats()

    def submit(self, claims: Iterable[Claim]) -> None:
        start: list[tuple[str, _Lane, Claim]] = []
        with self._lock:
            touched: dict[str, _Lane] = {}
            for claim in claims:
                lane = self._lanes.setdefault(claim.channel, _Lane())
                lane.queue.append(claim)
                self._held.add(claim.delivery_id)
                touched[claim.channel] = lane
            for channel, lane in touched.items():
                first = self._next(lane)
                if first is not None:
                    start.append((channel, lane, first))
        for channel, lane, claim in start:
            self._spawn(channel, lane, claim)

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
            lane = self._lanes.get(channel)
            return len(lane.queue) + lane.in_flight if lane is not None else 0

    def busy_seconds(self, channel: str | None = None) -> float | None:
        """How long one send keeps a thread busy on ``channel`` (any channel's, without one),
        on average; None before the first send. With ``per_channel`` calls in flight at once,
        a busy channel sends that many in this time."""
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
        """Block until every lane is empty and every outcome recorded; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._lanes, timeout)

    def _next(self, lane: _Lane) -> Claim | None:
        """The lane's next claim if it may start now (under the lock): none is starting, no
        error answer is being recorded, fewer than ``per_channel`` calls are in flight."""
        if lane.starting or lane.holding or lane.in_flight >= self.per_channel or not lane.queue:
            return None
        lane.starting = True
        lane.in_flight += 1
        lane.unrecorded += 1
        lane.errors_at_start = lane.errors
        return lane.queue.popleft()

    def _spawn(self, channel: str, lane: _Lane, claim: Claim | None) -> None:
        if claim is not None:
            self._executor.submit(self._run, channel, lane, claim)

    def _run(self, channel: str, lane: _Lane, claim: Claim) -> None:
        turn = Turn(self, channel, lane)
        try:
            recorded = self._serve(claim, turn)
        except Exception:
            # Not recorded: the row's lease runs out and recovery deals with it.
            log.exception("delivery %s %s: publishing failed", claim.delivery_id, claim.label)
            recorded = Future()
            recorded.set_result(PassStats())
        with self._lock:
            following = turn._ended()
        self._spawn(channel, lane, following)
        recorded.add_done_callback(functools.partial(self._book, channel, claim, lane, turn))

    def _book(
        self, channel: str, claim: Claim, lane: _Lane, turn: Turn, recorded: Future[PassStats]
    ) -> None:
        """The outcome of ``claim`` is recorded: count it; the lane goes on if it was held."""
        following = None
        try:
            stats = recorded.result()
            with self._lock:
                self.stats.add(stats)
                for seconds in stats.busy:
                    average = self._busy_seconds.get(channel, seconds)
                    self._busy_seconds[channel] = average + _WEIGHT * (seconds - average)
            if self._on_done is not None:
                self._on_done(channel)
        finally:
            with self._lock:
                self._held.discard(claim.delivery_id)
                lane.unrecorded -= 1
                if turn.holds:
                    turn.holds = False
                    lane.holding -= 1
                    self._recorded.notify_all()
                following = self._next(lane)
                if not lane.unrecorded and not lane.queue and self._lanes.get(channel) is lane:
                    del self._lanes[channel]
                    self._idle.notify_all()
            self._spawn(channel, lane, following)
