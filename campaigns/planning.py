"""Applying a campaign definition to the database, and planning (what applying would do).

`apply_campaign` brings the database in line with a `DesiredCampaign` inside the caller's
transaction and returns the list of `Change`s it made: ``+`` new, ``~`` changed, ``-`` removed
(cancelled, never deleted: history stays), ``!`` refused. It is idempotent (a second apply of the
same file changes nothing) and never rewrites or cancels a delivery that is publishing, published
or awaiting review. Planning is the same function run in a transaction that is rolled back, so
the plan cannot disagree with what apply does.

Approval: new posts start as drafts when the campaign requires approval. Changing what a post
says (text, link, media, category, narrative, variant, or the text any of its deliveries would
publish, e.g. after a change of the brand hashtags) raises its revision, which starts its
approval chain again (`campaigns.approval`) and sends its deliveries back to draft; moving it in
time keeps its approval. Whoever uploads or changes a post is one of its authors, who may not
approve it. Fixing a failed or missed delivery in the file re-queues it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns import media
from campaigns.expansion import DesiredCampaign, DesiredDelivery, DesiredPost
from campaigns.people import Person, authorize
from campaigns.schema import (
    WAITING_STATES,
    Approval,
    Audience,
    AudienceChannel,
    Campaign,
    Channel,
    Delivery,
    Post,
    PostAudience,
)
from campaigns.schema import DeliveryState as S
from campaigns.states import record, transition
from campaigns.store import lock_applies

LOCKED_STATES = (S.publishing, S.published, S.needs_review)
"""A delivery in one of these states is never rewritten by an apply."""


@dataclass(frozen=True)
class Change:
    sign: str
    """``+`` new, ``~`` changed, ``-`` removed/cancelled, ``!`` refused (left as it is)."""
    entity: str
    key: str
    detail: str = ""

    def __str__(self) -> str:
        tail = f": {self.detail}" if self.detail else ""
        return f"{self.sign} {self.entity} {self.key}{tail}"


def sync_channels(
    session: Session, platforms: Mapping[str, str], *, now: datetime, names: set[str]
) -> dict[str, Channel]:
    """Channel rows for ``names`` (created or updated from the configuration)."""
    rows = {c.name: c for c in session.scalars(select(Channel).where(Channel.name.in_(names)))}
    for name in sorted(names):
        platform = platforms.get(name, "sandbox")
        row = rows.get(name)
        if row is None:
            row = Channel(name=name, platform=platform, created_at=now, updated_at=now)
            session.add(row)
            rows[name] = row
        elif row.platform != platform:
            row.platform = platform
            row.updated_at = now
    session.flush()
    return rows


def apply_campaign(
    session: Session,
    desired: DesiredCampaign,
    *,
    platforms: Mapping[str, str],
    actor: str | Person,
    now: datetime,
    store_media: bool = True,
) -> list[Change]:
    """Apply ``desired`` as ``actor``: a `Person` must hold the author role; a plain audit name
    (``daemon:…``, a test's ``user:…``) is trusted as it is. The campaign's media files are put
    into the media store first (``store_media``; a plan, which is rolled back, may leave that
    out): `campaigns.media`'s errors (a file changed since it was checked) end the apply before
    anything else changed."""
    if isinstance(actor, Person):
        authorize(session, actor, "campaign.apply")
        actor = actor.actor
    lock_applies(session)
    if store_media:
        media.store(session, desired.media.values(), now=now)
    changes: list[Change] = []
    spec = desired.spec
    campaign = session.get(Campaign, spec.id)
    old_chain = _chain_of(campaign) if campaign else None
    values: dict[str, Any] = {
        "title": spec.title,
        "country": spec.country,
        "market": spec.market,
        "narrative": spec.narrative,
        "narratives": desired.narratives,
        "starts_on": spec.starts,
        "ends_on": spec.ends,
        "timezone": spec.timezone,
        "hashtags": list(spec.hashtags),
        "requires_approval": bool(spec.approval_steps),
        "approval_steps": [step.model_dump(mode="json") for step in spec.approval_steps],
        "grace_minutes": spec.grace_minutes,
        "source_path": desired.source,
    }
    if campaign is None:
        campaign = Campaign(
            id=spec.id,
            definition_hash=desired.definition_hash,
            created_at=now,
            updated_at=now,
            **values,
        )
        session.add(campaign)
        changes.append(Change("+", "campaign", spec.id, spec.title))
    else:
        diff = [k for k, v in values.items() if getattr(campaign, k) != v and k != "source_path"]
        if diff:
            changes.append(Change("~", "campaign", spec.id, ", ".join(diff)))
        for key, value in values.items():
            setattr(campaign, key, value)
        if diff:
            campaign.updated_at = now
        campaign.definition_hash = desired.definition_hash
    session.flush()

    names = {c for a in desired.audiences for c in a.channels}
    channels = sync_channels(session, platforms, now=now, names=names)
    audiences = _apply_audiences(session, desired, channels, changes)
    chain_changed = old_chain is not None and old_chain != _chain_of(campaign)
    _apply_posts(
        session,
        desired,
        campaign,
        audiences,
        channels,
        changes,
        actor=actor,
        now=now,
        chain_changed=chain_changed,
    )
    if any(c.sign != "!" for c in changes):
        record(
            session,
            actor=actor,
            entity="campaign",
            entity_id=spec.id,
            at=now,
            reason="apply",
            detail={"source": desired.source, "changes": len(changes)},
        )
    return changes


def _chain_of(campaign: Campaign) -> list[dict[str, Any]]:
    from campaigns.approval import chain

    return [step.model_dump(mode="json") for step in chain(campaign)]


def _apply_audiences(
    session: Session,
    desired: DesiredCampaign,
    channels: Mapping[str, Channel],
    changes: list[Change],
) -> dict[str, Audience]:
    spec = desired.spec
    existing = {
        a.key: a for a in session.scalars(select(Audience).where(Audience.campaign_id == spec.id))
    }
    for item in desired.audiences:
        values = {
            "name": item.name,
            "group": item.group.value,
            "languages": list(item.languages),
            "timezone": item.timezone or spec.timezone,
            "description": item.description,
        }
        row = existing.get(item.id)
        if row is None:
            row = Audience(campaign_id=spec.id, key=item.id, **values)
            session.add(row)
            existing[item.id] = row
            changes.append(Change("+", "audience", f"{spec.id}/{item.id}", item.name))
        else:
            diff = [k for k, v in values.items() if getattr(row, k) != v]
            for key, value in values.items():
                setattr(row, key, value)
            if diff:
                changes.append(Change("~", "audience", f"{spec.id}/{item.id}", ", ".join(diff)))
        session.flush()
        wanted = {channels[c].id for c in item.channels}
        have = set(
            session.scalars(
                select(AudienceChannel.channel_id).where(AudienceChannel.audience_id == row.id)
            )
        )
        for channel_id in wanted - have:
            session.add(AudienceChannel(audience_id=row.id, channel_id=channel_id))
        for channel_id in have - wanted:
            session.delete(session.get(AudienceChannel, (row.id, channel_id)))
        if have and wanted != have:
            changes.append(Change("~", "audience", f"{spec.id}/{item.id}", "channels"))
    keep = {a.id for a in desired.audiences}
    for key, row in list(existing.items()):
        if key in keep:
            continue
        used = session.scalar(select(Delivery.id).where(Delivery.audience_id == row.id).limit(1))
        if used is None:
            session.delete(row)
            del existing[key]
            changes.append(Change("-", "audience", f"{spec.id}/{key}"))
        else:
            changes.append(
                Change("!", "audience", f"{spec.id}/{key}", "kept: deliveries refer to it")
            )
    session.flush()
    return existing


def _apply_posts(
    session: Session,
    desired: DesiredCampaign,
    campaign: Campaign,
    audiences: Mapping[str, Audience],
    channels: Mapping[str, Channel],
    changes: list[Change],
    *,
    actor: str,
    now: datetime,
    chain_changed: bool,
) -> None:
    from campaigns.approval import refresh

    existing = {
        p.key: p for p in session.scalars(select(Post).where(Post.campaign_id == campaign.id))
    }
    posts: dict[str, Post] = {}
    for item in desired.posts:
        row = existing.get(item.key)
        label = f"{campaign.id}/{item.key}"
        if row is None:
            row = Post(
                campaign_id=campaign.id,
                key=item.key,
                created_at=now,
                updated_at=now,
                approval=Approval.pending.value,
                revision=1,
                authors=[actor],
                **_post_values(item),
            )
            if not campaign.requires_approval:
                row.approval = Approval.approved.value
                row.approved_revision = row.revision
                row.approved_by = f"{actor} (campaign needs no approval)"
                row.approved_at = now
            session.add(row)
            session.flush()
            changes.append(
                Change("+", "post", label, f"{item.category}, {len(item.deliveries)} deliveries")
            )
        else:
            diff = [k for k, v in _post_values(item).items() if getattr(row, k) != v]
            reapprove = row.content_hash != item.content_hash or _new_text(row, item)
            revived = row.retired
            for key, value in _post_values(item).items():
                setattr(row, key, value)
            row.retired = False
            if reapprove:
                row.revision += 1
                if actor not in row.authors:
                    row.authors = [*row.authors, actor]
            if diff or revived or reapprove:
                row.updated_at = now
                detail = ("re-added; " if revived else "") + ", ".join(
                    d for d in diff if d != "content_hash"
                )
                if reapprove and not campaign.requires_approval:
                    row.approved_revision = row.revision
                elif reapprove and row.approval != Approval.pending:
                    row.approval = Approval.pending.value
                    row.approved_revision = None
                    row.approved_by = None
                    row.approved_at = None
                    detail += "; needs approval again"
                elif reapprove:
                    detail += "; approval starts again"
                if not diff and reapprove:
                    detail = "text as published; " + detail
                changes.append(Change("~", "post", label, detail.strip("; ")))
        posts[item.key] = row
        _apply_post_audiences(session, row, item, audiences)
    for item in desired.posts:
        parent = posts.get(item.reply_to) if item.reply_to else None
        posts[item.key].reply_to_post_id = parent.id if parent else None
    session.flush()
    if chain_changed:
        refresh(session, list(posts.values()), actor=actor, now=now)
    for item in desired.posts:
        _apply_deliveries(
            session, posts[item.key], item, audiences, channels, changes, actor=actor, now=now
        )
    for key, row in existing.items():
        if key in posts or row.retired:
            continue
        row.retired = True
        row.updated_at = now
        changes.append(Change("-", "post", f"{campaign.id}/{key}", "removed from the file"))
        for delivery in row.deliveries:
            _retire_delivery(
                session,
                delivery,
                changes,
                actor=actor,
                now=now,
                reason="post removed from the campaign file",
                label=_delivery_label(row, delivery.channel.name, delivery.occurrence),
            )


def _new_text(row: Post, item: DesiredPost) -> bool:
    """Whether a delivery would publish a text (or media) none of the post's deliveries had:
    what was approved is the text as published, brand hashtags and tagged links included."""
    had = {d.content_hash for d in row.deliveries}
    return bool(had) and any(d.content_hash not in had for d in item.deliveries)


def _post_values(item: DesiredPost) -> dict[str, Any]:
    return {
        "category": item.category,
        "narrative": item.narrative,
        "variant": item.variant,
        "schedule": item.schedule,
        "content": item.content,
        "content_hash": item.content_hash,
    }


def _apply_post_audiences(
    session: Session, row: Post, item: DesiredPost, audiences: Mapping[str, Audience]
) -> None:
    wanted = {audiences[a].id for a in item.audiences}
    have = set(
        session.scalars(select(PostAudience.audience_id).where(PostAudience.post_id == row.id))
    )
    for audience_id in wanted - have:
        session.add(PostAudience(post_id=row.id, audience_id=audience_id))
    for audience_id in have - wanted:
        session.delete(session.get(PostAudience, (row.id, audience_id)))


def _delivery_label(post: Post, channel: str, occurrence: int) -> str:
    suffix = f"#{occurrence + 1}" if occurrence else ""
    return f"{post.key}{suffix}@{channel}"


def _waiting_state(post: Post) -> S:
    approved = post.approval == Approval.approved and post.approved_revision == post.revision
    return S.approved if approved else S.draft


def _apply_deliveries(
    session: Session,
    post: Post,
    item: DesiredPost,
    audiences: Mapping[str, Audience],
    channels: Mapping[str, Channel],
    changes: list[Change],
    *,
    actor: str,
    now: datetime,
) -> None:
    by_channel_id = {c.id: name for name, c in channels.items()}
    existing: dict[tuple[str, int], Delivery] = {}
    for d in session.scalars(select(Delivery).where(Delivery.post_id == post.id)):
        name = by_channel_id.get(d.channel_id) or session.get(Channel, d.channel_id).name  # type: ignore[union-attr]
        existing[(name, d.occurrence)] = d
    target = _waiting_state(post)
    for want in item.deliveries:
        label = _delivery_label(post, want.channel, want.occurrence)
        values = _delivery_values(want, audiences)
        row = existing.pop((want.channel, want.occurrence), None)
        if row is None:
            row = Delivery(
                post_id=post.id,
                channel_id=channels[want.channel].id,
                occurrence=want.occurrence,
                state=target.value,
                attempts=0,
                idempotency_key=want.idempotency_key,
                created_at=now,
                updated_at=now,
                **values,
            )
            session.add(row)
            session.flush()
            record(
                session,
                actor=actor,
                entity="delivery",
                entity_id=row.id,
                at=now,
                to_state=target.value,
                reason="created by apply",
            )
            changes.append(
                Change(
                    "+", "delivery", label, f"{want.local_label} {want.timezone} ({want.language})"
                )
            )
            continue
        diff = [k for k, v in values.items() if getattr(row, k) != v]
        shown = ", ".join(dict.fromkeys(_FIELD_NAMES.get(k, k) for k in diff if k in _FIELD_NAMES))
        state = S(row.state)
        if not diff:
            if state in WAITING_STATES and state not in (target, S.scheduled):
                _move(
                    session,
                    row,
                    target,
                    changes,
                    label,
                    actor=actor,
                    now=now,
                    reason="approval changed",
                )
            elif state == S.scheduled and target == S.draft:
                _move(
                    session,
                    row,
                    S.draft,
                    changes,
                    label,
                    actor=actor,
                    now=now,
                    reason="needs approval again",
                )
            elif state == S.cancelled and row.last_error == _RETIRED:
                _move(
                    session,
                    row,
                    target,
                    changes,
                    label,
                    actor=actor,
                    now=now,
                    reason="post re-added to the campaign file",
                )
            continue
        if state in LOCKED_STATES:
            changes.append(
                Change(
                    "!",
                    "delivery",
                    label,
                    f"is {state.value}; change to {shown} not applied",
                )
            )
            continue
        if state == S.cancelled and not (row.last_error or "").startswith(_REVIVABLE):
            changes.append(
                Change(
                    "!",
                    "delivery",
                    label,
                    "was cancelled by an operator; change not applied (retry it to bring it back)",
                )
            )
            continue
        if state == S.cancelled and post.approval == Approval.rejected:
            # Moving a rejected post in time does not bring it back; changing its text does
            # (the post then needs approval again, so it is no longer rejected here).
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at = now
            continue
        for key, value in values.items():
            setattr(row, key, value)
        row.updated_at = now
        changes.append(Change("~", "delivery", label, shown))
        if state != target or state in (S.failed, S.missed, S.cancelled):
            row.attempts = 0
            row.next_attempt_at = None
            row.error_kind = None
            row.last_error = None
            _move(
                session,
                row,
                target,
                changes,
                label,
                actor=actor,
                now=now,
                reason=f"changed in the campaign file ({shown})",
                quiet=True,
            )
    for (channel, occurrence), row in existing.items():
        _retire_delivery(
            session,
            row,
            changes,
            actor=actor,
            now=now,
            reason="no longer in the campaign file",
            label=_delivery_label(post, channel, occurrence),
        )


_FIELD_NAMES = {
    "audience_id": "audience",
    "language": "language",
    "timezone": "time",
    "local_due": "time",
    "due_at": "time",
    "text": "text",
    "media": "media",
    "media_alt": "alt text",
    "article": "article",
}
"""How a changed column of a delivery is named in a plan (``content_hash`` follows the rest)."""

_RETIRED = "removed from the campaign file"
REJECTED = "rejected"
_REVIVABLE = (_RETIRED, REJECTED)
"""Cancellations that an edited campaign file undoes (an operator's cancel is not undone)."""


def _move(
    session: Session,
    row: Delivery,
    to: S,
    changes: list[Change],
    label: str,
    *,
    actor: str,
    now: datetime,
    reason: str,
    quiet: bool = False,
) -> None:
    current = S(row.state)
    if current == to:
        return
    transition(session, row, to, actor=actor, at=now, reason=reason)
    if not quiet:
        changes.append(Change("~", "delivery", label, f"{current.value} → {to.value} ({reason})"))


def _retire_delivery(
    session: Session,
    row: Delivery,
    changes: list[Change],
    *,
    actor: str,
    now: datetime,
    reason: str,
    label: str | None = None,
) -> None:
    label = label or f"{row.id}"
    state = S(row.state)
    if state in WAITING_STATES:
        transition(session, row, S.cancelled, actor=actor, at=now, reason=reason)
        row.last_error = _RETIRED
        changes.append(Change("-", "delivery", label, f"cancelled ({reason})"))
    elif state in LOCKED_STATES:
        changes.append(Change("!", "delivery", label, f"is {state.value}; kept"))


def _delivery_values(want: DesiredDelivery, audiences: Mapping[str, Audience]) -> dict[str, Any]:
    return {
        "audience_id": audiences[want.audience].id,
        "language": want.language,
        "timezone": want.timezone,
        "local_due": want.local_label,
        "due_at": want.due_at,
        "text": want.text,
        "media": list(want.media),
        "media_alt": list(want.alt) if any(want.alt) else None,
        "article": dict(want.article) if want.article else None,
        "content_hash": want.content_hash,
    }
