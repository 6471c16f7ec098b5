"""The daemon's tunables and the retry policy (exponential backoff with full jitter that honours
a platform's retry-after). Plain values: the CLI maps elshi.toml onto `Settings`."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    worker_id: str
    lease_seconds: float = 300.0
    """How long a claimed delivery is reserved; after that, recovery reconciles it."""
    reconcile_after_seconds: float = 120.0
    """After an ambiguous publish, how long to wait before asking the platform (its timelines
    and indexes lag a little)."""
    max_attempts: int = 8
    backoff_seconds: float = 30.0
    backoff_max_seconds: float = 3600.0
    max_delay_seconds: float = 6 * 3600.0
    """A retried delivery is never published later than this after its time."""
    late_after_seconds: float = 60.0
    claim_batch: int = 200
    claim_lookahead_seconds: float = 1.0
    workers: int = 8
    poll_seconds: float = 60.0
    sweep_every_seconds: float = 60.0
    collect_every_seconds: float = 900.0
    heartbeat_seconds: float = 30.0
    """A daemon silent for three of these is dead: its claims are taken over."""
    name: str | None = None
    """This daemon's stable identity across restarts (default: the host name)."""
    metrics_schedule: tuple[float, ...] = (3600, 6 * 3600, 86400, 3 * 86400, 7 * 86400, 30 * 86400)
    followers_every_seconds: float = 86400.0
    max_reconcile_attempts: int = 5
    default_rate_per_minute: dict[str, float] = field(default_factory=dict)
    seed: int | None = None
    media_cache: Path | None = None
    """Where the daemon writes its copies of stored media for the connectors (default: a folder
    of the user's own in the system's temporary folder)."""


def backoff(
    attempt: int,
    settings: Settings,
    *,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before attempt ``attempt + 1``: full jitter over an exponentially growing
    cap, never less than the platform's ``retry_after``."""
    rng = rng or random.Random()
    cap = min(settings.backoff_max_seconds, settings.backoff_seconds * 2 ** max(attempt - 1, 0))
    delay = settings.backoff_seconds / 2 + rng.uniform(0, cap)
    if retry_after is not None:
        delay = max(delay, retry_after + rng.uniform(0, min(5.0, retry_after / 10 + 0.5)))
    return min(delay, max(settings.backoff_max_seconds, retry_after or 0.0))


def missed_window(
    due_at: datetime,
    *,
    attempts: int,
    next_attempt_at: datetime | None,
    grace_minutes: float,
    settings: Settings,
) -> tuple[datetime, timedelta]:
    """When a waiting delivery's window opened and how long it lasts: it is missed once
    ``now > start + window``. A first attempt may be late by the campaign's grace; a retry by
    up to ``max_delay``; an operator's retry (attempts reset, ``next_attempt_at`` set) opens a
    new window from that moment."""
    grace = timedelta(minutes=grace_minutes)
    window = grace if attempts == 0 else max(grace, timedelta(seconds=settings.max_delay_seconds))
    start = due_at
    if attempts == 0 and next_attempt_at is not None:
        start = max(start, next_attempt_at)
    return start, window
