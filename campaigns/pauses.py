"""The kill switch: pausing everything, a campaign, a country or a channel at once, and resuming
with a decision for each delivery that became overdue meanwhile.

Why a committed pause stops every daemon at once (docs/architecture.md, "Kill switch"):

- The claim (``scheduler.dispatch.claim_due``) refuses rows an active pause covers
  (`campaigns.gate.claim_condition`), in its own transaction.
- Just before calling a platform, the daemon runs a short "begin send" transaction that checks
  the fencing token and the pauses again and marks the row ``sending_at``.
- `pause` itself runs with the kill-switch lock held exclusively, which every claim and every
  begin-send hold shared (`hold`): PostgreSQL advisory locks; on SQLite all of these are
  ``BEGIN IMMEDIATE`` write transactions, which the database serialises anyway. So when
  `pause` commits, every claim and begin-send either finished before it (and `pause` sees
  their rows) or starts after it (and sees the pause). Claims not yet sending are handed back
  by `pause`; those already sending cannot be stopped and are returned as *in flight*.

While paused, covered deliveries are held: not claimed and not marked missed. `resume` lists
those whose time passed (`overdue`) and needs a decision for each: send now (a new window
opens, and the delivery remembers the pause in ``resumed_from_pause``) or skip (cancelled, with
the reason). Channel pauses made by the daemon after an authentication error stay on the
channel row (``elshi channels resume``); this module's ``channel`` scope is an operator's.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, text
from sqlalchemy.orm import Session, aliased, sessionmaker

from campaigns import typedtext
from campaigns.people import Person, acting
from campaigns.schema import Campaign, Channel, Delivery, Pause, Post, due_state
from campaigns.schema import DeliveryState as S
from campaigns.states import record, transition
from campaigns.store import immediate


class Scope(StrEnum):
    all = "all"
    campaign = "campaign"
    country = "country"
    channel = "channel"


class PauseError(ValueError):
    """A pause or resume that cannot be done as asked (the message says why and what next)."""


KILL_SWITCH_LOCK = 0x656C736B73  # "elsks": the PostgreSQL advisory lock id


_HOLD = text(f"SELECT pg_advisory_xact_lock_shared({KILL_SWITCH_LOCK})")
_EXCLUSIVE = text(f"SELECT pg_advisory_xact_lock({KILL_SWITCH_LOCK})")
"""PostgreSQL: the kill-switch lock taken shared and exclusively; built once (``hold`` runs in
every claim and check transaction of the daemon), the id a constant of the statement."""


def hold(session: Session) -> None:
    """Take the kill-switch lock shared, first thing in a claim or begin-send transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_HOLD)


def _exclusive(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_EXCLUSIVE)


def covering(*, exclude: int | None = None) -> Any:
    """SQL: an active pause covers this delivery (the query has ``delivery`` and ``post``).
    Without ``exclude``, one construct built once and shared by every query that embeds it:
    building it (aliases, correlated subqueries) cost the daemon's idle wake-ups about 4 ms of
    CPU each, ten times the queries it is part of (SQLAlchemy constructs are immutable)."""
    if exclude is None:
        return _covering_any()
    query = select(Pause.id).where(Pause.resumed_at.is_(None), _covers_row())
    return exists(query.where(Pause.id != exclude))


@functools.cache
def _covering_any() -> Any:
    return exists(select(Pause.id).where(Pause.resumed_at.is_(None), _covers_row()))


def _in_scope(pause: Pause) -> Any:
    """SQL: ``pause`` (active or not) covers this delivery."""
    if pause.scope == Scope.all:
        return Delivery.id.isnot(None)
    if pause.scope == Scope.campaign:
        return Post.campaign_id == pause.target
    if pause.scope == Scope.country:
        return Post.campaign_id.in_(select(Campaign.id).where(Campaign.country == pause.target))
    return Delivery.channel_id.in_(select(Channel.id).where(Channel.name == pause.target))


def describe(pause: Pause) -> str:
    where = "everything" if pause.scope == Scope.all else f"{pause.scope} {pause.target}"
    return f"pause {pause.id} ({where})"


def active(session: Session) -> list[Pause]:
    return list(session.scalars(select(Pause).where(Pause.resumed_at.is_(None)).order_by(Pause.id)))


def find_active(session: Session, scope: Scope | str, target: str = "") -> Pause | None:
    return session.scalar(
        select(Pause).where(
            Pause.resumed_at.is_(None), Pause.scope == Scope(scope).value, Pause.target == target
        )
    )


def refusal(session: Session, delivery: Delivery) -> str | None:
    """Why ``delivery`` must not start publishing now (a pause covers it, its channel is
    paused), or None. Called in the begin-send transaction, after `hold`."""
    channel = delivery.channel
    if channel.paused:
        return f"channel {channel.name} paused: {channel.paused_reason}"
    pause = session.scalar(
        select(Pause)
        .select_from(Delivery)
        .join(Post, Delivery.post_id == Post.id)
        .join(Pause, Pause.resumed_at.is_(None))
        .where(Delivery.id == delivery.id, _covers_row())
        .order_by(Pause.id)
        .limit(1)
    )
    if pause is not None:
        return f"{describe(pause)}: {pause.reason}"
    return None


