"""A channel's rate limit stops the sends already claimed, not only new claims (#14): the check
before each send (`scheduler.dispatch.sendable`, in `begin_sends`) refuses a claim whose
channel is blocked (``Channel.blocked_until``) at the check's instant and hands it back as
never sent (its attempt not counted, its due time kept, the reason in its audit), and the claim
comes back after the block; a claim made before the block is not sent after it either, so the
channel's posts go out in due order once it ends. Real databases (SQLite and PostgreSQL), the
Mastodon emulator and Mastodon.py; a fake clock."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from campaigns.schema import Channel, Delivery
from connectors.base import RateLimitedError
from connectors.testing.server import Request, Response
from scheduler.dispatch import Outcome, SendCheck, Verdict, begin_send, claim_due, settle
from scheduler.writer import Direct
from tests.scheduler.conftest import at, mastodon_channel, post_yaml, send_now

GENEROUS = 10.0
"""Seconds a held request waits for its partners before giving up (the test then fails)."""

HANDED_BACK = "handed back: before sending:"
RATE_LIMITED = f"{HANDED_BACK} the channel is rate-limited until"
ASKED = f"{HANDED_BACK} the platform asked us to wait until"
"""A block whose cause no audit entry records (set by other means than a platform's answer)."""


def _claim(rig: Any, daemon: Any) -> list[Any]:
    return claim_due(
        rig.sessions, daemon.settings, rig.clock(), rate_for=lambda *_: 600.0, lookahead=5
    )


def _block(rig: Any, until: datetime) -> None:
    """Block the channel by other means than a platform's answer: no audit entry says why."""
    with rig.sessions() as session:
        session.execute(update(Channel).values(blocked_until=until))
        session.commit()


def test_a_claim_of_a_rate_limited_channel_is_handed_back_unsent_and_comes_back_after(
    rig_factory: Any, mastodon: Any
) -> None:
    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon, rate="600/m")})
    rig.apply([post_yaml(f"p{i}", "2027-03-01 10:00", f"Nachricht {i}") for i in range(3)])
    retry_at = at("2027-03-01T08:59:50")
    with rig.sessions() as session:  # the third had a transient error: its retry is due
        session.execute(
            update(Delivery)
            .where(Delivery.id == 3)
            .values(state="scheduled", attempts=1, next_attempt_at=retry_at)
        )
        session.commit()
    rig.clock.set(at("2027-03-01T09:00:00"))
    daemon = rig.daemon("blocked-daemon")
    claims = _claim(rig, daemon)
    assert [(c.delivery_id, c.attempt) for c in claims] == [(3, 2), (1, 1), (2, 1)]
    until = at("2027-03-01T09:02:00")
    _block(rig, until)  # a 429 of another daemon's call, recorded after these claims

    for claim in claims[:2]:
        assert not begin_send(rig.sessions, claim, daemon.settings, rig.clock())
    # at the block's end a claim made before it is handed back too, to go out in due order
    rig.clock.set(until)
    assert not begin_send(rig.sessions, claims[2], daemon.settings, rig.clock())

    rows = {row.id: row for row in rig.deliveries()}
    # handed back as never sent: the attempt not counted, the due time and place kept
    assert (rows[1].state, rows[1].attempts, rows[1].next_attempt_at) == ("approved", 0, None)
    assert (rows[2].state, rows[2].attempts, rows[2].next_attempt_at) == ("approved", 0, None)
    assert (rows[3].state, rows[3].attempts, rows[3].next_attempt_at) == (
        "scheduled",
        1,
        retry_at,
    )
    for row in rows.values():
        assert row.lease_owner is None and row.sending_at is None
    for row in (rows[1], rows[3]):
        assert rig.audit(row.id)[-1] == (
            "publishing",
            row.state,
            f"{ASKED} 2027-03-01 09:02:00 UTC",
        )
    assert rig.audit(2)[-1][2] == (
        f"{ASKED} 2027-03-01 09:02:00 UTC after this claim was made; it is claimed again, in due "
        "order"
    )
    assert mastodon.posts == []

    # not claimed again before the block ends; claimed at once after it, in due order, and sent
    rig.clock.set(until - timedelta(seconds=1))
    assert _claim(rig, daemon) == []
    rig.clock.set(until)
    again = _claim(rig, daemon)
    assert [(c.delivery_id, c.attempt) for c in again] == [(3, 2), (1, 1), (2, 1)]
    assert begin_send(rig.sessions, again[0], daemon.settings, rig.clock())


