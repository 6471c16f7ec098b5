"""What an operator does to deliveries by hand, and what `elshi status` shows.

`retry` re-queues failed, missed or cancelled deliveries (due now); `cancel` stops waiting ones;
`resolve` settles a ``needs_review`` row once a person has looked at the channel: published
(with its URL) or not published (then it is re-queued, or cancelled with ``--cancel``).
`resume_channel` un-pauses a channel after its credentials were fixed. Each change is audited
with the operator's name; a `Person` must hold the operator role (`campaigns.people`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns import typedtext
from campaigns.gate import channel_block, is_approved
from campaigns.links import UnsafeUrl
from campaigns.pauses import active as active_pauses
from campaigns.people import Person, acting
from campaigns.schema import Campaign, Channel, Delivery, Post, Worker, due_state
from campaigns.schema import DeliveryState as S
from campaigns.states import TransitionError, record, transition
from scheduler.errors import OperationError as OperationError

ATTENTION = (S.failed, S.missed, S.needs_review)


@dataclass(frozen=True)
class Outcome:
    delivery: int
    before: str
    after: str
    note: str = ""


def _rows(session: Session, ids: Sequence[int]) -> list[Delivery]:
    rows = list(session.scalars(select(Delivery).where(Delivery.id.in_(ids)).with_for_update()))
    missing = sorted(set(ids) - {d.id for d in rows})
    if missing:
        raise OperationError(f"no deliveries with id {', '.join(map(str, missing))}")
    return sorted(rows, key=lambda d: ids.index(d.id))


def retry(
    session: Session, ids: Sequence[int], *, actor: str | Person, now: datetime
) -> list[Outcome]:
    actor = acting(session, actor, "delivery.retry")
    out = []
    for d in _rows(session, ids):
        before = d.state
        if d.state not in (S.failed, S.missed, S.cancelled, S.scheduled):
            raise OperationError(
                f"delivery {d.id} is {d.state}: only failed, missed, cancelled "
                "or scheduled deliveries can be retried"
            )
        if not is_approved(d.post):
            raise OperationError(
                f"delivery {d.id}: its post is {d.post.approval}; approve it "
                "first (elshi post approve)"
            )
        d.attempts = 0
        d.next_attempt_at = now
        d.error_kind = None
        d.last_error = None
        # With no attempt yet, the missed window counts from next_attempt_at: the operator's now.
        if d.state != S.scheduled:
            transition(session, d, S.scheduled, actor=actor, at=now, reason="retry requested")
        out.append(Outcome(d.id, before, d.state))
    return out


def cancel(
    session: Session, ids: Sequence[int], *, actor: str | Person, now: datetime, reason: str | None
) -> list[Outcome]:
    actor = acting(session, actor, "delivery.cancel")
    reason = (reason or "").strip() or None
    wrong = typedtext.problem(reason or "", "the reason", limit=typedtext.REASON)
    if wrong is not None:
        raise OperationError(wrong)
    out = []
    for d in _rows(session, ids):
        before = d.state
        try:
            transition(
                session,
                d,
                S.cancelled,
                actor=actor,
                at=now,
                reason=f"cancelled by operator{': ' + reason if reason else ''}",
            )
        except TransitionError:
            raise OperationError(
                f"delivery {d.id} is {before}; it cannot be cancelled"
                + (" (it is being published right now)" if before == S.publishing else "")
            ) from None
        d.last_error = f"cancelled by {actor}" + (f": {reason}" if reason else "")
        out.append(Outcome(d.id, before, d.state))
    return out


def resolve(
    session: Session,
    ids: Sequence[int],
    *,
    actor: str | Person,
    now: datetime,
    published_url: str | None,
    remote_id: str | None,
    cancel_instead: bool,
    metrics_schedule: Sequence[float] = (),
    identify: Callable[[str, str], str] | None = None,
) -> list[Outcome]:
    """Settle ``needs_review`` deliveries. With ``published_url``, the remote id is
    ``remote_id`` when given, else what ``identify(channel, url)`` reads from the platform's
    permalink (the channel's connector: each platform has its own form, and the last path
    segment is not always the id — Bluesky needs the at-uri, Weibo decodes base 62);
    without either, the last path segment (for callers with no configuration)."""
    actor = acting(session, actor, "delivery.resolve")
    remote_id = (remote_id or "").strip() or None
    wrong = typedtext.problem(
        remote_id or "", "the remote id", limit=typedtext.REMOTE_ID, one_line=True
    )
    if wrong is not None:
        raise OperationError(wrong)
    out = []
    for d in _rows(session, ids):
        before = d.state
        if d.state != S.needs_review:
            raise OperationError(f"delivery {d.id} is {d.state}, not needs_review")
        if published_url:
            try:
                d.remote_url = published_url
            except UnsafeUrl as exc:
                # Only web addresses are stored; a page that is not one still names the post
                # when the channel's own connector recognises it (a sandbox's file:// outbox).
                if identify is None or not _recognised(d, published_url, identify):
                    raise OperationError(f"--published: {exc}") from None
            d.remote_id = remote_id or _remote_id(d, published_url, identify)
            d.published_at = d.claimed_at or now
            d.next_collect_at = (
                d.published_at + timedelta(seconds=metrics_schedule[0])
                if metrics_schedule
                else None
            )
            transition(
                session,
                d,
                S.published,
                actor=actor,
                at=now,
                reason=f"resolved by operator: published at {published_url}",
            )
        elif cancel_instead:
            transition(
                session,
                d,
                S.cancelled,
                actor=actor,
                at=now,
                reason="resolved by operator: not published; cancelled",
            )
        else:
            d.next_attempt_at = now
            transition(
                session,
                d,
                S.scheduled,
                actor=actor,
                at=now,
                reason="resolved by operator: not published; send again",
            )
        out.append(Outcome(d.id, before, d.state))
    return out


def _recognised(delivery: Delivery, url: str, identify: Callable[[str, str], str]) -> bool:
    from connectors.base import ConnectorError

    try:
        identify(delivery.channel.name, url)
    except ConnectorError:
        return False
    return True


def _remote_id(delivery: Delivery, url: str, identify: Callable[[str, str], str] | None) -> str:
    if identify is None:
        return url.rstrip("/").rsplit("/", 1)[-1]
    from connectors.base import ConnectorError

    try:
        return identify(delivery.channel.name, url)
    except ConnectorError as exc:
        raise OperationError(
            f"the published address {url}: {exc.message}; or give the post's remote id"
        ) from None


def resume_channel(session: Session, name: str, *, actor: str | Person, now: datetime) -> bool:
    actor = acting(session, actor, "channel.resume")
    channel = session.scalar(select(Channel).where(Channel.name == name))
    if channel is None:
        raise OperationError(f"no channel {name!r} in the database")
    if not channel.paused:
        return False
    record(
        session,
        actor=actor,
        entity="channel",
        entity_id=name,
        at=now,
        from_state="paused",
        to_state="active",
        reason=f"resumed (was: {channel.paused_reason})",
    )
    channel.paused = False
    channel.paused_reason = None
    channel.paused_at = None
    channel.blocked_until = None
    return True


def status(
    session: Session, now: datetime, *, upcoming: int = 10, campaign: str | None = None
) -> dict[str, Any]:
    """Counts by campaign × channel × state, what needs attention, what comes next."""
    base = (
        select(Campaign.id, Channel.name, Delivery.state, func.count())
        .select_from(Delivery)
        .join(Post, Delivery.post_id == Post.id)
        .join(Campaign, Post.campaign_id == Campaign.id)
        .join(Channel, Delivery.channel_id == Channel.id)
        .group_by(Campaign.id, Channel.name, Delivery.state)
    )
    if campaign:
        base = base.where(Campaign.id == campaign)
    counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for cid, channel, state, n in session.execute(base):
        counts[(cid, channel)][state] += n

    def detail(rows: Any) -> list[dict[str, Any]]:
        return [
            {
                "id": d.id,
                "campaign": p.campaign_id,
                "post": p.key + (f"#{d.occurrence + 1}" if d.occurrence else ""),
                "channel": ch.name,
                "state": d.state,
                "due_at": d.due_at,
                "local_due": f"{d.local_due.replace('T', ' ')} {d.timezone}",
                "attempts": d.attempts,
                "next_attempt_at": d.next_attempt_at,
                "lease_owner": d.lease_owner,
                "lease_expires_at": d.lease_expires_at,
                "reason": d.last_error,
                "url": d.remote_url,
            }
            for d, p, ch in rows
        ]

    def query(*where: Any, order: Any, limit: int | None = None) -> Any:
        q = (
            select(Delivery, Post, Channel)
            .join(Post, Delivery.post_id == Post.id)
            .join(Channel, Delivery.channel_id == Channel.id)
            .where(*where)
            .order_by(order)
        )
        if campaign:
            q = q.where(Post.campaign_id == campaign)
        return session.execute(q.limit(limit) if limit else q).all()

    attention = detail(
        query(Delivery.state.in_([s.value for s in ATTENTION]), order=Delivery.due_at)
    )
    reasons = _last_reasons(session, [a["id"] for a in attention])
    for item in attention:
        item["reason"] = reasons.get(item["id"]) or item["reason"]
    publishing = detail(query(Delivery.state == S.publishing.value, order=Delivery.claimed_at))
    overdue = detail(
        query(
            due_state(Delivery.state),
            func.coalesce(Delivery.next_attempt_at, Delivery.due_at) < now - timedelta(minutes=5),
            order=Delivery.due_at,
        )
    )
    nxt = detail(
        query(
            due_state(Delivery.state),
            order=func.coalesce(Delivery.next_attempt_at, Delivery.due_at),
            limit=upcoming,
        )
    )
    drafts = (
        session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.state == S.draft.value)
        )
        or 0
    )
    paused = [
        {"channel": c.name, "since": c.paused_at, "reason": c.paused_reason}
        for c in session.scalars(select(Channel).where(Channel.paused.is_(True)))
    ]
    pauses = [
        {
            "id": p.id,
            "scope": p.scope,
            "target": p.target,
            "reason": p.reason,
            "by": p.paused_by,
            "since": p.paused_at,
        }
        for p in active_pauses(session)
    ]
    # A block's cause (a rate limit, or the platform unavailable) from the audit entry that
    # recorded it; "words" says it as the refusals do.
    blocked = [
        {
            "channel": c.name,
            "until": block.until,
            "cause": block.cause,
            "status": block.status,
            "words": block.words(),
        }
        for c in session.scalars(select(Channel).where(Channel.blocked_until > now))
        if (block := channel_block(session, c)) is not None
    ]
    workers = [
        {
            "id": w.id,
            "heartbeat_at": w.heartbeat_at,
            "started_at": w.started_at,
            "alive": w.stopped_at is None
            and (
                now <= w.alive_until
                if w.alive_until is not None
                else now - w.heartbeat_at < timedelta(minutes=3)
            ),
        }
        for w in session.scalars(
            select(Worker).where(Worker.stopped_at.is_(None)).order_by(Worker.heartbeat_at.desc())
        )
    ]
    return {
        "now": now,
        "counts": [
            {"campaign": k[0], "channel": k[1], **dict(v)} for k, v in sorted(counts.items())
        ],
        "attention": attention,
        "publishing": publishing,
        "overdue": overdue,
        "upcoming": nxt,
        "drafts": drafts,
        "paused_channels": paused,
        "pauses": pauses,
        "rate_limited_channels": blocked,
        "daemons": workers,
    }


def _last_reasons(session: Session, ids: Sequence[int]) -> dict[int, str]:
    from campaigns.schema import AuditEntry

    if not ids:
        return {}
    out: dict[int, str] = {}
    rows = session.execute(
        select(AuditEntry.entity_id, AuditEntry.reason)
        .where(AuditEntry.entity == "delivery", AuditEntry.entity_id.in_([str(i) for i in ids]))
        .order_by(AuditEntry.id)
    )
    for entity_id, reason in rows:
        if reason:
            out[int(entity_id)] = reason
    return out
