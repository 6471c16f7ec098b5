"""The claim's own check of approval (defence in depth) and posts whose approval chain was
incomplete at their time, against the Mastodon emulator on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from campaigns.schema import Campaign, Delivery, Post
from tests.scheduler.conftest import at, mastodon_channel, post_yaml


def _needs_approval(rig: Any, *, delivery_state: str) -> None:
    """The campaign needs one approval step that nobody gave; deliveries in ``delivery_state``."""
    with rig.sessions() as session:
        session.execute(update(Campaign).values(requires_approval=True, approval_steps=[]))
        session.execute(update(Post).values(approval="pending", approved_revision=None))
        session.execute(update(Delivery).values(state=delivery_state))
        session.commit()


def test_the_claim_refuses_a_post_whose_chain_is_incomplete_whatever_the_delivery_says(
    rig_factory: Any, mastodon: Any
) -> None:
    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon)})
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Noch nicht freigegeben")])
    _needs_approval(rig, delivery_state="approved")
    rig.clock.set(at("2027-03-01T09:00:00"))
    assert rig.run().published == 0
    assert mastodon.posts == []
    assert rig.dispatcher().next_wakeup() is None  # and it does not keep the daemon awake


def test_a_content_change_after_approval_stops_the_claim(rig_factory: Any, mastodon: Any) -> None:
    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon)})
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Version 1")])
    with rig.sessions() as session:  # a newer revision than the one approved
        session.execute(update(Post).values(revision=Post.revision + 1))
        session.commit()
    rig.clock.set(at("2027-03-01T09:00:00"))
    assert rig.run().published == 0 and mastodon.posts == []


def test_an_incomplete_chain_at_its_time_is_missed_with_the_reason_and_listed_as_expired(
    rig_factory: Any, mastodon: Any
) -> None:
    from campaigns.approval import expired

    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon)})
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Wartet auf Freigabe")])
    _needs_approval(rig, delivery_state="draft")
    rig.clock.set(at("2027-03-01T09:16:00"))  # due 09:00 UTC, grace 15 min
    rig.run()
    delivery = rig.delivery()
    assert delivery.state == "missed"
    assert delivery.last_error.startswith(
        "approval incomplete at its time: waiting for step 'approval' (1 of 1): any approver"
    )
    with rig.sessions() as session:
        (item,) = expired(session)
    assert (item.campaign, item.post, item.deliveries) == ("de-test", "p1", 1)
    assert item.due_at == at("2027-03-01T09:00:00")
    assert mastodon.posts == []
