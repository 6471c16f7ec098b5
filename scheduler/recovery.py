"""What the daemon does about rows nobody is finishing: deliveries whose time passed while
nothing ran (``missed``, with the reason), and claims nobody will finish: their daemon died
(its heartbeats stopped, or it restarted under the same name) or their lease expired (the
platform's answer was ambiguous). A claim that was never sent is handed back at once. One that
may have been sent is never sent again blindly: the connector is asked whether the post exists
(idempotency key, record key, or the account's own recent posts). Found → ``published``;
certainly absent → ``scheduled`` for a normal retry; the platform cannot tell →
``needs_review`` for a person (`elshi deliveries resolve`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from campaigns.gate import is_approved
from campaigns.pauses import covering
from campaigns.schema import Campaign, Channel, Delivery, Post, Worker
from campaigns.schema import DeliveryState as S
from campaigns.states import transition
from campaigns.store import immediate
from connectors.base import AmbiguousError, AuthError, ConnectorError, Published
from scheduler.dispatch import (
    PassStats,
    _locked,
    _pause,
    _release,
    holds,
    outgoing,
    record_publication,
)
from scheduler.policy import Settings, missed_window
from scheduler.pool import ConnectorPool, UnknownChannelError
from scheduler.workers import STOPPED, dead_run, declare_dead

log = logging.getLogger("elshi.scheduler")


def mark_missed(sessions: sessionmaker[Session], settings: Settings, now: datetime) -> int:
    """Waiting deliveries past their window become ``missed`` with the reason: a first attempt
    may be late by the campaign's grace; a retry by up to ``max_delay``; a draft never
    approved in time is missed too."""
    actor = f"daemon:{settings.worker_id}"
    count = 0
    with immediate(sessions) as session:
        candidates = session.execute(
            select(Delivery, Campaign.grace_minutes)
            .join(Post, Delivery.post_id == Post.id)
            .join(Campaign, Post.campaign_id == Campaign.id)
            .where(
                Delivery.state.in_([S.draft.value, S.approved.value, S.scheduled.value]),
                Delivery.due_at < now,
                ~covering(),  # held by a kill-switch pause: the operator decides at resume
            )
            .with_for_update(of=Delivery, skip_locked=True)
        ).all()
        for delivery, grace_minutes in candidates:
            start, window = missed_window(
                delivery.due_at,
                attempts=delivery.attempts,
                next_attempt_at=delivery.next_attempt_at,
                grace_minutes=grace_minutes,
                settings=settings,
            )
            if now <= start + window:
                continue
            reason = _missed_reason(session, delivery, now, window)
            transition(session, delivery, S.missed, actor=actor, at=now, reason=reason)
            delivery.next_attempt_at = None
            if not is_approved(delivery.post):
                delivery.last_error = reason
            count += 1
        session.commit()
    if count:
        log.warning("%d deliveries missed their window (see elshi status)", count)
    return count


def _missed_reason(session: Session, delivery: Delivery, now: datetime, window: timedelta) -> str:
    due = delivery.due_at.isoformat(timespec="minutes")
    late = f"due {due}, now {now.isoformat(timespec='minutes')}, allowed {_human(window)} late"
    post = delivery.post
    if delivery.state == S.draft or not is_approved(post):
        from campaigns.approval import missed_reason

        return f"{missed_reason(session, post)} ({late})"
    channel = delivery.channel
    if channel.paused:
        return f"channel {channel.name} paused: {channel.paused_reason} ({late})"
    if post.reply_to_post_id is not None:
        parent_state = session.scalar(
            select(Delivery.state).where(
                Delivery.post_id == post.reply_to_post_id,
                Delivery.channel_id == delivery.channel_id,
                Delivery.occurrence == delivery.occurrence,
            )
        )
        if parent_state != S.published:
            return f"the post it replies to is {parent_state} ({late})"
    if delivery.attempts:
        return f"still failing after {delivery.attempts} attempts: {delivery.last_error} ({late})"
    return f"nothing ran in time to publish it ({late})"


def _human(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes / 60
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.0f} days"


@dataclass
class TakeOver:
    handed_back: int = 0
    to_reconcile: list[int] = field(default_factory=list)


def take_over(
    sessions: sessionmaker[Session],
    settings: Settings,
    now: datetime,
    *,
    limit: int = 100,
    held: frozenset[int] = frozenset(),
) -> TakeOver:
    """Take over claims nobody is finishing: their lease ran out, or their daemon is dead
    (no heartbeat for three intervals, stopped, or restarted under the same name; see
    scheduler/workers.py). A claim that was never sent (its daemon registered its liveness,
    so it marks each send) is handed back at once. One that may have been sent is re-leased to
    this worker for reconciliation (`to_reconcile`), but not before ``reconcile_after`` from
    the start of its send. Rows of a paused channel are not reconciled: a paused channel sends
    nothing, not even a question, and its claims wait unharmed until `elshi channels resume`,
    when they are reconciled once. ``held``: this worker's claims still in its lanes."""
    out = TakeOver()
    actor = f"daemon:{settings.worker_id}"
    wait = timedelta(seconds=settings.reconcile_after_seconds)
    with immediate(sessions) as session:
        rows = session.execute(
            select(Delivery, Worker, Channel.paused)
            .join(Channel, Delivery.channel_id == Channel.id)
            .outerjoin(Worker, Worker.id == Delivery.lease_owner)
            .where(
                Delivery.state == S.publishing.value,
                or_(
                    Delivery.lease_expires_at.is_(None),
                    Delivery.lease_expires_at <= now,
                    dead_run(now),
                ),
                # A paused channel's claims that may have been sent wait for its resume.
                or_(Channel.paused.is_(False), Delivery.sending_at.is_(None)),
            )
            .order_by(Delivery.lease_expires_at)
            .limit(limit)
            .with_for_update(of=Delivery, skip_locked=True)
        ).all()
        dead: dict[str, Worker] = {}
        for delivery, worker, paused in rows:
            owner = delivery.lease_owner
            if owner == settings.worker_id and delivery.id in held:
                continue
            gone = worker is not None and (
                worker.stopped_at is not None
                or (worker.alive_until is not None and worker.alive_until < now)
            )
            if gone:
                dead[worker.id] = worker
            expired = delivery.lease_expires_at is None or delivery.lease_expires_at <= now
            stopped = gone and worker.stop_reason == STOPPED
            why = (
                f"the lease of {owner} expired"
                if not gone
                else f"daemon {owner} stopped"
                if stopped
                else f"daemon {owner} died (no heartbeat since {worker.heartbeat_at:%H:%M:%S})"
            )
            marks_sends = worker is not None and worker.alive_until is not None
            if delivery.sending_at is None and marks_sends:
                _release(delivery)
                delivery.attempts -= 1
                transition(
                    session,
                    delivery,
                    S.approved if delivery.attempts == 0 else S.scheduled,
                    actor=actor,
                    at=now,
                    reason=f"handed back: {why} before sending it",
                )
                out.handed_back += 1
                continue
            if paused:
                continue
            started = delivery.sending_at
            if not expired and started is not None and started + wait > now:
                # The dead daemon's last call: ask once the platform had time to show it.
                delivery.lease_expires_at = started + wait
                continue
            log.warning("delivery %s: %s; reconciling", delivery.id, why)
            delivery.lease_owner = settings.worker_id
            delivery.lease_expires_at = now + timedelta(seconds=settings.lease_seconds)
            delivery.reconcile_attempts += 1
            out.to_reconcile.append(delivery.id)
        for worker in dead.values():
            declare_dead(session, worker, now)
        session.commit()
    return out


