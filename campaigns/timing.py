"""When posts go out: local wall-clock times, their conversion to UTC, and recurrences.

A post's time is written in local time and turned into UTC here, in the time zone of the audience
it follows. Daylight-saving rules:

* a local time that does not exist (the spring-forward gap, e.g. 02:30 on the last Sunday of
  March in Berlin) is an error that names the two nearest valid times;
* a local time that exists twice (the autumn fall-back hour) means the first of the two (the
  earlier UTC instant, still on summer time); ``elshi campaign plan`` shows the UTC time.

Recurrences (RFC 5545 RRULE or five-field cron, in local time) and event offsets expand to local
times bounded by the campaign's first and last day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import MAXYEAR, UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from campaigns.definition import (
    AtEvent,
    EventSpec,
    Recurrence,
    check_rrule,
    parse_offset,
    split_until,
)
from campaigns.errors import CampaignInputError


class TimingError(CampaignInputError, ValueError):
    pass


@dataclass(frozen=True)
class Gap(TimingError):
    local: datetime
    zone: str
    before: datetime
    after: datetime

    def __str__(self) -> str:
        fmt = "%Y-%m-%d %H:%M"
        return (
            f"{self.local:{fmt}} does not exist in {self.zone} (the clocks skip that hour for "
            f"daylight saving time); the nearest valid times are {self.before:{fmt}} and "
            f"{self.after:{fmt}}"
        )


def to_utc(local: datetime, zone: str) -> datetime:
    """The UTC instant of the naive local time ``local`` in ``zone`` (see the module's DST rules)."""
    if local.tzinfo is not None:
        raise TimingError(
            "write local times without a UTC offset; the zone comes from the audience"
        )
    tz = ZoneInfo(zone)
    aware = local.replace(tzinfo=tz, fold=0)
    utc = aware.astimezone(UTC)
    if utc.astimezone(tz).replace(tzinfo=None) != local:
        before = (aware - timedelta(hours=3)).astimezone(UTC)
        after = utc
        # Walk minute by minute from both sides to the gap's edges (gaps are at most a few hours).
        probe = local
        while True:
            probe -= timedelta(minutes=1)
            if _exists(probe, tz):
                before = probe
                break
        probe = local
        while True:
            probe += timedelta(minutes=1)
            if _exists(probe, tz):
                after = probe
                break
        raise Gap(local, zone, before, after)
    return utc


def _exists(local: datetime, tz: ZoneInfo) -> bool:
    return local.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None) == local


def is_ambiguous(local: datetime, zone: str) -> bool:
    tz = ZoneInfo(zone)
    first = local.replace(tzinfo=tz, fold=0).astimezone(UTC)
    second = local.replace(tzinfo=tz, fold=1).astimezone(UTC)
    return first != second and _exists(local, tz)


def event_time(event: EventSpec, spec: AtEvent) -> datetime:
    """The local time ``spec`` names relative to ``event``."""
    offset = parse_offset(spec.offset)
    base = datetime.combine(event.date, event.time or time(0, 0))
    moment = base + timedelta(days=offset.days, hours=offset.hours)
    if offset.clock is not None:
        moment = datetime.combine(moment.date(), offset.clock)
    elif event.time is None and offset.hours == 0:
        raise TimingError(
            f"event on {event.date} has no time of day: give one in the offset, e.g. "
            f"'{spec.offset.strip() or '0d'} 10:00'"
        )
    return moment


def recurrence_times(rule: Recurrence, first_day: date, last_day: date) -> list[datetime]:
    """Local times of ``rule`` between the later of ``first_day``/``from`` and the earlier of
    ``last_day``/``until`` (inclusive), at most ``rule.limit`` + 1 (so callers can tell the
    limit was exceeded). Raises `TimingError` naming the rule when it cannot be expanded."""
    start = max(first_day, rule.start or first_day)
    end = min(last_day, rule.until or last_day)
    if end < start:
        return []
    begin = datetime.combine(start, time(0, 0))
    stop = datetime.combine(end, time(23, 59, 59))
    if rule.rrule is not None:
        return _rrule_times(check_rrule(rule.rrule), begin, stop, rule.limit)
    assert rule.cron is not None
    return _cron_times(rule.cron, begin, stop, rule.limit)


