"""The daemon: one `Dispatcher` per process, run either as a daemon (`run_forever`) or by the
caller (`run_once`, used by ``elshi run --once``, the demo's accelerated rehearsal and the
tests).

As a daemon it has a few threads, each with one job:

* the *dispatch loop* claims due rows in batches a little ahead of their time and puts them in
  the lanes; it sleeps until the next claimable instant, until a `Watcher` reports a change
  made elsewhere (an approval, an apply), or until the lanes run low;
* the *lanes* (`scheduler.lanes`, a thread pool of ``workers``) send each claim at its slot,
  after checking the claim is still theirs; one channel's posts start in due order, a few
  of them in flight at once (`ConnectorPool.per_channel`, one connector instance each);
* the *writer* (`scheduler.writer`) commits the claims, checks, results and heartbeats,
  several per transaction;
* APScheduler runs the periodic jobs: heartbeats (which renew the leases of waiting claims and
  notice dead daemons), sweeps (missed windows; dead daemons' and expired claims), metric
  rounds.

On SIGTERM or SIGINT the daemon stops claiming, lets calls already sent finish and be recorded,
and hands back claims it had not sent yet: no row stays claimed for nothing.
"""

from __future__ import annotations

import logging
import math
import random
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from scheduler.collection import CollectStats, collect_round
from scheduler.dispatch import Claim, PassStats, RateLookup, claim_in, send_claim
from scheduler.lanes import Lanes, Turn
from scheduler.policy import Settings
from scheduler.pool import ConnectorPool
from scheduler.recovery import mark_missed, next_instants, next_wakeup, reconcile_expired
from scheduler.trouble import Trouble
from scheduler.wakeups import Watcher
from scheduler.workers import NameLock, beat, default_name, register
from scheduler.workers import new_worker_id as new_worker_id
from scheduler.workers import stop as stop_worker
from scheduler.writer import Direct, Writer

if TYPE_CHECKING:
    from scheduler.alerts import AlertService

log = logging.getLogger("elshi.daemon")
Clock = Callable[[], datetime]

