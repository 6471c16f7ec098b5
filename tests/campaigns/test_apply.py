"""Applying campaign files to the store (SQLite and PostgreSQL): idempotent, approval-aware, and
never rewriting what was published."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from campaigns.approval import approve, campaign_posts, find_posts, reject
from campaigns.people import Person
from campaigns.planning import Change, apply_campaign
from campaigns.schema import (
    Approval,
    Audience,
    AuditEntry,
    Campaign,
    Channel,
    Delivery,
    Post,
    PostAudience,
)
from campaigns.schema import DeliveryState as S
from tests.campaigns.factory import BASE, CHANNELS, audience, doc, load, post

NOW = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)
Sessions = sessionmaker[Session]


def apply(
    sessions: Sessions, tmp_path: Path, document: Any, *, actor: str = "user:test"
) -> list[Change]:
    loaded = load(tmp_path, document)
    assert loaded.ok and loaded.desired is not None, [str(p) for p in loaded.problems]
    with sessions() as session:
        changes = apply_campaign(
            session,
            loaded.desired,
            platforms=dict.fromkeys(CHANNELS, "sandbox"),
            actor=actor,
            now=NOW,
        )
        session.commit()
    return changes


def counts(sessions: Sessions) -> dict[str, int]:
    with sessions() as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Campaign, Audience, Channel, Post, PostAudience, Delivery, AuditEntry)
        }


def deliveries(sessions: Sessions, key: str = "hello") -> list[Delivery]:
    with sessions() as session:
        return list(
            session.scalars(
                select(Delivery)
                .join(Post)
                .where(Post.key == key)
                .order_by(Delivery.channel_id, Delivery.occurrence)
            )
        )


def the_post(sessions: Sessions, key: str = "hello") -> Post:
    with sessions() as session:
        return session.scalars(select(Post).where(Post.key == key)).one()


def states(sessions: Sessions, key: str = "hello") -> list[str]:
    return [d.state for d in deliveries(sessions, key)]


def set_state(sessions: Sessions, state: S, key: str = "hello") -> None:
    """Simulate the daemon: put every delivery of the post in ``state`` directly."""
    with sessions() as session:
        for row in session.scalars(select(Delivery).join(Post).where(Post.key == key)):
            row.state = state.value
        session.commit()


def approve_all(sessions: Sessions, by: str = "editor") -> None:
    with sessions() as session:
        approve(session, campaign_posts(session, "de-test"), by=Person.local(by), now=NOW)
        session.commit()


TWO_CHANNELS = [audience("public", ["de-x", "de-mastodon"])]


@pytest.fixture
def applied(sessions: Sessions, tmp_path: Path) -> list[Change]:
    return apply(sessions, tmp_path, doc(audiences=TWO_CHANNELS))


def test_first_apply_creates_everything_as_drafts(
    sessions: Sessions, applied: list[Change]
) -> None:
    assert [str(c) for c in applied if c.entity in ("campaign", "post")] == [
        "+ campaign de-test: Kazakhstan: gateway to Eurasia",
        "+ post de-test/hello: cultural_event, 2 deliveries",
    ]
    assert states(sessions) == ["draft", "draft"]
    assert the_post(sessions).approval == Approval.pending


def test_without_required_approval_new_posts_start_approved(
    sessions: Sessions, tmp_path: Path
) -> None:
    apply(sessions, tmp_path, doc(campaign={**BASE["campaign"], "approval": False}))
    assert states(sessions) == ["approved"]


def test_second_apply_changes_nothing(
    sessions: Sessions, tmp_path: Path, applied: list[Change]
) -> None:
    before = counts(sessions)
    assert apply(sessions, tmp_path, doc(audiences=TWO_CHANNELS)) == []
    assert counts(sessions) == before


def test_stored_instants_are_aware_utc(sessions: Sessions, applied: list[Change]) -> None:
    due = deliveries(sessions)[0].due_at
    assert due == datetime(2027, 4, 15, 8, 0, tzinfo=UTC)
    assert due.utcoffset() is not None and due.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_editing_the_text_sends_an_approved_post_back_to_draft(
    sessions: Sessions, tmp_path: Path, applied: list[Change]
) -> None:
    approve_all(sessions)
    assert states(sessions) == ["approved", "approved"]
    changes = apply(sessions, tmp_path, doc(audiences=TWO_CHANNELS, posts=[post(text="Neu.")]))
    assert "needs approval again" in str(changes)
    assert states(sessions) == ["draft", "draft"]
    row = the_post(sessions)
    assert (row.approval, row.approved_by) == (Approval.pending, None)
    assert all(d.text.startswith("Neu.") for d in deliveries(sessions))


def test_moving_a_post_in_time_keeps_its_approval(
    sessions: Sessions, tmp_path: Path, applied: list[Change]
) -> None:
    approve_all(sessions)
    moved = doc(audiences=TWO_CHANNELS, posts=[post(when="2027-04-16 12:00")])
    changes = apply(sessions, tmp_path, moved)
    assert {c.sign for c in changes} == {"~"}
    assert states(sessions) == ["approved", "approved"]
    assert the_post(sessions).approval == Approval.approved
    assert {d.due_at for d in deliveries(sessions)} == {datetime(2027, 4, 16, 10, tzinfo=UTC)}


def test_changing_a_posts_time_zone_is_a_move_and_keeps_approval(
    sessions: Sessions, tmp_path: Path, applied: list[Change]
) -> None:
    approve_all(sessions)
    apply(sessions, tmp_path, doc(audiences=TWO_CHANNELS, posts=[post(timezone="Asia/Almaty")]))
    assert states(sessions) == ["approved", "approved"]


def test_removing_a_post_cancels_its_waiting_deliveries(
    sessions: Sessions, tmp_path: Path, applied: list[Change]
) -> None:
    other = post("other", when="2027-05-01 10:00")
    changes = apply(sessions, tmp_path, doc(audiences=TWO_CHANNELS, posts=[other]))
    assert "- post de-test/hello: removed from the file" in map(str, changes)
    assert "- delivery hello@de-x: cancelled (post removed from the campaign file)" in map(
        str, changes
    )
    assert states(sessions) == ["cancelled", "cancelled"]
    assert the_post(sessions).retired


def test_re_adding_a_removed_post_revives_it(
    sessions: Sessions, tmp_path: Path, applied: list[Change]
) -> None:
    other = post("other", when="2027-05-01 10:00")
    apply(sessions, tmp_path, doc(audiences=TWO_CHANNELS, posts=[other]))
    changes = apply(sessions, tmp_path, doc(audiences=TWO_CHANNELS, posts=[post(), other]))
    assert any(c.key == "de-test/hello" and "re-added" in c.detail for c in changes)
    assert states(sessions) == ["draft", "draft"]
    assert not the_post(sessions).retired
    assert apply(sessions, tmp_path, doc(audiences=TWO_CHANNELS, posts=[post(), other])) == []


@pytest.mark.parametrize("locked", [S.published, S.publishing, S.needs_review])
def test_a_published_delivery_is_never_rewritten_and_the_plan_says_so(
    sessions: Sessions, tmp_path: Path, applied: list[Change], locked: S
) -> None:
    set_state(sessions, locked)
    before = [(d.text, d.due_at) for d in deliveries(sessions)]
    edited = doc(audiences=TWO_CHANNELS, posts=[post(text="Anders.", when="2027-04-20 10:00")])
    changes = apply(sessions, tmp_path, edited)
    refused = sorted(str(c) for c in changes if c.sign == "!")
    assert refused == [
        f"! delivery hello@{channel}: is {locked.value}; change to time, text not applied"
        for channel in ("de-mastodon", "de-x")
    ]
    assert [(d.text, d.due_at) for d in deliveries(sessions)] == before
    assert states(sessions) == [locked.value, locked.value]


def test_removing_a_published_post_keeps_its_deliveries(
    sessions: Sessions, tmp_path: Path, applied: list[Change]
) -> None:
    set_state(sessions, S.published)
    changes = apply(sessions, tmp_path, doc(audiences=TWO_CHANNELS, posts=[post("other")]))
    assert "! delivery hello@de-x: is published; kept" in map(str, changes)
    assert states(sessions) == ["published", "published"]


def test_a_refusal_repeated_by_every_apply_adds_no_audit_entry(
    sessions: Sessions, tmp_path: Path
) -> None:
    daily = {"cron": "0 10 * * *", "from": "2027-04-01", "until": "2027-04-02"}
    apply(sessions, tmp_path, doc(posts=[post(when=daily)]))
    set_state(sessions, S.published)
    shorter = doc(posts=[post(when={**daily, "until": "2027-04-01"})])
    first = apply(sessions, tmp_path, shorter)
    assert [c.sign for c in first] == ["~", "!"]  # the post's schedule; occurrence 2 is kept
    before = counts(sessions)
    again = apply(sessions, tmp_path, shorter)
    assert [str(c) for c in again] == ["! delivery hello#2@de-x: is published; kept"]
    assert counts(sessions) == before


def test_approving_a_whole_campaign_records_who(sessions: Sessions, applied: list[Change]) -> None:
    approve_all(sessions, by="A. Nurlanovna")
    row = the_post(sessions)
    assert (row.approval, row.approved_by, row.approved_at) == (
        Approval.approved,
        "user:A. Nurlanovna",
        NOW,
    )
    with sessions() as session:
        actors = set(
            session.scalars(select(AuditEntry.actor).where(AuditEntry.reason == "approved"))
        )
    assert actors == {"user:A. Nurlanovna"}
    assert states(sessions) == ["approved", "approved"]


def test_rejecting_a_post_cancels_its_waiting_deliveries(
    sessions: Sessions, applied: list[Change]
) -> None:
    with sessions() as session:
        reject(
            session,
            find_posts(session, ["de-test/hello"]),
            by=Person.local("b"),
            now=NOW,
            comment="tone",
        )
        session.commit()
    assert the_post(sessions).approval == Approval.rejected
    assert states(sessions) == ["cancelled", "cancelled"]
    assert {d.last_error for d in deliveries(sessions)} == {"rejected by user:b: tone"}


def test_a_rejected_post_moved_in_time_stays_rejected(
    sessions: Sessions, tmp_path: Path, applied: list[Change]
) -> None:
    with sessions() as session:
        reject(session, find_posts(session, ["hello"]), by=Person.local("b"), now=NOW, comment="no")
        session.commit()
    apply(sessions, tmp_path, doc(audiences=TWO_CHANNELS, posts=[post(when="2027-04-20 10:00")]))
    assert states(sessions) == ["cancelled", "cancelled"]
    assert the_post(sessions).approval == Approval.rejected


def test_a_rejected_post_with_new_text_comes_back_for_approval(
    sessions: Sessions, tmp_path: Path, applied: list[Change]
) -> None:
    with sessions() as session:
        reject(session, find_posts(session, ["hello"]), by=Person.local("b"), now=NOW, comment="no")
        session.commit()
    apply(sessions, tmp_path, doc(audiences=TWO_CHANNELS, posts=[post(text="Besser.")]))
    assert states(sessions) == ["draft", "draft"]
    assert the_post(sessions).approval == Approval.pending


def test_approving_a_rejected_post_brings_its_deliveries_back(
    sessions: Sessions, applied: list[Change]
) -> None:
    with sessions() as session:
        reject(session, find_posts(session, ["hello"]), by=Person.local("b"), now=NOW, comment="no")
        session.commit()
    approve_all(sessions)
    assert states(sessions) == ["approved", "approved"]
    assert {d.last_error for d in deliveries(sessions)} == {None}


def test_an_operators_cancel_is_not_undone_by_an_edit(
    sessions: Sessions, tmp_path: Path, applied: list[Change]
) -> None:
    with sessions() as session:
        for row in session.scalars(select(Delivery)):
            row.state = S.cancelled.value
            row.last_error = "cancelled by user:ops"
        session.commit()
    changes = apply(sessions, tmp_path, doc(audiences=TWO_CHANNELS, posts=[post(text="Neu.")]))
    assert sum(c.sign == "!" for c in changes) == 2
    assert states(sessions) == ["cancelled", "cancelled"]


def test_dropping_a_channel_cancels_only_its_deliveries(
    sessions: Sessions, tmp_path: Path, applied: list[Change]
) -> None:
    apply(sessions, tmp_path, doc())  # the audience keeps only de-x
    with sessions() as session:
        by_channel = {
            name: state
            for name, state in session.execute(
                select(Channel.name, Delivery.state).join(Delivery.channel)
            )
        }
    assert by_channel == {"de-x": "draft", "de-mastodon": "cancelled"}
