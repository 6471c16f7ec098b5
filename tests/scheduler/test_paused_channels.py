"""A paused channel sends nothing at all — no post, no reconcile question, no metric read — and
the deliveries it holds in flight wait unharmed until it is resumed, then reconcile once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from campaigns.schema import Channel
from scheduler.dispatch import claim_due
from tests.scheduler.conftest import at, mastodon_channel, post_yaml, send_now


def _paused(rig: Any, name: str = "de-mastodon") -> bool:
    from sqlalchemy import select

    with rig.sessions() as session:
        return bool(session.scalar(select(Channel.paused).where(Channel.name == name)))


def _resume(rig: Any, name: str = "de-mastodon") -> None:
    from scheduler.operations import resume_channel

    with rig.sessions() as session:
        resume_channel(session, name, actor="user:ops", now=rig.clock())
        session.commit()


def test_a_claim_in_flight_waits_while_the_channel_is_paused_and_reconciles_once_on_resume(
    rig_factory: Any, mastodon: Any
) -> None:
    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon)})
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Nauryz in Berlin")])
    mastodon.inject("drop_after", path="/api/v1/statuses$", method="POST")
    rig.clock.set(at("2027-03-01T09:00:00"))
    assert rig.run().ambiguous == 1
    mastodon.inject("auth", times=1000)  # the token was revoked meanwhile

    rig.clock.advance(minutes=3)
    rig.run()

    assert _paused(rig)
    delivery = rig.delivery()
    assert delivery.state == "publishing"
    asked = len(mastodon.requests)
    for _ in range(20):  # hours pass; the daemon keeps waking up
        rig.clock.advance(minutes=30)
        rig.run(collect=True)
    assert len(mastodon.requests) == asked  # not one request through the paused channel
    assert rig.delivery().state == "publishing"
    assert rig.dispatcher().next_wakeup() is None  # and no busy loop on its expired lease

    mastodon.clear_faults()
    _resume(rig)
    stats = rig.run()

    assert stats.reconciled == 1
    assert rig.delivery().state == "published"
    assert len(mastodon.posts) == 1
    assert "needs_review" not in [to for _, to, _ in rig.audit(delivery.id)]


def test_the_rest_of_a_batch_is_handed_back_once_an_auth_error_pauses_the_channel(
    rig_factory: Any, mastodon: Any
) -> None:
    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon, rate="600/m")})
    rig.apply(
        [
            post_yaml("p1", "2027-03-01 10:00", "Erster Beitrag"),
            post_yaml("p2", "2027-03-01 10:00", "Zweiter Beitrag"),
        ]
    )
    mastodon.inject("auth", path="/api/v1/statuses$", method="POST", times=1)
    rig.clock.set(at("2027-03-01T09:00:00"))
    dispatcher = rig.dispatcher()
    claims = claim_due(
        rig.sessions, dispatcher.settings, rig.clock(), rate_for=lambda *_: 600.0, lookahead=5
    )
    assert len(claims) == 2  # one batch, as a real-time daemon claims it

    for claim in claims:
        send_now(rig, dispatcher, claim)

    assert _paused(rig)
    assert mastodon.posts == []  # the second post did not go out through the paused channel
    assert sorted(rig.states()) == ["approved", "scheduled"]

    _resume(rig)
    rig.run_until(rig.clock() + timedelta(minutes=5))

    assert rig.states() == ["published", "published"]
    assert len(mastodon.posts) == 2


def test_refused_credentials_while_reading_metrics_pause_the_channel(
    rig_factory: Any, mastodon: Any
) -> None:
    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon)})
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Messbar")])
    rig.clock.set(at("2027-03-01T09:00:00"))
    rig.run()
    assert rig.delivery().state == "published"
    mastodon.inject("auth", times=1000)

    rig.clock.advance(hours=2)
    rig.run(collect=True)
    asked = len(mastodon.requests)
    rig.clock.advance(hours=6)
    rig.run(collect=True)

    assert _paused(rig)
    assert len(mastodon.requests) == asked
