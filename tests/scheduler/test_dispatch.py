"""The dispatcher against the Mastodon emulator and the real Mastodon.py client, on SQLite and
PostgreSQL, with a fake clock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.scheduler.conftest import at, mastodon_channel, post_yaml


def test_due_approved_delivery_is_published_once_at_its_time(
    rig_factory: Any, mastodon: Any
) -> None:
    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon)})
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Nauryz kommt: Frühlingsfest in Berlin")])
    rig.clock.set(at("2027-03-01T08:59:00"))  # 09:59 Berlin: not yet
    assert rig.run().published == 0
    assert mastodon.posts == []
    rig.clock.set(at("2027-03-01T09:00:00"))
    stats = rig.run()
    assert stats.published == 1
    assert [p["text"] for p in mastodon.posts] == ["Nauryz kommt: Frühlingsfest in Berlin"]
    delivery = rig.delivery()
    assert delivery.state == "published"
    assert delivery.remote_url and delivery.remote_id == mastodon.posts[0]["id"]
    assert delivery.published_at == at("2027-03-01T09:00:00")
    assert rig.run().published == 0
    assert len(mastodon.posts) == 1


def test_drafts_are_not_published(rig_factory: Any, mastodon: Any) -> None:
    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon)})
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Entwurf")], extra="")
    from sqlalchemy import update

    from campaigns.schema import Delivery

    with rig.sessions() as session:
        session.execute(update(Delivery).values(state="draft"))
        session.commit()
    rig.clock.set(at("2027-03-01T09:01:00"))
    rig.run()
    assert mastodon.posts == []
    assert rig.states() == ["draft"]


def test_server_error_is_retried_with_backoff_then_published(
    rig_factory: Any, mastodon: Any
) -> None:
    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon)})
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Hallo")])
    mastodon.inject("server_error", path="/api/v1/statuses", method="POST")
    rig.clock.set(at("2027-03-01T09:00:00"))
    stats = rig.run()
    assert stats.retried == 1 and stats.published == 0
    delivery = rig.delivery()
    assert delivery.state == "scheduled" and delivery.error_kind == "transient"
    assert delivery.next_attempt_at > rig.clock()
    rig.clock.set(delivery.next_attempt_at + timedelta(minutes=1))  # past the channel's slot
    assert rig.run().published == 1
    assert len(mastodon.posts) == 1
    assert rig.delivery().attempts == 2


def test_rate_limit_blocks_the_channel_until_retry_after(rig_factory: Any, mastodon: Any) -> None:
    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon)})
    rig.apply(
        [post_yaml("p1", "2027-03-01 10:00", "Eins"), post_yaml("p2", "2027-03-01 10:00", "Zwei")]
    )
    mastodon.inject("rate_limit", path="/api/v1/statuses", method="POST", retry_after=120)
    rig.clock.set(at("2027-03-01T09:00:00"))
    rig.run()
    states = rig.states()
    assert sorted(states) == ["approved", "scheduled"] or sorted(states) == [
        "scheduled",
        "scheduled",
    ]
    from campaigns.schema import Channel

    with rig.sessions() as session:
        channel = session.query(Channel).one()
        assert channel.blocked_until >= rig.clock() + timedelta(seconds=100)
        blocked = channel.blocked_until
    rig.clock.set(blocked - timedelta(seconds=1))
    rig.run()
    assert mastodon.posts == []
    rig.run_until(blocked + timedelta(minutes=5))
    assert sorted(p["text"] for p in mastodon.posts) == ["Eins", "Zwei"]


def test_rejected_content_fails_at_once_with_the_platforms_reason(
    rig_factory: Any, mastodon: Any
) -> None:
    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon)})
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Hallo")])
    mastodon.inject(
        "reject",
        path="/api/v1/statuses",
        method="POST",
        message="Validation failed: Text character limit of 500 exceeded",
    )
    rig.clock.set(at("2027-03-01T09:00:00"))
    stats = rig.run()
    assert stats.failed == 1
    delivery = rig.delivery()
    assert delivery.state == "failed"
    assert "character limit" in delivery.last_error
    assert delivery.attempts == 1


def test_expired_token_pauses_the_channel_and_its_deliveries_wait(
    rig_factory: Any, mastodon: Any
) -> None:
    from campaigns.schema import Channel
    from scheduler.operations import resume_channel

    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon)})
    rig.apply(
        [post_yaml("p1", "2027-03-01 10:00", "Eins"), post_yaml("p2", "2027-03-01 10:05", "Zwei")]
    )
    mastodon.expire_token()
    rig.clock.set(at("2027-03-01T09:00:00"))
    rig.run()
    with rig.sessions() as session:
        channel = session.query(Channel).one()
        assert channel.paused and "expired" in channel.paused_reason.lower()
    rig.clock.set(at("2027-03-01T09:06:00"))
    rig.run()
    assert mastodon.posts == []
    assert set(rig.states()) <= {"scheduled", "approved"}
    mastodon.reset_token() if hasattr(mastodon, "reset_token") else setattr(
        mastodon, "_token_error", None
    )
    with rig.sessions() as session:
        assert resume_channel(session, "de-mastodon", actor="user:ops", now=rig.clock())
        session.commit()
    rig.run_until(rig.clock() + timedelta(minutes=1))
    assert sorted(p["text"] for p in mastodon.posts) == ["Eins", "Zwei"]


def test_ambiguous_publish_is_reconciled_not_resent(rig_factory: Any, mastodon: Any) -> None:
    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon)})
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Ankündigung: Abai-Tag in Berlin")])
    mastodon.inject("drop_after", path="/api/v1/statuses", method="POST")
    rig.clock.set(at("2027-03-01T09:00:00"))
    stats = rig.run()
    assert stats.ambiguous == 1
    assert len(mastodon.posts) == 1  # it did go out
    assert rig.delivery().state == "publishing"
    rig.run()  # lease not yet expired: nothing happens
    assert rig.delivery().state == "publishing" and len(mastodon.posts) == 1
    rig.clock.advance(minutes=3)
    stats = rig.run()
    assert stats.reconciled == 1
    delivery = rig.delivery()
    assert delivery.state == "published"
    assert delivery.remote_id == mastodon.posts[0]["id"]
    assert len(mastodon.posts) == 1


def test_crash_after_claim_before_sending_is_sent_after_reconcile(
    rig_factory: Any, mastodon: Any
) -> None:
    from scheduler.dispatch import claim_due

    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon)})
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Hallo")])
    rig.clock.set(at("2027-03-01T09:00:00"))
    dead = rig.dispatcher(worker_id="dead-daemon")
    claims = claim_due(
        rig.sessions, dead.settings, rig.clock(), rate_for=dead.rate_for, lookahead=0
    )
    assert len(claims) == 1  # ... and the process dies here
    assert rig.delivery().state == "publishing"
    rig.clock.advance(minutes=2)
    fresh = rig.dispatcher(worker_id="fresh-daemon")
    fresh.run_once(collect=False)
    assert rig.delivery().state == "publishing"  # lease still held by the dead daemon
    rig.clock.advance(minutes=4)  # lease (5 min) expired
    fresh.run_once(collect=False)
    assert rig.delivery().state == "published"
    assert len(mastodon.posts) == 1


def test_crash_after_sending_before_recording_is_found_by_reconcile(
    rig_factory: Any, mastodon: Any
) -> None:
    from scheduler.dispatch import claim_due

    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon)})
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Hallo Welt")])
    rig.clock.set(at("2027-03-01T09:00:00"))
    dead = rig.dispatcher(worker_id="dead-daemon")
    (claim,) = claim_due(
        rig.sessions, dead.settings, rig.clock(), rate_for=dead.rate_for, lookahead=0
    )
    with dead.pool.lease(claim.channel) as connector:
        connector.publish(claim.post)  # sent; the process dies before recording it
    assert len(mastodon.posts) == 1
    rig.clock.advance(minutes=6)
    rig.dispatcher(worker_id="fresh-daemon").run_once(collect=False)
    delivery = rig.delivery()
    assert delivery.state == "published"
    assert delivery.remote_id == mastodon.posts[0]["id"]
    assert len(mastodon.posts) == 1
    assert any("reconciled" in (reason or "") for _, _, reason in rig.audit(delivery.id))


def test_overdue_within_grace_goes_out_late_and_beyond_grace_is_missed(
    rig_factory: Any, mastodon: Any
) -> None:
    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon)})
    rig.apply(
        [
            post_yaml("early", "2027-03-01 09:00", "Früh"),
            post_yaml("late", "2027-03-01 09:50", "Spät"),
        ]
    )
    rig.clock.set(at("2027-03-01T09:00:00"))  # 10:00 Berlin: 'early' is 60 min overdue
    rig.run()
    early, late = rig.deliveries()
    assert early.state == "missed"
    assert "allowed 15 min late" in rig.audit(early.id)[-1][2]
    assert late.state == "published"
    assert late.late_seconds == 600
    assert [p["text"] for p in mastodon.posts] == ["Spät"]


def test_reply_waits_for_its_parent_and_answers_it(rig_factory: Any, mastodon: Any) -> None:
    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon)})
    rig.apply(
        [
            post_yaml("parent", "2027-03-01 10:00", "Teil 1"),
            post_yaml("child", "2027-03-01 10:01", "Teil 2", reply_to="parent"),
        ]
    )
    mastodon.inject("server_error", path="/api/v1/statuses", method="POST")
    rig.clock.set(at("2027-03-01T09:02:00"))
    rig.run()
    parent, child = rig.deliveries()
    assert parent.state == "scheduled" and child.state == "approved"
    assert mastodon.posts == []
    rig.run_until(parent.next_attempt_at + timedelta(minutes=1))
    assert [p["text"] for p in mastodon.posts] == ["Teil 1", "Teil 2"]
    assert mastodon.posts[1]["in_reply_to_id"] == mastodon.posts[0]["id"]


def test_channel_rate_spaces_posts(rig_factory: Any, mastodon: Any) -> None:
    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon, rate="2/m")})
    rig.apply([post_yaml(f"p{i}", "2027-03-01 10:00", f"Post {i}") for i in range(3)])
    rig.clock.set(at("2027-03-01T09:00:00"))
    rig.run()
    assert len(mastodon.posts) == 1
    rig.clock.advance(seconds=29)
    rig.run()
    assert len(mastodon.posts) == 1
    rig.clock.advance(seconds=1)
    rig.run()
    assert len(mastodon.posts) == 2
    rig.clock.advance(seconds=30)
    rig.run()
    assert len(mastodon.posts) == 3


def test_out_of_attempts_becomes_failed_with_the_last_error(
    rig_factory: Any, mastodon: Any
) -> None:
    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon)})
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Hallo")])
    mastodon.inject("unavailable", path="/api/v1/statuses", method="POST", times=10)
    rig.clock.set(at("2027-03-01T09:00:00"))
    for _ in range(4):
        rig.run()
        delivery = rig.delivery()
        if delivery.next_attempt_at:
            rig.clock.set(delivery.next_attempt_at + timedelta(minutes=1))
    delivery = rig.delivery()
    assert delivery.state == "failed"
    assert delivery.attempts == 4
    assert "gave up after 4 attempts" in rig.audit(delivery.id)[-1][2]
    assert mastodon.posts == []


def test_a_confirmed_publication_is_recorded_even_after_the_row_moved_on(
    rig_factory: Any, mastodon: Any
) -> None:
    import random

    from campaigns.schema import Delivery
    from scheduler.dispatch import PassStats, claim_due, record_result

    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon)})
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Hallo")])
    rig.clock.set(at("2027-03-01T09:00:00"))
    slow = rig.dispatcher(worker_id="slow-daemon")
    (claim,) = claim_due(
        rig.sessions, slow.settings, rig.clock(), rate_for=slow.rate_for, lookahead=0
    )
    with slow.pool.lease(claim.channel) as connector:
        published = connector.publish(claim.post)
    with rig.sessions() as session:  # meanwhile another daemon's reconcile moved it on
        row = session.get(Delivery, claim.delivery_id)
        row.state = "scheduled"
        row.lease_owner = None
        session.commit()
    record_result(
        rig.sessions,
        claim,
        published,
        slow.settings,
        rig.clock(),
        PassStats(),
        rng=random.Random(1),
    )
    delivery = rig.delivery(claim.delivery_id)
    assert delivery.state == "published" and delivery.remote_id == published.remote_id
    assert "out of order" in rig.audit(delivery.id)[-1][2]
    rig.clock.advance(minutes=10)
    rig.run()
    assert len(mastodon.posts) == 1


def test_a_steady_stream_of_claims_reads_the_next_claimable_instant_only_now_and_then(
    rig_factory: Any, mastodon: Any, monkeypatch: Any
) -> None:
    """The dispatch loop: a pass that claimed rows and left nothing within its horizon (a
    lookahead and a half) sleeps a lookahead without asking the database when the next row is
    due (the next pass claims it on time); it asks at least every few lookaheads, and after a
    pass that claimed nothing."""
    import scheduler.daemon
    from scheduler.daemon import STEADY_PAUSE

    looks: list[Any] = []
    read = scheduler.daemon.next_instants

    def counted(*args: Any) -> Any:
        looks.append(args[1])
        return read(*args)

    monkeypatch.setattr(scheduler.daemon, "next_instants", counted)
    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon)})
    rig.apply([post_yaml(f"p{i}", f"2027-03-01 10:0{i}", f"Beitrag {i}") for i in range(4)])
    lookahead = 60.0  # a post a minute, a pass a minute: each pass claims the next one
    daemon = rig.daemon("steady", claim_lookahead_seconds=lookahead, lease_seconds=300.0)
    rig.clock.set(at("2027-03-01T08:58:30"))  # 10:00 Berlin is 09:00 UTC
    waits, passes = [], []
    for _ in range(5):
        passes.append(rig.clock())
        waits.append(daemon.loop_pass(lookahead))
        daemon.lanes.wait_idle()
        rig.clock.advance(seconds=lookahead * STEADY_PAUSE)

    assert len(mastodon.posts) == 4
    # Read at the first pass (until 150 s later: half the lease), then not while passes claim,
    # then once that time passed (the fourth pass), and after the pass that claimed nothing.
    assert looks == [passes[0], passes[3], passes[4]]
    assert waits[1] == waits[2] == lookahead * STEADY_PAUSE