IDLE_FLOOR = 1.0
"""After a pass that claimed nothing, the loop sleeps at least this long (unless woken): a row
that is due but not claimable must not turn it into a busy wait."""
CONTENDED_WAIT = 0.1
"""After a pass that claimed nothing because other daemons were claiming the same channels at
that moment, the loop looks again this soon (their claim transactions are short)."""
STEADY_PAUSE = 1.0
"""Lookaheads a loop pass sleeps after claiming some rows and leaving nothing within its horizon
(a steady stream); each pass claims what is due within this plus half a lookahead, so a row is
still claimed at least half a lookahead before its time (`Dispatcher.loop_pass`)."""
LOOK_EVERY = 5.0
"""Lookaheads at most (5 s by default) between two reads of the next claimable instant and the
earliest lease expiry while a steady stream of claims keeps the loop busy (`Dispatcher.loop_pass`;
half a lease at most)."""


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
        self.ready = threading.Event()
        """Set by `run_forever` once its first claim pass is done and it waits for work."""
        self.rng = random.Random(settings.seed)
        self.name: str | None = None
        self._executor = ThreadPoolExecutor(
            max_workers=max(1, settings.workers), thread_name_prefix="publish"
        )
        # One writer thread on both databases. On PostgreSQL two overlapped their round trips
        # but split a burst into smaller batches: 0.20-0.28 commits and 0.75-1.04 statements a
        # post against 0.12-0.15 and 0.50-0.60 with one, and more of the daemon's CPU
        # (bench/dispatch.py; four were worse still).
        self.writer = Writer(sessions)
        self.lanes = Lanes(
            self._executor, self._send, on_done=self._lane_done, per_channel=pool.per_channel
        )
        self._dispatch_lock = threading.Lock()
        self._wake = threading.Event()
        self._starved = False
        self._capped: frozenset[str] = frozenset()
        self._contended = False
        self._look_by: datetime | None = None
        """Until when the loop may go without reading `next_instants` (`loop_pass`)."""
        self._sweep_job: Any = None
        self._scheduler: Any = None
        self._sweep_lock = threading.Lock()
        self._sweeping = False
        self._sweep_again = False
        self._name_lock: NameLock | None = None
        self._watcher: Watcher | None = None
        self._closed = False
        self.trouble = Trouble()
        """Failing jobs pause, longer each time, and say why once (a full disk, a read-only
        database): `scheduler.trouble`."""

    @property
    def engine(self) -> Engine:
        bind: Engine = self.sessions.kw["bind"]
        return bind

    # --- sending ----------------------------------------------------------------------------

    def wait_until(self, moment: datetime) -> bool:
        if not self.real_time:
            return not self.stopping.is_set()
        delay = (moment - self.clock()).total_seconds()
        if delay > 0:
            return not self.stopping.wait(delay)
        return not self.stopping.is_set()

    def _send(self, claim: Claim, turn: Turn) -> Future[PassStats]:
        return send_claim(
            self.sessions,
            self.pool,
            claim,
            self.settings,
            self.clock,
            wait_until=self.wait_until,
            stopping=self.stopping,
            rng=self.rng,
            transactions=self.writer,
            turn=turn,
        )

    def _ahead(self) -> float:
        """Seconds of sending a daemon holds claims for: what it cannot send by then, it leaves
        to the other daemons (and to its own next pass)."""
        return 2 * max(self.settings.claim_lookahead_seconds, 0.5)

    def _target(self) -> int:
        """How many claims this daemon holds at most: what its threads can send within
        `_ahead` (``claim_batch`` until a send was timed), never more than ``claim_batch``."""
        busy = self.lanes.busy_seconds()
        batch, workers = self.settings.claim_batch, max(1, self.settings.workers)
        if busy is None:
            return batch
        return max(min(workers, batch), min(batch, math.ceil(workers * self._ahead() / busy)))

    def _per_channel(self, channel: str) -> int:
        """How many claims of ``channel`` this daemon holds at most: what it can send within
        `_ahead` with the lanes' calls in flight at once on one channel."""
        busy = self.lanes.busy_seconds(channel)
        if busy is None:
            return self.settings.claim_batch
        return max(2, math.ceil(self.lanes.per_channel * self._ahead() / busy))

    def _room_on(self, channel: str) -> int:
        return self._per_channel(channel) - self.lanes.queued(channel)

    def _lane_done(self, channel: str) -> None:
        if not self._starved:
            return
        if self.lanes.outstanding() <= self._target() // 2 or (
            channel in self._capped
            and self.lanes.queued(channel) <= self._per_channel(channel) // 2
        ):
            self._starved = False
            self._wake.set()

    def claim_pass(self, *, lookahead: float | None = None) -> tuple[int, bool]:
        """Claim what is due (up to the room left in the lanes) and queue it for sending:
        (how many were claimed, whether some of what is due was left for lack of room)."""
        target = self._target()
        room = target - self.lanes.outstanding()
        if room < max(1, target // 4):
            self._capped = frozenset()
            self._starved = True
            return 0, True
        now = self.clock()
        claimed = self.writer.run(
            lambda session: claim_in(
                session,
                self.settings,
                now,
                rate_for=self.rate_for,
                lookahead=lookahead,
                limit=room,
                cap_for=self._room_on,
            )
        )
        if claimed.past_window:
            self.sweep_soon()
        full = len(claimed.claims) >= room or bool(claimed.capped)
        self._capped = claimed.capped
        self._contended = claimed.contended
        self._starved = full
        self.lanes.submit(claimed.claims)
        return len(claimed.claims), full

    def dispatch(self, *, lookahead: float | None = None) -> PassStats:
        """Claim and publish until nothing more is due (now, or within ``lookahead``), waiting
        for every claim to be sent and recorded."""
        total = PassStats()
        if lookahead is None:
            lookahead = self.settings.claim_lookahead_seconds if self.real_time else 0.0
        with self._dispatch_lock:
            while not self.stopping.is_set():
                claimed, _ = self.claim_pass(lookahead=lookahead)
                self.lanes.wait_idle()
                total.add(self.lanes.take_stats())
                if not claimed:
                    break
                total.claimed += claimed
        return total

    # --- recovery, metrics, liveness ----------------------------------------------------------

    def maintenance(self) -> PassStats:
        """Missed windows; claims of dead daemons and expired leases (never the claims this
        process still holds in its lanes)."""
        stats = PassStats()
        stats.missed += mark_missed(self.sessions, self.settings, self.clock())
        stats.add(
            reconcile_expired(
                self.sessions, self.pool, self.settings, self.clock, held=self.lanes.held()
            )
        )
        if stats.handed_back or stats.retried:
            self._wake.set()  # claimable again: claim them now
        return stats

    def _sweep(self) -> None:
        """The sweep job: `maintenance`, again at once if asked meanwhile."""
        with self._sweep_lock:
            self._sweeping = True
        try:
            while True:
                with self._sweep_lock:
                    self._sweep_again = False
                self.maintenance()
                with self._sweep_lock:
                    if not self._sweep_again or self.stopping.is_set():
                        self._sweeping = False
                        return
        except BaseException:
            with self._sweep_lock:
                self._sweeping = False
            raise

    def _check_deaths_at(self, moment: datetime) -> None:
        scheduler = self._scheduler
        if scheduler is None or self.stopping.is_set():
            return
        scheduler.add_job(
            self.sweep_soon, "date", run_date=moment, id="deaths", replace_existing=True
        )

    def sweep_soon(self) -> None:
        """Run the sweep now (a dead daemon's claims, a lease that ran out, a missed window)
        rather than at its next interval."""
        with self._sweep_lock:
            if self._sweeping:
                self._sweep_again = True
                return
        if self._sweep_job is not None:
            self._sweep_job.modify(next_run_time=self.clock())

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

    def register(self) -> list[str]:
        """Take this daemon's name and record the run; the earlier runs of that name, which
        are dead (their claims are taken over at the next sweep)."""
        if self._name_lock is None:
            self._name_lock = NameLock(self.engine)
            self.name = self._name_lock.acquire(self.settings.name or default_name())
        now = self.clock()
        earlier = self.writer.run(
            lambda session: register(
                session, self.settings.worker_id, self.name, now, self.settings.heartbeat_seconds
            )
        )
        if earlier:
            log.warning(
                "%s restarted: its previous run %s is dead; taking over its claims",
                self.name,
                ", ".join(earlier),
            )
        return earlier

    def heartbeat(self) -> None:
        if self._name_lock is not None:
            self._name_lock.ensure()
        now = self.clock()
        held = self.lanes.held()
        result = self.writer.run(
            lambda session: beat(
                session,
                self.settings.worker_id,
                now,
                heartbeat_seconds=self.settings.heartbeat_seconds,
                lease_seconds=self.settings.lease_seconds,
                held=held,
                probe_locks=self.name is not None,
            )
        )
        if result.was_declared_dead:
            log.error(
                "this daemon (%s) had been declared dead by another one (heartbeats late); its "
                "claims were taken over",
                self.settings.worker_id,
            )
        if result.dead_claims:
            self.sweep_soon()
        elif result.next_death is not None:
            # Look again the moment that daemon would be dead, not a heartbeat later.
            self._check_deaths_at(result.next_death + timedelta(milliseconds=10))

    def close(self, *, keep_name: bool = False) -> None:
        """Stop the threads and close the connectors (and, unless ``keep_name``, give up the
        daemon's name: see `release_name`)."""
        if not self._closed:
            self._closed = True
            self.stopping.set()
            self._wake.set()
            if self._watcher is not None:
                self._watcher.stop()
            # Every claim still queued is handed back (the daemon is stopping) and its outcome
            # recorded before the threads stop: a lane's next claim goes to a new task.
            self.lanes.wait_idle()
            self._executor.shutdown(wait=True)
            self.writer.close()
            self.pool.close()
            if self.alerts is not None:
                self.alerts.close()
        if not keep_name:
            self.release_name()

    def release_name(self) -> None:
        """Let go of this daemon's name lock, after its stop is recorded: the others take a
        run whose lock is free for dead (`scheduler.workers.beat`)."""
        if self._name_lock is not None:
            self._name_lock.release()

    # --- the daemon -------------------------------------------------------------------------

    def _loop(self) -> None:
        """Claim, then sleep until the next claimable instant (less half the lookahead, so the
        next batch is claimed ahead of its time), a wake-up, or the poll interval."""
        lookahead = self.settings.claim_lookahead_seconds
        while not self.stopping.is_set():
            self._wake.clear()
            try:
                wait = self.loop_pass(lookahead)
                self.trouble.succeeded("dispatch")
            except Exception as exc:
                wait = max(IDLE_FLOOR, self.trouble.failed("dispatch", exc))
            if wait is None:
                continue
            self.ready.set()
            if wait > 0:
                self._wake.wait(wait)

    def loop_pass(self, lookahead: float) -> float | None:
        """One pass of the dispatch loop: claim, then how long to sleep (None: claim again at
        once).

        Each pass claims what is due within `STEADY_PAUSE` lookaheads and a half. A pass that
        claimed some rows and left nothing within that horizon (a steady stream) sleeps
        `STEADY_PAUSE` lookaheads without asking the database for the next claimable instant:
        that instant lies past the horizon, so the next pass still claims the next rows half a
        lookahead before their time, or, claiming none, asks then (`next_instants` cost
        PostgreSQL more than the claim pass itself, twice a second at a steady load; and each
        pass costs its statements whatever it claims, so a pass per lookahead, not two). The
        earliest lease expiry, which that query also reads, is read again at least every
        `LOOK_EVERY` lookaheads (half a lease at most) and once the expiry it last read has
        come."""
        claimed, full = self.claim_pass(lookahead=lookahead * (STEADY_PAUSE + 0.5))
        now = self.clock()
        if full:
            # More may be due: claim again once the lanes have room (they wake us), and look
            # at least twice per lookahead for other channels' work.
            if self.lanes.outstanding() <= self._target() // 2 and not self._capped:
                return None
            return max(lookahead / 2, 0.05)
        if claimed and not self._contended and self._look_by is not None and now < self._look_by:
            return max(lookahead * STEADY_PAUSE, 0.05)
        claim_at, lease_at = next_instants(self.sessions, now)
        look_every = min(LOOK_EVERY * lookahead, self.settings.lease_seconds / 2)
        self._look_by = now + timedelta(seconds=look_every)
        if lease_at is not None and lease_at <= now:
            self.sweep_soon()
        elif lease_at is not None:
            self._look_by = min(self._look_by, lease_at)
        wait = self.settings.poll_seconds
        moments = [
            m
            for m in (
                claim_at - timedelta(seconds=lookahead / 2) if claim_at else None,
                lease_at if lease_at and lease_at > now else None,
            )
            if m is not None
        ]
        if moments:
            wait = min(wait, (min(moments) - now).total_seconds())
        if claimed == 0:
            wait = max(wait, CONTENDED_WAIT if self._contended else IDLE_FLOOR)
        return wait

    def guarded(self, name: str, fn: Callable[[], object]) -> Callable[[], None]:
        """A periodic job that survives its failures: while it fails it is skipped for a
        pause that grows each time, and its error is logged once (`scheduler.trouble`)."""

        def job() -> None:
            if self.stopping.is_set() or not self.trouble.may_run(name):
                return
            try:
                fn()
            except Exception as exc:
                self.trouble.failed(name, exc)
            else:
                self.trouble.succeeded(name)

        return job

    def run_forever(self, *, install_signals: bool = True) -> None:
        """Run until SIGTERM/SIGINT (or `stopping` is set)."""
        import signal

        from apscheduler.schedulers.background import BackgroundScheduler

        scheduler = BackgroundScheduler(
            timezone="UTC",
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self._scheduler = scheduler

        def stop(signum: int, _frame: Any) -> None:
            log.info(
                "received %s: stopping (claims not yet sent are handed back)",
                signal.Signals(signum).name,
            )
            self.stopping.set()
            self._wake.set()

        if install_signals:
            signal.signal(signal.SIGTERM, stop)
            signal.signal(signal.SIGINT, stop)

        self.register()
        if self.alerts is not None:
            self.alerts.start()
        self._sweep_job = scheduler.add_job(
            self.guarded("sweep", self._sweep),
            "interval",
            seconds=self.settings.sweep_every_seconds,
            id="sweep",
            next_run_time=self.clock(),
        )
        scheduler.add_job(
            self.guarded("heartbeat", self.heartbeat),
            "interval",
            seconds=self.settings.heartbeat_seconds,
            id="heartbeat",
        )
        scheduler.add_job(
            self.guarded("collect", self.collect),
            "interval",
            seconds=self.settings.collect_every_seconds,
            id="collect",
            next_run_time=self.clock() + timedelta(seconds=5),
        )
        if self.alerts is not None and self.alerts.has_work:  # the routes are copied all the same
            scheduler.add_job(
                self.guarded("alerts", self.alerts.run_pass),
                "interval",
                seconds=self.alerts.settings.poll_seconds,
                id="alerts",
            )
        scheduler.start()
        self._watcher = Watcher(self.engine, self._wake.set, trouble=self.trouble).start()
        loop = threading.Thread(target=self._loop, name="dispatch", daemon=True)
        loop.start()
        log.info(
            "daemon %s (%s) running (Ctrl-C or SIGTERM to stop)",
            self.name or "unnamed",
            self.settings.worker_id,
        )
        try:
            # No timeout: a signal's handler runs in this thread during the wait and sets the
            # event; a wait that woke every second cost an idle daemon 0.25 CPU s per hour.
            self.stopping.wait()
        finally:
            self._wake.set()
            loop.join()
            scheduler.shutdown(wait=True)
            self.close(keep_name=True)
            try:
                self.record_stop()
            except Exception:
                log.exception("could not record the stop")
            # Only now: a free name lock tells the other daemons this run has ended.
            self.release_name()
            log.info("daemon %s stopped", self.settings.worker_id)

    def record_stop(self) -> None:
        """Record a normal stop (after `close`, in a transaction of its own)."""
        Direct(self.sessions).run(
            lambda session: stop_worker(session, self.settings.worker_id, self.clock())
        )
