"""Claiming due deliveries and publishing them: the exactly-once core.

1. `claim_in` moves due rows to ``publishing`` in one transaction (PostgreSQL: channel and
   delivery rows locked with ``FOR UPDATE SKIP LOCKED``; SQLite: ``BEGIN IMMEDIATE``), with this
   worker's id, an attempt number, a lease, and a send slot that respects the channel's rate.
   Which rows may be claimed is decided in one place, `claimable` (a reply only after the post
   it answers is published on that channel). Channels are served in the order their first row
   is due; each gets at most its share of the batch and what its rate allows before the
   horizon, so one backlog cannot starve the other channels.
2. `send_claim` waits for the slot and then, holding an instance of the channel's connector
   (`scheduler.pool`: a channel may have a few calls in flight, `scheduler.lanes`), checks in the
   database that the claim is still this worker's (its fencing token: worker, attempt number,
   reconciliation count) and that the channel may send (`sendable`, the one pre-send
   condition): `begin_send`, one UPDATE that also marks the row as being sent and renews its
   lease. Only then it calls the connector once, and queues the outcome's commit at once
   (`settle`; a check queued after it commits no earlier):
   published; scheduled again with backoff (transient, rate-limited); failed (rejected, or out
   of attempts); channel paused (auth); or left ``publishing`` with a short lease for recovery
   to reconcile (ambiguous, or any unexpected error: we cannot know whether the post went out,
   so we must not send it again blindly).
3. A claim keeps its lease while it waits its turn (the daemon's heartbeat renews it). If its row
   was taken over meanwhile (its daemon was thought dead, or its lease ran out), the check fails
   and it is dropped unsent: no send on a stale claim.

Each step is a *job* for `scheduler.writer` (a function of a session that writes and returns a
value); the daemon's writer thread commits several at once.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, Table, and_, bindparam, exists, func, or_, select, true, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session, aliased, sessionmaker

from campaigns import driver
from campaigns.gate import BLOCKED, RATE_LIMIT, UNAVAILABLE, Block, claim_condition, hold, refusal
from campaigns.links import UnsafeUrl, is_web_url, web_url
from campaigns.media import MediaMissing, is_reference, materialize
from campaigns.schema import Audience, Campaign, Channel, Delivery, Post, due_state
from campaigns.schema import DeliveryState as S
from campaigns.states import RowMove, transition, transition_rows, update_each
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
    TransientError,
)
from scheduler.policy import Settings, backoff, missed_window
from scheduler.pool import ConnectorPool, UnknownChannelError
from scheduler.writer import Batch, Direct, Transactions

log = logging.getLogger("elshi.scheduler")

RateLookup = Callable[[str, str], float]
"""(channel name, platform) → posts per minute."""

SEND_CHECK_AHEAD = 0.05
"""Seconds before its slot a claim is checked and marked as being sent, so the check's commit
does not make the post late."""

_DELIVERY = cast(Table, Delivery.__table__)
_CHANNEL = cast(Table, Channel.__table__)


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
    reconcile_attempts: int = 0
    """With the worker and ``attempt``, the claim's fencing token."""
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
    stale: int = 0
    """Claims found taken over (their daemon thought dead, or their lease run out) before their
    send: dropped unsent."""
    missed: int = 0
    reconciled: int = 0
    needs_review: int = 0
    lateness: list[float] = field(default_factory=list)
    busy: list[float] = field(default_factory=list)
    """Seconds each send kept its channel busy (the check, the call, the record)."""

    def add(self, other: PassStats) -> None:
        for name in (
            "claimed",
            "published",
            "retried",
            "failed",
            "ambiguous",
            "handed_back",
            "stale",
            "missed",
            "reconciled",
            "needs_review",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.lateness.extend(other.lateness)
        self.busy.extend(other.busy)


def due_instant() -> Any:
    return func.coalesce(Delivery.next_attempt_at, Delivery.due_at)


_PARENT = aliased(Delivery, name="parent")
"""The delivery of the post a delivery replies to (one alias, so statements stay cacheable)."""


def thread_ready() -> Any:
    """A delivery with no parent post, or whose parent is published on the same channel."""
    return or_(
        Post.reply_to_post_id.is_(None),
        exists(
            select(_PARENT.id).where(
                _PARENT.post_id == Post.reply_to_post_id,
                _PARENT.channel_id == Delivery.channel_id,
                _PARENT.occurrence == Delivery.occurrence,
                _PARENT.state == S.published.value,
            )
        ),
    )


def channel_open(now: Any) -> Any:
    """The channel takes sends at ``now``: it is not paused, and no rate limit blocks it
    (``blocked_until``, set from the platform's retry-after, is past). Part of both `claimable`
    and `sendable`, so a rate limit stops the claims already made as well as new ones."""
    return and_(
        Channel.paused.is_(False),
        or_(Channel.blocked_until.is_(None), Channel.blocked_until <= now),
    )


def claimable(now: Any, horizon: Any) -> Any:
    """THE claim condition (a query joining delivery, post and channel): what a daemon may move
    to ``publishing`` at ``now``, for a send at or before ``horizon`` (instants, or the bound
    parameters `NOW` and `HORIZON` of a statement built once)."""
    return and_(
        due_state(Delivery.state),
        due_instant() <= horizon,
        channel_open(now),
        or_(Channel.next_slot_at.is_(None), Channel.next_slot_at <= horizon),
        thread_ready(),
        claim_condition(),
    )


def sendable(now: Any) -> Any:
    """THE pre-send condition (a query joining delivery, post and channel), checked with the
    row locked immediately before each send (`begin_sends`) at the check's instant ``now``: its
    channel takes sends (`channel_open`: not paused, not rate-limited), no block of the channel
    came since the claim was made (`unblocked_since_claim`), and what the claim requires still
    holds (`campaigns.gate.claim_condition`: the approval is complete, no kill-switch pause
    covers it). `campaigns.gate.refusal` says why a row fails it."""
    return and_(channel_open(now), unblocked_since_claim(), claim_condition())


def unblocked_since_claim() -> Any:
    """No block of the channel ends after the delivery was claimed: a claim made before a block
    is not sent after it either. The block hands back the claims checked during it; a claim of
    the same channel whose slot (or turn) comes after the block's end would otherwise go out at
    once, ahead of the earlier-due posts handed back, which are claimed again only with slots
    after it (``next_slot_at``). Refused too, it is claimed again with them, in due order. (No
    claim is made during a block, so ``blocked_until`` after ``claimed_at`` means the block came
    after the claim.)"""
    return or_(Channel.blocked_until.is_(None), Channel.blocked_until <= Delivery.claimed_at)


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _meta(
    *,
    due_at: datetime,
    timezone: str,
    campaign: str,
    post: str,
    category: str,
    narrative: str,
    variant: str | None,
    audience: str | None,
    audience_group: str | None,
    language: str,
) -> dict[str, str]:
    local = due_at.astimezone(_zone(timezone))
    return {
        "audience_group": audience_group or "",
        "campaign": campaign,
        "post": post,
        "category": category,
        "narrative": narrative,
        "variant": variant or "",
        "audience": audience or "",
        "language": language,
        "local_hour": str(local.hour),
        "weekday": str(local.weekday()),
    }


def outgoing(
    session: Session, delivery: Delivery, post: Post, *, media_cache: Path | None = None
) -> OutgoingPost:
    """What to publish for ``delivery`` (ORM rows; recovery asks the platform with it). Media
    are files of the local cache of the media store (written by `prepare_media` before
    sending); a delivery from before the store keeps the absolute path it was applied with."""
    reply_to = None
    if post.reply_to_post_id is not None:
        reply_to = session.scalar(
            select(Delivery.remote_id).where(
                Delivery.post_id == post.reply_to_post_id,
                Delivery.channel_id == delivery.channel_id,
                Delivery.occurrence == delivery.occurrence,
            )
        )
    audience = delivery.audience
    return OutgoingPost(
        not_before=min(filter(None, (delivery.due_at, delivery.claimed_at))),
        text=delivery.text,
        idempotency_key=delivery.idempotency_key,
        media=tuple(media_path(m, media_cache) for m in delivery.media),
        alt_texts=tuple(str(a) for a in delivery.media_alt or ()),
        article=_article(delivery.article, media_cache),
        reply_to=reply_to,
        language=delivery.language,
        meta=_meta(
            due_at=delivery.due_at,
            timezone=delivery.timezone,
            campaign=post.campaign_id,
            post=post.key,
            category=post.category,
            narrative=post.narrative,
            variant=post.variant,
            audience=audience.key if audience is not None else None,
            audience_group=audience.group if audience is not None else None,
            language=delivery.language,
        ),
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


def _claimed_media(media: list[Any], article: dict[str, Any] | None) -> tuple[str, ...]:
    """The media entries a claim needs on disk: the delivery's, and its article's cover."""
    entries = tuple(str(m) for m in media)
    cover = (article or {}).get("cover")
    return entries if not cover or cover in entries else (*entries, str(cover))


def label_of(campaign: str, post: str, occurrence: int, channel: str) -> str:
    return f"{campaign}/{post}" + (f"#{occurrence + 1}" if occurrence else "") + f"@{channel}"


NOW = bindparam("now", type_=Delivery.due_at.type)
HORIZON = bindparam("horizon", type_=Delivery.due_at.type)
_REPLIED = aliased(Delivery, name="replied")


@lru_cache(maxsize=1)
def _candidates() -> Any:
    """Channels with something claimable, in the order of their first claimable row."""
    first_due = func.min(due_instant())
    return (
        select(Delivery.channel_id, first_due)
        .join(Post, Delivery.post_id == Post.id)
        .join(Channel, Delivery.channel_id == Channel.id)
        .where(claimable(NOW, HORIZON))
        .group_by(Delivery.channel_id)
        .order_by(first_due)
    )


@lru_cache(maxsize=1)
def _lock_channels() -> Any:
    return (
        select(
            Channel.id, Channel.name, Channel.platform, Channel.next_slot_at, Channel.blocked_until
        )
        .where(Channel.id.in_(bindparam("channels", expanding=True)))
        .order_by(Channel.id)
        .with_for_update(skip_locked=True)
    )


@lru_cache(maxsize=1)
def _candidates_locked() -> Any:
    """PostgreSQL: `_candidates` and `_lock_channels` in one statement (one round trip a claim
    pass): each candidate channel with its first claimable instant, in that order, and its
    row's columns if this transaction locked it (NULL when another one holds it: SKIP
    LOCKED)."""
    candidates = _candidates().order_by(None).subquery("candidates")
    channel_id, first_due = candidates.c
    locked = (
        select(
            Channel.id, Channel.name, Channel.platform, Channel.next_slot_at, Channel.blocked_until
        )
        .where(Channel.id == channel_id)
        .with_for_update(skip_locked=True)
        .lateral("locked")
    )
    return (
        select(channel_id, locked)
        .select_from(candidates)
        .outerjoin(locked, true())
        .order_by(first_due, channel_id)
    )


@lru_cache(maxsize=1)
def _set_slot() -> Any:
    return (
        update(_CHANNEL)
        .where(_CHANNEL.c.id == bindparam("channel"))
        .values(next_slot_at=bindparam("slot"))
    )


@lru_cache(maxsize=1)
def _claim_rows() -> Any:
    """One channel's first claimable rows, locked, with what a claim needs to know."""
    return _claim_rows_of(bindparam("channel"), bindparam("limit"))


@lru_cache(maxsize=1)
def _claim_rows_lateral() -> Any:
    """PostgreSQL: `_claim_rows` of several channels in one statement (``channels``, and
    ``limits`` rows each), in each channel's order, with its id as ``wanted_channel``."""
    wanted = (
        func.unnest(
            bindparam("channels", type_=postgresql.ARRAY(Integer)),
            bindparam("limits", type_=postgresql.ARRAY(Integer)),
        )
        .table_valued("channel_id", "lim")
        .render_derived(name="wanted")
    )
    rows = _claim_rows_of(wanted.c.channel_id, wanted.c.lim).lateral("claimable")
    return (
        select(wanted.c.channel_id.label("wanted_channel"), rows)
        .select_from(wanted)
        .join(rows, true())
        .order_by(
            wanted.c.channel_id, func.coalesce(rows.c.next_attempt_at, rows.c.due_at), rows.c.id
        )
    )


def _claim_rows_of(channel: Any, limit: Any) -> Any:
    reply_to = (
        select(_REPLIED.remote_id)
        .where(
            _REPLIED.post_id == Post.reply_to_post_id,
            _REPLIED.channel_id == Delivery.channel_id,
            _REPLIED.occurrence == Delivery.occurrence,
        )
        .limit(1)
        .scalar_subquery()
    )
    return (
        select(
            Delivery.id,
            Delivery.state,
            Delivery.due_at,
            Delivery.next_attempt_at,
            Delivery.attempts,
            Delivery.reconcile_attempts,
            Delivery.occurrence,
            Delivery.text,
            Delivery.media,
            Delivery.media_alt,
            Delivery.article,
            Delivery.idempotency_key,
            Delivery.language,
            Delivery.timezone,
            Post.campaign_id,
            Post.key,
            Post.category,
            Post.narrative,
            Post.variant,
            Post.reply_to_post_id,
            Audience.key.label("audience_key"),
            Audience.group.label("audience_group"),
            Campaign.grace_minutes,
            reply_to.label("reply_to"),
        )
        .join(Post, Delivery.post_id == Post.id)
        .join(Campaign, Post.campaign_id == Campaign.id)
        .join(Channel, Delivery.channel_id == Channel.id)
        .outerjoin(Audience, Delivery.audience_id == Audience.id)
        .where(claimable(NOW, HORIZON), Delivery.channel_id == channel)
        .order_by(due_instant(), Delivery.id)
        .limit(limit)
        .with_for_update(of=Delivery, skip_locked=True)
    )


@lru_cache(maxsize=1)
def _unsent_before() -> Any:
    return (
        select(Delivery.id)
        .where(
            Delivery.channel_id == bindparam("channel"),
            Delivery.state == S.publishing.value,
            Delivery.sending_at.is_(None),
            Delivery.claimed_at < bindparam("blocked", type_=Delivery.claimed_at.type),
        )
        .limit(1)
    )


def _claimed_before_block(
    session: Session, channel: Any, now: datetime, settings: Settings
) -> bool:
    """Whether claims of ``channel`` (a locked channel row) made before its last block, which
    has ended, still wait for their check (any daemon's): it refuses them
    (`unblocked_since_claim`) and hands them back. Until then the channel's later-due rows are
    not claimed, or they would go out ahead of those. Only asked for a block that ended less
    than a lease ago."""
    blocked = channel.blocked_until
    if blocked is None or blocked <= now - timedelta(seconds=settings.lease_seconds):
        return False
    values = {"channel": channel.id, "blocked": blocked}
    return session.connection().execute(_unsent_before(), values).first() is not None


@dataclass(frozen=True)
class Claimed:
    claims: list[Claim]
    past_window: int = 0
    """Rows left unclaimed because their window passed (the sweep marks them missed)."""
    capped: frozenset[str] = frozenset()
    """Channels that may have had more to claim than this pass took (``limit``, ``cap_for``)."""
    contended: bool = False
    """Some channel with claimable rows was being claimed by another daemon at that moment
    (its row locked): worth looking again soon, not at the next poll."""


def claim_in(
    session: Session,
    settings: Settings,
    now: datetime,
    *,
    rate_for: RateLookup,
    lookahead: float | None = None,
    limit: int | None = None,
    cap_for: Callable[[str], int] | None = None,
) -> Claimed:
    """Claim what is due by ``now`` (plus ``lookahead`` seconds), at most ``limit`` rows and at
    most ``cap_for(channel)`` per channel, in ``session``'s transaction (a writer job: the
    caller commits). A row whose window passed is not claimed (`Claimed.past_window`): late
    beyond its grace, it is missed, not sent."""
    ahead = settings.claim_lookahead_seconds if lookahead is None else lookahead
    horizon = now + timedelta(seconds=ahead)
    budget = settings.claim_batch if limit is None else limit
    if budget <= 0:
        return Claimed([])
    hold(session)  # the kill-switch lock, shared: a pause waits for this claim or beats it
    at = {"now": now, "horizon": horizon}
    # On PostgreSQL every channel's rows come in one statement (see below), and the candidate
    # channels are found and locked in one too.
    together = session.get_bind().dialect.name == "postgresql"
    channels: dict[int, Any]
    if together:
        found = session.connection().execute(_candidates_locked(), at).all()
        candidates = [row.channel_id for row in found]
        channels = {row.channel_id: row for row in found if row.id is not None}
    else:
        candidates = [c for c, _ in session.connection().execute(_candidates(), at)]
        channels = (
            {
                row.id: row
                for row in session.connection().execute(_lock_channels(), {"channels": candidates})
            }
            if candidates
            else {}
        )
    if not candidates:
        return Claimed([])
    contended = len(channels) < len(set(candidates))
    share = max(1, -(-budget // max(len(channels), 1)))
    lease = timedelta(seconds=settings.lease_seconds)
    actor = f"daemon:{settings.worker_id}"
    moves: list[RowMove] = []
    pending: dict[int, Claim] = {}
    slots: list[dict[str, Any]] = []
    past_window = 0
    capped: set[str] = set()
    # On PostgreSQL every channel's rows come in one statement, so each channel's share is
    # planned before any is read: as if each filled its share (a pass may then claim a little
    # less than ``budget``; the next one takes the rest).
    plan: list[tuple[Any, float, int, int]] = []
    planned = budget
    for channel_id in candidates:
        channel = channels.get(channel_id)
        if channel is None:
            continue
        interval = 60.0 / max(rate_for(channel.name, channel.platform), 1e-6)
        start = max(now, channel.next_slot_at or now)
        room = int((horizon - start).total_seconds() // interval) + 1
        take = min(share, room, planned, room if cap_for is None else cap_for(channel.name))
        if take > 0 and _claimed_before_block(session, channel, now, settings):
            take = 0  # claimed once those are handed back, with them, in due order
        if take > 0 and together:
            planned -= take
        plan.append((channel, interval, room, take))
    fetched: dict[int, list[Any]] = {}
    if together:
        wanted = [(channel.id, take) for channel, _, _, take in plan if take > 0]
        if wanted:
            statement = _claim_rows_lateral()
            values = {"channels": [c for c, _ in wanted], "limits": [n for _, n in wanted]}
            for row in session.connection().execute(statement, {**at, **values}):
                fetched.setdefault(row.wanted_channel, []).append(row)
    for channel, interval, room, planned_take in plan:
        channel_id = channel.id
        next_slot = channel.next_slot_at
        take = min(planned_take, budget)
        if take <= 0:
            capped.add(channel.name)
            continue
        rows: Sequence[Any]
        if together:
            rows = fetched.get(channel_id, [])
        else:  # SQLite: a statement per channel, through the driver (`campaigns.driver`)
            of_channel = {**at, "channel": channel_id, "limit": take}
            rows = driver.rows(session.connection(), _claim_rows(), of_channel)
        if len(rows) >= take and take < room:
            capped.add(channel.name)
        for row in rows:
            start, window = missed_window(
                row.due_at,
                attempts=row.attempts,
                next_attempt_at=row.next_attempt_at,
                grace_minutes=row.grace_minutes,
                settings=settings,
            )
            if now > start + window:
                past_window += 1
                continue
            slot = max(now, row.due_at, row.next_attempt_at or row.due_at, next_slot or now)
            if slot > horizon:
                break
            next_slot = slot + timedelta(seconds=interval)
            attempt = row.attempts + 1
            label = label_of(row.campaign_id, row.key, row.occurrence, channel.name)
            moves.append(
                RowMove(
                    row.id,
                    S(row.state),
                    S.publishing,
                    reason=f"claimed (attempt {attempt}, from {row.state})",
                    label=label,
                    values={
                        "attempts": attempt,
                        "lease_owner": settings.worker_id,
                        "claimed_at": now,
                        "lease_expires_at": slot + lease,
                        "sending_at": None,
                    },
                )
            )
            pending[row.id] = Claim(
                delivery_id=row.id,
                channel=channel.name,
                platform=channel.platform,
                slot=slot,
                attempt=attempt,
                due_at=row.due_at,
                claimed_at=now,
                label=label,
                reconcile_attempts=row.reconcile_attempts,
                media=_claimed_media(row.media, row.article),
                post=OutgoingPost(
                    text=row.text,
                    idempotency_key=row.idempotency_key,
                    media=tuple(media_path(m, settings.media_cache) for m in row.media),
                    alt_texts=tuple(str(a) for a in row.media_alt or ()),
                    article=_article(row.article, settings.media_cache),
                    reply_to=row.reply_to if row.reply_to_post_id is not None else None,
                    language=row.language,
                    not_before=row.due_at,
                    meta=_meta(
                        due_at=row.due_at,
                        timezone=row.timezone,
                        campaign=row.campaign_id,
                        post=row.key,
                        category=row.category,
                        narrative=row.narrative,
                        variant=row.variant,
                        audience=row.audience_key,
                        audience_group=row.audience_group,
                        language=row.language,
                    ),
                ),
            )
            budget -= 1
        if next_slot != channel.next_slot_at:
            slots.append({"channel": channel_id, "slot": next_slot})
    if slots:  # one statement on PostgreSQL, not one per channel
        update_each(
            session.connection(),
            _set_slot(),
            _CHANNEL,
            slots,
            where=(("id", "channel"),),
            sets=(("next_slot_at", "slot"),),
        )
    moved = transition_rows(session, moves, actor=actor, at=now, checked=True)
    return Claimed(
        [pending[m.delivery_id] for m in moved], past_window, frozenset(capped), contended
    )


def claim_due(
    sessions: sessionmaker[Session],
    settings: Settings,
    now: datetime,
    *,
    rate_for: RateLookup,
    lookahead: float | None = None,
    limit: int | None = None,
) -> list[Claim]:
    """`claim_in` in its own committed transaction: the claims."""
    return (
        Direct(sessions)
        .run(
            lambda session: claim_in(
                session, settings, now, rate_for=rate_for, lookahead=lookahead, limit=limit
            )
        )
        .claims
    )


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


class Verdict(Enum):
    SEND = "send"
    STALE = "stale"
    """The claim is not this worker's any more: drop it, unsent."""
    REFUSED = "refused"
    """It may not be sent now (its channel or a kill-switch pause, its approval): handed
    back, with the reason."""


@dataclass(frozen=True)
class SendCheck:
    claim: Claim
    settings: Settings
    now: datetime
    marked_at: datetime | None = None
    """A second check, made when an answer other than a publication came on the channel after
    the first one (`Turn.calling`): the instant the first check marked the row as being sent
    (the row must still say so); refused, it is handed back unsent."""


@lru_cache(maxsize=1)
def _claim_states() -> Any:
    """Deliveries by id, locked, with their fencing token and whether they may be sent at the
    bound instant ``now`` (`sendable`)."""
    return (
        select(
            Delivery.id,
            Delivery.state,
            Delivery.lease_owner,
            Delivery.attempts,
            Delivery.reconcile_attempts,
            Delivery.sending_at,
            Delivery.resumed_from_pause,
            sendable(NOW).label("sendable"),
        )
        .join(Post, Delivery.post_id == Post.id)
        .join(Channel, Delivery.channel_id == Channel.id)
        .where(Delivery.id.in_(bindparam("ids", expanding=True)))
        .with_for_update(of=Delivery)
    )


def _holds(row: Any, claim: Claim, settings: Settings) -> bool:
    return (
        row is not None
        and row.state == S.publishing.value
        and row.lease_owner == settings.worker_id
        and row.attempts == claim.attempt
        and row.reconcile_attempts == claim.reconcile_attempts
    )


def _locked_states(session: Session, ids: list[int], now: datetime) -> dict[int, Any]:
    """`_claim_states` of ``ids`` at ``now``, by id (none: no query)."""
    if not ids:
        return {}
    values = {"ids": ids, "now": now}
    return {row.id: row for row in session.connection().execute(_claim_states(), values)}


def _checked_at(checks: Sequence[SendCheck]) -> datetime:
    """The one instant a locked read judges a batch of checks at (SQLite: one statement for
    all): the earliest check's. A channel blocked at any check's own instant is blocked then
    too, so no check is let through early; one whose block ended between two checks of the
    batch (milliseconds) is refused and claimed again at once."""
    return min(check.now for check in checks)


def begin_sends(
    session: Session,
    checks: list[SendCheck],
    *,
    rows: dict[int, Any] | None = None,
    at: datetime | None = None,
    held: bool = False,
) -> list[Verdict]:
    """Immediately before sending each claim, under the kill-switch lock (shared), in one
    transaction: is it still this worker's claim (and not yet sent), and may it be sent at the
    check's instant (`sendable`: not while its channel is paused or rate-limited)? If so, mark
    the row as being sent and renew its lease, so whoever later finds it in ``publishing``
    knows the post may exist (and a pause reports it in flight). A claim that may not be sent
    is handed back as never sent (its attempt not counted, its due time kept), with the reason
    (`campaigns.gate.refusal`); one taken over is left alone.

    On PostgreSQL that is one ``UPDATE ... RETURNING`` for all the checks of a batch, its WHERE
    clause the fencing token, ``sending_at IS NULL`` and `sendable` (`_begin_sending`: the row
    is locked and the condition evaluated on its newest version, as a locked read would);
    only the rows it did not mark are read again (locked), to tell a stale claim from a
    refused one. Elsewhere (SQLite, the whole database locked by the transaction) the rows are
    read first, in one statement judging every check at the earliest check's instant
    (`_checked_at`), then the marks are one statement. ``rows``: the checks' rows, read by the
    caller in this transaction after it took the kill-switch lock (`settle`) at instant ``at``;
    each is taken out of it. ``held``: the caller took the kill-switch lock already."""
    if rows is None and not held:
        hold(session)
    verdicts: list[Verdict | None] = [None] * len(checks)
    if rows is None and _one_statement(session):
        firsts = [check for check in checks if check.marked_at is None]
        marked = _begin_sending(session, firsts) if firsts else set()
        for index, check in enumerate(checks):
            if check.marked_at is not None:
                continue  # checked again: read below
            if check.claim.delivery_id in marked:  # a second check of one row finds it taken
                marked.discard(check.claim.delivery_id)
                verdicts[index] = Verdict.SEND
    rest = [index for index, verdict in enumerate(verdicts) if verdict is None]
    if rest and rows is None:
        at = _checked_at([checks[i] for i in rest])
        rows = _locked_states(session, [checks[i].claim.delivery_id for i in rest], at)
    marks: list[dict[str, Any]] = []
    for index in rest:
        check = checks[index]
        claim = check.claim
        row = (rows or {}).pop(claim.delivery_id, None)
        # taken over, or being sent (a second check: marked by its first, and only so)
        if (
            row is None
            or not _holds(row, claim, check.settings)
            or row.sending_at != check.marked_at
        ):
            verdicts[index] = Verdict.STALE
        elif not row.sendable:
            delivery = session.get(Delivery, claim.delivery_id)
            judged = check.now if at is None else at  # the instant its row was read at
            why = (refusal(session, delivery, judged) if delivery is not None else None) or (
                "refused"
            )
            hand_back_in(
                session,
                [claim],
                check.settings,
                check.now,
                reason=f"before sending: {why}",
                marked_at=check.marked_at,
            )
            verdicts[index] = Verdict.REFUSED
        else:
            verdicts[index] = Verdict.SEND
            if check.marked_at is None:
                lease = check.now + timedelta(seconds=check.settings.lease_seconds)
                marks.append({"_id": claim.delivery_id, "now": check.now, "lease": lease})
    if marks:
        update_each(
            session.connection(),
            _mark_sending(),
            _DELIVERY,
            marks,
            where=(("id", "_id"),),
            sets=(("sending_at", "now"), ("lease_expires_at", "lease")),
        )
    return [cast(Verdict, verdict) for verdict in verdicts]


def _one_statement(session: Session) -> bool:
    """Whether the checks and results of a batch are written with one guarded statement each
    (``UPDATE ... RETURNING``) instead of a locked read and an update: on PostgreSQL, where
    each statement is a round trip to the server. On SQLite statements cost no round trip,
    and one read and one ``executemany`` over a batch cost less Python than a statement per
    row (SQLite has no ``unnest`` to update many rows with one statement)."""
    return session.get_bind().dialect.name == "postgresql"


def _begin_sending(session: Session, checks: list[SendCheck]) -> set[int]:
    """PostgreSQL: mark the rows of ``checks`` that hold and may be sent as being sent, with
    one statement; their ids."""
    values = {
        "c_ids": [c.claim.delivery_id for c in checks],
        "c_owners": [c.settings.worker_id for c in checks],
        "c_attempts": [c.claim.attempt for c in checks],
        "c_recs": [c.claim.reconcile_attempts for c in checks],
        "c_nows": [c.now for c in checks],
        "c_leases": [c.now + timedelta(seconds=c.settings.lease_seconds) for c in checks],
    }
    return set(session.connection().execute(_begin_sending_statement(), values).scalars())


@lru_cache(maxsize=1)
def _begin_sending_statement() -> Any:
    """``UPDATE delivery SET sending_at, lease_expires_at FROM unnest(the checks), post,
    channel WHERE <the fencing token> AND sending_at IS NULL AND <sendable at the check's
    instant> RETURNING id``."""
    table = _DELIVERY

    def array(name: str, column: str) -> Any:
        return bindparam(name, type_=postgresql.ARRAY(table.c[column].type))

    v = (
        func.unnest(
            array("c_ids", "id"),
            array("c_owners", "lease_owner"),
            array("c_attempts", "attempts"),
            array("c_recs", "reconcile_attempts"),
            array("c_nows", "sending_at"),
            array("c_leases", "lease_expires_at"),
        )
        .table_valued("id", "owner", "attempt", "rec", "now", "lease")
        .render_derived(name="v")
    )
    return (
        update(table)
        .where(
            table.c.id == v.c.id,
            table.c.state == S.publishing.value,
            table.c.lease_owner == v.c.owner,
            table.c.attempts == v.c.attempt,
            table.c.reconcile_attempts == v.c.rec,
            table.c.sending_at.is_(None),
            Post.id == table.c.post_id,
            Channel.id == table.c.channel_id,
            sendable(v.c.now),
        )
        .values(sending_at=v.c.now, lease_expires_at=v.c.lease)
        .returning(table.c.id)
    )


@lru_cache(maxsize=1)
def _mark_sending() -> Any:
    return (
        update(_DELIVERY)
        .where(_DELIVERY.c.id == bindparam("_id"))
        .values(sending_at=bindparam("now"), lease_expires_at=bindparam("lease"))
    )


def begin_send(
    sessions: sessionmaker[Session], claim: Claim, settings: Settings, now: datetime
) -> bool:
    """`begin_sends` for one claim, in its own transaction: True when it may be sent now."""
    return Direct(sessions).run(Batch(begin_sends, SendCheck(claim, settings, now))) is (
        Verdict.SEND
    )


Waiter = Callable[[datetime], bool]
"""Blocks until the given instant; False when the daemon is stopping instead."""


class Turn(Protocol):
    """A claim's place among its channel's sends (`scheduler.lanes.Turn`)."""

    def calling(self) -> bool:
        """Right before the call (the check said send); may wait. True when an answer other
        than a publication came on the channel after this claim's turn began, which its check
        may not have seen (a rate limit, a pause): it is checked again before the call."""

    def answered(self, result: Published | ConnectorError) -> None:
        """The call was answered (or failed), before its outcome is queued."""


def send_claim(
    sessions: sessionmaker[Session],
    pool: ConnectorPool,
    claim: Claim,
    settings: Settings,
    clock: Callable[[], datetime],
    *,
    wait_until: Waiter,
    stopping: threading.Event,
    rng: random.Random,
    transactions: Transactions | None = None,
    turn: Turn | None = None,
) -> Future[PassStats]:
    """Send one claim at its slot, exactly as described in the module docstring, up to the
    platform's answer, whose recording is queued on ``transactions`` (default: each job in its
    own transaction) without waiting for it: the future resolves once that outcome is committed
    (or could not be: logged; the row stays ``publishing`` for recovery), never with an
    exception. Jobs queued later on ``transactions`` (the next check of the channel's lane)
    commit no earlier than it. ``turn`` (`scheduler.lanes`) is told right before the call and
    when it is answered."""
    run = transactions or Direct(sessions)
    stats = PassStats()
    began: float | None = None
    try:
        prepare_media(sessions, claim.media, settings.media_cache)
    except MediaMissing as exc:
        fail_locally(sessions, claim, settings, clock(), str(exc))
        stats.failed += 1
        return _done(stats)
    except OSError as exc:
        # The media cache could not be written (a full disk, a permission): nothing was sent,
        # so the claim goes back at once and a later pass tries again, instead of the row
        # waiting for its lease to run out.
        log.warning(
            "delivery %s %s: its media could not be written to the cache (%s); not sent, "
            "handed back",
            claim.delivery_id,
            claim.label,
            exc,
        )
        stats.handed_back += hand_back_claims(
            run,
            [claim],
            settings,
            clock(),
            reason=f"not sent: its media could not be written to the cache ({exc})",
        )
        return _done(stats)
    if stopping.is_set() or not wait_until(claim.slot - timedelta(seconds=SEND_CHECK_AHEAD)):
        stats.handed_back += hand_back_claims(
            run, [claim], settings, clock(), reason="daemon stopping before sending"
        )
        return _done(stats)
    try:
        with pool.lease(claim.channel) as connector:
            check = SendCheck(claim, settings, clock())
            verdict = run.run(_settled(check))
            if verdict is Verdict.SEND:
                wait_until(claim.slot)  # a few ms; the row already says it is being sent
                if turn is not None and turn.calling():
                    # An error answer of the channel came since this claim's turn began: its
                    # check may not have seen it. Check again (after error answers only).
                    again = SendCheck(claim, settings, clock(), marked_at=check.now)
                    verdict = run.run(_settled(again))
            if verdict is Verdict.STALE:
                log.warning(
                    "delivery %s %s: claim taken over before its send; not sending it",
                    claim.delivery_id,
                    claim.label,
                )
                stats.stale += 1
                return _done(stats)
            if verdict is Verdict.REFUSED:
                stats.handed_back += 1
                return _done(stats)
            began = time.monotonic()
            result: Published | ConnectorError = connector.publish(claim.post)
    except UnknownChannelError as exc:
        pause_channel(sessions, claim.channel, str(exc), clock(), settings)
        stats.handed_back += hand_back_claims(run, [claim], settings, clock(), reason=str(exc))
        return _done(stats)
    except ConnectorError as exc:
        result = exc
    except Exception as exc:
        log.exception(
            "delivery %s %s: unexpected error from the connector", claim.delivery_id, claim.label
        )
        result = AmbiguousError(f"unexpected {type(exc).__name__}: {exc}", channel=claim.channel)
    if turn is not None:
        turn.answered(result)
    outcome = Outcome(claim, result, settings, clock(), rng)
    done: Future[PassStats] = Future()

    def recorded(job: Future[Verdict | PassStats]) -> None:
        try:
            value = job.result()
            assert isinstance(value, PassStats)
            stats.add(value)
            if began is not None:
                stats.busy.append(time.monotonic() - began)
        except Exception:
            # The row stays ``publishing``, marked as sent: recovery reconciles it.
            log.exception(
                "delivery %s %s: could not record the outcome (%s); recovery will reconcile it",
                claim.delivery_id,
                claim.label,
                type(result).__name__,
            )
        done.set_result(stats)

    run.submit(_settled(outcome)).add_done_callback(recorded)
    return done


def _done(stats: PassStats) -> Future[PassStats]:
    future: Future[PassStats] = Future()
    future.set_result(stats)
    return future


def _locked(session: Session, delivery_id: int) -> Delivery | None:
    return session.scalar(
        select(Delivery)
        .where(Delivery.id == delivery_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


@dataclass(frozen=True)
class Outcome:
    """The platform's answer to a claim, to record."""

    claim: Claim
    result: Published | ConnectorError
    settings: Settings
    now: datetime
    rng: random.Random


def record_many(
    session: Session, outcomes: list[Outcome], *, rows: dict[int, Any] | None = None
) -> list[PassStats]:
    """Record the platform's answers (a writer job). Publications whose claims still hold go
    in together (one query, one update, one audit insert); anything else is recorded one by
    one against the row as it is now. ``rows``: the publications' rows, read by the caller in
    this transaction (`settle`); each is taken out of it."""
    stats = [PassStats() for _ in outcomes]
    done: set[int] = set()
    fast = [i for i, o in enumerate(outcomes) if isinstance(o.result, Published)]
    if fast and rows is None and _one_statement(session):
        done = _record_guarded(session, outcomes, fast, stats)
    elif fast:
        if rows is None:
            ids = [outcomes[i].claim.delivery_id for i in fast]
            rows = _locked_states(session, ids, max(outcomes[i].now for i in fast))
        moves: list[RowMove] = []
        resumed: set[int] = set()
        for i in fast:
            outcome = outcomes[i]
            claim, result = outcome.claim, outcome.result
            assert isinstance(result, Published)
            row = rows.pop(claim.delivery_id, None)
            if not _holds(row, claim, outcome.settings):
                continue
            if row.resumed_from_pause is not None:
                resumed.add(claim.delivery_id)
            moves.append(_published_move(claim, result, outcome.settings))
            stats[i].published += 1
            stats[i].lateness.append((result.published_at - claim.due_at).total_seconds())
            done.add(i)
        if moves:
            transition_rows(
                session,
                moves,
                actor=f"daemon:{outcomes[fast[0]].settings.worker_id}",
                at=max(outcomes[i].now for i in fast),
                checked=True,
                resumed=resumed,
            )
    for i, outcome in enumerate(outcomes):
        if i not in done:
            _record_slowly(
                session,
                outcome.claim,
                outcome.result,
                outcome.settings,
                outcome.now,
                stats[i],
                rng=outcome.rng,
            )
    return stats


def _record_guarded(
    session: Session, outcomes: list[Outcome], fast: list[int], stats: list[PassStats]
) -> set[int]:
    """PostgreSQL: the publications of ``outcomes`` (at ``fast``) whose claims still hold,
    recorded with one guarded statement (`transition_rows`: its WHERE clause is the fencing
    token, RETURNING says which moved); which they were."""
    moves = [
        _published_move(outcomes[i].claim, outcomes[i].result, outcomes[i].settings, guard=True)
        for i in fast
    ]
    moved = transition_rows(
        session,
        moves,
        actor=f"daemon:{outcomes[fast[0]].settings.worker_id}",
        at=max(outcomes[i].now for i in fast),
    )
    kept = {id(move) for move in moved}
    done: set[int] = set()
    for i, move in zip(fast, moves, strict=True):
        if id(move) in kept:
            claim, result = outcomes[i].claim, cast(Published, outcomes[i].result)
            stats[i].published += 1
            stats[i].lateness.append((result.published_at - claim.due_at).total_seconds())
            done.add(i)
    return done


def settle(session: Session, items: list[SendCheck | Outcome]) -> list[Verdict | PassStats]:
    """The publishing threads' writer jobs of one transaction together: the platform's answers
    (`record_many`) and the checks before the next sends (`begin_sends`), after the
    kill-switch lock when there are checks. On PostgreSQL each is one guarded statement over
    the batch; elsewhere their rows are read in one locked query first. An answer and a check
    of the same row cannot meet here (a row's answer is queued after its check committed); if
    they did, the check would find the row taken and not send. An answer other than a
    publication may rate-limit or pause a channel whose next check is in the same batch: the
    checks are then made after it is recorded (and flushed), so they see it."""
    checks = [i for i, item in enumerate(items) if isinstance(item, SendCheck)]
    outcomes = [i for i, item in enumerate(items) if isinstance(item, Outcome)]
    asked = [cast(SendCheck, items[i]) for i in checks]
    answers = [cast(Outcome, items[i]) for i in outcomes]
    if checks:
        hold(session)
    after = any(not isinstance(answer.result, Published) for answer in answers)
    rows: dict[int, Any] | None = None
    at: datetime | None = None
    if not _one_statement(session):
        ids = [a.claim.delivery_id for a in answers if isinstance(a.result, Published)]
        if asked and not after:
            at = _checked_at(asked)
            ids = [check.claim.delivery_id for check in asked] + ids
        if ids:
            rows = _locked_states(session, ids, at or max(a.now for a in answers))
    values: list[Verdict | PassStats] = [Verdict.STALE] * len(items)
    if outcomes:
        for i, stats in zip(outcomes, record_many(session, answers, rows=rows), strict=True):
            values[i] = stats
    if checks:
        if after:
            session.flush()  # what the answers wrote, before the checks' plain statements
            rows = None
        verdicts = begin_sends(session, asked, rows=rows, at=at, held=True)
        for i, verdict in zip(checks, verdicts, strict=True):
            values[i] = verdict
    return values


def _settled(item: SendCheck | Outcome) -> Batch[SendCheck | Outcome, Verdict | PassStats]:
    """A writer job for ``item`` that the writer runs with the others of its transaction."""
    return Batch(settle, item)


def _published_move(
    claim: Claim, result: Published | ConnectorError, settings: Settings, *, guard: bool = False
) -> RowMove:
    """The move of a publication; with ``guard``, only if the claim (its fencing token) still
    holds."""
    assert isinstance(result, Published)
    late = (result.published_at - claim.due_at).total_seconds()
    reason = f"published (attempt {claim.attempt})"
    if late > settings.late_after_seconds:
        reason += f", {late:.0f}s late"
    url = result.url
    if url is not None:
        try:
            url = web_url(url)
        except UnsafeUrl as exc:
            # As `_mark_published`: the post exists; record it without that address.
            url = None
            reason += f"; the platform's URL was not stored ({exc})"
    schedule = settings.metrics_schedule
    return RowMove(
        claim.delivery_id,
        S.publishing,
        S.published,
        reason=reason,
        label=claim.label,
        values={
            "remote_id": result.remote_id,
            "remote_url": url,
            "published_at": result.published_at,
            "late_seconds": late if late > settings.late_after_seconds else None,
            "error_kind": None,
            "last_error": None,
            "next_attempt_at": None,
            "collect_step": 0,
            "next_collect_at": (
                result.published_at + timedelta(seconds=schedule[0]) if schedule else None
            ),
            "lease_owner": None,
            "lease_expires_at": None,
        },
        detail={"remote_id": result.remote_id, "url": url},
        guard=(
            {
                "lease_owner": settings.worker_id,
                "attempts": claim.attempt,
                "reconcile_attempts": claim.reconcile_attempts,
            }
            if guard
            else {}
        ),
    )


def record_in(
    session: Session,
    claim: Claim,
    result: Published | ConnectorError,
    settings: Settings,
    now: datetime,
    *,
    rng: random.Random,
) -> PassStats:
    """Record the platform's answer to ``claim`` in ``session``'s transaction."""
    return record_many(session, [Outcome(claim, result, settings, now, rng)])[0]


def record_result(
    sessions: sessionmaker[Session],
    claim: Claim,
    result: Published | ConnectorError,
    settings: Settings,
    now: datetime,
    stats: PassStats,
    *,
    rng: random.Random,
) -> None:
    """`record_in` in its own committed transaction, adding to ``stats``."""
    stats.add(
        Direct(sessions).run(
            lambda session: record_in(session, claim, result, settings, now, rng=rng)
        )
    )


def _record_slowly(
    session: Session,
    claim: Claim,
    result: Published | ConnectorError,
    settings: Settings,
    now: datetime,
    stats: PassStats,
    *,
    rng: random.Random,
) -> PassStats:
    """The outcomes that need the row as it is now: errors, and a publication whose claim
    moved on meanwhile."""
    actor = f"daemon:{settings.worker_id}"
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
        return stats
    if not holds(delivery, settings, claim.attempt, claim.reconcile_attempts):
        log.warning(
            "delivery %s %s: %s after the claim moved on (now %s, attempt %d); leaving it",
            claim.delivery_id,
            claim.label,
            result.kind,
            delivery.state,
            delivery.attempts,
        )
        return stats
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
        # A rate limit, or a server error whose Retry-After said when to come back (a server in
        # maintenance, a proxy shedding load): the same server answers the channel's every
        # call, so the channel waits as for a rate limit; the attempt counts either way.
        retry_after = (
            result.retry_after if isinstance(result, RateLimitedError | TransientError) else None
        )
        if retry_after:
            blocked = now + timedelta(seconds=retry_after)
            if channel.blocked_until is None or channel.blocked_until < blocked:
                block_channel(session, channel, blocked, result, now, actor=actor)
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
    return stats


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


def hand_back_claims(
    run: Transactions, claims: Sequence[Claim], settings: Settings, now: datetime, *, reason: str
) -> int:
    """Undo claims that were never sent (shutdown, paused or unknown channel); how many were
    still this worker's to hand back."""
    return len(run.run(lambda session: hand_back_in(session, claims, settings, now, reason=reason)))


def hand_back_in(
    session: Session,
    claims: Sequence[Claim],
    settings: Settings,
    now: datetime,
    *,
    reason: str,
    marked_at: datetime | None = None,
) -> list[RowMove]:
    """Undo ``claims`` never sent: rows still this worker's and not being sent (``marked_at``:
    marked as being sent at that instant by a check whose call was not made) go back to where
    they were, their attempt not counted, their due time kept."""
    moves = [
        RowMove(
            claim.delivery_id,
            S.publishing,
            S.approved if claim.attempt == 1 else S.scheduled,
            reason=f"handed back: {reason}",
            label=claim.label,
            values={
                "attempts": claim.attempt - 1,
                "lease_owner": None,
                "lease_expires_at": None,
                "sending_at": None,
            },
            guard={
                "lease_owner": settings.worker_id,
                "attempts": claim.attempt,
                "reconcile_attempts": claim.reconcile_attempts,
                "sending_at": marked_at,
            },
        )
        for claim in claims
    ]
    return transition_rows(session, moves, actor=f"daemon:{settings.worker_id}", at=now)


def hand_back(
    sessions: sessionmaker[Session],
    claim: Claim,
    settings: Settings,
    now: datetime,
    *,
    reason: str,
) -> None:
    """Undo a claim that was never sent, in its own transaction."""
    hand_back_claims(Direct(sessions), [claim], settings, now, reason=reason)


def block_channel(
    session: Session,
    channel: Channel,
    until: datetime,
    result: ConnectorError,
    now: datetime,
    *,
    actor: str,
) -> None:
    """Block ``channel`` until ``until`` for ``result`` (a rate limit, or a server error that
    said when to come back), with an audit entry saying which (`campaigns.gate.channel_block`
    reads it back for the words shown wherever the block is)."""
    from campaigns.states import record

    cause = RATE_LIMIT if isinstance(result, RateLimitedError) else UNAVAILABLE
    block = Block(until, cause, result.status)
    extended = channel.blocked_until is not None and channel.blocked_until > now
    channel.blocked_until = until
    record(
        session,
        actor=actor,
        entity="channel",
        entity_id=channel.name,
        at=now,
        from_state=BLOCKED if extended else "active",
        to_state=BLOCKED,
        reason=block.words(),
        detail=block.detail(),
    )


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
