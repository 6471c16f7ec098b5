"""Signing in and out: the log-in form (throttled per name and per address, in the database),
sessions that end after ``session_lifetime`` without a request (then the person logs in again
and comes back to the page they asked for), logout, and the optional single sign-on header from
a configured reverse proxy — believed only from the proxy's addresses. Every sign-in, failure and
sign-out is in the audit log."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_login import LoginManager, current_user, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from campaigns import people
from campaigns.schema import User
from campaigns.states import record
from web import context, identity, throttle

blueprint = Blueprint("auth", __name__)
SEEN = "seen"


class LoginForm(FlaskForm):  # type: ignore[misc]
    username = StringField(lazy_gettext("User name"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(
        lazy_gettext("Password"), validators=[DataRequired(), Length(max=1000)]
    )


def client_address() -> str:
    """The browser's address: the connection's, or — when the connection comes from a trusted
    proxy — the last address in X-Forwarded-For that is not a trusted proxy."""
    remote = request.remote_addr or "unknown"
    proxies = context.settings().trusted_proxies
    if not proxies or not _trusted(remote):
        return remote
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop):
            return hop
    return remote


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in context.settings().trusted_proxies)


def safe_next(target: str | None, default: str = "calendar.show") -> str:
    """Only a path on this site: never another origin (no open redirect). Every redirect to an
    address a request names (``next`` after logging in, ``back`` after an action) goes through
    here; anything else is the ``default`` page (an endpoint)."""
    from web.forms import local_path

    return local_path(target) or url_for(default)


def _audit(actor: str, entity_id: str, to_state: str, reason: str, at: datetime) -> None:
    """Record a sign-in event and commit it: in the request's (writer's) session for a POST,
    in a short writer's session of its own during a GET."""
    if request.method in ("GET", "HEAD"):
        with context.writing() as db:
            _record(db, actor, entity_id, to_state, reason, at)
            db.commit()
        return
    db = context.db()
    _record(db, actor, entity_id, to_state, reason, at)
    db.commit()


def _record(db: Any, actor: str, entity_id: str, to_state: str, reason: str, at: datetime) -> None:
    record(
        db,
        actor=actor,
        entity="session",
        entity_id=entity_id[:80],
        at=at,
        to_state=to_state,
        reason=reason,
        detail={"address": client_address(), "via": "web"},
    )


def _begin(viewer: identity.Viewer, now: datetime) -> None:
    session.clear()  # a fresh session (and CSRF token) for every sign-in
    session.permanent = True
    login_user(viewer)
    session[SEEN] = now.timestamp()


@dataclass(frozen=True)
class _Checked:
    person: people.Person
    user_id: int
    old_hash: str | None
    new_hash: str | None


