"""Alerts and report e-mails, sent reliably: what the daemon does with the alert outbox.

1. `AlertService.sync_routes` keeps the ``notifier`` table in step with the configuration, so the
   transaction that records an event (``campaigns.events``) queues it for each notifier.
2. `detect` records the conditions found by looking (`scheduler.health`: no daemon heartbeat,
   collection failing for a day, approval missing close to a post's time, a token about to
   expire), each once, by its key.
3. `send_alerts` claims a notifier's queued alerts with a lease, in a committed transaction
   (``FOR UPDATE SKIP LOCKED`` / ``BEGIN IMMEDIATE``, like a delivery), once the oldest has
   waited the notifier's digest window, so a burst becomes one message. The claim fixes the
   message's key before anything is sent; the notifier is called; the outcome is committed at
   once. A failure keeps them queued with backoff (nothing is dropped); a crash leaves a lease
   that expires, and the next sender sends the SAME message (same rows, same key) again, so the
   receiver sees the same Message-ID or Idempotency-Key.
4. `send_reports` claims one row per (report, scheduled instant): the unique row is what makes a
   scheduled report go out once with several daemons. ``elshi report send NAME`` sends one now.

The content of report e-mails comes from the caller (``elshi`` builds it with ``reports``);
nothing here reads elshi.toml.
"""

from __future__ import annotations

import html
import logging
import random
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from campaigns.events import EVENT_KINDS, raise_event
from campaigns.schema import AlertEvent, AlertOutbox, Notifier, OutboxState, ReportRun
from campaigns.store import immediate
from notify.base import Message, NotifyError, TransientNotifyError
from notify.base import Notifier as Sender
from scheduler import health

log = logging.getLogger("elshi.alerts")

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Route:
    """Who wants what: the routing part of a ``[notify.NAME]`` table."""

    name: str
    kind: str
    events: tuple[str, ...] = ()
    campaigns: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    digest_seconds: float = 60.0
    lease_seconds: float = 120.0
    """How long a claimed message is this sender's: longer than the notifier may take to
    answer, so a slow send is never taken over (and sent twice) by another daemon."""


@dataclass(frozen=True)
class ReportSchedule:
    """A ``[reports.NAME]`` table: when (a cron expression in a time zone) and through which
    e-mail notifier."""

    name: str
    cron: str
    timezone: str
    via: str


@dataclass(frozen=True)
class AlertSettings:
    worker_id: str
    thresholds: health.Thresholds = field(default_factory=health.Thresholds)
    base_url: str | None = None
    """The web workspace (``[web] base_url``): alerts link to its pages when set."""
    poll_seconds: float = 10.0
    backoff_seconds: float = 30.0
    backoff_max_seconds: float = 900.0
    batch_limit: int = 500
    """Alerts in one message at most (a longer burst becomes several digests)."""
    report_catch_up_seconds: float = 12 * 3600.0
    """A scheduled report time missed (no daemon ran) by more than this is skipped."""
    detect_silence: bool = True
    """Look for "no daemon heartbeat"; False inside a daemon, which is alive by definition."""


REPORT_LEASE_SECONDS = 600.0
"""Building a report and sending it with attachments takes longer than an alert."""

ReportBuilder = Callable[[str, datetime, str], Message]
"""(report name, the instant it is for, message key) → the e-mail."""
SenderFactory = Callable[[str], Sender]


@dataclass
class AlertStats:
    events: int = 0
    messages: int = 0
    alerts_sent: int = 0
    failures: int = 0
    reports: int = 0
    dropped: int = 0


@dataclass(frozen=True)
class _Batch:
    notifier: str
    key: str
    attempts: int
    events: tuple[dict[str, Any], ...]


