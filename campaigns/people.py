"""People, roles and what each role may do: the one place that decides permissions.

Identity flows one way: the web session or the CLI names a person (`Person`); the functions
here and in the rest of ``campaigns`` decide with `require` whether that person may act; the
audit log records it with the actor ``user:<username>``. No page and no command decides a
permission itself.

Passwords are stored as Argon2id hashes (argon2-cffi), checked in constant time (an unknown
user costs the same as a wrong password) and re-hashed on the next login when the hashing
parameters change. API tokens are random, shown once, stored as SHA-256 (a token has 256 bits
of entropy, so a fast hash is enough and lets a lookup use an index), revocable, and act with
their user's roles.

A workspace with no users at all keeps working as before: the CLI then acts as an unverified
local person (`Person.local`) with every role, and the rules that need distinct people (no
self-approval, a different approver per step) cannot be enforced and are not. Adding the first
user (who must be an admin) switches every rule on.

This module must not import from the CLI, the web application or the scheduler.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns import typedtext
from campaigns.definition import Role as Role  # re-exported: the roles live with the format
from campaigns.errors import CampaignInputError
from campaigns.schema import ApiToken, User
from campaigns.states import record

if TYPE_CHECKING:
    from argon2 import PasswordHasher


AUTHOR, APPROVER, OPERATOR = Role.author, Role.approver, Role.operator
MANAGER, ADMIN = Role.manager, Role.admin
EVERYONE = frozenset(Role)

PERMISSIONS: dict[str, frozenset[Role]] = {
    # Reading what is planned and what happened: every active person.
    "campaign.view": EVERYONE,
    "status.view": EVERYONE,
    # Campaigns.
    "campaign.plan": frozenset({AUTHOR}),
    "campaign.apply": frozenset({AUTHOR}),
    # Approval steps (who may approve a given step is decided by the step itself).
    "post.approve": frozenset({APPROVER}),
    "post.reject": frozenset({APPROVER}),
    # Operations.
    "delivery.retry": frozenset({OPERATOR}),
    "delivery.cancel": frozenset({OPERATOR}),
    "delivery.resolve": frozenset({OPERATOR}),
    "channel.pause": frozenset({OPERATOR}),
    "channel.resume": frozenset({OPERATOR}),
    "pause.create": frozenset({OPERATOR}),
    "pause.resume": frozenset({OPERATOR}),
    # Reports and outcomes.
    "report.view": frozenset({MANAGER, ADMIN}),
    "outcome.import": frozenset({MANAGER}),
    # Administration.
    "user.view": frozenset({ADMIN}),
    "user.manage": frozenset({ADMIN}),
    "audit.view": frozenset({ADMIN, MANAGER}),
    # A person's own account.
    "self.password": EVERYONE,
    "self.token": EVERYONE,
}
"""Action → the roles that may perform it. The only permission table: pages, API routes and
commands ask `may` / `require` with one of these names."""


class PeopleError(CampaignInputError):
    """Root of this module's errors.

    PeopleError
    ├── Forbidden        the person may not do this (web: 403; CLI: exit 2 with the reason)
    ├── UnknownPerson    no such user, or disabled (login pages must not say which)
    └── BadUserInput     a username, role, e-mail or password that is not acceptable
    """


class Forbidden(PeopleError):
    pass


class UnknownPerson(PeopleError):
    pass


class BadUserInput(PeopleError, ValueError):
    pass


@dataclass(frozen=True)
class Person:
    """Who is acting: a plain value the web session, an API token or the CLI hands to the
    functions in ``campaigns``. ``verified`` is False for the unverified local person of a
    workspace without users."""

    username: str
    display_name: str
    roles: frozenset[Role]
    user_id: int | None = None
    verified: bool = True

    @property
    def actor(self) -> str:
        """How the audit log names this person."""
        return f"user:{self.username}"

    @classmethod
    def local(cls, name: str) -> Person:
        """The person of a workspace with no users: every role, nothing proven."""
        return cls(username=name, display_name=name, roles=EVERYONE, verified=False)

    @classmethod
    def of(cls, user: User) -> Person:
        return cls(
            username=user.username,
            display_name=user.display_name,
            roles=frozenset(Role(r) for r in user.roles if r in Role.__members__),
            user_id=user.id,
        )


def may(person: Person, action: str) -> bool:
    """Whether ``person`` may perform ``action`` (a key of `PERMISSIONS`)."""
    try:
        allowed = PERMISSIONS[action]
    except KeyError:
        raise KeyError(
            f"unknown action {action!r}: add it to campaigns.people.PERMISSIONS"
        ) from None
    return bool(person.roles & allowed)


def require(person: Person, action: str) -> None:
    """Raise `Forbidden` unless ``person`` may perform ``action``."""
    if not may(person, action):
        roles = " or ".join(sorted(r.value for r in PERMISSIONS[action]))
        has = ", ".join(sorted(r.value for r in person.roles)) or "none"
        raise Forbidden(
            f"{person.username} may not do {action}: it needs the role {roles} (their roles: {has})"
        )


def authorize(session: Session, person: Person, action: str) -> None:
    """`require`, and refuse the unverified local person once the workspace has users (every
    function in ``campaigns`` that acts for a person calls this)."""
    if not person.verified and has_users(session):
        raise Forbidden(
            f"this workspace has users: {person.username!r} is not one of them "
            "(the CLI names its user with --as USER, ELSHI_USER or ELSHI_TOKEN)"
        )
    require(person, action)


def acting(session: Session, who: Person | str, action: str) -> str:
    """The audit name to record for ``who``, after checking that a `Person` may do ``action``.
    A plain string is a system actor (``daemon:…``) or a caller that checked already."""
    if isinstance(who, Person):
        authorize(session, who, action)
        return who.actor
    return who


# --- users ---------------------------------------------------------------------------------

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
"""Characters: a longer one is a mistake (a file piped in), and hashing it costs time."""
_HASHER: PasswordHasher | None = None


def hasher() -> PasswordHasher:
    """The Argon2id hasher (argon2-cffi's defaults, RFC 9106's low-memory profile)."""
    global _HASHER
    if _HASHER is None:
        from argon2 import PasswordHasher

        _HASHER = PasswordHasher()
    return _HASHER


def use_hasher(new: PasswordHasher | None) -> PasswordHasher | None:
    """Replace the hasher (tests use a cheap one; None goes back to the default). Returns the
    previous one. Hashes made with other parameters still verify and are re-hashed on login."""
    global _HASHER
    previous, _HASHER = _HASHER, new
    return previous


def has_users(session: Session) -> bool:
    """False in a workspace nobody has added a user to (the rules then do not apply)."""
    return session.scalar(select(User.id).limit(1)) is not None


def get_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None:
        raise UnknownPerson(f"no user {username!r} (see: elshi user list)")
    return user


def users(session: Session, *, include_disabled: bool = True) -> list[User]:
    query = select(User).order_by(User.username)
    if not include_disabled:
        query = query.where(User.disabled.is_(False))
    return list(session.scalars(query))


def active_person(session: Session, username: str) -> Person:
    """The `Person` for an enabled user, or `UnknownPerson`."""
    user = get_user(session, username)
    if user.disabled:
        raise UnknownPerson(f"user {user.username!r} is disabled")
    return Person.of(user)


def parse_roles(values: Iterable[str]) -> list[Role]:
    out: list[Role] = []
    for value in values:
        for part in value.replace(",", " ").split():
            try:
                role = Role(part.strip().lower())
            except ValueError:
                raise BadUserInput(
                    f"unknown role {part!r}: use {', '.join(r.value for r in Role)}"
                ) from None
            if role not in out:
                out.append(role)
    return out


def _some_roles(values: Iterable[str], username: str) -> list[Role]:
    """At least one role: a person without one could log in and open nothing."""
    roles = parse_roles(values)
    if not roles:
        raise BadUserInput(
            f"give {username} at least one role ({', '.join(r.value for r in Role)}); "
            "to stop someone working in Elshi, disable them"
        )
    return roles


def _check_password(password: str, username: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise BadUserInput(f"the password is too short: at least {MIN_PASSWORD} characters")
    wrong = typedtext.problem(password, "the password", limit=MAX_PASSWORD)
    if wrong is not None:  # without repeating the password
        raise BadUserInput(wrong)
    if password.strip().lower() == username.lower():
        raise BadUserInput("the password must not be the username")


def _check_email(email: str | None) -> str | None:
    if email is None or not email.strip():
        return None
    email = email.strip()
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email) or len(email) > 320:
        raise BadUserInput(f"{email!r} is not an e-mail address")
    return email


def _checked_name(display_name: str | None) -> str:
    text = (display_name or "").strip()
    wrong = typedtext.problem(text, "the name", limit=typedtext.NAME, one_line=True)
    if wrong is not None:
        raise BadUserInput(wrong)
    return text


def add_user(
    session: Session,
    username: str,
    *,
    display_name: str | None = None,
    email: str | None = None,
    roles: Sequence[Role | str] = (),
    password: str | None = None,
    by: Person,
    now: datetime,
) -> User:
    """Add a user. The first user of a workspace must be an admin (someone has to manage the
    others); after that only an admin may add users."""
    name = username.strip().lower()
    if not USERNAME.fullmatch(name):
        raise BadUserInput(
            f"{username!r} is not a username: 2-64 lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    wanted = _some_roles((str(r) for r in roles), name)
    if has_users(session):
        authorize(session, by, "user.manage")
    elif Role.admin not in wanted:
        raise BadUserInput(
            "the first user must be an admin (add --role admin), so someone can manage the others"
        )
    if session.scalar(select(User.id).where(User.username == name)) is not None:
        raise BadUserInput(f"user {name!r} exists already")
    user = User(
        username=name,
        display_name=_checked_name(display_name) or name,
        email=_check_email(email),
        roles=[r.value for r in wanted],
        disabled=False,
        created_at=now,
        updated_at=now,
    )
    if password is not None:
        _check_password(password, name)
        user.password_hash = hasher().hash(password)
        user.password_changed_at = now
    session.add(user)
    session.flush()
    record(
        session,
        actor=by.actor,
        entity="user",
        entity_id=name,
        at=now,
        to_state="active",
        reason="user added",
        detail={"roles": user.roles, "display_name": user.display_name},
    )
    return user


def update_user(
    session: Session,
    username: str,
    *,
    display_name: str | None = None,
    email: str | None = None,
    roles: Sequence[Role | str] | None = None,
    by: Person,
    now: datetime,
) -> User:
    """Change a user's name, e-mail or roles (admin). The last enabled admin keeps the role."""
    authorize(session, by, "user.manage")
    user = get_user(session, username)
    changed: dict[str, object] = {}
    if display_name is not None and _checked_name(display_name) != user.display_name:
        user.display_name = _checked_name(display_name) or user.username
        changed["display_name"] = user.display_name
    if email is not None and _check_email(email) != user.email:
        user.email = _check_email(email)
        changed["email"] = user.email
    if roles is not None:
        wanted = [r.value for r in _some_roles((str(r) for r in roles), user.username)]
        if wanted != user.roles:
            if Role.admin.value in user.roles and Role.admin.value not in wanted:
                _keep_an_admin(session, user)
            user.roles = wanted
            changed["roles"] = wanted
    if changed:
        user.updated_at = now
        record(
            session,
            actor=by.actor,
            entity="user",
            entity_id=user.username,
            at=now,
            reason="user changed: " + ", ".join(changed),
            detail=changed,
        )
    return user