def _check_password(
    username: str, password: str, throttle_keys: list[str], now: datetime
) -> _Checked | str | None:
    """The throttle and ``people.authenticate`` in a reading session of their own, so the
    deliberately slow password hash never runs while this request holds the database's write
    lock (on SQLite a writer's lock serialises every process: fifty people logging in at once
    would queue behind each other's hashing). What authenticate would store (the time of the
    log-in, a re-hashed password) is handed back and written by the caller."""
    with context.runtime().sessions() as reading:
        if throttle.blocked_until(reading, throttle_keys, now) is not None:
            return "throttled"
        user = reading.scalar(select(User).where(User.username == username))
        old = user.password_hash if user is not None else None
        try:
            person = people.authenticate(reading, username, password, now=now)
        except people.UnknownPerson:
            return None
        found = reading.get(User, person.user_id)
        assert found is not None and person.user_id is not None
        checked = _Checked(person, person.user_id, old, found.password_hash)
        reading.rollback()
    return checked


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> str | Response:
    form = LoginForm()
    target = safe_next(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(target)
    error = None
    if form.validate_on_submit():
        now = context.now()
        settings = context.settings()
        username = form.username.data.strip().lower()
        user_key, address_key = throttle.keys(username, client_address())
        limits = {
            user_key: settings.login_failures_per_user,
            address_key: settings.login_failures_per_address,
        }
        checked = _check_password(username, form.password.data, list(limits), now)
        db = context.db()  # the writer's session: short, after the slow password check
        if isinstance(checked, str):  # throttled
            until = throttle.blocked_until(db, list(limits), now) or now
            minutes = max(1, int((until - now).total_seconds() // 60) + 1)
            error = _("Too many failed log-ins. Try again in %(minutes)s minutes.", minutes=minutes)
            _audit("anonymous", username, "refused", "log-in refused: throttled", now)
        elif checked is None:
            _audit("anonymous", username, "failed", "log-in failed", now)
            throttle.fail(db, limits, now=now, window=settings.login_window)
            error = _("Wrong user name or password.")
        else:
            user = db.get(User, checked.user_id)
            if user is not None and user.password_hash == checked.old_hash:
                user.last_login_at = now
                user.password_hash = checked.new_hash
            viewer = identity.viewer_for(user) if user is not None else None
            if viewer is None:  # disabled while the password was being checked
                db.rollback()
                error = _("Wrong user name or password.")
            else:
                throttle.succeed(db, user_key)
                _record(db, checked.person.actor, username, "signed_in", "signed in", now)
                db.commit()
                _begin(viewer, now)
                return redirect(target)
    return render_template("login.html", form=form, error=error, next=request.args.get("next"))


@blueprint.post("/logout")
def logout() -> Response:
    if current_user.is_authenticated:
        _audit(current_user.actor, current_user.username, "signed_out", "signed out", context.now())
    logout_user()
    session.clear()
    flash(_("You are logged out."), "ok")
    return forget_pages(redirect(url_for("auth.login")))


def forget_pages(response: Response) -> Response:
    """The pages the browser kept for its Back button (`web.app._cache_control`) go with the
    session that showed them: Back after logging out (or after the session expired) does not
    show them to the next person at the computer."""
    response.headers["Clear-Site-Data"] = '"cache"'
    return response


def _expire_or_refresh() -> Response | None:
    """End a session idle for longer than the lifetime (by the application's clock), and single
    sign-on: the proxy's header decides who is signed in."""
    if request.endpoint == "static" or request.path.startswith("/api/"):
        return None
    settings = context.settings()
    now = context.now()
    if settings.trusted_header and _trusted(request.remote_addr or ""):
        name = request.headers.get(settings.trusted_header, "").strip().lower()
        if name and (not current_user.is_authenticated or current_user.username != name):
            user = context.db().query(User).filter(User.username == name).one_or_none()
            viewer = identity.viewer_for(user, via_proxy=True) if user is not None else None
            if viewer is None:
                _audit("anonymous", name, "refused", "single sign-on: no such active user", now)
                return None
            _audit(viewer.actor, name, "signed_in", "signed in (single sign-on)", now)
            _begin(viewer, now)
            return None
    if not current_user.is_authenticated:
        return None
    seen = session.get(SEEN)
    if not isinstance(seen, int | float) or now.timestamp() - seen > (
        settings.session_lifetime.total_seconds()
    ):
        _audit(current_user.actor, current_user.username, "expired", "session expired", now)
        logout_user()
        session.clear()
        flash(_("Your session expired. Please log in again."), "info")
        raw = request.full_path if request.method == "GET" else (request.referrer or "")
        back = urlsplit(raw)._replace(scheme="", netloc="").geturl().rstrip("?") if raw else None
        return forget_pages(redirect(url_for("auth.login", next=back or None)))
    session[SEEN] = now.timestamp()
    return None


def setup(app: Flask) -> None:
    manager = LoginManager(app)
    manager.anonymous_user = identity.Anonymous
    manager.session_protection = None  # sessions end by lifetime and password epoch instead

    def _unauthorized() -> Response:
        flash(_("Please log in to see this page."), "info")
        back = request.full_path.rstrip("?") if request.method == "GET" else None
        return redirect(url_for("auth.login", next=back))

    def _load(ident: str) -> identity.Viewer | None:
        return identity.load(context.db(), ident)

    manager.unauthorized_handler(_unauthorized)
    manager.user_loader(_load)

    app.before_request(_expire_or_refresh)