class AlertService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: AlertSettings,
        clock: Clock,
        *,
        routes: Sequence[Route] = (),
        senders: SenderFactory | None = None,
        reports: Sequence[ReportSchedule] = (),
        build_report: ReportBuilder | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.clock = clock
        self.routes = {r.name: r for r in routes}
        self.reports = {r.name: r for r in reports}
        self._make_sender = senders
        self._senders: dict[str, Sender] = {}
        self._build_report = build_report
        self.rng = rng or random.Random()
        self._synced = False
        self._built: dict[str, Message] = {}
        self._recorded: set[str | None] = set()
        """Keys of conditions known to be recorded already (not looked up again)."""

    # --- one pass ---------------------------------------------------------------------------

    def start(self) -> None:
        """Copy the routing into the database (once per process): call before anything that
        may record an event, so the event is queued for this configuration's notifiers."""
        if not self._synced:
            self.sync_routes()
            self._synced = True

    @property
    def has_work(self) -> bool:
        """Whether a pass can do anything: a notifier to alert or a report to send. Without
        either, `run_pass` returns at once (`elshi status --check` looks for itself), and the
        daemon does not schedule it: a pass every 10 s woke two of an idle daemon's threads
        for nothing, a quarter of its CPU (bench/idle.py)."""
        return bool(self.routes or self.reports)

    def run_pass(self) -> AlertStats:
        self.start()
        stats = AlertStats()
        if not self.has_work:
            return stats
        stats.events += self.detect()
        self.send_alerts(stats)
        self.send_reports(stats)
        return stats

    def sync_routes(self) -> None:
        """Make the ``notifier`` table say what this configuration says."""
        now = self.clock()
        with immediate(self.sessions) as session:
            rows = {n.name: n for n in session.scalars(select(Notifier).with_for_update())}
            for route in self.routes.values():
                row = rows.get(route.name)
                values = {
                    "kind": route.kind,
                    "events": list(route.events),
                    "campaigns": list(route.campaigns),
                    "countries": list(route.countries),
                    "digest_seconds": route.digest_seconds,
                    "active": True,
                }
                if row is None:
                    session.add(Notifier(name=route.name, updated_at=now, **values))
                elif any(getattr(row, k) != v for k, v in values.items()):
                    for k, v in values.items():
                        setattr(row, k, v)
                    row.updated_at = now
            for name, row in rows.items():
                if name not in self.routes and row.active:
                    row.active = False
                    row.updated_at = now
            session.commit()

    def detect(self) -> int:
        """Record the conditions found by looking, each once. Looking is a read; the write
        lock is taken only when something new was found."""
        now = self.clock()
        t = self.settings.thresholds
        with self.sessions() as session:
            found = [
                *(
                    health.daemon_silent(session, now, t.heartbeat_timeout)
                    if self.settings.detect_silence
                    else []
                ),
                *health.token_expiring(session, now, t.token_warning),
                *health.approval_overdue(session, now, t.approval_lead, skip=self._recorded),
                *health.collection_failing(session, now, t.collection_grace),
            ]
            keys = [p.key for p in found if p.key and p.key not in self._recorded]
            if keys:
                self._recorded |= set(
                    session.scalars(select(AlertEvent.key).where(AlertEvent.key.in_(keys)))
                )
        new = [p for p in found if p.key is None or p.key not in self._recorded]
        if not new:
            return 0
        count = 0
        with immediate(self.sessions) as session:
            for problem in new:
                event = raise_event(
                    session,
                    problem.kind,
                    at=now,
                    title=problem.message,
                    action=problem.action,
                    key=problem.key,
                    campaign=problem.campaign,
                    countries=problem.countries,
                    channel=problem.channel,
                    post_id=problem.post_id,
                    delivery_id=problem.delivery_id,
                    detail=problem.detail,
                )
                if event is not None:
                    count += 1
                    log.warning("alert: %s", problem.message)
            session.commit()
        self._recorded |= {p.key for p in new if p.key}
        return count

    # --- alerts -----------------------------------------------------------------------------

    def send_alerts(self, stats: AlertStats | None = None) -> AlertStats:
        stats = stats or AlertStats()
        stats.dropped += self._drop_orphans()
        for name in self.routes:
            for _ in range(100):
                batch = self._claim(name)
                if batch is None:
                    break
                message = compose(batch.key, batch.events, base_url=self.settings.base_url)
                error = self._send(name, message)
                self._record(batch, error)
                if error is None:
                    stats.messages += 1
                    stats.alerts_sent += len(batch.events)
                else:
                    stats.failures += 1
                    break
        return stats

    def _drop_orphans(self) -> int:
        """Queued alerts of notifiers no longer in the configuration are dropped, saying so."""
        inactive = select(Notifier.name).where(Notifier.active.is_(False))
        with self.sessions() as session:
            orphan = session.scalar(
                select(AlertOutbox.id)
                .where(
                    AlertOutbox.state == OutboxState.pending.value,
                    AlertOutbox.notifier.in_(inactive),
                )
                .limit(1)
            )
        if orphan is None:
            return 0
        with immediate(self.sessions) as session:
            result = session.execute(
                update(AlertOutbox)
                .where(
                    AlertOutbox.state == OutboxState.pending.value,
                    AlertOutbox.notifier.in_(inactive),
                )
                .values(
                    state=OutboxState.dropped.value,
                    last_error="dropped: the notifier is no longer in the configuration",
                )
            )
            session.commit()
        count = int(getattr(result, "rowcount", 0) or 0)
        if count:
            log.warning("%d queued alerts dropped: their notifier left the configuration", count)
        return count

    def _claim(self, name: str) -> _Batch | None:
        now = self.clock()
        route = self.routes[name]
        s = self.settings
        free = (
            AlertOutbox.notifier == name,
            AlertOutbox.state == OutboxState.pending.value,
            or_(AlertOutbox.lease_expires_at.is_(None), AlertOutbox.lease_expires_at <= now),
            or_(AlertOutbox.next_attempt_at.is_(None), AlertOutbox.next_attempt_at <= now),
        )
        with self.sessions() as session:  # a read first: no write lock when nothing waits
            if session.scalar(select(AlertOutbox.id).where(*free).limit(1)) is None:
                return None
        with immediate(self.sessions) as session:
            # A message already begun (its sender crashed or failed) goes again as it was.
            key = session.scalar(
                select(AlertOutbox.message_key)
                .where(*free, AlertOutbox.message_key.is_not(None))
                .order_by(AlertOutbox.id)
                .limit(1)
            )
            query = select(AlertOutbox).where(*free).order_by(AlertOutbox.id)
            if key is not None:
                query = query.where(AlertOutbox.message_key == key)
            else:
                query = query.where(AlertOutbox.message_key.is_(None)).limit(s.batch_limit)
            rows = list(session.scalars(query.with_for_update(skip_locked=True)))
            if not rows:
                session.rollback()
                return None
            if key is None:
                oldest = min(r.created_at for r in rows)
                if now < oldest + timedelta(seconds=route.digest_seconds):
                    session.rollback()
                    return None
                key = f"elshi-{uuid.uuid4().hex}"
            for row in rows:
                row.message_key = key
                row.lease_owner = s.worker_id
                row.lease_expires_at = now + timedelta(seconds=route.lease_seconds)
                row.attempts += 1
            events = {
                e.id: e
                for e in session.scalars(
                    select(AlertEvent).where(AlertEvent.id.in_([r.event_id for r in rows]))
                )
            }
            batch = _Batch(
                notifier=name,
                key=key,
                attempts=max(r.attempts for r in rows),
                events=tuple(_event_dict(events[r.event_id]) for r in rows),
            )
            session.commit()
        return batch

    def _send(self, name: str, message: Message) -> NotifyError | None:
        try:
            self.sender(name).send(message)
        except NotifyError as exc:
            return exc
        except Exception as exc:
            log.exception("notifier %s failed unexpectedly", name)
            return TransientNotifyError(f"notifier {name!r}: unexpected {type(exc).__name__}")
        return None

    def _record(self, batch: _Batch, error: NotifyError | None) -> None:
        now = self.clock()
        with immediate(self.sessions) as session:
            rows = list(
                session.scalars(
                    select(AlertOutbox)
                    .where(
                        AlertOutbox.message_key == batch.key,
                        AlertOutbox.state == OutboxState.pending.value,
                    )
                    .with_for_update()
                )
            )
            for row in rows:
                if error is None:
                    # Sent: whoever holds the lease now, the message went out.
                    row.state = OutboxState.sent.value
                    row.sent_at = now
                    row.last_error = None
                elif row.lease_owner == self.settings.worker_id:
                    row.next_attempt_at = now + timedelta(
                        seconds=self._backoff(row.attempts, error)
                    )
                    row.last_error = f"{error.kind}: {error.message}"
                else:
                    continue
                row.lease_owner = None
                row.lease_expires_at = None
            session.commit()
        if error is None:
            log.info(
                "alert message %s to %s sent (%d alert%s)",
                batch.key,
                batch.notifier,
                len(batch.events),
                "" if len(batch.events) == 1 else "s",
            )
        else:
            log.warning(
                "alert message %s to %s not sent (try %d): %s; will retry",
                batch.key,
                batch.notifier,
                batch.attempts,
                error.message,
            )

    def _backoff(self, attempts: int, error: NotifyError) -> float:
        s = self.settings
        base = (
            s.backoff_seconds if isinstance(error, TransientNotifyError) else s.backoff_seconds * 4
        )
        cap = min(s.backoff_max_seconds, base * 2.0 ** max(attempts - 1, 0))
        delay: float = cap / 2 + self.rng.uniform(0, cap / 2)
        if error.retry_after:
            delay = max(delay, float(error.retry_after))
        return delay

    def sender(self, name: str) -> Sender:
        if name not in self._senders:
            if self._make_sender is None:
                raise TransientNotifyError(f"notifier {name!r}: not available in this process")
            self._senders[name] = self._make_sender(name)
        return self._senders[name]

    def close(self) -> None:
        for sender in self._senders.values():
            try:
                sender.close()
            except Exception:
                log.exception("closing notifier %s", sender.name)
        self._senders.clear()

    # --- report e-mails ---------------------------------------------------------------------

    def send_reports(self, stats: AlertStats | None = None) -> AlertStats:
        stats = stats or AlertStats()
        now = self.clock()
        for schedule in self.reports.values():
            due = last_scheduled(schedule, now)
            if (
                due is not None
                and (now - due).total_seconds() <= self.settings.report_catch_up_seconds
            ):
                self._ensure_run(schedule.name, due, now)
        for _ in range(len(self.reports) * 2):
            if not self._send_one_report(stats):
                break
        return stats

    def send_report_now(self, name: str) -> str:
        """``elshi report send NAME``: a run for this instant, sent at once; its key."""
        now = self.clock()
        run_id = self._ensure_run(name, now, now)
        stats = AlertStats()
        if not self._send_one_report(stats, run_id=run_id):
            raise NotifyError(f"report {name!r}: could not be claimed (another sender has it)")
        with self.sessions() as session:
            run = session.get(ReportRun, run_id)
            assert run is not None
            if run.state != OutboxState.sent.value:
                raise NotifyError(run.last_error or f"report {name!r} was not sent")
            return run.message_key or ""

    def _ensure_run(self, name: str, due: datetime, now: datetime) -> int:
        with self.sessions() as session:
            known = session.scalar(
                select(ReportRun.id).where(ReportRun.report == name, ReportRun.scheduled_for == due)
            )
        if known is not None:
            return known
        with immediate(self.sessions) as session:
            existing = session.scalar(
                select(ReportRun.id).where(ReportRun.report == name, ReportRun.scheduled_for == due)
            )
            if existing is not None:
                session.rollback()
                return existing
            run = ReportRun(
                report=name,
                scheduled_for=due,
                state=OutboxState.pending.value,
                created_at=now,
                attempts=0,
            )
            session.add(run)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                found = session.scalar(
                    select(ReportRun.id).where(
                        ReportRun.report == name, ReportRun.scheduled_for == due
                    )
                )
                assert found is not None
                return found
            return run.id

    def _send_one_report(self, stats: AlertStats, *, run_id: int | None = None) -> bool:
        now = self.clock()
        s = self.settings
        query = select(ReportRun).where(
            ReportRun.state == OutboxState.pending.value,
            ReportRun.report.in_(list(self.reports)),
            or_(ReportRun.lease_expires_at.is_(None), ReportRun.lease_expires_at <= now),
            or_(ReportRun.next_attempt_at.is_(None), ReportRun.next_attempt_at <= now),
        )
        if run_id is not None:
            query = query.where(ReportRun.id == run_id)
        with self.sessions() as session:
            if session.scalar(query.with_only_columns(ReportRun.id).limit(1)) is None:
                return False
        with immediate(self.sessions) as session:
            run = session.scalar(
                query.order_by(ReportRun.scheduled_for).limit(1).with_for_update(skip_locked=True)
            )
            if run is None:
                session.rollback()
                return False
            run.lease_owner = s.worker_id
            run.lease_expires_at = now + timedelta(seconds=REPORT_LEASE_SECONDS)
            run.attempts += 1
            run.message_key = run.message_key or f"elshi-report-{uuid.uuid4().hex}"
            claimed = (run.id, run.report, run.scheduled_for, run.message_key, run.attempts)
            session.commit()
        run_id, name, due, key, attempts = claimed
        error: NotifyError | None
        try:
            if self._build_report is None:
                raise NotifyError("report e-mails are not available in this process")
            # Built once per run: a retry after a mail server outage sends the same e-mail.
            message = self._built.get(key) or self._build_report(name, due, key)
            self._built = {key: message}
        except NotifyError as exc:
            error = exc
        except Exception as exc:
            log.exception("report %s: building the e-mail failed", name)
            error = NotifyError(f"report {name!r}: building it failed: {type(exc).__name__}: {exc}")
        else:
            error = self._send(self.reports[name].via, message)
        with immediate(self.sessions) as session:
            run = session.get(ReportRun, run_id, with_for_update=True)
            assert run is not None
            if error is None:
                run.state = OutboxState.sent.value
                run.sent_at = self.clock()
                run.last_error = None
            elif run.lease_owner == s.worker_id:
                run.next_attempt_at = self.clock() + timedelta(
                    seconds=self._backoff(attempts, error)
                )
                run.last_error = f"{error.kind}: {error.message}"
            run.lease_owner = None
            run.lease_expires_at = None
            session.commit()
        if error is None:
            stats.reports += 1
            log.info("report e-mail %s for %s sent (%s)", name, due.isoformat(), key)
        else:
            stats.failures += 1
            log.warning("report e-mail %s not sent (try %d): %s", name, attempts, error.message)
        return True


