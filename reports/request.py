"""One way to ask for a report, shared by `elshi report`, the web workspace's Reports page (and
its downloads) and the demo: the period chooses the deliveries, the report time what was known
(docs/metrics.md, "What a report covers"); a sandbox channel shows the platform it imitates."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from reports.model import Report


class BadMoment(ValueError):
    """A period bound or report time that is neither a day nor an ISO date-time."""


def moment(value: str | None, *, end: bool) -> datetime | None:
    """``YYYY-MM-DD`` is a whole day: its start, or with ``end`` the next day's start (so an
    end day is included); otherwise an ISO date-time, UTC unless it carries an offset."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        if len(value) == 10:
            start = datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
            return start + timedelta(days=1) if end else start
        parsed = datetime.fromisoformat(value)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:
        raise BadMoment(f"{value!r}: out of range") from None
    except ValueError:
        raise BadMoment(
            f"{value!r}: use YYYY-MM-DD or an ISO date-time such as 2027-03-22T10:00"
        ) from None


def build(
    engine: Engine,
    *,
    now: datetime,
    as_of: datetime | None = None,
    campaign: str | None = None,
    audience: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    channel: str | None = None,
    country: str | None = None,
    imitates: Mapping[str, str] | None = None,
    seed: int | None = None,
) -> Report:
    """The report of ``campaign`` / ``country`` / ``audience`` / ``channel`` for the deliveries
    of the period
    [``since``, ``until``), read as of ``as_of`` (default ``now``). The report time is not
    clamped to the period's end: counters collected after the period still belong to its
    posts. ``imitates``: channel → the platform a sandbox channel imitates
    (``Config.text_platforms``)."""
    from reports.data import Scope, load
    from reports.figures import Options, build_report

    if since is not None and until is not None and since >= until:
        raise BadMoment("the period must start before it ends")
    scope = Scope(
        as_of=as_of or now,
        campaign=campaign,
        audience=audience,
        since=since,
        until=until,
        channel=channel,
        country=country,
    )
    options = Options(imitates=dict(imitates or {}))
    if seed is not None:
        options = Options(seed=seed, imitates=options.imitates)
    return build_report(load(engine, scope), generated_at=now, options=options)
