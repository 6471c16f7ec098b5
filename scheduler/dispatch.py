"""Claiming due deliveries and publishing them: the exactly-once core.

1. `claim_due` moves due rows to ``publishing`` in one committed transaction (PostgreSQL:
   channel and delivery rows locked with ``FOR UPDATE SKIP LOCKED``; SQLite: ``BEGIN
   IMMEDIATE``), with this worker's id, an attempt number, a lease, and a send slot that respects
   the channel's rate. A reply is claimed only after the post it answers is published on that
   channel.
2. `publish_claim` waits for the slot, checks in a short transaction (`begin_send`) that the
   claim is still its own and that nothing paused it meanwhile (the kill switch), calls the
   connector once, and commits the outcome at once (`record_result`): published; scheduled again with backoff (transient, rate-limited);
   failed (rejected, or out of attempts); channel paused (auth); or left ``publishing`` with a
   short lease for recovery to reconcile (ambiguous, or any unexpected error: we cannot know
   whether the post went out, so we must not send it again blindly).
"""

from __future__ import annotations

import functools
import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session, aliased, selectinload, sessionmaker

from campaigns.gate import claim_condition, hold, refusal
from campaigns.links import UnsafeUrl, is_web_url
from campaigns.media import MediaMissing, is_reference, materialize
from campaigns.schema import DUE_STATES, Channel, Delivery, Post
from campaigns.schema import DeliveryState as S
from campaigns.states import transition
from campaigns.store import immediate
from connectors.base import (
    AmbiguousError,
    Article,
    AuthError,
    ConnectorError,
    DuplicateError,
    OutgoingPost,
    Published,
    RateLimitedError,
    RejectedError,
)
from scheduler.policy import Settings, backoff
from scheduler.pool import ConnectorPool, UnknownChannelError

log = logging.getLogger("elshi.scheduler")

RateLookup = Callable[[str, str], float]
"""(channel name, platform) → posts per minute."""


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    channel: str
    platform: str
    slot: datetime
    attempt: int
    due_at: datetime
    claimed_at: datetime
    post: OutgoingPost
    label: str
    media: tuple[str, ...] = ()
    """The delivery's media references (``campaigns.media``), materialized before sending."""


