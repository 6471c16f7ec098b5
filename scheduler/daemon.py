"""The daemon: one `Dispatcher` per process, driven either by APScheduler (`run_forever`: a job
at the next due instant, periodic sweeps, metric rounds and heartbeats) or by the caller
(`run_once`, used by ``elshi run --once``, the demo's accelerated rehearsal and the tests).

Publishing to different channels is concurrent (a thread pool; one channel's posts go out in
order from one thread), so a slow or failing channel does not delay the others. On SIGTERM or
SIGINT the daemon stops claiming, lets calls already sent finish and be recorded, and hands
back claims it had not sent yet: no row stays claimed for nothing.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from campaigns.schema import Worker
from scheduler.collection import CollectStats, collect_round
from scheduler.dispatch import Claim, PassStats, RateLookup, claim_due, publish_claim
from scheduler.policy import Settings
from scheduler.pool import ConnectorPool
from scheduler.recovery import mark_missed, next_wakeup, reconcile_expired

if TYPE_CHECKING:
    from scheduler.alerts import AlertService

log = logging.getLogger("elshi.daemon")
Clock = Callable[[], datetime]


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Dispatcher:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        pool: ConnectorPool,
        settings: Settings,
        clock: Clock,
        rate_for: RateLookup,
        *,
        real_time: bool = True,
        alerts: AlertService | None = None,
    ) -> None:
        self.sessions = sessions
        self.alerts = alerts
        self.pool = pool
        self.settings = settings
        self.clock = clock
        self.rate_for = rate_for
        self.real_time = real_time
        self.stopping = threading.Event()
        self.rng = random.Random(settings.seed)
        self._executor = ThreadPoolExecutor(
            max_workers=max(1, settings.workers), thread_name_prefix="publish"
        )
        self._dispatch_lock = threading.Lock()

    # --- one pass ---------------------------------------------------------------------------

    def wait_until(self, moment: datetime) -> bool:
        if not self.real_time:
            return not self.stopping.is_set()
        delay = (moment - self.clock()).total_seconds()
        if delay > 0:
            return not self.stopping.wait(delay)
        return not self.stopping.is_set()

    def _publish_channel(self, claims: list[Claim]) -> PassStats:
        stats = PassStats()
        for claim in claims:
            stats.add(
                publish_claim(
                    self.sessions,
                    self.pool,
                    claim,
                    self.settings,
                    self.clock,
                    wait_until=self.wait_until,
                    stopping=self.stopping,
                    rng=self.rng,
                )
            )
        return stats

    def dispatch(self, *, lookahead: float | None = None) -> PassStats:
        """Claim and publish until nothing more is due (now, or within ``lookahead``)."""
        total = PassStats()
        if lookahead is None:
            lookahead = self.settings.claim_lookahead_seconds if self.real_time else 0.0
        with self._dispatch_lock:
            while not self.stopping.is_set():
                claims = claim_due(
                    self.sessions,
                    self.settings,
                    self.clock(),
                    rate_for=self.rate_for,
                    lookahead=lookahead,
                )
                if not claims:
                    break
                total.claimed += len(claims)
                by_channel: dict[str, list[Claim]] = defaultdict(list)
                for claim in claims:
                    by_channel[claim.channel].append(claim)
                futures = [
                    self._executor.submit(self._publish_channel, items)
                    for items in by_channel.values()
                ]
                for future in futures:
                    total.add(future.result())
        return total

    def maintenance(self) -> PassStats:
        # Under the dispatch lock: this process never reconciles a row while publishing it.
        stats = PassStats()
        with self._dispatch_lock:
            stats.missed += mark_missed(self.sessions, self.settings, self.clock())
            stats.add(reconcile_expired(self.sessions, self.pool, self.settings, self.clock))
        return stats

    def collect(self, *, progress: Callable[[int], None] | None = None) -> CollectStats:
        return collect_round(
            self.sessions, self.pool, self.settings, self.clock, progress=progress, rng=self.rng
        )

    def run_once(self, *, collect: bool = True) -> tuple[PassStats, CollectStats | None]:
        if self.alerts is not None:
            self.alerts.start()
        stats = self.maintenance()
        stats.add(self.dispatch())
        collected = self.collect() if collect else None
        if self.alerts is not None:
            self.alerts.run_pass()
        return stats, collected

    def next_wakeup(self) -> datetime | None:
        return next_wakeup(self.sessions, self.clock())

    def heartbeat(self, *, stopped: bool = False) -> None:
        from campaigns.store import immediate

        now = self.clock()
        with immediate(self.sessions) as session:
            worker = session.get(Worker, self.settings.worker_id)
            if worker is None:
                host, pid, _ = [*self.settings.worker_id.split(":"), "", "0", ""][:3]
                worker = Worker(
                    id=self.settings.worker_id,
                    host=host,
                    pid=int(pid or 0),
                    started_at=now,
                    heartbeat_at=now,
                )
                session.add(worker)
            worker.heartbeat_at = now
            worker.stopped_at = now if stopped else None
            session.commit()

    def close(self) -> None:
        self.stopping.set()
        self._executor.shutdown(wait=True)
        self.pool.close()
        if self.alerts is not None:
            self.alerts.close()

    # --- the daemon -------------------------------------------------------------------------

    def run_forever(self, *, install_signals: bool = True) -> None:
        """Run until SIGTERM/SIGINT (or `stopping` is set)."""
        import signal

        from apscheduler.schedulers.background import BackgroundScheduler

        scheduler = BackgroundScheduler(
            timezone="UTC",
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": None,
            },
        )

        def stop(signum: int, _frame: Any) -> None:
            log.info(
                "received %s: stopping (claims not yet sent are handed back)",
                signal.Signals(signum).name,
            )
            self.stopping.set()

        if install_signals:
            signal.signal(signal.SIGTERM, stop)
            signal.signal(signal.SIGINT, stop)

        def arm(moment: datetime | None, *, idle: bool) -> None:
            now = self.clock()
            latest = now + timedelta(seconds=self.settings.poll_seconds)
            # After a pass that found nothing to claim, wait at least a second: a row that is
            # due but not claimable must not turn the loop into a busy wait.
            earliest = now + timedelta(seconds=1.0 if idle else 0.0)
            when = latest if moment is None else max(earliest, min(moment, latest))
            scheduler.add_job(
                dispatch_job, "date", run_date=when, id="dispatch", replace_existing=True
            )

        def dispatch_job() -> None:
            claimed = 0
            try:
                if not self.stopping.is_set():
                    self.maintenance()
                    claimed = self.dispatch().claimed
            except Exception:
                log.exception("dispatch pass failed; will try again")
            finally:
                if not self.stopping.is_set():
                    arm(self.next_wakeup(), idle=claimed == 0)

        def guarded(name: str, fn: Callable[[], object]) -> Callable[[], None]:
            def job() -> None:
                if self.stopping.is_set():
                    return
                try:
                    fn()
                except Exception:
                    log.exception("%s failed; will try again", name)

            return job

        self.heartbeat()
        if self.alerts is not None:
            self.alerts.start()
        scheduler.add_job(
            guarded("heartbeat", self.heartbeat),
            "interval",
            seconds=self.settings.heartbeat_seconds,
            id="heartbeat",
        )
        scheduler.add_job(
            guarded("sweep", self.maintenance),
            "interval",
            seconds=self.settings.sweep_every_seconds,
            id="sweep",
        )
        scheduler.add_job(
            guarded("collect", self.collect),
            "interval",
            seconds=self.settings.collect_every_seconds,
            id="collect",
            next_run_time=self.clock() + timedelta(seconds=5),
        )
        if self.alerts is not None:
            scheduler.add_job(
                guarded("alerts", self.alerts.run_pass),
                "interval",
                seconds=self.alerts.settings.poll_seconds,
                id="alerts",
            )
        arm(self.clock(), idle=False)
        scheduler.start()
        log.info("daemon %s running (Ctrl-C or SIGTERM to stop)", self.settings.worker_id)
        try:
            while not self.stopping.wait(1.0):
                pass
        finally:
            scheduler.shutdown(wait=True)
            self.close()
            try:
                self.heartbeat(stopped=True)
            except Exception:
                log.exception("could not record the stop")
            log.info("daemon %s stopped", self.settings.worker_id)
