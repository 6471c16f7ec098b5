"""What must hold for a delivery to start publishing, as SQL the claim runs in its own
transaction: its post's approval chain is complete for the content it has now (defence in
depth: whatever state a row is in, an unapproved post is never published), and no kill-switch
pause covers it (`campaigns.pauses`).

`claim_condition` is ANDed into the claim's WHERE clause by ``scheduler.dispatch`` (its query
joins ``delivery``, ``post`` and ``channel``) and into the daemon's next-wake-up lookup, so a row
that may not go out neither goes out nor wakes the daemon.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_
from sqlalchemy.orm import Session

from campaigns.pauses import covering, hold
from campaigns.pauses import refusal as pause_refusal
from campaigns.schema import Approval, Delivery, Post

__all__ = ["approval_holds", "claim_condition", "hold", "is_approved", "refusal"]


def approval_holds() -> Any:
    """The post's approval chain is complete for the content it has now."""
    return and_(Post.approval == Approval.approved.value, Post.approved_revision == Post.revision)


def is_approved(post: Post) -> bool:
    """`approval_holds` for a loaded row (the same rule, in Python)."""
    return post.approval == Approval.approved.value and post.approved_revision == post.revision


def claim_condition() -> Any:
    """Everything the claim checks besides state, time, channel and thread order."""
    return and_(approval_holds(), ~covering())


def refusal(session: Session, delivery: Delivery, now: datetime) -> str | None:
    """Why ``delivery`` must not start publishing at ``now``, or None: the words for the check of
    the begin-send transaction (``scheduler.dispatch.sendable``, which decides), run after
    `campaigns.pauses.hold` with the row locked. A channel's rate limit
    (``Channel.blocked_until``, from the platform's retry-after) comes after the pauses: it
    ends by itself."""
    if not is_approved(delivery.post):
        return "its approval is incomplete or out of date"
    paused = pause_refusal(session, delivery)
    if paused is not None:
        return paused
    blocked = delivery.channel.blocked_until
    if blocked is not None and blocked > now:
        return f"the channel is rate-limited until {blocked.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
    claimed = delivery.claimed_at
    if blocked is not None and claimed is not None and blocked > claimed:
        return (
            f"the channel was rate-limited until {blocked.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC "
            "after this claim was made; it is claimed again, in due order"
        )
    return None