def _keep_an_admin(session: Session, user: User) -> None:
    others = [
        u
        for u in session.scalars(select(User).where(User.disabled.is_(False), User.id != user.id))
        if Role.admin.value in u.roles
    ]
    if not others:
        raise BadUserInput(
            f"{user.username} is the last enabled admin; make someone else an admin first"
        )


def set_disabled(
    session: Session, username: str, disabled: bool, *, by: Person, now: datetime
) -> bool:
    """Disable (or enable again) a user; a disabled user cannot log in and their tokens stop
    working. False when nothing changed."""
    authorize(session, by, "user.manage")
    user = get_user(session, username)
    if user.disabled == disabled:
        return False
    if disabled and Role.admin.value in user.roles:
        _keep_an_admin(session, user)
    user.disabled = disabled
    user.updated_at = now
    record(
        session,
        actor=by.actor,
        entity="user",
        entity_id=user.username,
        at=now,
        from_state="active" if disabled else "disabled",
        to_state="disabled" if disabled else "active",
        reason="user disabled" if disabled else "user enabled",
    )
    return True


def disable(session: Session, username: str, *, by: Person, now: datetime) -> bool:
    return set_disabled(session, username, True, by=by, now=now)


def set_password(
    session: Session, username: str, password: str, *, by: Person, now: datetime
) -> User:
    """Set a user's password: an admin for anyone, anyone for themselves."""
    user = get_user(session, username)
    if by.username != user.username or not by.verified:
        authorize(session, by, "user.manage")
    _check_password(password, user.username)
    user.password_hash = hasher().hash(password)
    user.password_changed_at = now
    user.updated_at = now
    record(
        session,
        actor=by.actor,
        entity="user",
        entity_id=user.username,
        at=now,
        reason="password set" if by.username != user.username else "password changed",
    )
    return user