def test_a_rate_limit_answer_stops_the_check_batched_with_it(
    rig_factory: Any, mastodon: Any
) -> None:
    """The writer's batch (`settle`) holding a call's 429 and the check of the channel's next
    claim: the check is made after the answer is recorded, so it sees the block; the same batch
    without the 429 sends."""
    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon, rate="600/m")})
    rig.apply([post_yaml(f"p{i}", "2027-03-01 10:00", f"Nachricht {i}") for i in range(3)])
    rig.clock.set(at("2027-03-01T09:00:00"))
    daemon = rig.daemon("batch-daemon")
    claims = _claim(rig, daemon)
    assert begin_send(rig.sessions, claims[0], daemon.settings, rig.clock())
    limited = RateLimitedError("Too many requests", retry_after=120, channel="de-mastodon")

    values = Direct(rig.sessions).run(
        lambda session: settle(
            session,
            [
                SendCheck(claims[1], daemon.settings, rig.clock()),
                Outcome(claims[0], limited, daemon.settings, rig.clock(), random.Random(1)),
                SendCheck(claims[2], daemon.settings, rig.clock()),
            ],
        )
    )

    assert values[0] is Verdict.REFUSED and values[2] is Verdict.REFUSED
    assert values[1].retried == 1  # type: ignore[union-attr]
    rows = {row.id: row for row in rig.deliveries()}
    assert [(rows[c.delivery_id].state, rows[c.delivery_id].attempts) for c in claims] == [
        ("scheduled", 1),
        ("approved", 0),
        ("approved", 0),
    ]
    assert rig.audit(claims[2].delivery_id)[-1][2] == f"{RATE_LIMITED} 2027-03-01 09:02:00 UTC"


def _five_posts_meet_an_outage(
    rig_factory: Any,
    mastodon: Any,
    failure: Callable[[datetime], Response],
    *,
    code: int,
    error_kind: str,
    said: str,
) -> None:
    """Five posts due at once, up to three calls of the channel in flight (`scheduler.lanes`):
    the platform answers the first call while the next two are in flight with ``failure(until)``
    (status ``code``), ``until`` two minutes on. Those three are at the platform already (each a
    failed attempt, ``error_kind``, retried no sooner than ``until``); the two still queued are
    refused at their check and handed back unsent (their attempt not counted, the reason in
    their audit: ``said`` and the time); nothing calls the platform before ``until``; then all
    five go out, each once."""
    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon, rate="6000/m")})
    texts = [f"Beitrag {i}" for i in range(5)]
    rig.apply([post_yaml(f"p{i}", "2027-03-01 10:00", text) for i, text in enumerate(texts)])
    together = threading.Barrier(3, timeout=GENEROUS)
    lock = threading.Lock()
    calls: list[tuple[datetime, str, int]] = []
    ends: list[datetime] = []

    def status(request: Request, create: Any) -> Response:
        now = rig.clock()
        with lock:
            first_three = len(calls) < 3
            calls.append((now, request.form().get("status", ""), 0))
        if first_three:
            together.wait()  # answered once all three are at the platform
        with lock:
            if not ends:
                ends.append(now + timedelta(minutes=2))
            failing = now < ends[0]
            calls[-1] = (*calls[-1][:2], code if failing else 200)
        return failure(ends[0]) if failing else create(request)

    method, pattern, create = next(
        route
        for route in mastodon._routes
        if route[0] == "POST" and route[1].pattern.startswith("/api/v1/statuses")
    )
    mastodon._routes.insert(0, (method, pattern, lambda request: status(request, create)))

    rig.clock.set(at("2027-03-01T09:00:00"))
    stats = rig.dispatcher().dispatch(lookahead=1.0)

    assert not together.broken
    assert len(calls) == 3, calls  # only the calls in flight when the failure came
    assert mastodon.posts == []
    assert stats.retried == 3 and stats.handed_back == 2 and stats.published == 0
    with rig.sessions() as session:
        until = session.scalar(select(Channel.blocked_until))
    assert until == ends[0]
    rows = rig.deliveries()
    called = sorted(r.id for r in rows if r.attempts)
    queued = sorted(r.id for r in rows if not r.attempts)
    assert len(called) == 3 and len(queued) == 2
    for row in rows:
        if row.id in queued:
            assert row.state == "approved" and row.next_attempt_at is None
            reasons = [reason for *_, reason in rig.audit(row.id)]
            assert reasons[-1] == f"{HANDED_BACK} {said} 2027-03-01 09:02:00 UTC", reasons
        else:  # a failed attempt: counted, and retried no sooner than the platform asked
            assert row.state == "scheduled" and row.next_attempt_at >= until
            assert row.error_kind == error_kind and row.attempts == 1

    rig.clock.set(until - timedelta(seconds=1))
    rig.run()
    assert len(calls) == 3  # nothing during the block
    rig.run_until(until + timedelta(minutes=10))
    assert sorted(text for _, text, code in calls if code == 200) == texts
    assert all(when >= until for when, _, code in calls if code == 200)
    assert len(calls) == 3 + 5
    assert sorted(p["text"] for p in mastodon.posts) == texts
    assert rig.states() == ["published"] * 5
    attempts = {r.id: r.attempts for r in rig.deliveries()}
    assert [attempts[i] for i in queued] == [1, 1]
    assert [attempts[i] for i in called] == [2, 2, 2]