def _rrule_times(rule: str, begin: datetime, stop: datetime, limit: int) -> list[datetime]:
    from dateutil.rrule import rrulestr

    try:
        text, until = split_until(rule)
    except ValueError as exc:
        raise TimingError(str(exc)) from None
    stop = min(stop, until) if until is not None else stop
    text = _hourly_as_daily(text)
    if stop < begin or not _days_possible(text, begin, stop, shown=rule):
        return []
    # dateutil searches until the year 9999 for a next result it does not find. The Gregorian
    # calendar repeats every 400 years (weekdays and week numbers included), so the rule is
    # run that many years later, where 9999 is near, and its results moved back.
    years = (MAXYEAR - stop.year) // 400 * 400
    out: list[datetime] = []
    try:
        for moment in rrulestr(text, dtstart=begin.replace(year=begin.year + years)):
            moment = moment.replace(year=moment.year - years)
            if moment > stop or len(out) > limit:
                break
            if moment >= begin:
                out.append(moment)
    except (ValueError, TypeError, OverflowError) as exc:
        raise TimingError(f"rrule {rule!r} cannot be expanded: {exc}") from None
    return out


def _cron_times(cron: str, begin: datetime, stop: datetime, limit: int) -> list[datetime]:
    from croniter import CroniterBadDateError, croniter

    out: list[datetime] = []
    try:
        itr = croniter(cron, begin - timedelta(seconds=1))
        while len(out) <= limit:
            moment = itr.get_next(datetime)
            if moment > stop:
                break
            out.append(moment)
    except CroniterBadDateError:
        raise TimingError(
            f"cron {cron!r} never falls on a real date (such as 30 February)"
        ) from None
    except (ValueError, TypeError, OverflowError, KeyError) as exc:
        raise TimingError(f"cron {cron!r} cannot be expanded: {exc}") from None
    return out


def _hourly_as_daily(text: str) -> str:
    """An HOURLY rule that picks days as the DAILY rule it means (BYHOUR: every hour unless it
    names some): dateutil would otherwise test every hour of every day that does not match."""
    parts = dict(p.split("=", 1) for p in text.upper().split(";") if "=" in p)
    if parts.get("FREQ") != "HOURLY" or not parts.keys() & set(_DAY_FILTERS[:-1]):
        return text
    parts["FREQ"] = "DAILY"
    parts.setdefault("BYHOUR", ",".join(str(h) for h in range(24)))
    return ";".join(f"{k}={v}" for k, v in parts.items())


_DAY_FILTERS = ("BYMONTH", "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYDAY", "WKST")


def _days_possible(text: str, begin: datetime, stop: datetime, *, shown: str) -> bool:
    """Whether the rule's day filters leave a day between ``begin`` and ``stop``.

    dateutil only stops at a result past its end, so a rule whose filters match no real date
    (31 April, day 400 of the year) would be searched until the year 9999. The same filters on a
    yearly rule are searched in well under a second. (Rules whose INTERVAL could step past every
    allowed day are refused by `check_rrule`, and HOURLY rules that pick days run as DAILY ones,
    so a rule that passes here finds its next day within decades.)"""
    from dateutil.rrule import rrulestr

    parts = dict(p.split("=", 1) for p in text.upper().split(";") if "=" in p)
    days = {k: v for k, v in parts.items() if k in _DAY_FILTERS}
    if not days.keys() - {"WKST"}:
        return True
    if "BYDAY" in days:  # 2MO means "second Monday" only for the month or year it counts in
        days["BYDAY"] = ",".join(
            dict.fromkeys(d.lstrip("+-0123456789") for d in days["BYDAY"].split(","))
        )
    yearly = ";".join(["FREQ=YEARLY", *(f"{k}={v}" for k, v in days.items())])
    try:
        first = next(iter(rrulestr(yearly, dtstart=begin)), None)
    except (ValueError, TypeError):
        return True  # let the rule itself say what is wrong
    if first is None:
        raise TimingError(f"rrule {shown!r} never falls on a real date (such as 31 April)")
    return first <= stop
