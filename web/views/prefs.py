"""A person's own settings: the language of the workspace and the time zone the calendar shows
(kept in cookies of this browser), and their password."""

from __future__ import annotations

from zoneinfo import available_timezones

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from campaigns import people
from campaigns.zones import is_zone
from web import context, identity
from web.identity import signed_in

blueprint = Blueprint("prefs", __name__, url_prefix="/me")
YEAR = 365 * 86400
_ZONES: list[str] = []


def zones() -> list[str]:
    if not _ZONES:
        _ZONES.extend(sorted(z for z in available_timezones() if "/" in z and "Etc" not in z))
        _ZONES.append("UTC")
    return _ZONES


@blueprint.get("")
@signed_in
def show() -> str:
    return render_template(
        "prefs.html", zones=zones(), languages={"en": "English", "ru": "Русский"}
    )


@blueprint.post("")
@signed_in
def save() -> Response:
    response = redirect(url_for("prefs.show"))
    lang = request.form.get("language", "")
    zone = request.form.get("timezone", "")
    secure = context.settings().secure_cookies
    if lang in context.LANGUAGES:
        response.set_cookie(
            context.LANG_COOKIE, lang, max_age=YEAR, httponly=True, samesite="Lax", secure=secure
        )
    if not is_zone(zone):
        flash(_("Choose a time zone from the list."), "error")
        return response
    response.set_cookie(
        context.TZ_COOKIE, zone, max_age=YEAR, httponly=True, samesite="Lax", secure=secure
    )
    flash(_("Saved."), "ok")
    return response


@blueprint.post("/password")
@signed_in
def password() -> Response:
    who = identity.person()
    session = context.db()
    current = request.form.get("current", "")
    new = request.form.get("new", "")
    if new != request.form.get("again", ""):
        flash(_("The two new passwords differ."), "error")
        return redirect(url_for("prefs.show"))
    try:
        people.authenticate(session, who.username, current, now=context.now())
        people.set_password(session, who.username, new, by=who, now=context.now())
    except people.UnknownPerson:
        session.rollback()
        flash(_("Your current password is not right."), "error")
        return redirect(url_for("prefs.show"))
    except people.PeopleError as exc:
        session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("prefs.show"))
    session.commit()
    flash(_("Password changed. Log in with the new one."), "ok")
    return redirect(url_for("auth.login"))