def test_a_429_stops_the_channels_queued_claims_until_the_block_ends(
    rig_factory: Any, mastodon: Any
) -> None:
    """The platform answers 429 with its reset two minutes on (the emulator's own 429,
    Rack::Attack's: X-RateLimit-Reset, ISO 8601): the claims still queued are not sent into
    the rate limit (`_five_posts_meet_an_outage`)."""
    _five_posts_meet_an_outage(
        rig_factory,
        mastodon,
        mastodon._too_many_requests,
        code=429,
        error_kind="rate_limited",
        said="the channel is rate-limited until",
    )


def test_a_503_with_retry_after_stops_the_channel_and_its_retry_until_then(
    rig_factory: Any, mastodon: Any
) -> None:
    """A server in maintenance (503 with Retry-After: 120, the instance's own HTML page) is
    a failed attempt, as any server error, but the server said when to come back: the calls in
    flight are retried no sooner, the claims still queued are handed back unsent and nothing
    calls the instance before then (`_five_posts_meet_an_outage`), their reason saying the
    platform was unavailable, not rate-limited (as it said before). Before the server's wait
    was honoured this went on calling the channel at once and retried on the plain backoff
    (seconds)."""
    from connectors.testing.mastodon import _HTML_503

    def maintenance(_: datetime) -> Response:
        return Response(
            503, raw=_HTML_503, content_type="text/html", headers={"Retry-After": "120"}
        )

    _five_posts_meet_an_outage(
        rig_factory,
        mastodon,
        maintenance,
        code=503,
        error_kind="transient",
        said="the platform is unavailable (HTTP 503) until",
    )


class _Turn:
    """A claim's turn (`scheduler.lanes.Turn`) at which, while the claim waited to call, the
    answer to another call of its channel was recorded (``meanwhile``)."""

    def __init__(self, meanwhile: Any) -> None:
        self.meanwhile = meanwhile
        self.answers: list[Any] = []

    def calling(self) -> bool:
        self.meanwhile()
        return True  # an error answer came since this claim's turn began

    def answered(self, result: Any) -> None:
        self.answers.append(result)


def test_a_claim_checked_before_a_429_was_recorded_is_checked_again_before_its_call(
    rig_factory: Any, mastodon: Any
) -> None:
    """The 429 of another call of the channel was recorded after this claim's check had let it
    through, before its call: it is checked again, and handed back unsent; a claim checked
    again whose channel is open is sent."""
    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon, rate="600/m")})
    rig.apply([post_yaml(f"p{i}", "2027-03-01 10:00", f"Nachricht {i}") for i in range(2)])
    rig.clock.set(at("2027-03-01T09:00:00.123456"))
    daemon = rig.daemon("again-daemon")
    claims = _claim(rig, daemon)
    until = at("2027-03-01T09:02:00")

    blocked = send_now(rig, daemon, claims[0], turn=_Turn(lambda: _block(rig, until)))
    assert blocked.handed_back == 1 and blocked.published == 0
    assert mastodon.posts == []
    row = rig.delivery(claims[0].delivery_id)
    assert (row.state, row.attempts, row.sending_at, row.lease_owner) == ("approved", 0, None, None)
    assert rig.audit(row.id)[-1][2] == f"{ASKED} 2027-03-01 09:02:00 UTC"

    rig.clock.set(until)
    assert send_now(rig, daemon, claims[1]).handed_back == 1  # claimed before the block
    again = _claim(rig, daemon)
    assert [c.delivery_id for c in again] == [c.delivery_id for c in claims]
    turn = _Turn(lambda: rig.clock.advance(seconds=1))  # checked again: the channel is open
    assert send_now(rig, daemon, again[1], turn=turn).published == 1
    assert [p["text"] for p in mastodon.posts] == ["Nachricht 1"]
    assert rig.delivery(again[1].delivery_id).state == "published"


