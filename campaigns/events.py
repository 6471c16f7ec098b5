"""Alert events: recording them, once, in the transaction of the change that caused them, and
queueing each for the notifiers that want it (the outbox) in that same transaction.

`audited` is called by `campaigns.states.record` — the one audited function every state change
goes through — so no path can change a delivery or pause a channel without its event. Conditions
found by looking rather than by a change (no daemon heartbeat, collection failing for a day, an
approval still missing before a post's time...) are recorded with `raise_event` and a ``key``: the
same condition found again, by any process, is not a new event.

This module writes rows; it sends nothing (``scheduler.alerts`` does) and reads no configuration
(the routing comes from the ``notifier`` table the daemon keeps in step with elshi.toml).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from campaigns.schema import (
    AlertEvent,
    AlertOutbox,
    AudienceChannel,
    Campaign,
    Channel,
    Delivery,
    Notifier,
    OutboxState,
)
from campaigns.schema import Audience as _Audience


@dataclass(frozen=True)
class EventKind:
    name: str
    label: str
    """A short human name (e-mail subjects, digests)."""


EVENT_KINDS: dict[str, EventKind] = {
    k.name: k
    for k in (
        EventKind("delivery_failed", "Delivery failed"),
        EventKind("delivery_needs_review", "Delivery needs review"),
        EventKind("delivery_missed", "Delivery missed"),
        EventKind("channel_paused", "Channel paused"),
        EventKind("token_expiring", "Token expiring"),
        EventKind("approval_overdue", "Approval not complete"),
        EventKind("collection_failing", "Metric collection failing"),
        EventKind("daemon_silent", "No daemon running"),
        EventKind("published_after_resume", "Published after a resume"),
    )
}
"""Every event kind, by the name a ``[notify.NAME] events = [...]`` list uses."""

_DELIVERY_EVENTS = {
    "failed": "delivery_failed",
    "needs_review": "delivery_needs_review",
    "missed": "delivery_missed",
}


def audited(
    session: Session,
    *,
    entity: str,
    entity_id: str,
    at: datetime,
    from_state: str | None,
    to_state: str | None,
    reason: str | None,
    detail: dict[str, Any] | None,
) -> None:
    """Record the event an audited change implies, if any (called by `states.record`)."""
    if entity == "delivery" and to_state in _DELIVERY_EVENTS and from_state != to_state:
        delivery = session.get(Delivery, int(entity_id))
        if delivery is not None:
            _delivery_event(session, delivery, _DELIVERY_EVENTS[to_state], at, reason or "")
    elif entity == "channel" and to_state == "paused" and from_state != "paused":
        _channel_paused(session, entity_id, at, reason or "")
    elif entity == "delivery" and to_state == "published" and from_state != to_state:
        delivery = session.get(Delivery, int(entity_id))
        if delivery is not None and delivery.resumed_from_pause is not None:
            _delivery_event(session, delivery, "published_after_resume", at, reason or "")


def audited_many(
    session: Session,
    entries: Iterable[dict[str, Any]],
    *,
    resumed: Collection[int] | None = None,
) -> None:
    """`audited` for many audited changes at once (the daemon's batches, through
    `states.transition_rows`; each entry holds `audited`'s keyword arguments). Publications
    imply an event only after a resume: one query finds those, instead of a row read each,
    unless the caller knows them (``resumed``: the deliveries that resumed from a pause)."""
    entries = list(entries)
    published = [
        int(e["entity_id"])
        for e in entries
        if e["entity"] == "delivery" and e["to_state"] == "published" != e["from_state"]
    ]
    if resumed is None:
        resumed = (
            set(
                session.scalars(
                    select(Delivery.id).where(
                        Delivery.id.in_(published), Delivery.resumed_from_pause.is_not(None)
                    )
                )
            )
            if published
            else set()
        )
    for entry in entries:
        publication = entry["entity"] == "delivery" and entry["to_state"] == "published"
        if publication and int(entry["entity_id"]) not in resumed:
            continue
        audited(session, **entry)


def _delivery_event(
    session: Session, delivery: Delivery, kind: str, at: datetime, reason: str
) -> None:
    post, channel = delivery.post, delivery.channel
    campaign = post.campaign
    label = f"{campaign.id}/{post.key}" + (
        f"#{delivery.occurrence + 1}" if delivery.occurrence else ""
    )
    local = f"{delivery.local_due.replace('T', ' ')} {delivery.timezone}"
    what = {
        "delivery_failed": "failed",
        "delivery_needs_review": "needs review",
        "delivery_missed": "was missed",
        "published_after_resume": "was published after a resume",
    }[kind]
    action = {
        "delivery_failed": "Read the reason; fix the post (campaign file, then elshi campaign "
        f"apply) and send it again with: elshi deliveries retry {delivery.id} — or cancel it: "
        f"elshi deliveries cancel {delivery.id}",
        "delivery_needs_review": f"Look at channel {channel.name}: if the post is there, run "
        f"elshi deliveries resolve {delivery.id} --published URL; if not, "
        f"elshi deliveries resolve {delivery.id} --not-published",
        "delivery_missed": "If it is still worth sending, run: "
        f"elshi deliveries retry {delivery.id}; otherwise nothing to do",
        "published_after_resume": "Check that the post is still right now that publishing "
        f"resumed: {delivery.remote_url or 'see the channel'}",
    }[kind]
    raise_event(
        session,
        kind,
        at=at,
        title=f"{label} on {channel.name} (due {local}) {what}: {reason}",
        action=action,
        campaign=campaign.id,
        countries=[campaign.country],
        channel=channel.name,
        post_id=post.id,
        delivery_id=delivery.id,
        detail={
            "post": post.key,
            "campaign_title": campaign.title,
            "due_at": delivery.due_at.isoformat(),
            "local_due": local,
            "reason": reason,
            "url": delivery.remote_url,
        },
    )


def _channel_paused(session: Session, name: str, at: datetime, reason: str) -> None:
    campaigns = channel_campaigns(session, name)
    raise_event(
        session,
        "channel_paused",
        at=at,
        title=f"Channel {name} is paused: {reason}. Nothing is published to it until it is "
        "resumed.",
        action=f"Renew the channel's credentials (the environment variables its [channels.{name}] "
        f"table names), check them with: elshi channels check {name} — then: "
        f"elshi channels resume {name}",
        campaign=campaigns[0][0] if len(campaigns) == 1 else None,
        campaigns=[c for c, _ in campaigns],
        countries=sorted({country for _, country in campaigns}),
        channel=name,
        detail={"reason": reason},
    )


def channel_campaigns(session: Session, channel: str) -> list[tuple[str, str]]:
    """(campaign id, country) of every campaign with an audience on ``channel``."""
    rows = session.execute(
        select(Campaign.id, Campaign.country)
        .join(_Audience, _Audience.campaign_id == Campaign.id)
        .join(AudienceChannel, AudienceChannel.audience_id == _Audience.id)
        .join(Channel, Channel.id == AudienceChannel.channel_id)
        .where(Channel.name == channel)
        .distinct()
        .order_by(Campaign.id)
    ).all()
    return [(cid, country) for cid, country in rows]


def raise_event(
    session: Session,
    kind: str,
    *,
    at: datetime,
    title: str,
    action: str,
    key: str | None = None,
    campaign: str | None = None,
    campaigns: Iterable[str] = (),
    countries: Iterable[str] = (),
    channel: str | None = None,
    post_id: int | None = None,
    delivery_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> AlertEvent | None:
    """Record one event and queue it for every active notifier that wants it, in the caller's
    transaction. With ``key``, an event already recorded under that key (by this or another
    process) is not recorded again: None is returned."""
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown event kind {kind!r}")
    if key is not None and session.scalar(select(AlertEvent.id).where(AlertEvent.key == key)):
        return None
    scope = {
        "campaigns": sorted({*campaigns, *([campaign] if campaign else [])}),
        "countries": sorted(set(countries)),
    }
    event = AlertEvent(
        kind=kind,
        at=at,
        key=key,
        campaign_id=campaign,
        channel=channel,
        post_id=post_id,
        delivery_id=delivery_id,
        title=title,
        action=action,
        detail={**(detail or {}), **scope},
    )
    outbox = [
        AlertOutbox(
            event=event,
            notifier=route.name,
            state=OutboxState.pending.value,
            created_at=at,
            attempts=0,
        )
        for route in _routes(session)
        if wants(route, kind, scope["campaigns"], scope["countries"])
    ]
    if key is None:
        session.add(event)
        session.add_all(outbox)
        return event
    try:
        # Another process may record the same condition at the same moment: the unique key
        # decides, and the loser's savepoint is rolled back without touching its transaction.
        with session.begin_nested():
            session.add(event)
            session.add_all(outbox)
            session.flush()
    except IntegrityError:
        return None
    return event


def wants(route: Notifier, kind: str, campaigns: list[str], countries: list[str]) -> bool:
    """Whether a notifier's filters let this event through. An event tied to no campaign
    (no daemon, a channel no campaign uses yet) reaches every notifier that wants its kind."""
    if route.events and kind not in route.events:
        return False
    if route.campaigns and campaigns and not set(route.campaigns) & set(campaigns):
        return False
    return not (route.countries and countries and not set(route.countries) & set(countries))


def _routes(session: Session) -> list[Notifier]:
    # Read once per transaction: a burst of 200 missed deliveries asks once.
    transaction = session.get_transaction()
    cached = session.info.get("elshi_routes")
    if cached is not None and cached[0] is transaction:
        return list(cached[1])
    routes = list(session.scalars(select(Notifier).where(Notifier.active.is_(True))))
    session.info["elshi_routes"] = (transaction, routes)
    return routes
