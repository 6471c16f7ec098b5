"""Approval chains: who may approve which step of a post, and what their decisions do.

A campaign's chain is a list of steps (`campaigns.definition.ApprovalStep`; ``approval: true``
is one step open to every approver). The steps of a post are approved in order, each by a
different person who neither uploaded nor changed the post (`Post.authors`); a step with
``require: all`` needs every user it names. Decisions (`PostDecision`) belong to one revision
of the post: changing what it says (`Post.revision`, raised by apply) starts the chain again.
When the last step is approved the post's ``approved_revision`` becomes its revision and its
draft deliveries become publishable; the claim publishes only while the two agree
(`campaigns.gate`). A rejection carries a comment and cancels the waiting deliveries, until the
content changes or the person who rejected approves after all.

A workspace without users acts through the unverified local person (`Person.local`): there
the rules that need distinct people cannot hold, so an approval completes every open step at
once and lifts earlier rejections (the behaviour before chains existed).

Every decision is audited with the person (``user:NAME``), the step and the comment.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from campaigns import typedtext
from campaigns.definition import DEFAULT_STEP, ApprovalStep, Role
from campaigns.errors import CampaignInputError
from campaigns.people import Person, authorize
from campaigns.planning import REJECTED
from campaigns.schema import (
    WAITING_STATES,
    Approval,
    Campaign,
    Decision,
    Delivery,
    Post,
    PostDecision,
)
from campaigns.schema import DeliveryState as S
from campaigns.states import record, transition


class ApprovalError(CampaignInputError, LookupError):
    """A post that cannot be found, or a decision the rules refuse (the message says why)."""


# --- the chain of a campaign ----------------------------------------------------------------


def chain(campaign: Campaign) -> list[ApprovalStep]:
    """The steps of ``campaign`` (none when it needs no approval)."""
    if not campaign.requires_approval:
        return []
    if not campaign.approval_steps:
        return [DEFAULT_STEP]
    return [ApprovalStep.model_validate(step) for step in campaign.approval_steps]


def step_title(step: ApprovalStep) -> str:
    return step.title or step.step


def who_may(step: ApprovalStep) -> str:
    """In words: who may approve ``step``."""
    parts = []
    if step.users:
        parts.append(("all of " if step.require == "all" else "") + ", ".join(step.users))
    if step.roles:
        parts.append("approvers with the role " + " or ".join(r.value for r in step.roles))
    return " or ".join(parts) or "any approver"


def eligible(person: Person, step: ApprovalStep) -> bool:
    """Whether ``person`` is one of those ``step`` lets approve (their approver role is checked
    by `authorize`)."""
    if not person.verified:
        return True
    if Role.approver not in person.roles:
        return False
    if not step.users and not step.roles:
        return True
    return person.username in step.users or bool(person.roles & set(step.roles))


# --- where a post stands ----------------------------------------------------------------------


@dataclass(frozen=True)
class StepStatus:
    step: str
    title: str
    who: str
    """Who may approve it, in words."""
    approved_by: tuple[str, ...]
    """Audit names (``user:NAME``) of the approvals that count, in order."""
    rejected_by: tuple[tuple[str, str | None], ...]
    """(audit name, comment) of the rejections of the current revision."""
    done: bool
    missing: tuple[str, ...] = ()
    """For ``require: all``: the users who still have to approve."""


@dataclass(frozen=True)
class ChainStatus:
    post_id: int
    revision: int
    steps: tuple[StepStatus, ...]
    state: str
    """``approved``, ``pending``, ``rejected`` or ``not required``."""

    @property
    def current(self) -> StepStatus | None:
        """The first step not yet done (the one that waits), None when all are."""
        return next((s for s in self.steps if not s.done), None)

    @property
    def position(self) -> int:
        """1-based index of the current step (len(steps) + 1 when complete)."""
        return next((i + 1 for i, s in enumerate(self.steps) if not s.done), len(self.steps) + 1)

    def summary(self) -> str:
        """One line: what it waits for, or who rejected it."""
        if self.state == "not required":
            return "no approval required"
        rejected = [r for s in self.steps for r in s.rejected_by]
        if rejected:
            actor, comment = rejected[-1]
            return f"rejected by {actor}" + (f": {comment}" if comment else "")
        step = self.current
        if step is None:
            return "approved"
        return f"waiting for step {step.step!r} ({self.position} of {len(self.steps)}): {step.who}"


def _decisions(session: Session, posts: Sequence[Post]) -> dict[int, list[PostDecision]]:
    out: dict[int, list[PostDecision]] = defaultdict(list)
    if not posts:
        return out
    revision = {p.id: p.revision for p in posts}
    for row in session.scalars(
        select(PostDecision)
        .where(PostDecision.post_id.in_(list(revision)))
        .order_by(PostDecision.at, PostDecision.id)
    ):
        if row.revision == revision[row.post_id]:
            out[row.post_id].append(row)
    return out


def _status(post: Post, steps: Sequence[ApprovalStep], rows: Iterable[PostDecision]) -> ChainStatus:
    if not steps:
        return ChainStatus(post.id, post.revision, (), "not required")
    by_step: dict[str, list[PostDecision]] = defaultdict(list)
    for row in rows:
        by_step[row.step].append(row)
    out: list[StepStatus] = []
    for step in steps:
        mine = by_step.get(step.step, [])
        approved = tuple(r.actor for r in mine if r.decision == Decision.approved)
        rejected = tuple((r.actor, r.comment) for r in mine if r.decision == Decision.rejected)
        if step.require == "all":
            missing = tuple(u for u in step.users if f"user:{u}" not in approved)
            done = not missing
        else:
            missing = ()
            done = bool(approved)
        out.append(
            StepStatus(
                step.step,
                step_title(step),
                who_may(step),
                approved,
                rejected,
                done and not rejected,
                missing,
            )
        )
    if any(s.rejected_by for s in out):
        state = "rejected"
    elif all(s.done for s in out):
        state = "approved"
    else:
        state = "pending"
    return ChainStatus(post.id, post.revision, tuple(out), state)


def status(session: Session, post: Post) -> ChainStatus:
    """Where ``post`` stands in its campaign's chain (for the post page and `post show`)."""
    return _status(post, chain(post.campaign), _decisions(session, [post])[post.id])


