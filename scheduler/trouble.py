"""What the daemon does when its work keeps failing: one clear message, a growing pause.

A full disk, a read-only database file or a database server that went away make every job of
the daemon fail (the dispatch loop, heartbeats, sweeps, metric rounds), again and again. Logging
a full traceback per job per second helps nobody and fills the disk further. `Trouble` keeps,
per job, how many times in a row it failed and when it may run again (the pause doubles from
``first`` up to ``longest``); it logs a known database condition (`campaigns.store.condition`)
once, as one line saying what to do, whichever job met it first; an unexpected error once with
its traceback, and its repeats not at all; and, when every job works again, one line saying so
with how many failures were not logged.

Time is the caller's monotonic clock (seconds), so tests drive it by hand.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("elshi.daemon")

FIRST_PAUSE = 1.0
LONGEST_PAUSE = 300.0


@dataclass
class _Failing:
    count: int
    retry_at: float
    cause: str


class Trouble:
    def __init__(
        self,
        *,
        first: float = FIRST_PAUSE,
        longest: float = LONGEST_PAUSE,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger = log,
    ) -> None:
        self.first = first
        self.longest = longest
        self.clock = clock
        self.log = logger
        self._lock = threading.Lock()
        self._failing: dict[str, _Failing] = {}
        self._told: set[str] = set()
        self._silenced = 0

    def may_run(self, job: str) -> bool:
        """False while ``job`` is pausing after failures."""
        with self._lock:
            failing = self._failing.get(job)
            return failing is None or self.clock() >= failing.retry_at

    def failed(self, job: str, exc: BaseException) -> float:
        """Record a failure of ``job``; the seconds to wait before trying it again."""
        from campaigns.store import condition, describe

        found = condition(exc)
        cause = f"database:{found}" if found else f"{job}:{type(exc).__name__}:{exc}"
        with self._lock:
            previous = self._failing.get(job)
            count = previous.count + 1 if previous else 1
            pause = float(min(self.longest, self.first * 2 ** min(count - 1, 30)))
            self._failing[job] = _Failing(count, self.clock() + pause, cause)
            first_time = cause not in self._told
            self._told.add(cause)
            if not first_time:
                self._silenced += 1
        if first_time and found:
            self.log.error(
                "the database cannot be used: %s. The daemon keeps trying, less and less often "
                "(up to every %s); nothing is sent meanwhile. This is said once.",
                describe(exc),
                _seconds(self.longest),
            )
        elif first_time:
            self.log.error(
                "%s failed; trying again, less and less often (repeats of this error are not "
                "logged)",
                job,
                exc_info=exc,
            )
        return pause

    def succeeded(self, job: str) -> None:
        """``job`` worked: its pause ends; when no job fails any more, say it once."""
        with self._lock:
            if self._failing.pop(job, None) is None or self._failing:
                return
            told, silenced = sorted(self._told), self._silenced
            self._told.clear()
            self._silenced = 0
        causes = ", ".join(c.split(":", 1)[1] if c.startswith("database:") else c for c in told)
        self.log.warning(
            "working again after failures (%s); %d repeated failure(s) were not logged",
            causes,
            silenced,
        )

    @property
    def failing(self) -> dict[str, int]:
        """Job → failures in a row, for the jobs failing now."""
        with self._lock:
            return {job: f.count for job, f in self._failing.items()}


def _seconds(value: float) -> str:
    return f"{value / 60:g} min" if value >= 60 else f"{value:g} s"
