"""Approval chains: named steps approved in order by distinct people who did not write the
post; a content change starts again; a rejection carries a comment; what waits for whom."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from campaigns import people
from campaigns.approval import (
    ApprovalError,
    approve,
    find_posts,
    queue,
    reject,
    status,
)
from campaigns.people import Forbidden, Person, add_user
from campaigns.planning import apply_campaign
from campaigns.schema import Delivery, Post
from tests.campaigns.factory import CHANNELS, doc, load, post
from tests.databases import BOTH, db_url  # noqa: F401 (fixtures)

NOW = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)
Sessions = sessionmaker[Session]
CHAIN = [
    {"step": "press-secretary", "title": "Press secretary", "users": ["saule", "timur"]},
    {"step": "ambassador", "title": "Ambassador", "users": ["erlan"]},
]
TWO_POSTS = [post("hello"), post("later", when="2027-05-01 10:00", text="Später.")]


def chained(steps: Any = CHAIN, posts: Any = TWO_POSTS, **campaign: Any) -> dict[str, Any]:
    document = doc(posts=posts)
    document["campaign"].update({"approval": steps, **campaign})
    return document


@pytest.fixture
def office(sessions: Sessions) -> dict[str, Person]:
    """An admin, two authors, four approvers and an operator."""
    with sessions() as session:
        add_user(session, "admin", roles=["admin"], by=Person.local("root"), now=NOW)
        admin = people.active_person(session, "admin")
        for name, roles in [
            ("daniyar", ["author"]),
            ("aliya", ["author"]),
            ("saule", ["approver"]),
            ("timur", ["approver"]),
            ("erlan", ["approver"]),
            ("dana", ["approver", "author"]),
            ("ops", ["operator"]),
        ]:
            add_user(session, name, roles=roles, by=admin, now=NOW)
        session.commit()
        return {
            name: people.active_person(session, name)
            for name in ("admin", "daniyar", "aliya", "saule", "timur", "erlan", "dana", "ops")
        }


def apply(sessions: Sessions, tmp_path: Path, document: Any, by: Person) -> None:
    loaded = load(tmp_path, document)
    assert loaded.ok and loaded.desired is not None, [str(p) for p in loaded.problems]
    with sessions() as session:
        apply_campaign(
            session,
            loaded.desired,
            platforms=dict.fromkeys(CHANNELS, "sandbox"),
            actor=by,
            now=NOW,
        )
        session.commit()


def decide(
    sessions: Sessions, verb: str, by: Person, key: str = "hello", **kwargs: Any
) -> str | None:
    """Approve or reject ``key`` as ``by``; the refusal (None when it was done)."""
    fn = approve if verb == "approve" else reject
    with sessions() as session:
        (outcome,) = fn(session, find_posts(session, [key]), by=by, now=NOW, **kwargs)
        session.commit()
    return outcome.refused


def state(sessions: Sessions, key: str = "hello") -> tuple[str, list[str]]:
    with sessions() as session:
        row = session.scalars(select(Post).where(Post.key == key)).one()
        return row.approval, [d.state for d in row.deliveries]


@BOTH
def test_two_steps_by_two_people_release_the_post(
    sessions: Sessions, tmp_path: Path, office: dict[str, Person]
) -> None:
    apply(sessions, tmp_path, chained(), office["daniyar"])
    assert decide(sessions, "approve", office["saule"]) is None
    assert state(sessions) == ("pending", ["draft"])
    assert decide(sessions, "approve", office["erlan"]) is None
    assert state(sessions) == ("approved", ["approved"])
    with sessions() as session:
        row = find_posts(session, ["hello"])[0]
        steps = status(session, row).steps
        assert [(s.step, s.approved_by) for s in steps] == [
            ("press-secretary", ("user:saule",)),
            ("ambassador", ("user:erlan",)),
        ]
        assert row.approved_revision == row.revision == 1


def test_the_author_cannot_approve_their_own_post(
    sessions: Sessions, tmp_path: Path, office: dict[str, Person]
) -> None:
    apply(sessions, tmp_path, chained(approval=True), office["dana"])
    refused = decide(sessions, "approve", office["dana"])
    assert refused == "you uploaded or changed this post; someone else must approve it"
    assert state(sessions) == ("pending", ["draft"])


def test_whoever_changed_the_post_cannot_approve_it_either(
    sessions: Sessions, tmp_path: Path, office: dict[str, Person]
) -> None:
    apply(sessions, tmp_path, chained(approval=True, posts=[post()]), office["daniyar"])
    apply(sessions, tmp_path, chained(approval=True, posts=[post(text="Neu.")]), office["dana"])
    assert decide(sessions, "approve", office["dana"]) is not None
    with sessions() as session:
        assert find_posts(session, ["hello"])[0].authors == ["user:daniyar", "user:dana"]


def test_one_person_cannot_approve_two_steps(
    sessions: Sessions, tmp_path: Path, office: dict[str, Person]
) -> None:
    steps = [{"step": "first"}, {"step": "second"}]
    apply(sessions, tmp_path, chained(steps), office["daniyar"])
    assert decide(sessions, "approve", office["saule"]) is None
    refused = decide(sessions, "approve", office["saule"])
    assert refused == "you approved step 'first' already; each step needs a different person"
    assert decide(sessions, "approve", office["timur"]) is None
    assert state(sessions) == ("approved", ["approved"])


def test_a_step_is_only_for_the_people_it_names(
    sessions: Sessions, tmp_path: Path, office: dict[str, Person]
) -> None:
    apply(sessions, tmp_path, chained(), office["daniyar"])
    assert decide(sessions, "approve", office["erlan"]) == (
        "step 'press-secretary' is for saule, timur"
    )
    assert decide(sessions, "approve", office["saule"], step="ambassador") == (
        "step 'ambassador' is not the one waiting: waiting for step 'press-secretary' "
        "(1 of 2): saule, timur"
    )


def test_require_all_needs_every_named_user(
    sessions: Sessions, tmp_path: Path, office: dict[str, Person]
) -> None:
    steps = [{"step": "board", "users": ["saule", "timur"], "require": "all"}]
    apply(sessions, tmp_path, chained(steps), office["daniyar"])
    assert decide(sessions, "approve", office["saule"]) is None
    assert state(sessions) == ("pending", ["draft"])
    assert decide(sessions, "approve", office["timur"]) is None
    assert state(sessions) == ("approved", ["approved"])


def test_roles_are_enforced(sessions: Sessions, tmp_path: Path, office: dict[str, Person]) -> None:
    with pytest.raises(Forbidden, match=r"campaign\.apply"):
        apply(sessions, tmp_path, chained(), office["saule"])
    apply(sessions, tmp_path, chained(), office["daniyar"])
    for who in ("aliya", "ops", "admin"):
        with pytest.raises(Forbidden, match=r"post\.approve"):
            decide(sessions, "approve", office[who])
    with pytest.raises(Forbidden, match=r"post\.reject"):
        decide(sessions, "reject", office["ops"], comment="no")


@BOTH
def test_changing_the_content_resets_every_step(
    sessions: Sessions, tmp_path: Path, office: dict[str, Person]
) -> None:
    apply(sessions, tmp_path, chained(), office["daniyar"])
    decide(sessions, "approve", office["saule"])
    decide(sessions, "approve", office["erlan"])
    edited = [post("hello", text="Hallo aus Almaty."), TWO_POSTS[1]]
    apply(sessions, tmp_path, chained(posts=edited), office["aliya"])
    assert state(sessions) == ("pending", ["draft"])
    with sessions() as session:
        row = find_posts(session, ["hello"])[0]
        assert (row.revision, row.approved_revision) == (2, None)
        assert [s.approved_by for s in status(session, row).steps] == [(), ()]
    # The same people approve the new text again.
    assert decide(sessions, "approve", office["saule"]) is None
    assert decide(sessions, "approve", office["erlan"]) is None
    assert state(sessions) == ("approved", ["approved"])


def test_a_new_brand_hashtag_changes_the_published_text_and_resets_approval(
    sessions: Sessions, tmp_path: Path, office: dict[str, Person]
) -> None:
    apply(sessions, tmp_path, chained(approval=True), office["daniyar"])
    decide(sessions, "approve", office["saule"])
    apply(
        sessions,
        tmp_path,
        chained(approval=True, hashtags=["#Kasachstan", "#Astana"]),
        office["daniyar"],
    )
    assert state(sessions) == ("pending", ["draft"])


def test_moving_a_post_in_time_keeps_its_approval(
    sessions: Sessions, tmp_path: Path, office: dict[str, Person]
) -> None:
    apply(sessions, tmp_path, chained(approval=True), office["daniyar"])
    decide(sessions, "approve", office["saule"])
    moved = [post("hello", when="2027-04-16 11:00"), TWO_POSTS[1]]
    apply(sessions, tmp_path, chained(approval=True, posts=moved), office["aliya"])
    assert state(sessions) == ("approved", ["approved"])


def test_a_rejection_needs_a_comment_and_cancels_until_the_post_changes(
    sessions: Sessions, tmp_path: Path, office: dict[str, Person]
) -> None:
    apply(sessions, tmp_path, chained(), office["daniyar"])
    with pytest.raises(ApprovalError, match="needs a comment"):
        decide(sessions, "reject", office["saule"], comment="  ")
    assert decide(sessions, "reject", office["saule"], comment="Tone: too casual") is None
    assert state(sessions) == ("rejected", ["cancelled"])
    with sessions() as session:
        row = find_posts(session, ["hello"])[0]
        assert status(session, row).summary() == "rejected by user:saule: Tone: too casual"
        assert row.deliveries[0].last_error == "rejected by user:saule: Tone: too casual"
    # Another approver cannot overrule it...
    refused = decide(sessions, "approve", office["timur"])
    assert refused is not None and refused.startswith("rejected by user:saule")
    # ...an edited post comes back for approval.
    edited = [post("hello", text="Hallo aus Astana, der Hauptstadt."), TWO_POSTS[1]]
    apply(sessions, tmp_path, chained(posts=edited), office["daniyar"])
    assert state(sessions) == ("pending", ["draft"])


def test_whoever_rejected_may_approve_after_all(
    sessions: Sessions, tmp_path: Path, office: dict[str, Person]
) -> None:
    apply(sessions, tmp_path, chained(approval=True), office["daniyar"])
    decide(sessions, "reject", office["saule"], comment="check the date")
    assert decide(sessions, "approve", office["saule"]) is None
    assert state(sessions) == ("approved", ["approved"])


def test_a_stricter_chain_in_the_file_takes_back_approvals_it_no_longer_covers(
    sessions: Sessions, tmp_path: Path, office: dict[str, Person]
) -> None:
    apply(sessions, tmp_path, chained(approval=True), office["daniyar"])
    decide(sessions, "approve", office["saule"])
    apply(sessions, tmp_path, chained(), office["daniyar"])
    assert state(sessions) == ("pending", ["draft"])
    with sessions() as session:
        summary = status(session, find_posts(session, ["hello"])[0]).summary()
    assert summary == "waiting for step 'press-secretary' (1 of 2): saule, timur"


@BOTH
def test_the_queue_shows_what_waits_for_each_person_soonest_first(
    sessions: Sessions, tmp_path: Path, office: dict[str, Person]
) -> None:
    apply(sessions, tmp_path, chained(), office["daniyar"])

    def waiting(who: str) -> list[tuple[str, str, int]]:
        with sessions() as session:
            return [(i.post, i.step, i.position) for i in queue(session, office[who], now=NOW)]

    assert waiting("saule") == [("hello", "press-secretary", 1), ("later", "press-secretary", 1)]
    assert waiting("erlan") == []
    decide(sessions, "approve", office["saule"], key="later")
    assert waiting("saule") == [("hello", "press-secretary", 1)]
    assert waiting("timur") == [("hello", "press-secretary", 1)]
    assert waiting("erlan") == [("later", "ambassador", 2)]
    # Past its time a post leaves the queue (it will be missed: see `expired`).
    with sessions() as session:
        late = queue(session, office["timur"], now=datetime(2027, 4, 20, tzinfo=UTC))
    assert late == []


def test_without_users_one_approval_completes_the_chain(sessions: Sessions, tmp_path: Path) -> None:
    apply(sessions, tmp_path, chained(), Person.local("someone"))
    assert decide(sessions, "approve", Person.local("someone")) is None
    assert state(sessions) == ("approved", ["approved"])


def test_once_there_are_users_the_local_person_is_refused(
    sessions: Sessions, tmp_path: Path, office: dict[str, Person]
) -> None:
    apply(sessions, tmp_path, chained(), office["daniyar"])
    with pytest.raises(Forbidden, match="this workspace has users"):
        decide(sessions, "approve", Person.local("root"))


@BOTH
def test_every_decision_is_audited_with_the_person_and_the_step(
    sessions: Sessions, tmp_path: Path, office: dict[str, Person]
) -> None:
    from campaigns.schema import AuditEntry

    apply(sessions, tmp_path, chained(), office["daniyar"])
    decide(sessions, "approve", office["saule"], comment="fine")
    decide(sessions, "reject", office["erlan"], comment="not now")
    with sessions() as session:
        rows = session.execute(
            select(AuditEntry.actor, AuditEntry.reason)
            .where(AuditEntry.entity == "post", AuditEntry.reason.like("step%"))
            .order_by(AuditEntry.id)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("user:saule", "step 'press-secretary' approved: fine"),
        ("user:erlan", "step 'ambassador' rejected: not now"),
    ]


def test_bad_chains_are_refused_at_their_line(tmp_path: Path) -> None:
    for steps, message in [
        ([], "empty list of approval steps"),
        ([{"step": "a"}, {"step": "a"}], "appears twice"),
        ([{"step": "a", "require": "all"}], "'require: all' needs a list of users"),
        ([{"step": "a", "roles": ["boss"]}], "boss"),
        ([{"step": "a", "users": ["Not A User"]}], "Not A User"),
    ]:
        loaded = load(tmp_path, chained(steps))
        assert not loaded.ok
        text = " ".join(str(p) for p in loaded.problems)
        assert message in text and "campaign.yaml:" in text, text


def test_deliveries_of_a_post_never_approved_stay_draft(
    sessions: Sessions, tmp_path: Path, office: dict[str, Person]
) -> None:
    apply(sessions, tmp_path, chained(), office["daniyar"])
    with sessions() as session:
        assert {d.state for d in session.scalars(select(Delivery))} == {"draft"}