def last_scheduled(schedule: ReportSchedule, now: datetime) -> datetime | None:
    """The latest instant at or before ``now`` that the schedule names (UTC)."""
    from croniter import croniter

    zone = ZoneInfo(schedule.timezone)
    local_now = now.astimezone(zone)
    previous = croniter(schedule.cron, local_now + timedelta(seconds=1)).get_prev(datetime)
    return previous.astimezone(ZoneInfo("UTC")) if isinstance(previous, datetime) else None


# --- composing alert messages ---------------------------------------------------------------


def _event_dict(event: AlertEvent) -> dict[str, Any]:
    detail = event.detail or {}
    return {
        "id": event.id,
        "kind": event.kind,
        "label": EVENT_KINDS[event.kind].label if event.kind in EVENT_KINDS else event.kind,
        "at": event.at.isoformat(),
        "title": event.title,
        "action": event.action,
        "campaign": event.campaign_id,
        "campaigns": detail.get("campaigns", []),
        "channel": event.channel,
        "post_id": event.post_id,
        "post": detail.get("post"),
        "delivery_id": event.delivery_id,
    }


def link_for(item: Mapping[str, Any], base_url: str | None) -> str | None:
    """The web workspace page about an alert: the post's page, else the operations page."""
    if not base_url:
        return None
    base = base_url.rstrip("/")
    if item.get("post_id") is not None:
        return f"{base}/posts/{item['post_id']}"
    return f"{base}/operations"