def refresh(session: Session, posts: Sequence[Post], *, actor: str, now: datetime) -> None:
    """Recompute each post's approval from its decisions (after its campaign's chain changed).
    Moves no delivery: apply does that from the new state."""
    decisions = _decisions(session, posts)
    for post in posts:
        _settle(session, post, _status(post, chain(post.campaign), decisions[post.id]), actor, now)


def _settle(session: Session, post: Post, state: ChainStatus, actor: str, now: datetime) -> None:
    """Write ``state`` onto the post (approval, approved revision, who completed it)."""
    before = post.approval
    if state.state in ("approved", "not required"):
        if post.approval != Approval.approved or post.approved_revision != post.revision:
            post.approval = Approval.approved.value
            post.approved_revision = post.revision
            post.approved_by = actor if state.state == "approved" else f"{actor} (no approval)"
            post.approved_at = now
    else:
        post.approval = (
            Approval.rejected.value if state.state == "rejected" else Approval.pending.value
        )
        post.approved_revision = None
        post.approved_by = None
        post.approved_at = None
    if post.approval != before:
        post.updated_at = now
        record(
            session,
            actor=actor,
            entity="post",
            entity_id=post.id,
            at=now,
            from_state=before,
            to_state=post.approval,
            reason=state.summary(),
        )


# --- finding posts ----------------------------------------------------------------------------


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