def generate_password() -> str:
    """A random password for a new user to change (about 120 bits)."""
    return secrets.token_urlsafe(15)


_DUMMY_HASH: str | None = None


def authenticate(session: Session, username: str, password: str, *, now: datetime) -> Person:
    """The `Person` whose password this is, or `UnknownPerson` (the same error, and about the
    same time, for an unknown user, a disabled one and a wrong password). Re-hashes the stored
    hash when the hasher's parameters changed. Login throttling is the caller's job."""
    from argon2.exceptions import InvalidHashError, VerificationError

    global _DUMMY_HASH
    ph = hasher()
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    stored = user.password_hash if user is not None else None
    if stored is None:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = ph.hash("elshi: no such user")
        stored = _DUMMY_HASH
    try:
        ph.verify(stored, password)
        ok = user is not None and user.password_hash is not None
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None or user.disabled:
        raise UnknownPerson("wrong username or password")
    if ph.check_needs_rehash(stored):
        user.password_hash = ph.hash(password)
    user.last_login_at = now
    return Person.of(user)


# --- API tokens ----------------------------------------------------------------------------

TOKEN_PREFIX = "elshi_"


def _digest(plain: str) -> str:
    return hashlib.sha256(plain.encode("utf-8")).hexdigest()


def issue_token(
    session: Session,
    username: str,
    *,
    name: str,
    by: Person,
    now: datetime,
    expires_at: datetime | None = None,
) -> tuple[ApiToken, str]:
    """A new token for ``username`` and its plain text, which is shown once and never stored.
    People issue tokens for themselves; an admin may issue them for anyone."""
    user = get_user(session, username)
    if by.username == user.username and by.verified:
        authorize(session, by, "self.token")
    else:
        authorize(session, by, "user.manage")
    if user.disabled:
        raise BadUserInput(f"user {user.username!r} is disabled")
    label = name.strip()
    if not label:
        raise BadUserInput("give the token a name (what it is for)")
    wrong = typedtext.problem(label, "the token's name", limit=typedtext.NAME, one_line=True)
    if wrong is not None:
        raise BadUserInput(wrong)
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=label,
        prefix=plain[: len(TOKEN_PREFIX) + 6],
        token_hash=_digest(plain),
        created_at=now,
        expires_at=expires_at,
    )
    session.add(token)
    session.flush()
    record(
        session,
        actor=by.actor,
        entity="api_token",
        entity_id=token.id,
        at=now,
        to_state="active",
        reason=f"token {label!r} issued for {user.username}",
    )
    return token, plain


