"""The delivery state machine: which transitions exist, and the one function that performs one
(setting the state and appending an audit entry in the same transaction).

Everything that changes a delivery's state — apply, approval, the daemon, the operator's commands
— goes through `transition`, so the audit log is complete and an impossible move (publishing a
draft, re-opening a published row) is an error rather than a silent corruption. The audit entry
brings its alert event (`campaigns.events`) into the same transaction.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from campaigns import events
from campaigns.errors import CampaignsError
from campaigns.schema import AuditEntry, Delivery
from campaigns.schema import DeliveryState as S

TRANSITIONS: dict[S, frozenset[S]] = {
    S.draft: frozenset({S.approved, S.missed, S.cancelled}),
    S.approved: frozenset({S.draft, S.scheduled, S.publishing, S.missed, S.cancelled}),
    S.scheduled: frozenset({S.draft, S.approved, S.publishing, S.missed, S.cancelled}),
    S.publishing: frozenset({S.published, S.scheduled, S.approved, S.failed, S.needs_review}),
    S.published: frozenset(),
    S.failed: frozenset({S.draft, S.approved, S.scheduled, S.cancelled}),
    S.missed: frozenset({S.draft, S.approved, S.scheduled, S.cancelled}),
    S.needs_review: frozenset({S.published, S.scheduled, S.cancelled}),
    S.cancelled: frozenset({S.draft, S.approved}),
}


log = logging.getLogger("elshi.state")


class TransitionError(CampaignsError, ValueError):
    pass


def record(
    session: Session,
    *,
    actor: str,
    entity: str,
    entity_id: object,
    at: datetime,
    from_state: str | None = None,
    to_state: str | None = None,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one audit entry, and the alert event it implies (a delivery failed, needs review
    or was missed; a channel paused), in the caller's transaction."""
    session.add(
        AuditEntry(
            at=at,
            actor=actor,
            entity=entity,
            entity_id=str(entity_id),
            from_state=from_state,
            to_state=to_state,
            reason=reason,
            detail=detail,
        )
    )
    events.audited(
        session,
        entity=entity,
        entity_id=str(entity_id),
        at=at,
        from_state=from_state,
        to_state=to_state,
        reason=reason,
        detail=detail,
    )


def transition(
    session: Session,
    delivery: Delivery,
    to: S,
    *,
    actor: str,
    at: datetime,
    reason: str,
    detail: dict[str, Any] | None = None,
    force: bool = False,
    label: str | None = None,
) -> None:
    """Move ``delivery`` to ``to`` and audit it; raises `TransitionError` for a move the state
    machine does not have. ``force`` is for one case only: a platform confirmed a publication
    that arrived after the row moved on; the post exists, so the row must say so (audited)."""
    current = S(delivery.state)
    if force and to not in TRANSITIONS[current]:
        reason = f"{reason} (recorded out of order: the row was {current.value})"
    elif to not in TRANSITIONS[current]:
        raise TransitionError(
            f"delivery {delivery.id}: cannot go from {current.value} to {to.value}"
        )
    delivery.state = to.value
    delivery.updated_at = at
    if delivery.id is None:
        session.flush()
    record(
        session,
        actor=actor,
        entity="delivery",
        entity_id=delivery.id,
        at=at,
        from_state=current.value,
        to_state=to.value,
        reason=reason,
        detail=detail,
    )
    if label is None:
        post, channel = delivery.post, delivery.channel
        label = f"{post.campaign_id}/{post.key}" if post is not None else "?"
        if delivery.occurrence:
            label += f"#{delivery.occurrence + 1}"
        label += f"@{channel.name}" if channel is not None else ""
    log.info(
        "delivery %s %s: %s → %s (%s)",
        delivery.id,
        label,
        current.value,
        to.value,
        reason,
        extra={"delivery": delivery.id, "from_state": current.value, "state": to.value},
    )