def reconcile_expired(
    sessions: sessionmaker[Session],
    pool: ConnectorPool,
    settings: Settings,
    clock: Callable[[], datetime],
    *,
    held: frozenset[int] = frozenset(),
) -> PassStats:
    stats = PassStats()
    taken = take_over(sessions, settings, clock(), held=held)
    stats.handed_back += taken.handed_back
    for delivery_id in taken.to_reconcile:
        _reconcile_one(sessions, pool, settings, clock, delivery_id, stats)
    return stats


def _reconcile_one(
    sessions: sessionmaker[Session],
    pool: ConnectorPool,
    settings: Settings,
    clock: Callable[[], datetime],
    delivery_id: int,
    stats: PassStats,
) -> None:
    actor = f"daemon:{settings.worker_id}"
    with sessions() as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None
        channel = delivery.channel.name
        post = outgoing(session, delivery, delivery.post, media_cache=settings.media_cache)
        # Any attempt may have put the post there, not only the latest claim: a send that was
        # stored behind a 5xx can be followed by a rate-limit wait and a send refused as a
        # duplicate long after. No attempt goes out before the delivery's time (not_before).
        since = (post.not_before or delivery.due_at) - timedelta(minutes=10)
        tries = delivery.reconcile_attempts
        attempt = delivery.attempts
    result: Published | ConnectorError | None
    try:
        with pool.lease(channel) as connector:
            result = connector.reconcile(post, since=since)
    except UnknownChannelError as exc:
        result = AuthError(str(exc), channel=channel)
    except ConnectorError as exc:
        result = exc
    except Exception as exc:
        log.exception("delivery %s: reconcile failed unexpectedly", delivery_id)
        result = AmbiguousError(f"reconcile failed: {type(exc).__name__}: {exc}")
    now = clock()
    with immediate(sessions) as session:
        delivery = _locked(session, delivery_id)
        assert delivery is not None
        if isinstance(result, Published):
            if record_publication(
                session,
                delivery,
                result,
                settings,
                now,
                actor=actor,
                reason="reconciled: the platform has it",
            ):
                stats.reconciled += 1
            session.commit()
            return
        if not holds(delivery, settings, attempt, tries):
            log.info(
                "delivery %s: reconcile answer came after the row moved on; ignored", delivery_id
            )
            session.rollback()
            return
        if isinstance(result, AuthError):
            # The channel's credentials are refused: pause it and let the claim wait, its
            # lease expired, without spending a try; resuming the channel reconciles it once.
            _pause(session, delivery.channel, f"{result.kind}: {result.message}", now, actor)
            delivery.reconcile_attempts -= 1
            delivery.lease_expires_at = now
            delivery.last_error = f"reconcile: {result.kind}: {result.message}"
            stats.handed_back += 1
        elif result is None and delivery.error_kind == "duplicate":
            # The platform refused the post as a copy, yet it is not among the account's
            # posts: sending again would be refused again. A person looks at the channel.
            _release(delivery)
            transition(
                session,
                delivery,
                S.needs_review,
                actor=actor,
                at=now,
                reason="the platform refused it as a duplicate, but no such post was found; "
                "check the channel, then: elshi deliveries resolve "
                f"{delivery.id} --published URL | --not-published",
            )
            stats.needs_review += 1
        elif result is None:
            _release(delivery)
            delivery.next_attempt_at = now
            transition(
                session,
                delivery,
                S.scheduled,
                actor=actor,
                at=now,
                reason="reconciled: the platform does not have it; will send again",
            )
            stats.retried += 1
        elif isinstance(result, AmbiguousError) or tries >= settings.max_reconcile_attempts:
            _release(delivery)
            transition(
                session,
                delivery,
                S.needs_review,
                actor=actor,
                at=now,
                reason=f"cannot tell whether it was published: {result.message}; "
                "check the channel, then: elshi deliveries resolve "
                f"{delivery.id} --published URL | --not-published",
            )
            delivery.last_error = result.message
            stats.needs_review += 1
        else:
            # Transient trouble while asking: keep the claim, ask again after the lease.
            delivery.last_error = f"reconcile: {result.kind}: {result.message}"
            log.warning("delivery %s: could not reconcile yet (%s)", delivery_id, result.message)
        session.commit()


