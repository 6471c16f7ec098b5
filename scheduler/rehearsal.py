"""Rehearsing a campaign in accelerated time: the daemon's own dispatch, recovery and collection
code, driven by a clock that jumps from one wake-up to the next instead of waiting. Used by
``elshi demo`` (sandbox channels only: real platforms would receive real posts)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from campaigns.schema import Delivery
from scheduler.daemon import Dispatcher
from scheduler.dispatch import PassStats


class SteppingClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def jump(self, moment: datetime) -> None:
        if moment > self.now:
            self.now = moment


@dataclass
class RehearsalStats:
    steps: int = 0
    published: int = 0
    retried: int = 0
    failed: int = 0
    missed: int = 0
    snapshots: int = 0
    follower_samples: int = 0


def next_collection(dispatcher: Dispatcher) -> datetime | None:
    with dispatcher.sessions() as session:
        return session.scalar(select(func.min(Delivery.next_collect_at)))


def rehearse(
    dispatcher: Dispatcher,
    clock: SteppingClock,
    until: datetime,
    *,
    progress: Callable[[datetime], None] | None = None,
    max_steps: int = 200_000,
) -> RehearsalStats:
    """Run passes at every instant something is due, up to ``until``; the followers are sampled
    daily as the daemon would."""
    stats = RehearsalStats()
    daily = timedelta(seconds=dispatcher.settings.followers_every_seconds)
    next_daily = clock()
    while stats.steps < max_steps:
        stats.steps += 1
        passed: PassStats = dispatcher.maintenance()
        passed.add(dispatcher.dispatch(lookahead=0.0))
        stats.published += passed.published + passed.reconciled
        stats.retried += passed.retried
        stats.failed += passed.failed
        stats.missed += passed.missed
        collected = dispatcher.collect()
        stats.snapshots += collected.snapshots
        stats.follower_samples += collected.follower_samples
        if progress:
            progress(clock())
        candidates = [
            t for t in (dispatcher.next_wakeup(), next_collection(dispatcher)) if t is not None
        ]
        if clock() >= next_daily:
            next_daily = clock() + daily
        candidates.append(next_daily)
        upcoming = min(candidates)
        if upcoming > until:
            break
        # Something due but not claimable yet (a reply whose parent failed, a blocked channel)
        # must not pin the clock: step a minute and let the missed-window rule decide.
        clock.jump(upcoming if upcoming > clock() else clock() + timedelta(minutes=1))
    return stats