def user_for_token(session: Session, plain: str, *, now: datetime) -> Person:
    """The `Person` a token acts for, or `UnknownPerson` (unknown, revoked, expired, or its
    user disabled). Records when it was last used."""
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(plain.strip())))
    if (
        token is None
        or token.revoked_at is not None
        or (token.expires_at is not None and token.expires_at <= now)
        or token.user.disabled
    ):
        raise UnknownPerson("unknown, revoked or expired token")
    token.last_used_at = now
    return Person.of(token.user)


def tokens(session: Session, username: str | None = None) -> list[ApiToken]:
    query = select(ApiToken).join(User).order_by(User.username, ApiToken.id)
    if username is not None:
        query = query.where(User.username == username.strip().lower())
    return list(session.scalars(query))


def revoke_token(session: Session, token_id: int, *, by: Person, now: datetime) -> bool:
    """Revoke a token (its owner or an admin). False when it was revoked already."""
    token = session.get(ApiToken, token_id)
    if token is None:
        raise BadUserInput(f"no token {token_id}")
    if token.user.username != by.username or not by.verified:
        authorize(session, by, "user.manage")
    if token.revoked_at is not None:
        return False
    token.revoked_at = now
    record(
        session,
        actor=by.actor,
        entity="api_token",
        entity_id=token.id,
        at=now,
        from_state="active",
        to_state="revoked",
        reason=f"token {token.name!r} of {token.user.username} revoked",
    )
    return True
