"""Users (admins): add people with their roles (a one-time password is shown once), change
roles, disable and enable, set a new password, issue and revoke API tokens. Every change goes
through ``campaigns.people``, which checks the admin role and writes the audit entry."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from campaigns import people
from web import context, forms, identity
from web.filters import row_id
from web.identity import signed_in

blueprint = Blueprint("users", __name__, url_prefix="/users")


@blueprint.get("")
@signed_in
def index() -> str:
    identity.require("user.view")
    session = context.db()
    return render_template(
        "users.html",
        users=people.users(session),
        tokens=people.tokens(session),
        roles=[r.value for r in people.Role],
    )


def _done(message: str, *, secret: str | None = None) -> Response:
    context.db().commit()
    flash(message, "ok")
    if secret:
        flash(secret, "secret")
    return redirect(url_for("users.index"))


def _refused(exc: Exception) -> Response:
    context.db().rollback()
    flash(str(exc), "error")
    return redirect(url_for("users.index"))


@blueprint.post("")
@signed_in
def add() -> Response | tuple[str, int]:
    who = identity.require("user.manage")
    password = people.generate_password()
    try:
        user = people.add_user(
            context.db(),
            request.form.get("username", ""),
            display_name=request.form.get("display_name"),
            email=request.form.get("email"),
            roles=request.form.getlist("roles"),
            password=password,
            by=who,
            now=context.now(),
        )
    except people.PeopleError as exc:
        return forms.refused(str(exc), index)
    return _done(
        _("Added %(name)s.", name=user.username),
        secret=_(
            "One-time password for %(name)s (shown once): %(password)s",
            name=user.username,
            password=password,
        ),
    )


@blueprint.post("/<username>")
@signed_in
def change(username: str) -> Response:
    who = identity.require("user.manage")
    session = context.db()
    now = context.now()
    action = request.form.get("action")
    try:
        if action == "roles":
            people.update_user(
                session, username, roles=request.form.getlist("roles"), by=who, now=now
            )
            return _done(_("Roles of %(name)s changed.", name=username))
        if action in ("disable", "enable"):
            people.set_disabled(session, username, action == "disable", by=who, now=now)
            return _done(
                _("%(name)s disabled.", name=username)
                if action == "disable"
                else _("%(name)s enabled.", name=username)
            )
        if action == "password":
            password = people.generate_password()
            people.set_password(session, username, password, by=who, now=now)
            return _done(
                _("New password set for %(name)s.", name=username),
                secret=_(
                    "One-time password for %(name)s (shown once): %(password)s",
                    name=username,
                    password=password,
                ),
            )
        if action == "token":
            label = request.form.get("name", "")  # people refuses an empty one: say what for
            _token, plain = people.issue_token(session, username, name=label, by=who, now=now)
            return _done(
                _("Token issued for %(name)s.", name=username),
                secret=_("API token (shown once): %(token)s", token=plain),
            )
        token_id = row_id(request.form.get("token"))
        if action == "revoke" and token_id is not None:
            people.revoke_token(session, token_id, by=who, now=now)
            return _done(_("Token revoked."))
    except people.PeopleError as exc:
        return _refused(exc)
    flash(_("Choose what to do."), "error")
    return redirect(url_for("users.index"))
