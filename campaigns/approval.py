"""Approving and rejecting posts: who did it and when is recorded on the post and in the audit
log; an approved post's draft deliveries become publishable, a rejected post's waiting
deliveries are cancelled (until its text is changed in the campaign file, or it is approved
after all: then the deliveries its rejection cancelled come back)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.planning import REJECTED
from campaigns.schema import WAITING_STATES, Approval, Post
from campaigns.schema import DeliveryState as S
from campaigns.states import record, transition


class ApprovalError(LookupError):
    pass


@dataclass(frozen=True)
class Decision:
    post: str
    before: str
    after: str
    deliveries: int


def find_posts(session: Session, refs: Sequence[str], campaign: str | None = None) -> list[Post]:
    """Posts by ``CAMPAIGN/POST`` or ``POST`` (with ``campaign`` or when unique) or numeric id."""
    found: list[Post] = []
    for ref in refs:
        query = select(Post)
        if ref.isdigit():
            query = query.where(Post.id == int(ref))
        elif "/" in ref:
            cid, key = ref.split("/", 1)
            query = query.where(Post.campaign_id == cid, Post.key == key)
        else:
            query = query.where(Post.key == ref)
            if campaign:
                query = query.where(Post.campaign_id == campaign)
        rows = list(session.scalars(query))
        if not rows:
            raise ApprovalError(
                f"no post {ref!r}" + (f" in campaign {campaign!r}" if campaign else "")
            )
        if len(rows) > 1:
            names = ", ".join(f"{r.campaign_id}/{r.key}" for r in rows)
            raise ApprovalError(f"{ref!r} is ambiguous ({names}); write CAMPAIGN/POST")
        found.append(rows[0])
    return found


def campaign_posts(session: Session, campaign: str) -> list[Post]:
    rows = list(
        session.scalars(
            select(Post)
            .where(Post.campaign_id == campaign, Post.retired.is_(False))
            .order_by(Post.id)
        )
    )
    if not rows:
        raise ApprovalError(f"campaign {campaign!r} has no posts (apply it first?)")
    return rows


def approve(
    session: Session, posts: Sequence[Post], *, actor: str, now: datetime
) -> list[Decision]:
    out = []
    for post in posts:
        before = post.approval
        moved = 0
        if post.approval != Approval.approved:
            post.approval = Approval.approved.value
            post.approved_by = actor
            post.approved_at = now
            post.updated_at = now
            record(
                session,
                actor=actor,
                entity="post",
                entity_id=post.id,
                at=now,
                from_state=before,
                to_state=post.approval,
                reason="approved",
            )
        for delivery in post.deliveries:
            rejected = delivery.state == S.cancelled and (delivery.last_error or "").startswith(
                REJECTED
            )
            if delivery.state == S.draft or (rejected and not post.retired):
                transition(session, delivery, S.approved, actor=actor, at=now, reason="approved")
                delivery.last_error = None
                moved += 1
        out.append(Decision(f"{post.campaign_id}/{post.key}", before, post.approval, moved))
    return out


def reject(
    session: Session, posts: Sequence[Post], *, actor: str, now: datetime, reason: str | None
) -> list[Decision]:
    out = []
    why = f"{REJECTED} by {actor}" + (f": {reason}" if reason else "")
    for post in posts:
        before = post.approval
        post.approval = Approval.rejected.value
        post.approved_by = None
        post.approved_at = None
        post.updated_at = now
        record(
            session,
            actor=actor,
            entity="post",
            entity_id=post.id,
            at=now,
            from_state=before,
            to_state=post.approval,
            reason=why,
        )
        moved = 0
        for delivery in post.deliveries:
            if delivery.state in WAITING_STATES:
                transition(session, delivery, S.cancelled, actor=actor, at=now, reason=why)
                delivery.last_error = why
                moved += 1
        out.append(Decision(f"{post.campaign_id}/{post.key}", before, post.approval, moved))
    return out