# --- decisions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one decision on one post did (``refused`` says why nothing happened)."""

    post: str
    step: str | None
    before: str
    after: str
    deliveries: int
    refused: str | None = None


def _label(post: Post) -> str:
    return f"{post.campaign_id}/{post.key}"


def _refusal(
    person: Person, post: Post, state: ChainStatus, steps: Sequence[ApprovalStep], step: str | None
) -> tuple[ApprovalStep | None, str | None]:
    """The step ``person`` would decide on and, when the rules refuse, why."""
    current = state.current
    if current is None:
        return None, "already approved"
    target = next(s for s in steps if s.step == current.step)
    if step is not None and step != current.step:
        if step not in {s.step for s in steps}:
            names = ", ".join(s.step for s in steps)
            return None, f"the chain has no step {step!r} (steps: {names})"
        return None, f"step {step!r} is not the one waiting: {state.summary()}"
    if not person.verified:
        return target, None
    if person.actor in post.authors:
        return target, "you uploaded or changed this post; someone else must approve it"
    if not eligible(person, target):
        return target, f"step {target.step!r} is for {current.who}"
    return target, None


def refusal(person: Person, post: Post, state: ChainStatus) -> str | None:
    """Why ``person`` cannot decide the waiting step of ``post`` now (None: they may) — what a
    page asks before it offers Approve and Reject."""
    return _refusal(person, post, state, chain(post.campaign), None)[1]


def _checked_comment(comment: str | None) -> str | None:
    text = (comment or "").strip()
    wrong = typedtext.problem(text, "the comment", limit=typedtext.COMMENT)
    if wrong is not None:
        raise ApprovalError(wrong)
    return text or None


def approve(
    session: Session,
    posts: Sequence[Post],
    *,
    by: Person,
    now: datetime,
    step: str | None = None,
    comment: str | None = None,
) -> list[Outcome]:
    """Approve the waiting step of each post as ``by``. A post the rules refuse is left as it
    was, with the reason in its `Outcome` (the caller decides whether that undoes the rest)."""
    authorize(session, by, "post.approve")
    comment = _checked_comment(comment)
    decisions = _decisions(session, posts)
    out = []
    for post in posts:
        steps = chain(post.campaign)
        before = post.approval
        state = _status(post, steps, decisions[post.id])
        if not steps:
            out.append(Outcome(_label(post), None, before, post.approval, 0, "needs no approval"))
            continue
        rejected = [actor for s in state.steps for actor, _ in s.rejected_by]
        if rejected and by.verified and set(rejected) != {by.actor}:
            out.append(
                Outcome(
                    _label(post),
                    None,
                    before,
                    post.approval,
                    0,
                    f"{state.summary()}; change the post (apply an edited file) "
                    "or ask them to approve it",
                )
            )
            continue
        if rejected:
            # The person who rejected it (or, without users, anyone) approves after all.
            session.execute(
                delete(PostDecision).where(
                    PostDecision.post_id == post.id,
                    PostDecision.revision == post.revision,
                    PostDecision.decision == Decision.rejected.value,
                )
            )
            decisions[post.id] = [d for d in decisions[post.id] if d.decision != Decision.rejected]
            state = _status(post, steps, decisions[post.id])
        target, refused = _refusal(by, post, state, steps, step)
        if refused is not None or target is None:
            out.append(Outcome(_label(post), step, before, post.approval, 0, refused))
            continue
        earlier = [
            s.step for s in state.steps if by.actor in s.approved_by and s.step != target.step
        ]
        if by.verified and earlier:
            refused = (
                f"you approved step {earlier[0]!r} already; each step needs a different person"
            )
            out.append(Outcome(_label(post), target.step, before, post.approval, 0, refused))
            continue
        if by.verified and by.actor in next(
            s.approved_by for s in state.steps if s.step == target.step
        ):
            refused = f"you approved step {target.step!r} already"
            out.append(Outcome(_label(post), target.step, before, post.approval, 0, refused))
            continue
        targets = [target] if by.verified else [s for s in steps if not _done(state, s.step)]
        for item in targets:
            row = PostDecision(
                post_id=post.id,
                revision=post.revision,
                step=item.step,
                actor=by.actor,
                decision=Decision.approved.value,
                comment=comment,
                at=now,
            )
            session.add(row)
            decisions[post.id].append(row)
            record(
                session,
                actor=by.actor,
                entity="post",
                entity_id=post.id,
                at=now,
                from_state=post.approval,
                to_state=post.approval,
                reason=f"step {item.step!r} approved" + (f": {comment}" if comment else ""),
                detail={"step": item.step, "revision": post.revision},
            )
        session.flush()
        state = _status(post, steps, decisions[post.id])
        _settle(session, post, state, by.actor, now)
        moved = _release(session, post, by.actor, now) if state.state == "approved" else 0
        out.append(Outcome(_label(post), target.step, before, post.approval, moved))
    return out