def compose(key: str, events: Sequence[Mapping[str, Any]], *, base_url: str | None) -> Message:
    """One message carrying ``events``: a single alert, or a digest listing them all."""
    items = [{**e, "link": link_for(e, base_url)} for e in events]
    kinds = Counter(i["label"] for i in items)
    if len(items) == 1:
        one = items[0]
        where = " — ".join(x for x in (one.get("channel"), one.get("campaign")) if x)
        subject = f"[Elshi] {one['label']}" + (f": {where}" if where else "")
    else:
        summary = ", ".join(f"{n} × {label}" for label, n in kinds.most_common())
        subject = f"[Elshi] {len(items)} alerts: {summary}"
    lines: list[str] = []
    if len(items) > 1:
        lines += [
            f"{len(items)} alerts ({', '.join(f'{n} {k}' for k, n in kinds.most_common())}):",
            "",
        ]
    for number, item in enumerate(items, start=1):
        prefix = f"{number}. " if len(items) > 1 else ""
        lines.append(f"{prefix}{item['label']} ({item['at'][:16].replace('T', ' ')} UTC)")
        lines.append(f"   What happened: {item['title']}")
        lines.append(f"   What to do: {item['action']}")
        if item["link"]:
            lines.append(f"   Open: {item['link']}")
        lines.append("")
    lines.append("— Elshi (you get this because a [notify] table in elshi.toml names you)")
    text = "\n".join(lines)
    parts = []
    for item in items:
        link = (
            f'<p><a href="{html.escape(item["link"])}">Open in Elshi</a></p>'
            if item["link"]
            else ""
        )
        parts.append(
            f"<h3>{html.escape(item['label'])}</h3>"
            f"<p><b>What happened:</b> {html.escape(item['title'])}</p>"
            f"<p><b>What to do:</b> {html.escape(item['action'])}</p>{link}"
        )
    body = "<hr>".join(parts)
    page = (
        '<!doctype html><html><body style="font-family:sans-serif">'
        f"<p>{html.escape(subject.removeprefix('[Elshi] '))}</p>{body}</body></html>"
    )
    payload = {"type": "alerts", "count": len(items), "alerts": items}
    return Message(key=key, subject=subject, text=text, html=page, payload=payload)
