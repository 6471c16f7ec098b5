"""The filter every page shares: campaign, country, audience, channel and state, read from the
query string and turned into SQL conditions on queries that join delivery, post, campaign and
channel. Unknown values are dropped (a stale bookmark shows everything rather than an error)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session
from werkzeug.exceptions import BadRequest

from campaigns import MAX_ROW_ID
from campaigns.schema import Audience, Campaign, Channel, Delivery, DeliveryState, Post

FIELDS = ("campaign", "country", "audience", "channel", "state")
MAX_ID = MAX_ROW_ID
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(9000, 12, 31)
"""Days a page accepts in its address: beyond them a period's arithmetic (and the databases'
date types) overflow, and no campaign is there."""


class BadAddress(BadRequest):
    """An argument of a page's address the page cannot use (a day that is not one, a view the
    page does not have, a NUL character): the page answers 400 with the workspace's error page,
    the ``description`` in the viewer's language, and a link to the same address without the
    ``fields`` named (`web.app._http_error`)."""

    def __init__(self, description: str, *fields: str) -> None:
        super().__init__(description)
        self.fields = fields


def row_id(raw: str | None) -> int | None:
    """A row id from a form or address (digits, at most the largest id stored), else None: a
    number too large for the database is not a 500."""
    value = (raw or "").strip()
    if not value.isascii() or not value.isdigit() or len(value) > 19:
        return None
    number = int(value)
    return number if 0 < number <= MAX_ID else None


def day_arg(raw: str | None) -> date | None:
    """``YYYY-MM-DD`` within `FIRST_DAY`–`LAST_DAY`; ValueError otherwise (None when empty)."""
    value = (raw or "").strip()
    if not value:
        return None
    found = date.fromisoformat(value)
    if not FIRST_DAY <= found <= LAST_DAY:
        raise ValueError(f"{value}: a day between {FIRST_DAY} and {LAST_DAY}")
    return found


@dataclass(frozen=True)
class Filter:
    campaign: str | None = None
    country: str | None = None
    audience: int | None = None
    """An audience row's id: audiences are per campaign, so their keys repeat across campaigns."""
    channel: str | None = None
    state: str | None = None

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> Filter:
        def text(name: str, limit: int) -> str | None:
            value = (args.get(name) or "").strip()
            return value[:limit] if value else None

        audience = text("audience", 12)
        state = text("state", 20)
        country = text("country", 2)
        return cls(
            campaign=text("campaign", 64),
            country=country.upper() if country else None,
            audience=row_id(audience),
            channel=text("channel", 64),
            state=state if state in DeliveryState.__members__ else None,
        )

    @property
    def active(self) -> bool:
        return any(v is not None for v in asdict(self).values())

    def args(self) -> dict[str, str]:
        """The query-string form (for links that keep the filter)."""
        return {k: str(v) for k, v in asdict(self).items() if v is not None}

    def conditions(self, *, with_state: bool = True) -> list[ColumnElement[bool]]:
        """Conditions for a query that joins `Delivery`, `Post`, `Campaign` and `Channel`."""
        out: list[ColumnElement[bool]] = []
        if self.campaign:
            out.append(Campaign.id == self.campaign)
        if self.country:
            out.append(Campaign.country == self.country)
        if self.audience is not None:
            out.append(Delivery.audience_id == self.audience)
        if self.channel:
            out.append(Channel.name == self.channel)
        if self.state and with_state:
            out.append(Delivery.state == self.state)
        return out


def options(session: Session) -> dict[str, Any]:
    """The choices the filter bar offers."""
    campaigns = session.execute(
        select(Campaign.id, Campaign.title, Campaign.country).order_by(
            Campaign.starts_on, Campaign.id
        )
    ).all()
    audiences = session.execute(
        select(Audience.id, Audience.campaign_id, Audience.key, Audience.name).order_by(
            Audience.campaign_id, Audience.id
        )
    ).all()
    channels = session.scalars(select(Channel.name).order_by(Channel.name)).all()
    return {
        "campaigns": [{"id": c.id, "title": c.title} for c in campaigns],
        "countries": sorted({c.country for c in campaigns}),
        "audiences": [
            {"id": a.id, "label": f"{a.name} ({a.campaign_id})", "campaign": a.campaign_id}
            for a in audiences
        ],
        "channels": list(channels),
        "states": [s.value for s in DeliveryState],
    }


def joined(*columns: Any) -> Any:
    """``SELECT columns FROM delivery JOIN post JOIN campaign JOIN channel``: the base every
    filtered delivery query starts from."""
    return (
        select(*columns)
        .select_from(Delivery)
        .join(Post, Delivery.post_id == Post.id)
        .join(Campaign, Post.campaign_id == Campaign.id)
        .join(Channel, Delivery.channel_id == Channel.id)
    )