@dataclass
class PassStats:
    claimed: int = 0
    published: int = 0
    retried: int = 0
    failed: int = 0
    ambiguous: int = 0
    handed_back: int = 0
    missed: int = 0
    reconciled: int = 0
    needs_review: int = 0
    lateness: list[float] = field(default_factory=list)

    def add(self, other: PassStats) -> None:
        for name in (
            "claimed",
            "published",
            "retried",
            "failed",
            "ambiguous",
            "handed_back",
            "missed",
            "reconciled",
            "needs_review",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.lateness.extend(other.lateness)


def due_instant() -> Any:
    return func.coalesce(Delivery.next_attempt_at, Delivery.due_at)


def thread_ready() -> Any:
    """A delivery with no parent post, or whose parent is published on the same channel."""
    parent = aliased(Delivery)
    return or_(
        Post.reply_to_post_id.is_(None),
        exists(
            select(parent.id).where(
                parent.post_id == Post.reply_to_post_id,
                parent.channel_id == Delivery.channel_id,
                parent.occurrence == Delivery.occurrence,
                parent.state == S.published.value,
            )
        ),
    )


def claimable(now: datetime, horizon: datetime) -> Any:
    return and_(
        Delivery.state.in_([s.value for s in DUE_STATES]),
        due_instant() <= horizon,
        Channel.paused.is_(False),
        or_(Channel.blocked_until.is_(None), Channel.blocked_until <= now),
        thread_ready(),
        claim_condition(),
    )


def meta_for(delivery: Delivery, post: Post, audience_key: str | None) -> dict[str, str]:
    local = delivery.due_at.astimezone(ZoneInfo(delivery.timezone))
    audience = delivery.audience
    return {
        "audience_group": audience.group if audience is not None else "",
        "campaign": post.campaign_id,
        "post": post.key,
        "category": post.category,
        "narrative": post.narrative,
        "variant": post.variant or "",
        "audience": audience_key or "",
        "language": delivery.language,
        "local_hour": str(local.hour),
        "weekday": str(local.weekday()),
    }


def outgoing(
    session: Session, delivery: Delivery, post: Post, *, media_cache: Path | None = None
) -> OutgoingPost:
    """What to hand the connector. Media are files of the local cache of the media store
    (written by `prepare_media` before sending); a delivery from before the store keeps the
    absolute path it was applied with."""

    reply_to = None
    if post.reply_to_post_id is not None:
        reply_to = session.scalar(
            select(Delivery.remote_id).where(
                Delivery.post_id == post.reply_to_post_id,
                Delivery.channel_id == delivery.channel_id,
                Delivery.occurrence == delivery.occurrence,
            )
        )
    audience_key = delivery.audience.key if delivery.audience is not None else None
    return OutgoingPost(
        text=delivery.text,
        idempotency_key=delivery.idempotency_key,
        media=tuple(media_path(m, media_cache) for m in delivery.media),
        alt_texts=tuple(str(a) for a in delivery.media_alt or ()),
        article=_article(delivery.article, media_cache),
        reply_to=reply_to,
        language=delivery.language,
        meta=meta_for(delivery, post, audience_key),
    )


def _article(stored: dict[str, Any] | None, media_cache: Path | None) -> Article | None:
    """A delivery's article (WeChat) as the connector takes it, its cover from the media store."""
    if not stored:
        return None
    cover = stored.get("cover")
    return Article(
        title=str(stored.get("title") or ""),
        body=str(stored.get("body") or ""),
        cover=media_path(str(cover), media_cache) if cover else None,
        author=stored.get("author") or None,
        source_url=stored.get("source_url") or None,
    )


def _claimed_media(delivery: Delivery) -> tuple[str, ...]:
    """The media entries a claim needs on disk: the delivery's, and its article's cover."""
    media = tuple(str(m) for m in delivery.media)
    cover = (delivery.article or {}).get("cover")
    return media if not cover or cover in media else (*media, str(cover))


def claim_due(
    sessions: sessionmaker[Session],
    settings: Settings,
    now: datetime,
    *,
    rate_for: RateLookup,
    lookahead: float | None = None,
    limit: int | None = None,
) -> list[Claim]:
    """Claim what is due by ``now`` (plus ``lookahead`` seconds) and commit the claims."""
    ahead = settings.claim_lookahead_seconds if lookahead is None else lookahead
    horizon = now + timedelta(seconds=ahead)
    limit = limit or settings.claim_batch
    claims: list[Claim] = []
    with immediate(sessions) as session:
        hold(session)  # the kill-switch lock, shared: a pause waits for this claim or beats it
        channel_ids = list(
            session.scalars(
                select(Delivery.channel_id)
                .join(Post, Delivery.post_id == Post.id)
                .join(Channel, Delivery.channel_id == Channel.id)
                .where(claimable(now, horizon))
                .distinct()
            )
        )
        if not channel_ids:
            session.rollback()
            return []
        channels = {
            c.id: c
            for c in session.scalars(
                select(Channel)
                .where(Channel.id.in_(channel_ids))
                .order_by(Channel.id)
                .with_for_update(skip_locked=True)
            )
        }
        if not channels:
            session.rollback()
            return []
        rows = session.scalars(
            select(Delivery)
            .join(Post, Delivery.post_id == Post.id)
            .join(Channel, Delivery.channel_id == Channel.id)
            .where(claimable(now, horizon), Delivery.channel_id.in_(list(channels)))
            .order_by(due_instant(), Delivery.id)
            .limit(limit)
            .with_for_update(of=Delivery, skip_locked=True)
            .options(selectinload(Delivery.post), selectinload(Delivery.audience))
        ).all()
        for delivery in rows:
            channel = channels[delivery.channel_id]
            due = max(delivery.due_at, delivery.next_attempt_at or delivery.due_at)
            slot = max(now, due, channel.next_slot_at or now)
            if slot > horizon:
                continue
            interval = 60.0 / max(rate_for(channel.name, channel.platform), 1e-6)
            channel.next_slot_at = slot + timedelta(seconds=interval)
            post = delivery.post
            previous = delivery.state
            delivery.attempts += 1
            delivery.lease_owner = settings.worker_id
            delivery.claimed_at = now
            delivery.lease_expires_at = slot + timedelta(seconds=settings.lease_seconds)
            label = (
                f"{post.campaign_id}/{post.key}"
                + (f"#{delivery.occurrence + 1}" if delivery.occurrence else "")
                + f"@{channel.name}"
            )
            transition(
                session,
                delivery,
                S.publishing,
                actor=f"daemon:{settings.worker_id}",
                at=now,
                reason=f"claimed (attempt {delivery.attempts}, from {previous})",
                label=label,
            )
            claims.append(
                Claim(
                    delivery_id=delivery.id,
                    channel=channel.name,
                    platform=channel.platform,
                    slot=slot,
                    attempt=delivery.attempts,
                    due_at=delivery.due_at,
                    claimed_at=now,
                    post=outgoing(session, delivery, post, media_cache=settings.media_cache),
                    label=label,
                    media=_claimed_media(delivery),
                )
            )
        session.commit()
    return claims


Waiter = Callable[[datetime], bool]
"""Blocks until the given instant; False when the daemon is stopping instead."""


def publish_claim(
    sessions: sessionmaker[Session],
    pool: ConnectorPool,
    claim: Claim,
    settings: Settings,
    clock: Callable[[], datetime],
    *,
    wait_until: Waiter,
    stopping: threading.Event,
    rng: random.Random,
) -> PassStats:
    stats = PassStats()
    if stopping.is_set() or not wait_until(claim.slot):
        hand_back(sessions, claim, settings, clock(), reason="daemon stopping before sending")
        stats.handed_back += 1
        return stats
    try:
        prepare_media(sessions, claim.media, settings.media_cache)
    except MediaMissing as exc:
        fail_locally(sessions, claim, settings, clock(), str(exc))
        stats.failed += 1
        return stats
    if not begin_send(sessions, claim, settings, clock()):
        stats.handed_back += 1
        return stats
    try:
        with pool.lease(claim.channel) as connector:
            idempotent = connector.capabilities.idempotent_publish
            result: Published | ConnectorError = connector.publish(claim.post)
    except UnknownChannelError as exc:
        pause_channel(sessions, claim.channel, str(exc), clock(), settings)
        hand_back(sessions, claim, settings, clock(), reason=str(exc))
        stats.handed_back += 1
        return stats
    except ConnectorError as exc:
        result = exc
    except Exception as exc:
        log.exception(
            "delivery %s %s: unexpected error from the connector", claim.delivery_id, claim.label
        )
        result = AmbiguousError(f"unexpected {type(exc).__name__}: {exc}", channel=claim.channel)
        idempotent = False
    record_result(sessions, claim, result, settings, clock(), stats, rng=rng, idempotent=idempotent)
    return stats


def media_path(entry: str, cache: Path | None) -> Path:
    """Where the connector finds a delivery's media entry: a reference's file in the local
    cache, or (a delivery applied before the media store) the path it was applied with."""
    if is_reference(entry):
        digest, name = entry.split("/", 1)
        return (cache or default_media_cache()) / digest / name
    return Path(entry)


@functools.cache
def default_media_cache() -> Path:
    """A folder of this user's own for the daemon's copies of stored media: one private to
    this process when the usual one belongs to someone else or others may write in it."""
    import os
    import stat
    import tempfile

    folder = Path(tempfile.gettempdir()) / f"elshi-media-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = folder.lstat()
        if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o077:
            return folder
    except OSError:
        pass
    return Path(tempfile.mkdtemp(prefix="elshi-media-"))


def prepare_media(
    sessions: sessionmaker[Session], media: tuple[str, ...], cache: Path | None
) -> None:
    """Write the claim's media from the store into the cache, checked against their hashes;
    `MediaMissing` when one is not there (a local fault: the platform never saw the post)."""
    if not media:
        return
    folder = cache or default_media_cache()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    with sessions() as session:
        for entry in media:
            if is_reference(entry):
                materialize(session, entry, folder)
            elif not Path(entry).is_file():
                raise MediaMissing(
                    f"media file {entry} is missing (it was applied by an older Elshi that kept "
                    "paths); apply the campaign again to store its media, then retry"
                )


def fail_locally(
    sessions: sessionmaker[Session], claim: Claim, settings: Settings, now: datetime, why: str
) -> None:
    """The claim cannot be sent for a reason of ours (its media are not in the store): failed,
    with the reason and what to do, and nothing was sent."""
    with immediate(sessions) as session:
        delivery = _locked(session, claim.delivery_id)
        if delivery is None or not holds(delivery, settings, claim.attempt):
            session.rollback()
            return
        _release(delivery)
        delivery.error_kind = "local"
        delivery.last_error = f"{why} (then: elshi deliveries retry {delivery.id})"
        transition(
            session,
            delivery,
            S.failed,
            actor=f"daemon:{settings.worker_id}",
            at=now,
            reason=f"not sent, a local problem: {why}",
            label=claim.label,
        )
        session.commit()


def begin_send(
    sessions: sessionmaker[Session], claim: Claim, settings: Settings, now: datetime
) -> bool:
    """The last check before the platform is called, in its own short transaction under the
    kill-switch lock: the claim still stands (same attempt and claim time: nothing handed it
    back or settled it), its post is still approved, nothing paused it (a kill-switch pause,
    or its channel after an auth error on an earlier post). Marks the row ``sending_at``;
    False (claim handed back, or moved on) when it must not be sent.

    A claim whose lease another daemon took over for reconciliation is still sent, as before
    this check existed: refusing it without renewing leases while claims wait their turn
    (issue 14) would make a loaded daemon hand most of its batch to reconciliation."""
    with immediate(sessions) as session:
        hold(session)
        delivery = _locked(session, claim.delivery_id)
        if (
            delivery is None
            or delivery.state != S.publishing
            or delivery.attempts != claim.attempt
            or delivery.claimed_at != claim.claimed_at
        ):
            session.rollback()
            log.info(
                "delivery %s %s: claim moved on before sending", claim.delivery_id, claim.label
            )
            return False
        why = refusal(session, delivery)
        if why is not None:
            _release(delivery)
            delivery.attempts -= 1
            transition(
                session,
                delivery,
                S.approved if delivery.attempts == 0 else S.scheduled,
                actor=f"daemon:{settings.worker_id}",
                at=now,
                reason=f"handed back before sending: {why}",
                label=claim.label,
            )
            session.commit()
            return False
        delivery.sending_at = now
        session.commit()
    return True


def _locked(session: Session, delivery_id: int) -> Delivery | None:
    return session.scalar(select(Delivery).where(Delivery.id == delivery_id).with_for_update())


def record_result(
    sessions: sessionmaker[Session],
    claim: Claim,
    result: Published | ConnectorError,
    settings: Settings,
    now: datetime,
    stats: PassStats,
    *,
    rng: random.Random,
    idempotent: bool = False,
) -> None:
    actor = f"daemon:{settings.worker_id}"
    with immediate(sessions) as session:
        delivery = _locked(session, claim.delivery_id)
        assert delivery is not None
        if isinstance(result, Published):
            if record_publication(
                session,
                delivery,
                result,
                settings,
                now,
                actor=actor,
                reason=f"published (attempt {claim.attempt})",
                label=claim.label,
            ):
                stats.published += 1
                stats.lateness.append((result.published_at - claim.due_at).total_seconds())
            session.commit()
            return
        if not holds(delivery, settings, claim.attempt):
            log.warning(
                "delivery %s %s: %s after the claim moved on (now %s, attempt %d); leaving it",
                claim.delivery_id,
                claim.label,
                result.kind,
                delivery.state,
                delivery.attempts,
            )
            session.rollback()
            return
        delivery.error_kind = result.kind
        delivery.last_error = result.message
        channel = delivery.channel
        if isinstance(result, AuthError):
            _pause(session, channel, f"{result.kind}: {result.message}", now, actor)
            _release(delivery)
            transition(
                session,
                delivery,
                S.scheduled,
                actor=actor,
                label=claim.label,
                at=now,
                reason=f"channel paused: {result.message}",
            )
            delivery.attempts -= 1
            stats.handed_back += 1
        elif isinstance(result, DuplicateError):
            # Refused as a copy: an earlier attempt most likely went out. Ask, do not fail.
            delivery.lease_expires_at = now + timedelta(seconds=settings.reconcile_after_seconds)
            stats.ambiguous += 1
        elif isinstance(result, RejectedError):
            _release(delivery)
            transition(
                session,
                delivery,
                S.failed,
                actor=actor,
                label=claim.label,
                at=now,
                reason=f"rejected by the platform: {result.message}",
            )
            stats.failed += 1
        elif isinstance(result, AmbiguousError):
            # Keep the claim, with a short lease: recovery will ask the platform.
            delivery.lease_expires_at = now + timedelta(seconds=settings.reconcile_after_seconds)
            stats.ambiguous += 1
            log.warning(
                "delivery %s %s: outcome unknown (%s); will reconcile after %s",
                claim.delivery_id,
                claim.label,
                result.message,
                delivery.lease_expires_at.isoformat(timespec="seconds"),
            )
        else:
            retry_after = result.retry_after if isinstance(result, RateLimitedError) else None
            if isinstance(result, RateLimitedError) and retry_after:
                blocked = now + timedelta(seconds=retry_after)
                if channel.blocked_until is None or channel.blocked_until < blocked:
                    channel.blocked_until = blocked
            _release(delivery)
            if delivery.attempts >= settings.max_attempts:
                transition(
                    session,
                    delivery,
                    S.failed,
                    actor=actor,
                    label=claim.label,
                    at=now,
                    reason=f"gave up after {delivery.attempts} attempts: "
                    f"{result.kind}: {result.message}",
                )
                stats.failed += 1
            else:
                delay = backoff(delivery.attempts, settings, retry_after=retry_after, rng=rng)
                delivery.next_attempt_at = now + timedelta(seconds=delay)
                transition(
                    session,
                    delivery,
                    S.scheduled,
                    actor=actor,
                    label=claim.label,
                    at=now,
                    reason=f"{result.kind}: {result.message}; retry in {delay:.0f}s",
                )
                stats.retried += 1
        session.commit()


def holds(
    delivery: Delivery, settings: Settings, attempt: int, reconcile_attempts: int | None = None
) -> bool:
    """Whether this worker's claim (or reconciliation) of ``delivery`` is still the current one:
    the attempt number and the reconciliation count act as a fencing token, so a late answer
    to an old claim cannot overwrite a newer one, even from the same worker."""
    return (
        delivery.state == S.publishing
        and delivery.lease_owner == settings.worker_id
        and delivery.attempts == attempt
        and (reconcile_attempts is None or delivery.reconcile_attempts == reconcile_attempts)
    )


def record_publication(
    session: Session,
    delivery: Delivery,
    result: Published,
    settings: Settings,
    now: datetime,
    *,
    actor: str,
    reason: str,
    label: str | None = None,
) -> bool:
    """Record that ``result`` exists on the platform, whatever state the row reached meanwhile
    (a post that exists must never be forgotten). False when the row already said so."""
    if delivery.state == S.published:
        if delivery.remote_id != result.remote_id:
            log.error(
                "delivery %s was published twice: %s and %s; delete one on the platform",
                delivery.id,
                delivery.remote_url,
                _shown(result),
            )
            from campaigns.states import record

            record(
                session,
                actor=actor,
                entity="delivery",
                entity_id=delivery.id,
                at=now,
                from_state=S.published.value,
                to_state=S.published.value,
                reason=f"DUPLICATE: also published as {_shown(result)}",
                detail={"remote_id": result.remote_id, "url": _shown(result)},
            )
        return False
    if delivery.state not in (S.publishing, S.needs_review):
        log.error(
            "delivery %s: published as %s while the row was %s; recording it",
            delivery.id,
            _shown(result),
            delivery.state,
        )
    _mark_published(
        session, delivery, result, settings, now, actor=actor, reason=reason, label=label
    )
    return True


def _shown(result: Published) -> str:
    """The platform's URL when it is a web address, else its remote id (for logs and audit)."""
    url = result.url
    return url if url is not None and is_web_url(url) else f"remote id {result.remote_id}"


def _release(delivery: Delivery) -> None:
    delivery.lease_owner = None
    delivery.lease_expires_at = None
    delivery.sending_at = None


def _mark_published(
    session: Session,
    delivery: Delivery,
    result: Published,
    settings: Settings,
    now: datetime,
    *,
    actor: str,
    reason: str,
    label: str | None = None,
) -> None:
    delivery.remote_id = result.remote_id
    url = result.url
    try:
        delivery.remote_url = url
    except UnsafeUrl as exc:
        # The post exists: record it, without the address the platform gave (a javascript:
        # or CR/LF "URL" would reach reports and calendars).
        delivery.remote_url = url = None
        reason += f"; the platform's URL was not stored ({exc})"
    delivery.published_at = result.published_at
    late = (result.published_at - delivery.due_at).total_seconds()
    delivery.late_seconds = late if late > settings.late_after_seconds else None
    delivery.error_kind = None
    delivery.last_error = None
    delivery.next_attempt_at = None
    delivery.collect_step = 0
    delivery.next_collect_at = (
        result.published_at + timedelta(seconds=settings.metrics_schedule[0])
        if settings.metrics_schedule
        else None
    )
    _release(delivery)
    if late > settings.late_after_seconds:
        reason += f", {late:.0f}s late"
    transition(
        session,
        delivery,
        S.published,
        actor=actor,
        at=now,
        reason=reason,
        detail={"remote_id": result.remote_id, "url": url},
        force=True,
        label=label,
    )


def hand_back(
    sessions: sessionmaker[Session],
    claim: Claim,
    settings: Settings,
    now: datetime,
    *,
    reason: str,
) -> None:
    """Undo a claim that was never sent (shutdown, unknown channel)."""
    with immediate(sessions) as session:
        delivery = _locked(session, claim.delivery_id)
        if (
            delivery is None
            or delivery.state != S.publishing
            or delivery.lease_owner != settings.worker_id
        ):
            session.rollback()
            return
        _release(delivery)
        delivery.attempts -= 1
        back = S.approved if delivery.attempts == 0 else S.scheduled
        transition(
            session,
            delivery,
            back,
            actor=f"daemon:{settings.worker_id}",
            at=now,
            reason=f"handed back: {reason}",
        )
        session.commit()


def _pause(session: Session, channel: Channel, reason: str, now: datetime, actor: str) -> None:
    from campaigns.states import record

    # Locked and read again: daemons publishing to one channel at once must pause it (and
    # raise its alert) once.
    session.refresh(channel, with_for_update=True)
    if channel.paused:
        return
    channel.paused = True
    channel.paused_reason = reason
    channel.paused_at = now
    record(
        session,
        actor=actor,
        entity="channel",
        entity_id=channel.name,
        at=now,
        from_state="active",
        to_state="paused",
        reason=reason,
    )
    log.error(
        "channel %s paused: %s (fix it, then: elshi channels resume %s)",
        channel.name,
        reason,
        channel.name,
    )


def pause_channel(
    sessions: sessionmaker[Session], name: str, reason: str, now: datetime, settings: Settings
) -> None:
    with immediate(sessions) as session:
        channel = session.scalar(select(Channel).where(Channel.name == name))
        if channel is not None:
            _pause(session, channel, reason, now, f"daemon:{settings.worker_id}")
        session.commit()