def _done(state: ChainStatus, step: str) -> bool:
    return next(s.done for s in state.steps if s.step == step)


def _release(session: Session, post: Post, actor: str, now: datetime) -> int:
    """A post whose chain is complete: its drafts (and the deliveries a rejection cancelled)
    become publishable."""
    moved = 0
    for delivery in post.deliveries:
        rejected = delivery.state == S.cancelled and (delivery.last_error or "").startswith(
            REJECTED
        )
        if delivery.state == S.draft or (rejected and not post.retired):
            transition(session, delivery, S.approved, actor=actor, at=now, reason="approved")
            delivery.last_error = None
            moved += 1
    return moved


def reject(
    session: Session,
    posts: Sequence[Post],
    *,
    by: Person,
    now: datetime,
    comment: str,
    step: str | None = None,
) -> list[Outcome]:
    """Reject the waiting step of each post as ``by``, with a comment (required): its waiting
    deliveries are cancelled until the post changes or the rejection is withdrawn."""
    authorize(session, by, "post.reject")
    comment = _checked_comment(comment) or ""
    if not comment:
        raise ApprovalError("a rejection needs a comment: say what must change")
    decisions = _decisions(session, posts)
    out = []
    for post in posts:
        steps = chain(post.campaign)
        before = post.approval
        state = _status(post, steps, decisions[post.id])
        if not steps:
            out.append(Outcome(_label(post), None, before, post.approval, 0, "needs no approval"))
            continue
        target: ApprovalStep | None
        if state.current is None and not by.verified:
            target, refused = steps[-1], None
        elif state.current is None:
            target, refused = None, "already approved: an operator can cancel its deliveries"
        else:
            target, refused = _refusal(by, post, state, steps, step)
        if refused is not None or target is None:
            out.append(Outcome(_label(post), step, before, post.approval, 0, refused))
            continue
        existing = next(
            (d for d in decisions[post.id] if d.step == target.step and d.actor == by.actor), None
        )
        if existing is not None:
            existing.decision = Decision.rejected.value
            existing.comment = comment
            existing.at = now
        else:
            row = PostDecision(
                post_id=post.id,
                revision=post.revision,
                step=target.step,
                actor=by.actor,
                decision=Decision.rejected.value,
                comment=comment,
                at=now,
            )
            session.add(row)
            decisions[post.id].append(row)
        session.flush()
        why = f"{REJECTED} by {by.actor}: {comment}"
        record(
            session,
            actor=by.actor,
            entity="post",
            entity_id=post.id,
            at=now,
            from_state=before,
            to_state=Approval.rejected.value,
            reason=f"step {target.step!r} rejected: {comment}",
            detail={"step": target.step, "revision": post.revision},
        )
        _settle(session, post, _status(post, steps, decisions[post.id]), by.actor, now)
        moved = 0
        for delivery in post.deliveries:
            if delivery.state in WAITING_STATES:
                transition(session, delivery, S.cancelled, actor=by.actor, at=now, reason=why)
                delivery.last_error = why
                moved += 1
        out.append(Outcome(_label(post), target.step, before, post.approval, moved))
    return out


