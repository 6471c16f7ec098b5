"""What must hold for a delivery to start publishing, as SQL the claim runs in its own
transaction: its post's approval chain is complete for the content it has now (defence in
depth: whatever state a row is in, an unapproved post is never published), and no kill-switch
pause covers it (`campaigns.pauses`).

`claim_condition` is ANDed into the claim's WHERE clause by ``scheduler.dispatch`` (its query
joins ``delivery``, ``post`` and ``channel``) and into the daemon's next-wake-up lookup, so a row
that may not go out neither goes out nor wakes the daemon.

A channel's block (``Channel.blocked_until``: the platform said when to come back) is told in
one set of words (`Block`) wherever it is shown: the refusal before a send, ``elshi status``,
the audit entry that records it. Its cause, a rate limit or a platform unavailable (a 502, 503
or 504 with ``Retry-After``), is read back from that audit entry (`channel_block`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from campaigns.pauses import covering, hold
from campaigns.pauses import refusal as pause_refusal
from campaigns.schema import Approval, AuditEntry, Channel, Delivery, Post

__all__ = [
    "BLOCKED",
    "RATE_LIMIT",
    "UNAVAILABLE",
    "Block",
    "approval_holds",
    "channel_block",
    "claim_condition",
    "hold",
    "is_approved",
    "refusal",
]

RATE_LIMIT = "rate_limit"
"""A block's cause: the platform rate-limited the channel (a 429, or its own words for one)."""
UNAVAILABLE = "unavailable"
"""A block's cause: the platform was unavailable and said when to come back (a 502, 503 or
504 with ``Retry-After``: maintenance, a proxy shedding load)."""
BLOCKED = "blocked"
"""The ``to_state`` of a channel's audit entry that records a block."""


@dataclass(frozen=True)
class Block:
    """Until when a channel is blocked, and why: `RATE_LIMIT`, `UNAVAILABLE`, or None when no
    audit entry says (a block recorded before causes were, or set by other means)."""

    until: datetime
    cause: str | None = None
    status: int | None = None
    """The platform's HTTP status, when known."""

    def words(self, *, past: bool = False) -> str:
        """What happened, true for its cause: "the channel is rate-limited until <T> UTC", "the
        platform is unavailable (HTTP 503) until <T> UTC", or, cause unknown, "the platform
        asked us to wait until <T> UTC" (``past``: was, asked)."""
        when = f"{self.until.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
        verb = "was" if past else "is"
        if self.cause == RATE_LIMIT:
            return f"the channel {verb} rate-limited until {when}"
        if self.cause == UNAVAILABLE:
            status = f" (HTTP {self.status})" if self.status else ""
            return f"the platform {verb} unavailable{status} until {when}"
        return f"the platform asked us to wait until {when}"

    def detail(self) -> dict[str, Any]:
        """The audit entry's detail, read back by `channel_block`."""
        until = self.until.astimezone(UTC).isoformat()
        return {"until": until, "cause": self.cause, "status": self.status}


def channel_block(session: Session, channel: Channel) -> Block | None:
    """``channel``'s block (ended or not), with its cause from the audit entry that recorded
    it; None when it has none. An entry for another instant (the block was extended or set by
    other means since) says nothing about this one: cause unknown."""
    until = channel.blocked_until
    if until is None:
        return None
    entry = session.scalar(
        select(AuditEntry.detail)
        .where(
            AuditEntry.entity == "channel",
            AuditEntry.entity_id == channel.name,
            AuditEntry.to_state == BLOCKED,
        )
        .order_by(AuditEntry.id.desc())
        .limit(1)
    )
    if not entry or entry.get("until") != until.astimezone(UTC).isoformat():
        return Block(until)
    status = entry.get("status")
    return Block(until, entry.get("cause"), status if isinstance(status, int) else None)


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
    `campaigns.pauses.hold` with the row locked. A channel's block (``Channel.blocked_until``,
    from the platform's retry-after: `Block`) comes after the pauses: it ends by itself."""
    if not is_approved(delivery.post):
        return "its approval is incomplete or out of date"
    paused = pause_refusal(session, delivery)
    if paused is not None:
        return paused
    block = channel_block(session, delivery.channel)
    if block is not None and block.until > now:
        return block.words()
    claimed = delivery.claimed_at
    if block is not None and claimed is not None and block.until > claimed:
        return (
            f"{block.words(past=True)} after this claim was made; it is claimed again, in due order"
        )
    return None