def _covers_row() -> Any:
    """SQL over (pause, delivery, post): this pause row covers this delivery."""
    campaign, channel = aliased(Campaign), aliased(Channel)
    # Two levels below the claim's query: correlate explicitly (post and delivery are the
    # claim's rows; only the aliases are this subquery's own).
    country = (
        select(campaign.country)
        .where(campaign.id == Post.campaign_id)
        .correlate_except(campaign)
        .scalar_subquery()
    )
    name = (
        select(channel.name)
        .where(channel.id == Delivery.channel_id)
        .correlate_except(channel)
        .scalar_subquery()
    )
    return or_(
        Pause.scope == Scope.all.value,
        and_(Pause.scope == Scope.campaign.value, Pause.target == Post.campaign_id),
        and_(Pause.scope == Scope.country.value, Pause.target == country),
        and_(Pause.scope == Scope.channel.value, Pause.target == name),
    )


@dataclass(frozen=True)
class InFlight:
    """A delivery whose platform call had begun when the pause was committed: it may still be
    published, and its outcome is recorded as usual."""

    delivery_id: int
    label: str
    worker: str | None
    sending_since: datetime | None


@dataclass(frozen=True)
class PauseResult:
    pause_id: int
    created: bool
    """False when the same pause was active already (nothing changed)."""
    in_flight: tuple[InFlight, ...]
    handed_back: tuple[int, ...]
    """Claims that had not begun sending: back in the queue, held by the pause."""


def _label(delivery: Delivery, post: Post, channel: str) -> str:
    suffix = f"#{delivery.occurrence + 1}" if delivery.occurrence else ""
    return f"{post.campaign_id}/{post.key}{suffix}@{channel}"


def _check_target(session: Session, scope: Scope, target: str) -> str:
    target = target.strip()
    if scope == Scope.all:
        if target:
            raise PauseError("pausing everything takes no target")
        return ""
    if not target:
        raise PauseError(f"say which {scope.value} to pause")
    if scope == Scope.campaign:
        if session.get(Campaign, target) is None:
            raise PauseError(f"no campaign {target!r} (see: elshi campaign list)")
    elif scope == Scope.country:
        target = target.upper()
        if session.scalar(select(Campaign.id).where(Campaign.country == target).limit(1)) is None:
            raise PauseError(f"no campaign targets the country {target!r}")
    elif session.scalar(select(Channel.id).where(Channel.name == target)) is None:
        raise PauseError(f"no channel {target!r} in the database")
    return target


def pause(
    sessions: sessionmaker[Session],
    *,
    scope: Scope | str,
    target: str = "",
    reason: str,
    by: Person | str,
    now: datetime,
) -> PauseResult:
    """Pause ``scope`` (``target``: a campaign id, country code or channel name) and commit.
    When this returns, no delivery it covers starts publishing anywhere, except those returned
    as in flight (their platform call had begun)."""
    try:
        scope = Scope(scope)
    except ValueError:
        raise PauseError(
            f"unknown scope {scope!r}: use all, campaign, country or channel"
        ) from None
    reason = reason.strip()
    if not reason:
        raise PauseError("say why (the reason is shown to everyone and kept in the audit log)")
    wrong = typedtext.problem(reason, "the reason", limit=typedtext.REASON)
    if wrong is not None:
        raise PauseError(wrong)
    with immediate(sessions) as session:
        _exclusive(session)
        actor = acting(session, by, "pause.create")
        target = _check_target(session, scope, target)
        row = find_active(session, scope, target)
        created = row is None
        if row is None:
            row = Pause(
                scope=scope.value, target=target, reason=reason, paused_by=actor, paused_at=now
            )
            session.add(row)
            session.flush()
            record(
                session,
                actor=actor,
                entity="pause",
                entity_id=row.id,
                at=now,
                to_state="paused",
                reason=f"{describe(row)}: {reason}",
                detail={"scope": scope.value, "target": target},
            )
        in_flight: list[InFlight] = []
        handed_back: list[int] = []
        rows = session.execute(
            select(Delivery, Post, Channel.name)
            .join(Post, Delivery.post_id == Post.id)
            .join(Channel, Delivery.channel_id == Channel.id)
            .where(Delivery.state == S.publishing.value, _in_scope(row))
            .order_by(Delivery.id)
            .with_for_update(of=Delivery)
        ).all()
        for delivery, post, channel in rows:
            label = _label(delivery, post, channel)
            if delivery.sending_at is not None:
                in_flight.append(
                    InFlight(delivery.id, label, delivery.lease_owner, delivery.sending_at)
                )
                continue
            delivery.lease_owner = None
            delivery.lease_expires_at = None
            delivery.attempts = max(delivery.attempts - 1, 0)
            back = S.approved if delivery.attempts == 0 else S.scheduled
            transition(
                session,
                delivery,
                back,
                actor=actor,
                at=now,
                reason=f"handed back: {describe(row)}: {reason}",
                label=label,
            )
            handed_back.append(delivery.id)
        session.commit()
        return PauseResult(row.id, created, tuple(in_flight), tuple(handed_back))


