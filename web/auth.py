"""Signing in and out: the log-in form (throttled per name and per address, in the database),
sessions that end after ``session_lifetime`` without a request (then the person logs in again
and comes back to the page they asked for), logout, and the optional single sign-on header from
a configured reverse proxy — believed only from the proxy's addresses. Every sign-in, failure and
sign-out is in the audit log."""

from __future__ import annotations

import ipaddress
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


def safe_next(target: str | None) -> str:
    """Only a path on this site: never another origin (no open redirect)."""
    if not target:
        return url_for("calendar.show")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("calendar.show")
    if "\\" in target or any(ord(c) < 32 for c in target):
        return url_for("calendar.show")
    return target


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


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> str | Response:
    form = LoginForm()
    target = safe_next(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(target)
    error = None
    if form.validate_on_submit():
        db = context.db()
        now = context.now()
        settings = context.settings()
        username = form.username.data.strip().lower()
        user_key, address_key = throttle.keys(username, client_address())
        limits = {
            user_key: settings.login_failures_per_user,
            address_key: settings.login_failures_per_address,
        }
        until = throttle.blocked_until(db, list(limits), now)
        if until is not None:
            minutes = max(1, int((until - now).total_seconds() // 60) + 1)
            error = _("Too many failed log-ins. Try again in %(minutes)s minutes.", minutes=minutes)
            _audit("anonymous", username, "refused", "log-in refused: throttled", now)
        else:
            try:
                person = people.authenticate(db, username, form.password.data, now=now)
            except people.UnknownPerson:
                person = None
            if person is None:
                db.rollback()
                _audit("anonymous", username, "failed", "log-in failed", now)
                throttle.fail(db, limits, now=now, window=settings.login_window)
                error = _("Wrong user name or password.")
            else:
                user = db.get(User, person.user_id)
                viewer = identity.viewer_for(user) if user is not None else None
                assert viewer is not None
                throttle.succeed(db, user_key)
                _record(db, person.actor, person.username, "signed_in", "signed in", now)
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
    return redirect(url_for("auth.login"))


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
        return redirect(url_for("auth.login", next=back or None))
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
