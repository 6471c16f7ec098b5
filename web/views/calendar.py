"""The calendar: deliveries by month, week or as a list, in the viewer's time zone with the
audience's local time beside each, coloured by state; each opens its post."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from campaigns.schema import Audience, Campaign, Channel, Delivery, Post
from web import context, formatting, identity
from web.filters import FIRST_DAY, LAST_DAY, BadAddress, Filter, day_arg, joined, options
from web.identity import signed_in

blueprint = Blueprint("calendar", __name__)
VIEWS = ("month", "week", "list")


@dataclass(frozen=True)
class Period:
    view: str
    anchor: date
    first: date
    last: date
    """Inclusive days shown."""

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]

    def previous(self) -> date:
        if self.view == "week":
            return self.anchor - timedelta(days=7)
        return (self.anchor.replace(day=1) - timedelta(days=1)).replace(day=1)

    def next(self) -> date:
        if self.view == "week":
            return self.anchor + timedelta(days=7)
        return (self.anchor.replace(day=28) + timedelta(days=4)).replace(day=1)


def period(view: str, anchor: date) -> Period:
    if view == "week":
        first = anchor - timedelta(days=anchor.weekday())
        return Period(view, anchor, first, first + timedelta(days=6))
    start = anchor.replace(day=1)
    end = (start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    if view == "list":
        return Period(view, anchor, start, end)
    return Period(
        view,
        anchor,
        start - timedelta(days=start.weekday()),
        end + timedelta(days=6 - end.weekday()),
    )


def rows(session: Session, f: Filter, first: datetime, end: datetime) -> list[Any]:
    """The deliveries due in [first, end): one query with everything the calendar shows."""
    query = (
        joined(
            Delivery.id,
            Delivery.due_at,
            Delivery.local_due,
            Delivery.timezone,
            Delivery.state,
            Delivery.occurrence,
            Delivery.language,
            Post.id.label("post_id"),
            Post.key.label("post_key"),
            Campaign.id.label("campaign"),
            Campaign.title.label("campaign_title"),
            Channel.name.label("channel"),
            Audience.name.label("audience"),
        )
        .outerjoin(Audience, Delivery.audience_id == Audience.id)
        .where(Delivery.due_at >= first, Delivery.due_at < end, *f.conditions())
        .order_by(Delivery.due_at, Channel.name, Delivery.id)
    )
    return list(session.execute(query))


@dataclass(frozen=True)
class Entry:
    """One delivery as a calendar cell shows it: the time in the viewer's zone and the
    audience's own time beside it, both formatted the viewer's way."""

    row: Any
    local: datetime
    clock: str
    theirs: str


def nearest(session: Session, f: Filter, first: datetime, end: datetime) -> dict[str, Any]:
    """For an empty period: when the next delivery after it is due, else the last before it
    (so a newcomer on a workspace whose campaigns lie ahead or behind finds them)."""
    later = session.execute(
        joined(func.min(Delivery.due_at)).where(Delivery.due_at >= end, *f.conditions())
    ).scalar()
    if later is not None:
        return {"next_due": later}
    earlier = session.execute(
        joined(func.max(Delivery.due_at)).where(Delivery.due_at < first, *f.conditions())
    ).scalar()
    return {"last_due": earlier} if earlier is not None else {}


def render_calendar(
    p: Period, f: Filter, found: list[Any], around: dict[str, Any] | None = None
) -> str:
    zone = context.viewer_zone()
    by_day: dict[date, list[Entry]] = defaultdict(list)
    # A month can hold thousands: each distinct wall-clock time is formatted once.
    clocks: dict[tuple[int, int], str] = {}
    theirs: dict[tuple[str, str], str] = {}
    for row in found:
        local = row.due_at.astimezone(zone)
        key = (local.hour, local.minute)
        shown = clocks.get(key)
        if shown is None:
            shown = clocks[key] = formatting.clock(local)
        where = (row.local_due[11:16], row.timezone)
        beside = theirs.get(where)
        if beside is None:
            beside = theirs[where] = formatting.local_time(row.local_due, row.timezone, "time")
        by_day[local.date()].append(Entry(row, local, shown, beside))
    return render_template(
        "calendar.html",
        p=p,
        f=f,
        opts=options(context.db()),
        by_day=by_day,
        total=len(found),
        today=context.now().astimezone(zone).date(),
        zone_name=context.viewer_zone_name(),
        # Every link opens /posts/<id>: built once, not once per delivery.
        post_base=url_for("posts.show", post_id=0).removesuffix("0"),
        state_names={k: str(v) for k, v in formatting.STATE_LABELS.items()},
        **(around or {}),
    )


@blueprint.get("/")
def home() -> Response:
    return redirect(url_for("calendar.show"))


@blueprint.get("/calendar")
@signed_in
def show() -> str:
    identity.require("campaign.view")
    view = request.args.get("view", "month")
    if view not in VIEWS:
        raise BadAddress(
            _(
                "“%(value)s” is not a view of the calendar: it shows a month, a week or a list.",
                value=view[:40],
            ),
            "view",
        )
    zone = context.viewer_zone()
    raw = request.args.get("date")
    try:
        anchor = day_arg(raw) or context.now().astimezone(zone).date()
    except ValueError:
        raise BadAddress(
            _(
                "“%(value)s” is not a day the calendar can show: a date written YYYY-MM-DD, "
                "between %(first)s and %(last)s.",
                value=(raw or "")[:40],
                first=FIRST_DAY.year,
                last=LAST_DAY.year,
            ),
            "date",
        ) from None
    p = period(view, anchor)
    f = Filter.from_args(request.args)
    start = datetime.combine(p.first, time(), tzinfo=zone)
    end = datetime.combine(p.last + timedelta(days=1), time(), tzinfo=zone)
    found = rows(context.db(), f, start, end)
    around = nearest(context.db(), f, start, end) if not found else None
    return render_calendar(p, f, found, around)
