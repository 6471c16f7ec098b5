"""How values look on a page: instants in the viewer's time zone and locale, numbers in the
viewer's locale, delivery states with their translated names, links that keep the filter."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from babel import Locale
from babel.dates import format_datetime as babel_datetime
from babel.dates import match_skeleton
from flask import Flask, g, request, url_for
from flask_babel import format_decimal, get_locale, get_timezone, lazy_gettext
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
ENTITY_LABELS = {
    "api_token": lazy_gettext("API token"),
    "campaign": lazy_gettext("campaign"),
    "channel": lazy_gettext("channel"),
    "delivery": lazy_gettext("delivery"),
    "pause": lazy_gettext("pause"),
    "post": lazy_gettext("post"),
    "session": lazy_gettext("session"),
    "upload": lazy_gettext("upload"),
    "user": lazy_gettext("user"),
    "worker": lazy_gettext("daemon"),
}
"""What the audit log records changes of (``AuditEntry.entity``)."""
UNIT_LABELS = {
    "weighted characters": lazy_gettext("weighted characters"),
    "characters as Weibo counts them": lazy_gettext("characters as Weibo counts them"),
    "characters of the article's body": lazy_gettext("characters of the article’s body"),
    "characters of the article's title": lazy_gettext("characters of the article’s title"),
    "characters": lazy_gettext("characters"),
    "characters (an emoji counts its UTF-8 bytes)": lazy_gettext(
        "characters (an emoji counts its UTF-8 bytes)"
    ),
    "graphemes": lazy_gettext("graphemes"),
    "UTF-16 units": lazy_gettext("UTF-16 units"),
    "UTF-16 units of a media caption": lazy_gettext("UTF-16 units of a media caption"),
}
"""The units platforms count text in (`campaigns.textrules.LIMITS`)."""
APPROVAL_LABELS = {
    "pending": lazy_gettext("awaiting approval"),
    "approved": lazy_gettext("approved"),
    "rejected": lazy_gettext("rejected"),
}


DATE_STYLES = {
    "day": "yMMMd",
    "short_day": "MMMd",
    "weekday": "E",
    "month": "yMMMM",
    "full": "yMMMMEEEEd",
}
"""Named date styles → CLDR skeletons: each locale orders and spells them its own way."""
DATETIME_STYLES = {
    "datetime": ("yMMMd", "short"),
    "long": ("yMMMEd", "short"),
    "soon": ("MMMEd", "short"),
    "precise": ("yMMMd", "medium"),
    "time": (None, "short"),
    "seconds": (None, "medium"),
}
"""Named date-and-time styles → (date skeleton, the locale's own time format: 24- or 12-hour as
the locale has it), joined the locale's way. Every page formats instants through these names,
so one page never shows two forms of the same thing."""
_PATTERNS: dict[tuple[str, str], str] = {}


def pattern(locale: Locale, style: str) -> str:
    """The locale's date (or date-and-time) pattern for a named style (cached)."""
    key = (str(locale), style)
    found = _PATTERNS.get(key)
    if found is None:

        def skeleton(name: str) -> str:
            matched = match_skeleton(name, locale.datetime_skeletons) or name
            return str(locale.datetime_skeletons[matched].pattern)

        if style in DATE_STYLES:
            found = skeleton(DATE_STYLES[style])
        else:
            date_part, time_kind = DATETIME_STYLES[style]
            clock = str(locale.time_formats[time_kind].pattern)
            found = clock
            if date_part is not None:
                joint = str(locale.datetime_formats["medium"])
                found = joint.replace("{1}", skeleton(date_part)).replace("{0}", clock)
        _PATTERNS[key] = found
    return found


def _locale() -> Locale:
    found = get_locale()
    return found if found is not None else Locale.parse("en")


def when(value: datetime | None, style: str = "datetime") -> str:
    """An instant in the viewer's time zone, in the viewer's locale (a style of
    ``DATETIME_STYLES``)."""
    if value is None:
        return "—"
    return wall(value.astimezone(get_timezone()), style)


