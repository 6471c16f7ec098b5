"""How values look on a page: instants in the viewer's time zone and locale, numbers in the
viewer's locale, delivery states with their translated names, links that keep the filter."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import Flask, g, request, url_for
from flask_babel import format_date, format_datetime, format_decimal, get_locale, lazy_gettext
from markupsafe import Markup

from web import context

STATE_LABELS = {
    "draft": lazy_gettext("draft"),
    "approved": lazy_gettext("approved"),
    "scheduled": lazy_gettext("scheduled"),
    "publishing": lazy_gettext("publishing"),
    "published": lazy_gettext("published"),
    "failed": lazy_gettext("failed"),
    "missed": lazy_gettext("missed"),
    "needs_review": lazy_gettext("needs review"),
    "cancelled": lazy_gettext("cancelled"),
}
STATE_HINTS = {
    "draft": lazy_gettext("waiting for approval"),
    "approved": lazy_gettext("approved, waiting for its time"),
    "scheduled": lazy_gettext("waiting for a retry"),
    "publishing": lazy_gettext("being published now"),
    "published": lazy_gettext("out on the platform"),
    "failed": lazy_gettext("the platform refused it"),
    "missed": lazy_gettext("its time passed"),
    "needs_review": lazy_gettext("a person must check the channel"),
    "cancelled": lazy_gettext("will not be published"),
}
APPROVAL_LABELS = {
    "pending": lazy_gettext("awaiting approval"),
    "approved": lazy_gettext("approved"),
    "rejected": lazy_gettext("rejected"),
}


def when(value: datetime | None, fmt: str = "medium") -> str:
    """An instant in the viewer's time zone, in the viewer's locale."""
    if value is None:
        return "—"
    return str(format_datetime(value, fmt))


def day(value: date | datetime | None, fmt: str = "medium") -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        value = value.astimezone(context.viewer_zone()).date()
    return str(format_date(value, fmt))


def number(value: float | int | None, fmt: str | None = None) -> str:
    if value is None:
        return "—"
    return str(format_decimal(value, format=fmt))


def local_time(local_due: str, zone: str) -> str:
    """The audience's wall-clock time as written in the campaign, e.g. ``22 Mar, 10:00
    Europe/Berlin``."""
    try:
        moment = datetime.fromisoformat(local_due)
    except ValueError:
        return f"{local_due} {zone}"
    return f"{format_datetime(moment, 'd MMM, HH:mm', rebase=False)} {zone}"


def state_label(state: str) -> str:
    """The state's name in the viewer's language (translated once per request: a calendar
    month shows thousands)."""
    labels = g.get("state_labels")
    if labels is None:
        labels = g.state_labels = {k: str(v) for k, v in STATE_LABELS.items()}
    return str(labels.get(state, state))


def filtered_url(endpoint: str, **overrides: Any) -> str:
    """A link to ``endpoint`` keeping this request's filter and view arguments; ``None``
    removes an argument."""
    args: dict[str, Any] = {k: v for k, v in request.args.items() if v}
    for key, value in overrides.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = value
    return url_for(endpoint, **args)


def install(app: Flask) -> None:
    from campaigns.links import is_web_url

    app.jinja_env.tests["web_url"] = is_web_url
    app.jinja_env.filters.update(
        when=when, day=day, number=number, state_label=state_label, local_time=local_time
    )
    app.jinja_env.globals.update(
        filtered_url=filtered_url,
        STATE_LABELS=STATE_LABELS,
        STATE_HINTS=STATE_HINTS,
        APPROVAL_LABELS=APPROVAL_LABELS,
        viewer_zone=context.viewer_zone_name,
        current_locale=lambda: str(get_locale()),
        Markup=Markup,
    )