def next_wakeup(sessions: sessionmaker[Session], now: datetime) -> datetime | None:
    """The earliest instant the dispatcher may have work: `next_instants`, whichever is first."""
    found = [t for t in next_instants(sessions, now) if t is not None]
    return min(found) if found else None


@functools.cache
def _next_instants_queries() -> tuple[Any, Any]:
    """`next_instants`' two statements, built once (they take no parameter; building them
    cost more CPU than running them, at every idle wake-up of the daemon)."""
    from sqlalchemy import func

    from campaigns.gate import claim_condition
    from scheduler.dispatch import due_instant, thread_ready

    def first_due(state: S) -> Any:
        # One equality on state per subquery, so the (channel, state, instant) index gives the
        # rows in order and the scan stops at the first claimable one.
        return (
            select(due_instant())
            .select_from(Delivery)
            .join(Post, Delivery.post_id == Post.id)
            .where(
                Delivery.channel_id == Channel.id,
                Delivery.state == state.value,
                thread_ready(),
                claim_condition(),
            )
            .order_by(due_instant())
            .limit(1)
            .scalar_subquery()
        )

    channels = select(
        first_due(S.approved),
        first_due(S.scheduled),
        Channel.next_slot_at,
        Channel.blocked_until,
    ).where(Channel.paused.is_(False))
    lease = (
        select(func.min(Delivery.lease_expires_at))
        .join(Channel, Delivery.channel_id == Channel.id)
        .where(Delivery.state == S.publishing.value, Channel.paused.is_(False))
    )
    return channels, lease


def next_instants(
    sessions: sessionmaker[Session], now: datetime
) -> tuple[datetime | None, datetime | None]:
    """When something may next be claimed: for each active channel, the later of its first
    claimable delivery (thread order respected), its next send slot and the end of a rate-limit
    block; and when the earliest lease expires (recovery's work). Rows that cannot be claimed
    yet do not count, so a blocked channel never makes the daemon spin."""
    channels_query, lease_query = _next_instants_queries()
    with sessions() as session:
        channels = session.execute(channels_query).all()
        lease = session.scalar(lease_query)
    found = []
    for approved, scheduled, slot, blocked in channels:
        firsts = [t for t in (approved, scheduled) if t is not None]
        if firsts:
            found.append(max(t for t in (min(firsts), slot, blocked) if t is not None))
    return (min(found) if found else None), lease