def test_after_a_short_block_the_channels_posts_go_out_in_due_order(
    rig_factory: Any, mastodon: Any
) -> None:
    """Five posts claimed a few seconds ahead, one a second (their slots; the fifth starts a
    thread, its reply due a minute later); the first call meets a 429 whose reset is 2.5 s on.
    The claims checked during the block are handed back; so are the two whose slots come after
    its end: they were claimed before it, so sending them would put them ahead of the
    earlier-due posts handed back. After the block the four go out in due order, the first
    post (a failed attempt) at its retry time, and the reply after its parent. Before, the last
    two were sent at their slots, ahead of the second and third (SQLite and PostgreSQL
    alike)."""
    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon, rate="60/m")})
    texts = [f"Beitrag {i}" for i in range(6)]
    rig.apply(
        [post_yaml(f"p{i}", "2027-03-01 10:00", text) for i, text in enumerate(texts[:5])]
        + [post_yaml("p5", "2027-03-01 10:01", texts[5], reply_to="p4")]
    )
    rig.clock.set(at("2027-03-01T09:00:00"))
    daemon = rig.dispatcher()
    claims = claim_due(
        rig.sessions, daemon.settings, rig.clock(), rate_for=lambda *_: 60.0, lookahead=5
    )
    assert [c.slot - claims[0].slot for c in claims] == [timedelta(seconds=i) for i in range(5)]
    mastodon.inject("rate_limit", path="/api/v1/statuses", method="POST", retry_after=2.5)

    outcomes = []
    for claim in claims:
        rig.clock.set(claim.slot)
        outcomes.append(send_now(rig, daemon, claim))
    with rig.sessions() as session:
        until = session.scalar(select(Channel.blocked_until))
    assert claims[2].slot < until < claims[3].slot

    assert [(o.retried, o.handed_back, o.published) for o in outcomes] == [(1, 0, 0)] + [
        (0, 1, 0)
    ] * 4
    assert mastodon.posts == []
    shown = f"{until:%Y-%m-%d %H:%M:%S}"
    for claim in claims[1:3]:
        assert rig.audit(claim.delivery_id)[-1][2] == f"{RATE_LIMITED} {shown} UTC"
    for claim in claims[3:]:
        row = rig.delivery(claim.delivery_id)
        assert (row.state, row.attempts, row.sending_at) == ("approved", 0, None)
        assert rig.audit(row.id)[-1][2] == (
            f"handed back: before sending: the channel was rate-limited until {shown} UTC after "
            "this claim was made; it is claimed again, in due order"
        )
    rig.run_until(at("2027-03-01T09:02:00"))
    assert [p["text"] for p in mastodon.posts] == [*texts[1:5], texts[0], texts[5]]
    assert rig.states() == ["published"] * 6
    stored = {post.text: post for post in mastodon.stored()}
    parent, reply = stored[texts[4]], stored[texts[5]]
    assert reply.reply_to == parent.id


def test_a_claim_pass_at_the_blocks_end_waits_for_the_claims_made_before_it(
    rig_factory: Any, mastodon: Any
) -> None:
    """As in the test above, but a claim pass comes right at the block's end, before the slots
    of the two claims made before the block (the daemon's loop claims a little ahead): it
    claims nothing of the channel until those are handed back, and then all of it in due
    order. Before, it claimed the two handed back during the block and a post due later than
    the two still waiting, which then went out after it."""
    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon, rate="60/m")})
    texts = [f"Beitrag {i}" for i in range(6)]
    rig.apply([post_yaml(f"p{i}", "2027-03-01 10:00", text) for i, text in enumerate(texts)])
    start = at("2027-03-01T09:00:00")
    with rig.sessions() as session:  # the sixth is due 7 s later
        session.execute(
            update(Delivery).where(Delivery.id == 6).values(due_at=start + timedelta(seconds=7))
        )
        session.commit()
    rig.clock.set(start)
    daemon = rig.dispatcher()

    def claim() -> list[Any]:
        return claim_due(
            rig.sessions, daemon.settings, rig.clock(), rate_for=lambda *_: 60.0, lookahead=5
        )

    claims = claim()
    assert [c.delivery_id for c in claims] == [1, 2, 3, 4, 5]
    mastodon.inject("rate_limit", path="/api/v1/statuses", method="POST", retry_after=2.5)
    for claim_ in claims[:3]:
        rig.clock.set(claim_.slot)
        send_now(rig, daemon, claim_)
    with rig.sessions() as session:
        until = session.scalar(select(Channel.blocked_until))
    assert claims[2].slot < until < claims[3].slot

    rig.clock.set(until)
    waiting = claims[3:] + claim()  # the loop's pass at the block's end
    for claim_ in sorted(waiting, key=lambda c: c.slot):
        rig.clock.set(max(rig.clock(), claim_.slot))
        send_now(rig, daemon, claim_)
    rig.run_until(at("2027-03-01T09:02:00"))
    assert [p["text"] for p in mastodon.posts] == [*texts[1:], texts[0]]
    assert rig.states() == ["published"] * 6
