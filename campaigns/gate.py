"""What must hold for a delivery to start publishing, as SQL the claim runs in its own
transaction (defence in depth: whatever state a row is in, an unapproved post is never
published).

`claim_condition` is ANDed into the claim's WHERE clause by ``scheduler.dispatch`` (its query
joins ``delivery``, ``post`` and ``channel``) and into the daemon's next-wake-up lookup, so a row
that may not go out neither goes out nor wakes the daemon.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_

from campaigns.schema import Approval, Post


def approval_holds() -> Any:
    """The post's approval chain is complete for the content it has now."""
    return and_(Post.approval == Approval.approved.value, Post.approved_revision == Post.revision)


def is_approved(post: Post) -> bool:
    """`approval_holds` for a loaded row (the same rule, in Python)."""
    return post.approval == Approval.approved.value and post.approved_revision == post.revision


def claim_condition() -> Any:
    """Everything the claim checks besides state, time, channel and thread order."""
    return approval_holds()
