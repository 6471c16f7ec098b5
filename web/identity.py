"""The signed-in person as Flask-Login sees them (`Viewer`), built from the `Person` that
``campaigns.people`` decides with. Nothing here decides a permission: `Viewer.may` and
`require` ask ``campaigns.people``; a refusal becomes HTTP 403."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import abort
from flask_login import AnonymousUserMixin, UserMixin, current_user
from sqlalchemy.orm import Session

from campaigns import people
from campaigns.schema import User


class Viewer(UserMixin):  # type: ignore[misc]
    """A signed-in person: their `people.Person`, and an epoch that changes when their password
    changes, so that sessions opened with the old password end."""

    def __init__(self, person: people.Person, *, epoch: str = "", via_proxy: bool = False):
        self.person = person
        self.epoch = epoch
        self.via_proxy = via_proxy

    def get_id(self) -> str:
        return f"{self.person.user_id}:{self.epoch}"

    @property
    def username(self) -> str:
        return self.person.username

    @property
    def display_name(self) -> str:
        return self.person.display_name

    @property
    def actor(self) -> str:
        return self.person.actor

    @property
    def roles(self) -> list[str]:
        return sorted(r.value for r in self.person.roles)

    def may(self, action: str) -> bool:
        return people.may(self.person, action)


class Anonymous(AnonymousUserMixin):  # type: ignore[misc]
    display_name = ""
    via_proxy = False

    def may(self, action: str) -> bool:
        return False


def epoch_of(user: User) -> str:
    """Derived from the stored password hash (salted, so new at every change)."""
    import hashlib

    return hashlib.sha256((user.password_hash or "").encode()).hexdigest()[:16]


def viewer_for(user: User, *, via_proxy: bool = False) -> Viewer | None:
    if user.disabled:
        return None
    return Viewer(people.Person.of(user), epoch=epoch_of(user), via_proxy=via_proxy)


def load(session: Session, ident: str) -> Viewer | None:
    """The viewer a session cookie names (``USER_ID:EPOCH``), if still valid."""
    user_id, _, epoch = ident.partition(":")
    if not user_id.isdigit():
        return None
    user = session.get(User, int(user_id))
    if user is None or epoch_of(user) != epoch:
        return None
    return viewer_for(user)


def person() -> people.Person:
    """The signed-in person of this request (pages and the API alike)."""
    from flask import g

    token_person = g.get("api_person")
    if isinstance(token_person, people.Person):
        return token_person
    viewer = current_user._get_current_object()
    if not isinstance(viewer, Viewer):
        abort(401)
    return viewer.person


def require(action: str) -> people.Person:
    """The signed-in person, or HTTP 403 with the rule's reason when they may not do
    ``action``."""
    who = person()
    try:
        people.require(who, action)
    except people.Forbidden as exc:
        abort(403, str(exc))
    return who


def forbidden(exc: Any) -> None:
    """Turn a refusal from ``campaigns`` into HTTP 403."""
    abort(403, str(exc))


View = TypeVar("View", bound=Callable[..., Any])


def signed_in(view: View) -> View:
    """Flask-Login's ``login_required``, typed: the page needs a signed-in person."""
    from flask_login import login_required

    return cast(View, login_required(view))