def wall(moment: datetime, style: str) -> str:
    """A wall-clock moment as it stands (no conversion) in a style of ``DATETIME_STYLES``.
    Its date and its time are each formatted once per request and joined the locale's way
    (a month's list or a long queue repeats the same days and times thousands of times)."""
    memo: dict[Any, Any] = g.setdefault("wall_memo", {})
    locale = memo.get("locale")
    if locale is None:
        locale = memo["locale"] = _locale()
    date_part, time_kind = DATETIME_STYLES[style]
    seconds = moment.second if time_kind == "medium" else 0
    time_key = ("t", time_kind, moment.hour, moment.minute, seconds)
    shown = memo.get(time_key)
    if shown is None:
        clock_pattern = str(locale.time_formats[time_kind].pattern)
        shown = memo[time_key] = str(
            babel_datetime(moment.replace(tzinfo=None), clock_pattern, locale=locale)
        )
    if date_part is None:
        return shown
    joint = str(locale.datetime_formats["medium"])
    if re.search(r"[A-Za-z']", joint.replace("{0}", "").replace("{1}", "")):
        # A joint with words or quoted text of its own: the whole pattern, unsplit.
        return str(
            babel_datetime(moment.replace(tzinfo=None), pattern(locale, style), locale=locale)
        )
    date_key = ("d", date_part, moment.year, moment.month, moment.day)
    day_shown = memo.get(date_key)
    if day_shown is None:
        matched = match_skeleton(date_part, locale.datetime_skeletons) or date_part
        day_pattern = str(locale.datetime_skeletons[matched].pattern)
        day_shown = memo[date_key] = str(
            babel_datetime(moment.replace(tzinfo=None), day_pattern, locale=locale)
        )
    return joint.replace("{1}", day_shown).replace("{0}", shown)


def clock(value: datetime) -> str:
    """A wall-clock time as it stands (no conversion), the locale's way; memoised per request
    (a calendar month shows thousands)."""
    memo = g.setdefault("clock_memo", {})
    key = (value.hour, value.minute)
    found = memo.get(key)
    if found is None:
        locale = _locale()
        found = memo[key] = str(
            babel_datetime(value.replace(tzinfo=None), pattern(locale, "time"), locale=locale)
        )
    return str(found)


def day(value: date | datetime | str | None, style: str = "day") -> str:
    """A day (of an instant: in the viewer's time zone; or ``YYYY-MM-DD``) in a style of
    ``DATE_STYLES``."""
    if value is None:
        return "—"
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return str(value)
    if isinstance(value, datetime):
        value = value.astimezone(context.viewer_zone()).date()
    locale = _locale()
    moment = datetime(value.year, value.month, value.day, 12)
    return str(babel_datetime(moment, pattern(locale, style), locale=locale))


def iso_day(value: datetime) -> str:
    """The day of an instant in the viewer's time zone, as ``YYYY-MM-DD`` (for links)."""
    return value.astimezone(context.viewer_zone()).date().isoformat()


def number(value: float | int | None, fmt: str | None = None) -> str:
    if value is None:
        return "—"
    return str(format_decimal(value, format=fmt))


def local_time(local_due: str, zone: str | None = None, style: str = "soon") -> str:
    """The audience's wall-clock time as written in the campaign, e.g. ``Mon 22 Mar, 10:00
    Europe/Berlin``; style ``time``: the time alone and the zone's city (the calendar's cells).
    Without ``zone``, ``local_due`` carries it: ``2027-03-22 10:00 Europe/Berlin``."""
    if zone is None:
        local_due, _sep, zone = local_due.rpartition(" ")
    try:
        moment = datetime.fromisoformat(local_due).replace(tzinfo=None)
    except ValueError:
        return f"{local_due} {zone}"
    if style == "time":
        return f"{clock(moment)} {zone.split('/')[-1].replace('_', ' ')}"
    return f"{wall(moment, style)} {zone}"


def state_hint(state: str) -> str:
    """What the state means, in the viewer's language (translated once per request)."""
    hints = g.get("state_hints")
    if hints is None:
        hints = g.state_hints = {k: str(v) for k, v in STATE_HINTS.items()}
    return str(hints.get(state, ""))


