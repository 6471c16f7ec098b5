"""People, roles, passwords and API tokens (SQLite and PostgreSQL): one permission table, Argon2id
hashes, tokens stored only as hashes, and every change audited with the person's name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from campaigns import people
from campaigns.people import (
    PERMISSIONS,
    BadUserInput,
    Forbidden,
    Person,
    Role,
    UnknownPerson,
    add_user,
    authenticate,
    disable,
    issue_token,
    may,
    require,
    revoke_token,
    set_password,
    update_user,
    user_for_token,
)
from campaigns.schema import ApiToken, AuditEntry, User
from tests.databases import BOTH, db_url  # noqa: F401 (fixtures)

NOW = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)
Sessions = sessionmaker[Session]
BOOTSTRAP = Person.local("root")
PASSWORD = "correct horse battery"


@pytest.fixture
def office(sessions: Sessions) -> Person:
    """An office with an admin (returned), an author and an approver."""
    with sessions() as session:
        add_user(session, "aigerim", roles=["admin"], password=PASSWORD, by=BOOTSTRAP, now=NOW)
        admin = people.active_person(session, "aigerim")
        add_user(session, "daniyar", roles=["author"], password=PASSWORD, by=admin, now=NOW)
        add_user(session, "saule", roles=["approver"], password=PASSWORD, by=admin, now=NOW)
        session.commit()
    return admin


def test_every_role_has_a_permission_and_every_action_a_role() -> None:
    assert all(PERMISSIONS.values())
    for role in Role:
        assert any(role in roles for roles in PERMISSIONS.values()), role


def test_may_and_require_follow_the_table() -> None:
    author = Person("d", "D", frozenset({Role.author}))
    assert may(author, "campaign.apply")
    assert not may(author, "post.approve")
    with pytest.raises(Forbidden, match=r"post\.approve: it needs the role approver"):
        require(author, "post.approve")
    with pytest.raises(KeyError, match="unknown action"):
        may(author, "post.publish-now")


def test_the_local_person_of_a_workspace_without_users_may_do_everything() -> None:
    local = Person.local("someone")
    assert not local.verified
    assert all(may(local, action) for action in PERMISSIONS)


def test_the_first_user_must_be_an_admin(sessions: Sessions) -> None:
    with sessions() as session:
        with pytest.raises(BadUserInput, match="first user must be an admin"):
            add_user(session, "daniyar", roles=["author"], by=BOOTSTRAP, now=NOW)
        add_user(session, "aigerim", roles=["admin"], by=BOOTSTRAP, now=NOW)
        session.commit()


def test_only_an_admin_adds_users_once_there_are_users(sessions: Sessions, office: Person) -> None:
    with sessions() as session:
        author = people.active_person(session, "daniyar")
        with pytest.raises(Forbidden):
            add_user(session, "mallory", roles=["admin"], by=author, now=NOW)
        with pytest.raises(Forbidden):
            add_user(session, "mallory", roles=["admin"], by=Person.local("root"), now=NOW)


@pytest.mark.parametrize(
    ("username", "roles", "email", "message"),
    [
        ("A", ["author"], None, "not a username"),
        ("x y", ["author"], None, "not a username"),
        ("dana", ["writer"], None, "unknown role 'writer'"),
        ("dana", [], None, "give dana at least one role"),
        ("dana", ["author"], "not-an-address", "not an e-mail address"),
        ("daniyar", ["author"], None, "exists already"),
    ],
)
def test_bad_user_input_is_refused_with_the_reason(
    sessions: Sessions,
    office: Person,
    username: str,
    roles: list[str],
    email: str | None,
    message: str,
) -> None:
    with sessions() as session, pytest.raises(BadUserInput, match=message):
        add_user(session, username, roles=roles, email=email, by=office, now=NOW)


def test_passwords_are_stored_as_argon2id_hashes(sessions: Sessions, office: Person) -> None:
    with sessions() as session:
        stored = session.scalar(select(User.password_hash).where(User.username == "daniyar"))
    assert stored is not None and stored.startswith("$argon2id$")
    assert PASSWORD not in stored


@BOTH
def test_authenticate_accepts_the_password_and_refuses_everything_else_alike(
    sessions: Sessions, office: Person
) -> None:
    with sessions() as session:
        person = authenticate(session, "Daniyar", PASSWORD, now=NOW)
        assert (person.username, person.roles) == ("daniyar", frozenset({Role.author}))
        messages = set()
        for username, password in [("daniyar", "wrong password"), ("nobody", PASSWORD)]:
            with pytest.raises(UnknownPerson) as caught:
                authenticate(session, username, password, now=NOW)
            messages.add(str(caught.value))
        disable(session, "daniyar", by=office, now=NOW)
        with pytest.raises(UnknownPerson) as caught:
            authenticate(session, "daniyar", PASSWORD, now=NOW)
        messages.add(str(caught.value))
    assert messages == {"wrong username or password"}


def test_an_unknown_user_still_costs_a_hash_verification(
    sessions: Sessions, office: Person
) -> None:
    from argon2 import PasswordHasher

    verified: list[str] = []

    class Counting(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> bool:
            verified.append(str(hash))
            return super().verify(hash, password)

    previous = people.use_hasher(Counting(time_cost=1, memory_cost=8, parallelism=1))
    try:
        with sessions() as session, pytest.raises(UnknownPerson):
            authenticate(session, "nobody", PASSWORD, now=NOW)
    finally:
        people.use_hasher(previous)
    assert len(verified) == 1 and verified[0].startswith("$argon2id$")


def test_a_hash_made_with_old_parameters_is_replaced_at_the_next_login(
    sessions: Sessions, office: Person
) -> None:
    from argon2 import PasswordHasher

    with sessions() as session:
        before = session.scalar(select(User.password_hash).where(User.username == "saule"))
    previous = people.use_hasher(PasswordHasher(time_cost=2, memory_cost=16, parallelism=1))
    try:
        with sessions() as session:
            authenticate(session, "saule", PASSWORD, now=NOW)
            session.commit()
            after = session.scalar(select(User.password_hash).where(User.username == "saule"))
    finally:
        people.use_hasher(previous)
    assert before is not None and "t=1" in before
    assert after is not None and "t=2" in after and "m=16" in after


def test_set_password_for_oneself_or_by_an_admin_only(sessions: Sessions, office: Person) -> None:
    with sessions() as session:
        author = people.active_person(session, "daniyar")
        set_password(session, "daniyar", "a new long password", by=author, now=NOW)
        with pytest.raises(Forbidden):
            set_password(session, "saule", "a new long password", by=author, now=NOW)
        with pytest.raises(BadUserInput, match="too short"):
            set_password(session, "saule", "short", by=office, now=NOW)
        set_password(session, "saule", "another long password", by=office, now=NOW)
        session.commit()
        assert (
            authenticate(session, "daniyar", "a new long password", now=NOW).username == "daniyar"
        )


@BOTH
def test_the_last_admin_cannot_be_disabled_or_demoted(sessions: Sessions, office: Person) -> None:
    with sessions() as session:
        with pytest.raises(BadUserInput, match="last enabled admin"):
            disable(session, "aigerim", by=office, now=NOW)
        with pytest.raises(BadUserInput, match="last enabled admin"):
            update_user(session, "aigerim", roles=["approver"], by=office, now=NOW)
        update_user(session, "saule", roles=["approver", "admin"], by=office, now=NOW)
        update_user(session, "aigerim", roles=["approver"], by=office, now=NOW)
        session.commit()


@BOTH
def test_tokens_are_shown_once_stored_as_hashes_and_act_as_their_user(
    sessions: Sessions, office: Person
) -> None:
    with sessions() as session:
        author = people.active_person(session, "daniyar")
        _, plain = issue_token(session, "daniyar", name="intranet", by=author, now=NOW)
        session.commit()
        stored = session.scalars(select(ApiToken)).one()
        assert plain.startswith("elshi_") and len(plain) > 40
        assert plain not in (stored.token_hash, stored.prefix) and plain.startswith(stored.prefix)
        later = NOW + timedelta(hours=1)
        person = user_for_token(session, plain, now=later)
        assert person.username == "daniyar" and person.roles == frozenset({Role.author})
        assert stored.last_used_at == later
        with pytest.raises(UnknownPerson):
            user_for_token(session, plain + "x", now=later)


def test_revoked_expired_and_disabled_users_tokens_stop_working(
    sessions: Sessions, office: Person
) -> None:
    with sessions() as session:
        author = people.active_person(session, "daniyar")
        revoked, revoked_plain = issue_token(session, "daniyar", name="a", by=author, now=NOW)
        _, short_plain = issue_token(
            session, "daniyar", name="b", by=author, now=NOW, expires_at=NOW + timedelta(days=1)
        )
        _, approver_plain = issue_token(session, "saule", name="c", by=office, now=NOW)
        with pytest.raises(Forbidden):
            issue_token(session, "saule", name="d", by=author, now=NOW)
        assert revoke_token(session, revoked.id, by=author, now=NOW)
        disable(session, "saule", by=office, now=NOW)
        session.commit()
        for plain, when in [
            (revoked_plain, NOW),
            (short_plain, NOW + timedelta(days=1)),
            (approver_plain, NOW),
        ]:
            with pytest.raises(UnknownPerson):
                user_for_token(session, plain, now=when)
        assert user_for_token(session, short_plain, now=NOW).username == "daniyar"


@BOTH
def test_every_change_to_people_is_audited_with_who_did_it(
    sessions: Sessions, office: Person
) -> None:
    with sessions() as session:
        issue_token(session, "saule", name="x", by=office, now=NOW)
        disable(session, "daniyar", by=office, now=NOW)
        session.commit()
        rows = session.execute(
            select(AuditEntry.actor, AuditEntry.entity, AuditEntry.entity_id, AuditEntry.reason)
            .where(AuditEntry.entity.in_(["user", "api_token"]))
            .order_by(AuditEntry.id)
        ).all()
    assert [(a, e, i, r) for a, e, i, r in rows] == [
        ("user:root", "user", "aigerim", "user added"),
        ("user:aigerim", "user", "daniyar", "user added"),
        ("user:aigerim", "user", "saule", "user added"),
        ("user:aigerim", "api_token", "1", "token 'x' issued for saule"),
        ("user:aigerim", "user", "daniyar", "user disabled"),
    ]
    assert all(PASSWORD not in str(row) for row in rows)
