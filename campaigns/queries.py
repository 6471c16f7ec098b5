"""Read-only views of campaigns for the CLI: summaries, one campaign in detail, the delivery
timeline for calendar export. Plain dicts and lists out, no ORM objects."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.schema import (
    Approval,
    Audience,
    AudienceChannel,
    Campaign,
    Channel,
    Delivery,
    Post,
    Workspace,
)


def workspace_id(session: Session) -> str:
    """This database's UUID (made by migration 0004; made here if someone removed it)."""
    found = session.scalar(select(Workspace.id).order_by(Workspace.created_at).limit(1))
    if found is not None:
        return found
    import uuid
    from datetime import UTC

    row = Workspace(id=str(uuid.uuid4()), created_at=datetime.now(UTC))
    session.add(row)
    session.flush()
    return row.id


def campaign_summaries(session: Session) -> list[dict[str, Any]]:
    states: dict[str, Counter[str]] = defaultdict(Counter)
    for cid, state, count in session.execute(
        select(Post.campaign_id, Delivery.state, func.count())
        .join(Delivery, Delivery.post_id == Post.id)
        .group_by(Post.campaign_id, Delivery.state)
    ):
        states[cid][state] += count
    posts = dict(
        session.execute(
            select(Post.campaign_id, func.count())
            .where(Post.retired.is_(False))
            .group_by(Post.campaign_id)
        ).all()
    )
    pending = dict(
        session.execute(
            select(Post.campaign_id, func.count())
            .where(Post.retired.is_(False), Post.approval == Approval.pending)
            .group_by(Post.campaign_id)
        ).all()
    )
    out = []
    for c in session.scalars(select(Campaign).order_by(Campaign.starts_on, Campaign.id)):
        out.append(
            {
                "id": c.id,
                "title": c.title,
                "country": c.country,
                "narrative": c.narrative,
                "starts": c.starts_on.isoformat(),
                "ends": c.ends_on.isoformat(),
                "posts": posts.get(c.id, 0),
                "pending_approval": pending.get(c.id, 0),
                "deliveries": sum(states[c.id].values()),
                "states": dict(sorted(states[c.id].items())),
            }
        )
    return out


def campaign_detail(session: Session, campaign_id: str) -> dict[str, Any] | None:
    c = session.get(Campaign, campaign_id)
    if c is None:
        return None
    channel_names = dict(session.execute(select(Channel.id, Channel.name)).all())
    audience_channels: dict[int, list[str]] = defaultdict(list)
    for audience_id, channel_id in session.execute(
        select(AudienceChannel.audience_id, AudienceChannel.channel_id)
    ):
        audience_channels[audience_id].append(channel_names[channel_id])
    audiences = session.scalars(
        select(Audience).where(Audience.campaign_id == campaign_id).order_by(Audience.id)
    ).all()
    posts = session.scalars(
        select(Post).where(Post.campaign_id == campaign_id).order_by(Post.id)
    ).all()
    deliveries = session.scalars(
        select(Delivery)
        .join(Post)
        .where(Post.campaign_id == campaign_id)
        .order_by(Delivery.due_at, Delivery.id)
    ).all()
    keys = {p.id: p.key for p in posts}
    by_post: dict[int, Counter[str]] = defaultdict(Counter)
    for d in deliveries:
        by_post[d.post_id][d.state] += 1
    return {
        "campaign": {
            "id": c.id,
            "title": c.title,
            "country": c.country,
            "market": c.market,
            "narrative": c.narrative,
            "narratives": c.narratives,
            "starts": c.starts_on.isoformat(),
            "ends": c.ends_on.isoformat(),
            "timezone": c.timezone,
            "hashtags": c.hashtags,
            "requires_approval": c.requires_approval,
            "grace_minutes": c.grace_minutes,
            "source": c.source_path,
        },
        "audiences": [
            {
                "key": a.key,
                "name": a.name,
                "group": a.group,
                "languages": a.languages,
                "timezone": a.timezone,
                "channels": sorted(audience_channels[a.id]),
            }
            for a in audiences
        ],
        "posts": [
            {
                "key": p.key,
                "category": p.category,
                "narrative": p.narrative,
                "variant": p.variant,
                "approval": p.approval,
                "approved_by": p.approved_by,
                "retired": p.retired,
                "states": dict(sorted(by_post[p.id].items())),
            }
            for p in posts
        ],
        "deliveries": [_delivery(d, keys, channel_names) for d in deliveries],
    }


def _delivery(d: Delivery, keys: dict[int, str], channels: dict[int, str]) -> dict[str, Any]:
    return {
        "id": d.id,
        "post": keys.get(d.post_id, str(d.post_id))
        + (f"#{d.occurrence + 1}" if d.occurrence else ""),
        "channel": channels[d.channel_id],
        "language": d.language,
        "due_at": d.due_at,
        "local_due": d.local_due.replace("T", " "),
        "timezone": d.timezone,
        "state": d.state,
        "attempts": d.attempts,
        "remote_url": d.remote_url,
        "published_at": d.published_at,
        "last_error": d.last_error,
    }


def timeline(
    session: Session,
    *,
    campaign: str | None = None,
    since: datetime | None = None,
    include_cancelled: bool = False,
) -> list[dict[str, Any]]:
    """Deliveries in time order with their post, campaign and channel: the calendar."""
    query = (
        select(Delivery, Post, Campaign, Channel)
        .join(Post, Delivery.post_id == Post.id)
        .join(Campaign, Post.campaign_id == Campaign.id)
        .join(Channel, Delivery.channel_id == Channel.id)
        .order_by(Delivery.due_at, Channel.name)
    )
    if campaign:
        query = query.where(Campaign.id == campaign)
    if since:
        query = query.where(Delivery.due_at >= since)
    if not include_cancelled:
        query = query.where(Delivery.state != "cancelled")
    rows = []
    for d, p, c, ch in session.execute(query):
        rows.append(
            {
                "delivery": d.id,
                "campaign": c.id,
                "campaign_title": c.title,
                "post": p.key,
                "occurrence": d.occurrence,
                "category": p.category,
                "variant": p.variant,
                "channel": ch.name,
                "platform": ch.platform,
                "language": d.language,
                "due_at": d.due_at,
                "local_due": d.local_due,
                "timezone": d.timezone,
                "state": d.state,
                "approval": p.approval,
                "text": d.text,
                "remote_url": d.remote_url,
            }
        )
    return rows