@dataclass(frozen=True)
class Held:
    """A delivery a pause held past its time."""

    delivery_id: int
    label: str
    due_at: datetime
    local_due: str
    state: str


def overdue(session: Session, pause_id: int, *, now: datetime) -> list[Held]:
    """What resuming ``pause_id`` would release late: deliveries it covers, waiting, whose time
    has passed, and that no other active pause still holds."""
    row = session.get(Pause, pause_id)
    if row is None:
        raise PauseError(f"no pause {pause_id}")
    rows = session.execute(
        select(Delivery, Post, Channel.name)
        .join(Post, Delivery.post_id == Post.id)
        .join(Channel, Delivery.channel_id == Channel.id)
        .where(
            due_state(Delivery.state),
            func.coalesce(Delivery.next_attempt_at, Delivery.due_at) <= now,
            _in_scope(row),
            ~covering(exclude=row.id),
        )
        .order_by(Delivery.due_at, Delivery.id)
    ).all()
    return [
        Held(
            d.id,
            _label(d, p, ch),
            d.due_at,
            f"{d.local_due.replace('T', ' ')} {d.timezone}",
            d.state,
        )
        for d, p, ch in rows
    ]


@dataclass(frozen=True)
class ResumeResult:
    pause_id: int
    sent: tuple[int, ...]
    skipped: tuple[int, ...]


def resume(
    sessions: sessionmaker[Session],
    pause_id: int,
    *,
    by: Person | str,
    now: datetime,
    send: Iterable[int] | None = None,
    skip: Iterable[int] | None = None,
    send_all: bool = False,
    skip_all: bool = False,
) -> ResumeResult:
    """End ``pause_id`` and decide each overdue delivery (`overdue`): send now, or skip
    (cancel). Every overdue delivery needs a decision, else `PauseError` lists them and
    nothing changes. Commits."""
    if send_all and skip_all:
        raise PauseError("choose one of send-all and skip-all")
    with immediate(sessions) as session:
        _exclusive(session)
        actor = acting(session, by, "pause.resume")
        row = session.get(Pause, pause_id)
        if row is None:
            raise PauseError(f"no pause {pause_id}")
        if row.resumed_at is not None:
            raise PauseError(f"{describe(row)} was resumed already by {row.resumed_by}")
        held = overdue(session, pause_id, now=now)
        ids = {h.delivery_id for h in held}
        to_send = set(ids) if send_all else set(send or ())
        to_skip = set(ids) if skip_all else set(skip or ())
        unknown = sorted((to_send | to_skip) - ids)
        if unknown:
            raise PauseError(f"not overdue under {describe(row)}: {', '.join(map(str, unknown))}")
        both = sorted(to_send & to_skip)
        if both:
            raise PauseError(f"both sent and skipped: {', '.join(map(str, both))}")
        undecided = [h for h in held if h.delivery_id not in to_send | to_skip]
        if undecided:
            raise PauseError(
                f"{len(undecided)} deliveries became overdue under {describe(row)}; "
                "decide each (send or skip):\n"
                + "\n".join(f"  {h.delivery_id}  {h.label}  due {h.local_due}" for h in undecided)
            )
        deliveries = {
            d.id: d
            for d in session.scalars(select(Delivery).where(Delivery.id.in_(ids)).with_for_update())
        }
        for delivery_id in sorted(to_send):
            delivery = deliveries[delivery_id]
            delivery.attempts = 0
            delivery.next_attempt_at = now  # a new missed window opens from now
            delivery.resumed_from_pause = row.id
            reason = f"send after {describe(row)} was resumed (overdue)"
            if delivery.state == S.scheduled:
                record(
                    session,
                    actor=actor,
                    entity="delivery",
                    entity_id=delivery.id,
                    at=now,
                    from_state=delivery.state,
                    to_state=delivery.state,
                    reason=reason,
                    detail={"pause": row.id},
                )
            else:
                transition(
                    session,
                    delivery,
                    S.scheduled,
                    actor=actor,
                    at=now,
                    reason=reason,
                    detail={"pause": row.id},
                )
        for delivery_id in sorted(to_skip):
            delivery = deliveries[delivery_id]
            why = f"skipped after {describe(row)} ({row.reason}) by {actor}"
            transition(session, delivery, S.cancelled, actor=actor, at=now, reason=why)
            delivery.last_error = why
        row.resumed_at = now
        row.resumed_by = actor
        record(
            session,
            actor=actor,
            entity="pause",
            entity_id=row.id,
            at=now,
            from_state="paused",
            to_state="resumed",
            reason=f"{describe(row)} resumed: {len(to_send)} overdue sent, {len(to_skip)} skipped",
            detail={"sent": sorted(to_send), "skipped": sorted(to_skip)},
        )
        session.commit()
        return ResumeResult(row.id, tuple(sorted(to_send)), tuple(sorted(to_skip)))