# --- queues -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueItem:
    post_id: int
    campaign: str
    post: str
    step: str
    step_title: str
    position: int
    steps: int
    due_at: datetime
    """The soonest waiting delivery's time."""
    deliveries: int


def queue(
    session: Session,
    person: Person,
    *,
    now: datetime,
    campaign: str | None = None,
    limit: int | None = None,
) -> list[QueueItem]:
    """What waits for ``person``: posts whose waiting step they may approve, still in time
    (a draft delivery not yet due), soonest due first."""
    due = (
        select(
            Delivery.post_id,
            func.min(Delivery.due_at).label("due"),
            func.count().label("n"),
        )
        .where(Delivery.state == S.draft.value, Delivery.due_at > now)
        .group_by(Delivery.post_id)
        .subquery()
    )
    query = (
        select(Post, due.c.due, due.c.n)
        .join(due, due.c.post_id == Post.id)
        .where(Post.approval == Approval.pending.value, Post.retired.is_(False))
        .order_by(due.c.due, Post.id)
    )
    if campaign:
        query = query.where(Post.campaign_id == campaign)
    rows = session.execute(query).all()
    decisions = _decisions(session, [p for p, _, _ in rows])
    chains: dict[str, list[ApprovalStep]] = {}
    out: list[QueueItem] = []
    for post, first_due, count in rows:
        steps = chains.setdefault(post.campaign_id, chain(post.campaign))
        state = _status(post, steps, decisions[post.id])
        target, refused = _refusal(person, post, state, steps, None)
        if refused is not None or target is None or state.state != "pending":
            continue
        if person.verified and any(
            person.actor in s.approved_by for s in state.steps if s.step != target.step
        ):
            continue
        current = state.current
        assert current is not None
        if person.actor in current.approved_by:
            continue
        out.append(
            QueueItem(
                post.id,
                post.campaign_id,
                post.key,
                current.step,
                current.title,
                state.position,
                len(steps),
                first_due,
                count,
            )
        )
        if limit is not None and len(out) >= limit:
            break
    return out


@dataclass(frozen=True)
class ExpiredItem:
    post_id: int
    campaign: str
    post: str
    due_at: datetime
    deliveries: int
    waiting_for: str
    """What the chain still waited for when its time passed."""


def expired(
    session: Session, *, campaign: str | None = None, since: datetime | None = None
) -> list[ExpiredItem]:
    """Posts whose deliveries were missed because their approval chain was incomplete at
    their time (Hootsuite's "expired approvals"), latest first."""
    query = (
        select(Post, func.min(Delivery.due_at), func.count())
        .join(Delivery, Delivery.post_id == Post.id)
        .where(
            Delivery.state == S.missed.value,
            Delivery.last_error.like(f"{INCOMPLETE}%"),
        )
        .group_by(Post.id)
        .order_by(func.min(Delivery.due_at).desc(), Post.id)
    )
    if campaign:
        query = query.where(Post.campaign_id == campaign)
    if since is not None:
        query = query.where(Delivery.due_at >= since)
    rows = session.execute(query).all()
    decisions = _decisions(session, [p for p, _, _ in rows])
    return [
        ExpiredItem(
            post.id,
            post.campaign_id,
            post.key,
            first_due,
            count,
            _status(post, chain(post.campaign), decisions[post.id]).summary(),
        )
        for post, first_due, count in rows
    ]


INCOMPLETE = "approval incomplete at its time"
"""How a missed delivery's reason starts when its post's chain was not complete."""


def missed_reason(session: Session, post: Post) -> str:
    """Why a draft delivery of ``post`` could not go out (for the missed reason)."""
    return f"{INCOMPLETE}: {status(session, post).summary()}"
