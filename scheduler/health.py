"""What is wrong right now, found by looking at the database: the reasons ``elshi status --check``
fails, and the conditions the daemon turns into alert events (`scheduler.alerts`).

Each `Problem` names what happened and what to do. ``key`` identifies a condition that is
found by looking rather than caused by a change (no daemon heartbeat, collection failing for a
day, a post still waiting for approval close to its time, a token about to expire): the same
condition found again is the same event. Reads only; records nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.approval import status as chain_status
from campaigns.schema import (
    AlertOutbox,
    Campaign,
    Channel,
    Delivery,
    OutboxState,
    Post,
    ReportRun,
    Worker,
    due_state,
)
from campaigns.schema import DeliveryState as S

OVERDUE_AFTER = timedelta(minutes=5)
"""A claimable delivery this far past its time (and not being published) counts as overdue."""
ALERTS_FAILING_AFTER = 3
"""Tries after which an alert that could not be sent is a problem of its own."""


@dataclass(frozen=True)
class Thresholds:
    heartbeat_timeout: timedelta = timedelta(minutes=5)
    approval_lead: timedelta = timedelta(0)
    """Posts due within this time and still waiting for approval are a problem (0: only
    those already past their time)."""
    collection_grace: timedelta = timedelta(days=1)
    token_warning: timedelta = timedelta(days=14)


@dataclass(frozen=True)
class Problem:
    kind: str
    """An event kind of `campaigns.events.EVENT_KINDS`, or ``overdue`` / ``alerts_failing`` /
    ``kill_switch``."""
    message: str
    action: str
    key: str | None = None
    campaign: str | None = None
    countries: tuple[str, ...] = ()
    channel: str | None = None
    post_id: int | None = None
    delivery_id: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        return f"{self.kind}: {self.message} — {self.action}"


def problems(session: Session, now: datetime, thresholds: Thresholds) -> list[Problem]:
    """Everything ``elshi status --check`` fails on, most urgent first."""
    found: list[Problem] = []
    found += daemon_silent(session, now, thresholds.heartbeat_timeout)
    found += paused_channels(session)
    found += kill_switch(session)
    found += token_expiring(session, now, thresholds.token_warning)
    found += approval_overdue(session, now, thresholds.approval_lead)
    found += overdue(session, now)
    found += attention(session)
    found += collection_failing(session, now, thresholds.collection_grace)
    found += alerts_failing(session)
    return found


def last_heartbeat(session: Session) -> datetime | None:
    return session.scalar(select(func.max(Worker.heartbeat_at)))


def daemon_silent(session: Session, now: datetime, timeout: timedelta) -> list[Problem]:
    """No daemon (nor ``elshi run --once``) has shown a sign of life for ``timeout``; on a
    database that has never had one, only once there are deliveries to publish."""
    last = last_heartbeat(session)
    if last is not None and now - last <= timeout:
        return []
    if last is None:
        if not session.scalar(select(func.count()).select_from(Delivery)):
            return []
        message = "no daemon has ever run against this database; nothing is published"
    else:
        message = (
            f"no daemon heartbeat since {last:%Y-%m-%d %H:%M:%S} UTC "
            f"({_ago(now - last)} ago); nothing is published or collected"
        )
    return [
        Problem(
            "daemon_silent",
            message,
            "start it (systemctl start elshi, or elshi run) and look at its log for why it stopped",
            key=f"daemon_silent:{last.isoformat() if last else 'never'}",
            detail={"last_heartbeat": last.isoformat() if last else None},
        )
    ]


def kill_switch(session: Session) -> list[Problem]:
    """Active kill-switch pauses (`campaigns.pauses`): nothing they cover is published."""
    from campaigns.pauses import active, describe

    return [
        Problem(
            "kill_switch",
            f"{describe(p)} since {p.paused_at:%Y-%m-%d %H:%M} UTC by {p.paused_by}: {p.reason}",
            f"when it is over: elshi resume {p.id} --list, then --send/--skip each overdue post",
            key=f"kill_switch:{p.id}",
            campaign=p.target if p.scope == "campaign" else None,
            channel=p.target if p.scope == "channel" else None,
            countries=(p.target,) if p.scope == "country" else (),
        )
        for p in active(session)
    ]


def paused_channels(session: Session) -> list[Problem]:
    return [
        Problem(
            "channel_paused",
            f"channel {c.name} is paused since {c.paused_at:%Y-%m-%d %H:%M} UTC: {c.paused_reason}",
            f"fix its credentials, check with elshi channels check {c.name}, then "
            f"elshi channels resume {c.name}",
            channel=c.name,
        )
        for c in session.scalars(
            select(Channel).where(Channel.paused.is_(True)).order_by(Channel.name)
        )
    ]


def token_expiring(session: Session, now: datetime, warning: timedelta) -> list[Problem]:
    """Channels whose platform said when their credentials stop working, within ``warning``
    of that (or past it)."""
    out = []
    for channel in session.scalars(
        select(Channel)
        .where(Channel.token_expires_at.is_not(None), Channel.token_expires_at <= now + warning)
        .order_by(Channel.token_expires_at)
    ):
        when = channel.token_expires_at
        assert when is not None
        state = "expired" if when <= now else f"expires in {_ago(when - now)}"
        out.append(
            Problem(
                "token_expiring",
                f"the token of channel {channel.name} {state} ({when:%Y-%m-%d %H:%M} UTC)",
                "renew it before then and export it in the variable its "
                f"[channels.{channel.name}] table names; check with elshi channels check "
                f"{channel.name}",
                key=f"token_expiring:{channel.name}:{when.isoformat()}",
                channel=channel.name,
                detail={"expires_at": when.isoformat()},
            )
        )
    return out


def approval_overdue(
    session: Session, now: datetime, lead: timedelta, *, skip: Collection[str | None] = ()
) -> list[Problem]:
    """Posts with deliveries still waiting for approval (drafts) due before ``now + lead``:
    one problem per post, naming its channels and what its approval chain waits for; those
    whose key is in ``skip`` (already recorded) are left out before the chain is read."""
    rows = session.execute(
        select(
            Delivery.id, Delivery.due_at, Delivery.local_due, Delivery.timezone, Post, Channel.name
        )
        .join(Post, Delivery.post_id == Post.id)
        .join(Channel, Delivery.channel_id == Channel.id)
        .where(Delivery.state == S.draft.value, Delivery.due_at <= now + lead)
        .order_by(Delivery.due_at, Delivery.id)
    ).all()
    by_post: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        by_post[row[4].id].append(row)
    out = []
    countries = _countries(session, {row[4].campaign_id for row in rows})
    for items in by_post.values():
        first = items[0]
        post: Post = first[4]
        due: datetime = first[1]
        key = f"approval_overdue:{post.id}:{due.isoformat()}"
        if key in skip:
            continue
        local = f"{first[2].replace('T', ' ')} {first[3]}"
        channels = sorted({i[5] for i in items})
        when = "was due" if due <= now else f"is due in {_ago(due - now)}"
        out.append(
            Problem(
                "approval_overdue",
                f"{post.campaign_id}/{post.key} {when} ({local}) on {', '.join(channels)} and "
                f"its approval is not complete: {chain_status(session, post).summary()}",
                f"approve it (elshi post approve {post.campaign_id}/{post.key}) or cancel it; "
                "unapproved posts are missed once their time passes",
                key=key,
                campaign=post.campaign_id,
                countries=countries.get(post.campaign_id, ()),
                channel=channels[0] if len(channels) == 1 else None,
                post_id=post.id,
                delivery_id=first[0],
                detail={"post": post.key, "due_at": due.isoformat(), "channels": channels},
            )
        )
    return out


def overdue(session: Session, now: datetime) -> list[Problem]:
    rows = session.execute(
        select(Delivery, Post.campaign_id, Post.key, Channel.name)
        .join(Post, Delivery.post_id == Post.id)
        .join(Channel, Delivery.channel_id == Channel.id)
        .where(
            due_state(Delivery.state),
            func.coalesce(Delivery.next_attempt_at, Delivery.due_at) < now - OVERDUE_AFTER,
        )
        .order_by(Delivery.due_at)
    ).all()
    return [
        Problem(
            "overdue",
            f"delivery {d.id} {campaign}/{key}@{channel} was due "
            f"{_ago(now - (d.next_attempt_at or d.due_at))} ago and is still {d.state}",
            "make sure a daemon runs and the channel is not paused or rate-limited (elshi status)",
            campaign=campaign,
            channel=channel,
            delivery_id=d.id,
        )
        for d, campaign, key, channel in rows
    ]


_ATTENTION = {
    S.failed.value: ("delivery_failed", "retry it (elshi deliveries retry {id}) or cancel it"),
    S.needs_review.value: (
        "delivery_needs_review",
        "check the channel, then elshi deliveries resolve {id} --published URL | --not-published",
    ),
    S.missed.value: (
        "delivery_missed",
        "retry it if still worth sending (elshi deliveries retry {id}), else cancel it",
    ),
}


def attention(session: Session) -> list[Problem]:
    """Failed, needs-review and missed deliveries (until retried, resolved or cancelled)."""
    rows = session.execute(
        select(Delivery, Post.campaign_id, Post.key, Channel.name)
        .join(Post, Delivery.post_id == Post.id)
        .join(Channel, Delivery.channel_id == Channel.id)
        .where(Delivery.state.in_(list(_ATTENTION)))
        .order_by(Delivery.due_at, Delivery.id)
    ).all()
    out = []
    for d, campaign, key, channel in rows:
        kind, action = _ATTENTION[d.state]
        reason = f": {d.last_error}" if d.last_error else ""
        out.append(
            Problem(
                kind,
                f"delivery {d.id} {campaign}/{key}@{channel} is {d.state}{reason}",
                action.format(id=d.id),
                campaign=campaign,
                channel=channel,
                post_id=d.post_id,
                delivery_id=d.id,
            )
        )
    return out


def collection_failing(session: Session, now: datetime, grace: timedelta) -> list[Problem]:
    return [
        Problem(
            "collection_failing",
            f"metrics of channel {c.name} cannot be collected since "
            f"{c.collect_failing_since:%Y-%m-%d %H:%M} UTC: {c.collect_error}",
            f"check the channel's credentials and the platform's status (elshi channels check "
            f"{c.name}); collection resumes by itself once it answers",
            key=f"collection_failing:{c.name}:{c.collect_failing_since.isoformat()}",
            channel=c.name,
            detail={"since": c.collect_failing_since.isoformat(), "error": c.collect_error},
        )
        for c in session.scalars(
            select(Channel)
            .where(
                Channel.collect_failing_since.is_not(None),
                Channel.collect_failing_since <= now - grace,
            )
            .order_by(Channel.name)
        )
        if c.collect_failing_since is not None
    ]


def alerts_failing(session: Session) -> list[Problem]:
    """Alerts and report e-mails that could not be sent after several tries."""
    out = []
    rows = session.execute(
        select(
            AlertOutbox.notifier,
            func.count(),
            func.min(AlertOutbox.created_at),
            func.max(AlertOutbox.last_error),
        )
        .where(
            AlertOutbox.state == OutboxState.pending.value,
            AlertOutbox.attempts >= ALERTS_FAILING_AFTER,
        )
        .group_by(AlertOutbox.notifier)
    ).all()
    for name, count, oldest, error in rows:
        out.append(
            Problem(
                "alerts_failing",
                f"{count} alert(s) for notifier {name} not sent since {oldest:%Y-%m-%d %H:%M} "
                f"UTC: {error}",
                f"fix [notify.{name}] or its server; they are sent as soon as it answers",
            )
        )
    for run in session.scalars(
        select(ReportRun).where(
            ReportRun.state == OutboxState.pending.value,
            ReportRun.attempts >= ALERTS_FAILING_AFTER,
        )
    ):
        out.append(
            Problem(
                "alerts_failing",
                f"report e-mail {run.report} of {run.scheduled_for:%Y-%m-%d %H:%M} UTC not sent: "
                f"{run.last_error}",
                f"fix [reports.{run.report}] or its mail server; it is sent as soon as it answers",
            )
        )
    return out


def _countries(session: Session, campaigns: set[str]) -> dict[str, tuple[str, ...]]:
    if not campaigns:
        return {}
    rows = session.execute(select(Campaign.id, Campaign.country).where(Campaign.id.in_(campaigns)))
    return {cid: (country,) for cid, country in rows}


def _ago(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"