def state_label(state: str) -> str:
    """The state's name in the viewer's language (translated once per request: a calendar
    month shows thousands)."""
    labels = g.get("state_labels")
    if labels is None:
        labels = g.state_labels = {k: str(v) for k, v in STATE_LABELS.items()}
    return str(labels.get(state, state))


def label(value: str | None, kind: str = "state") -> str:
    """A recorded word in the viewer's language: a state (of a delivery or of a post's
    approval), an audited kind of thing, or a text unit; unknown words as they are."""
    if not value:
        return ""
    tables: dict[str, tuple[dict[str, Any], ...]] = {
        "state": (STATE_LABELS, APPROVAL_LABELS),
        "entity": (ENTITY_LABELS,),
        "unit": (UNIT_LABELS,),
    }
    for table in tables[kind]:
        if value in table:
            return str(table[value])
    return value


def step_words(text: str) -> str:
    """Who may approve a step, as `campaigns.approval.who_may` says it, in the viewer's
    language (user names stay as they are); and the default step's title."""
    if text == "any approver":
        return str(lazy_gettext("any approver"))
    if text == "Approval":
        return str(lazy_gettext("Approval"))
    parts = []
    for part in text.split(" or approvers with the role "):
        if part.startswith("approvers with the role "):
            part = part.removeprefix("approvers with the role ")
            parts.append(str(lazy_gettext("approvers with the role %(roles)s", roles=part)))
        elif part.startswith("all of "):
            parts.append(str(lazy_gettext("all of %(names)s", names=part.removeprefix("all of "))))
        elif parts:
            parts.append(str(lazy_gettext("approvers with the role %(roles)s", roles=part)))
        else:
            parts.append(part)
    return str(lazy_gettext(" or ")).join(parts)


_STEP_DECIDED = re.compile(
    r"step '(?P<step>[^']+)' (?P<what>approved|rejected)(?:: (?P<note>.*))?", re.S
)
_REJECTED_BY = re.compile(r"rejected by (?P<who>\S+?)(?:: (?P<note>.*))?", re.S)
_WAITING = re.compile(
    r"waiting for step '(?P<step>[^']+)' \((?P<n>\d+) of (?P<total>\d+)\): (?P<who>.*)"
)


def approval_reason(text: str | None) -> str:
    """What `campaigns.approval` records about a post's chain (the audit log's reason), in the
    viewer's language; the person's comment and other reasons as they were written."""
    if not text:
        return ""
    if text in ("approved", "rejected", "pending"):
        return label(text)
    if text == "no approval required":
        return str(lazy_gettext("no approval required"))
    found = _STEP_DECIDED.fullmatch(text)
    if found:
        said = (
            lazy_gettext("step %(step)s approved", step=found["step"])
            if found["what"] == "approved"
            else lazy_gettext("step %(step)s rejected", step=found["step"])
        )
        return str(said) + (f": {found['note']}" if found["note"] else "")
    found = _REJECTED_BY.fullmatch(text)
    if found:
        said = str(lazy_gettext("rejected by %(who)s", who=found["who"].removeprefix("user:")))
        return said + (f": {found['note']}" if found["note"] else "")
    found = _WAITING.fullmatch(text)
    if found:
        return str(
            lazy_gettext(
                "waiting for step %(step)s (%(n)s of %(total)s): %(who)s",
                step=found["step"],
                n=found["n"],
                total=found["total"],
                who=step_words(found["who"]),
            )
        )
    return text


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
        when=when,
        day=day,
        iso_day=iso_day,
        clock=clock,
        number=number,
        state_label=state_label,
        state_hint=state_hint,
        local_time=local_time,
        label=label,
        step_words=step_words,
        approval_reason=approval_reason,
    )
    app.jinja_env.globals.update(
        filtered_url=filtered_url,
        STATE_LABELS=STATE_LABELS,
        STATE_HINTS=STATE_HINTS,
        APPROVAL_LABELS=APPROVAL_LABELS,
        viewer_zone=context.viewer_zone_name,
        current_locale=lambda: _locale().language,
        Markup=Markup,
    )
