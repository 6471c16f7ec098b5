"""The kill switch on a fake clock, against the Mastodon emulator and the real client, on SQLite
and PostgreSQL: what a pause covers is neither claimed, nor sent if already claimed, nor missed;
claims whose call had begun are reported in flight; resuming needs a decision per overdue post.
Real daemons: tests/scheduler/test_kill_switch_daemons.py."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from campaigns.pauses import PauseError, overdue, pause, resume
from campaigns.people import Forbidden, Person, active_person, add_user
from campaigns.schema import AuditEntry
from tests.scheduler.conftest import at, mastodon_channel, post_yaml

OPS = "user:ops"


@pytest.fixture
def rig(rig_factory: Any, mastodon: Any) -> Any:
    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon)})
    rig.apply(
        [
            post_yaml("p1", "2027-03-01 10:00", "Erster Beitrag"),
            post_yaml("p2", "2027-03-01 10:30", "Zweiter Beitrag"),
        ]
    )
    return rig


def _pause(rig: Any, scope: str = "all", target: str = "", by: Any = OPS) -> Any:
    return pause(
        rig.sessions, scope=scope, target=target, reason="Staatstrauer", by=by, now=rig.clock()
    )


def test_nothing_covered_is_claimed_while_paused(rig: Any, mastodon: Any) -> None:
    _pause(rig)
    rig.clock.set(at("2027-03-01T09:40:00"))  # both due
    assert rig.run().claimed == 0
    assert mastodon.posts == [] and rig.states() == ["approved", "approved"]
    assert rig.dispatcher().next_wakeup() is None  # held rows do not keep the daemon awake


@pytest.mark.parametrize(
    ("scope", "target", "held"),
    [
        ("campaign", "de-test", True),
        ("country", "de", True),
        ("channel", "de-mastodon", True),
    ],
)
def test_each_scope_holds_what_it_names(
    rig: Any, mastodon: Any, scope: str, target: str, held: bool
) -> None:
    _pause(rig, scope, target)
    rig.clock.set(at("2027-03-01T09:00:00"))
    assert (rig.run().published == 0) is held


def test_a_pause_of_something_else_holds_nothing(rig: Any, mastodon: Any) -> None:
    from datetime import date

    from campaigns.schema import Campaign, Channel

    with rig.sessions() as session:
        now = rig.clock()
        session.add(Channel(name="cn-weibo", platform="sandbox", created_at=now, updated_at=now))
        session.add(
            Campaign(
                id="cn-other",
                title="t",
                country="CN",
                narrative="n",
                narratives={},
                starts_on=date(2027, 1, 1),
                ends_on=date(2027, 12, 31),
                timezone="Asia/Shanghai",
                hashtags=[],
                requires_approval=False,
                grace_minutes=15,
                definition_hash="-",
                created_at=now,
                updated_at=now,
            )
        )
        session.commit()
    for scope, target in [("campaign", "cn-other"), ("country", "CN"), ("channel", "cn-weibo")]:
        _pause(rig, scope, target)
    rig.clock.set(at("2027-03-01T09:00:00"))
    assert rig.run().published == 1


def test_claims_not_yet_sending_are_handed_back_and_never_sent(rig: Any, mastodon: Any) -> None:
    from scheduler.dispatch import begin_send, claim_due

    dispatcher = rig.dispatcher()
    rig.clock.set(at("2027-03-01T09:00:00"))
    (claim,) = claim_due(rig.sessions, dispatcher.settings, rig.clock(), rate_for=lambda *_: 60.0)
    result = _pause(rig)
    assert result.handed_back == (claim.delivery_id,) and result.in_flight == ()
    assert not begin_send(rig.sessions, claim, dispatcher.settings, rig.clock())
    assert rig.delivery(claim.delivery_id).state == "approved"
    assert mastodon.posts == []


def test_a_claim_whose_send_had_begun_is_reported_in_flight(rig: Any, mastodon: Any) -> None:
    from scheduler.dispatch import begin_send, claim_due

    dispatcher = rig.dispatcher()
    rig.clock.set(at("2027-03-01T09:00:00"))
    (claim,) = claim_due(rig.sessions, dispatcher.settings, rig.clock(), rate_for=lambda *_: 60.0)
    assert begin_send(rig.sessions, claim, dispatcher.settings, rig.clock())
    result = _pause(rig)
    assert [f.delivery_id for f in result.in_flight] == [claim.delivery_id]
    assert result.in_flight[0].label == "de-test/p1@de-mastodon"
    assert result.in_flight[0].worker == dispatcher.settings.worker_id


def test_held_deliveries_are_not_missed_and_resume_needs_a_decision_for_each(
    rig: Any, mastodon: Any
) -> None:
    paused = _pause(rig)
    rig.clock.set(at("2027-03-01T12:00:00"))  # both long past their grace
    rig.run()
    assert rig.states() == ["approved", "approved"]
    with rig.sessions() as session:
        held = overdue(session, paused.pause_id, now=rig.clock())
    assert [h.label for h in held] == ["de-test/p1@de-mastodon", "de-test/p2@de-mastodon"]
    first, second = (h.delivery_id for h in held)
    with pytest.raises(PauseError, match="decide each"):
        resume(rig.sessions, paused.pause_id, by=OPS, now=rig.clock(), send=[first])
    assert rig.states() == ["approved", "approved"]  # nothing changed
    result = resume(
        rig.sessions, paused.pause_id, by=OPS, now=rig.clock(), send=[first], skip=[second]
    )
    assert (result.sent, result.skipped) == ((first,), (second,))
    rig.run()
    assert [p["text"] for p in mastodon.posts] == ["Erster Beitrag"]
    sent, skipped = rig.delivery(first), rig.delivery(second)
    assert (sent.state, sent.resumed_from_pause) == ("published", paused.pause_id)
    assert skipped.state == "cancelled"
    assert skipped.last_error == "skipped after pause 1 (everything) (Staatstrauer) by user:ops"


def test_a_second_pause_keeps_holding_after_the_first_is_resumed(rig: Any, mastodon: Any) -> None:
    everything = _pause(rig)
    _pause(rig, "campaign", "de-test")
    rig.clock.set(at("2027-03-01T09:10:00"))
    with rig.sessions() as session:
        assert overdue(session, everything.pause_id, now=rig.clock()) == []
    resume(rig.sessions, everything.pause_id, by=OPS, now=rig.clock())
    assert rig.run().published == 0


def test_only_operators_pause_and_a_reason_is_required(rig: Any, mastodon: Any) -> None:
    with rig.sessions() as session:
        add_user(session, "admin", roles=["admin"], by=Person.local("root"), now=rig.clock())
        admin = active_person(session, "admin")
        add_user(session, "saule", roles=["approver"], by=admin, now=rig.clock())
        add_user(session, "ops", roles=["operator"], by=admin, now=rig.clock())
        session.commit()
        saule, ops = active_person(session, "saule"), active_person(session, "ops")
    with pytest.raises(Forbidden, match=r"pause\.create"):
        _pause(rig, by=saule)
    with pytest.raises(PauseError, match="say why"):
        pause(rig.sessions, scope="all", reason=" ", by=ops, now=rig.clock())
    with pytest.raises(PauseError, match="no campaign 'nope'"):
        _pause(rig, "campaign", "nope", by=ops)
    result = _pause(rig, by=ops)
    with rig.sessions() as session:
        actors = session.scalars(select(AuditEntry.actor).where(AuditEntry.entity == "pause")).all()
    assert actors == ["user:ops"] and result.created
    assert not _pause(rig, by=ops).created  # pausing twice changes nothing
