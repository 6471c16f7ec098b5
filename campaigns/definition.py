"""The campaign definition format: the typed models a campaign YAML file is validated into.

These models are the reference for what PR staff may write (docs/campaign-format.md is generated
from them). They check shape and values that need no outside knowledge; checks that need the
configuration, the file system or the calendar (channels, media files, dates inside the campaign,
DST gaps, text length per platform) live in ``campaigns.validation``.
"""

from __future__ import annotations

import datetime as dt
import re
from datetime import date, datetime, time
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from campaigns import textrules
from campaigns.links import check_template, web_url
from campaigns.zones import zone_problem

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
Ident = Annotated[
    str,
    Field(
        pattern=ID_PATTERN,
        description="lower-case letters, digits, '-' and '_' (at most 64), e.g. `abai-day`",
    ),
]
LanguageCode = Annotated[
    str,
    Field(
        pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$",
        description="an ISO 639 language code such as `de`, `zh`, `kk`, `en`, `zh-Hans`",
    ),
]
PLATFORMS = textrules.PLATFORMS


class Category(StrEnum):
    """The action plan's lines of work (what a post is about)."""

    cultural_event = "cultural_event"
    education = "education"
    tourism = "tourism"
    economic_forum = "economic_forum"
    media_pr = "media_pr"
    science_technology = "science_technology"


class AudienceGroup(StrEnum):
    """The target groups of the public-diplomacy strategy."""

    general_public = "general_public"
    political_foundations = "political_foundations"
    think_tanks = "think_tanks"
    business = "business"
    universities = "universities"
    research = "research"
    media = "media"
    diaspora = "diaspora"
    government = "government"
    students = "students"
    tourists = "tourists"
    other = "other"


FIRST_YEAR, LAST_YEAR = 2000, 2199
"""Dates outside these years are typing slips (and would overflow date arithmetic)."""


def _plausible(value: date) -> date:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(
            f"{value.isoformat()} is not a plausible date: write a year from {FIRST_YEAR} to "
            f"{LAST_YEAR}"
        )
    return value


_HALFWIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def halfwidth(text: str) -> str:
    """``text`` with the full-width forms of ASCII (U+FF01-U+FF5E: ２０２７－０４－１５ １０：００)
    and the ideographic space as the ASCII characters they stand for: a Chinese input method
    types digits, colons and dashes so, and they mean the same date, time or number."""
    return text.translate(_HALFWIDTH)


def _as_ascii(value: object) -> object:
    return halfwidth(value) if isinstance(value, str) else value


AsAscii = BeforeValidator(_as_ascii)
"""A date, time, number or rule written with full-width digits is read as written in ASCII."""
Day = Annotated[date, AsAscii, AfterValidator(_plausible)]
Moment = Annotated[datetime, AsAscii, AfterValidator(_plausible)]


class Role(StrEnum):
    """What a person does in the office (the roles of `campaigns.people`)."""

    author = "author"
    approver = "approver"
    operator = "operator"
    manager = "manager"
    admin = "admin"


ROLE_MEANING: dict[Role, str] = {
    Role.author: "uploads and changes campaigns",
    Role.approver: "approves or rejects posts in the approval steps that name them or their role",
    Role.operator: "retries, cancels and resolves deliveries; pauses and resumes (kill switch)",
    Role.manager: "reads the effectiveness reports and the audit log; imports outcomes",
    Role.admin: "manages users and their tokens; reads the audit log",
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _check_zone(value: str | None) -> str | None:
    if value is None:
        return None
    problem = zone_problem(value)
    if problem is not None:
        if "; write " in problem:  # says what to write instead
            raise ValueError(problem)
        raise ValueError(
            f"{problem}: use an IANA name such as Europe/Berlin, Asia/Shanghai or Asia/Almaty"
        )
    return value


_DURATION_RE = re.compile(r"^\s*(\d{1,7})\s*(m|min|h|d)\s*$")
MAX_GRACE_MINUTES = 7 * 1440


def parse_minutes(value: str | int) -> int:
    """``"15m"``, ``"2h"``, ``"1d"`` or a number of minutes (0 to a week)."""
    if isinstance(value, int):
        minutes = value
    else:
        match = _DURATION_RE.match(value)
        if not match:
            raise ValueError(f"{value[:40]!r} is not a duration: write e.g. 15m, 2h or 1d")
        number, unit = int(match.group(1)), match.group(2)
        minutes = number * {"m": 1, "min": 1, "h": 60, "d": 1440}[unit]
    if not 0 <= minutes <= MAX_GRACE_MINUTES:
        raise ValueError(f"{value!r} is not between 0 minutes and 7 days (7d)")
    return minutes


class Utm(Strict):
    """Automatic UTM tagging of each post's link. Placeholders: ``{campaign}``, ``{post}``,
    ``{platform}``, ``{channel}``, ``{audience}``, ``{variant}``, ``{language}``."""

    source: str = Field("{platform}", description="`utm_source`")
    medium: str = Field("social", description="`utm_medium`")
    campaign: str = Field("{campaign}", description="`utm_campaign`")
    content: str | None = Field("{post}", description="`utm_content` (null: leave out)")
    term: str | None = Field("{audience}", description="`utm_term` (null: leave out)")

    @field_validator("source", "medium", "campaign", "content", "term")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        return None if value is None else check_template(value)


USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{1,63}$"


class ApprovalStep(Strict):
    """One step of an approval chain. Steps are approved in order, each by a different person
    who did not write or change the post. Who may approve a step: a user with the `approver`
    role who is named in `users`, or who holds one of `roles`; a step naming neither is open to
    every approver. With `require: all`, every user named must approve it."""

    step: Ident = Field(description="the step's id, e.g. `press-secretary`")
    title: str | None = Field(
        None, max_length=200, description="as people call it, e.g. `Press secretary`"
    )
    users: list[Annotated[str, Field(pattern=USERNAME_PATTERN)]] = Field(
        default_factory=list, description="usernames who may approve this step"
    )
    roles: list[Role] = Field(
        default_factory=list, description="roles whose holders may approve this step"
    )
    require: Literal["any", "all"] = Field(
        "any", description="`any`: one of them approves; `all`: every user named approves"
    )

    @model_validator(mode="after")
    def _consistent(self) -> ApprovalStep:
        if len(set(self.users)) != len(self.users):
            raise ValueError(f"step {self.step!r} names a user twice")
        if self.require == "all" and (not self.users or self.roles):
            raise ValueError(
                f"step {self.step!r}: 'require: all' needs a list of users (and no roles): "
                "every one of them must approve"
            )
        return self


class CampaignSpec(Strict):
    """The campaign: what it promotes, where, and when."""

    id: Ident
    title: str = Field(min_length=1, max_length=200, description="shown in reports and calendars")
    country: str = Field(
        pattern=r"^[A-Z]{2}$", description="target country, ISO 3166 alpha-2 (`DE`, `CN`)"
    )
    market: str | None = Field(None, description="the target market in words, e.g. `Germany`")
    narrative: Ident = Field(
        description="the key idea this campaign promotes (a key of `narratives`)"
    )
    narratives: dict[Ident, str] = Field(
        default_factory=dict,
        description="key ideas by id, with a sentence each; posts may pick one with `narrative:`",
    )
    starts: Day = Field(description="first day of the campaign (local date)")
    ends: Day = Field(description="last day; no post may be later")
    timezone: str = Field(description="default IANA time zone of posts, e.g. `Europe/Berlin`")
    hashtags: list[str] = Field(
        default_factory=list, description="brand hashtags, e.g. `#Kasachstan`"
    )
    append_hashtags: bool = Field(
        True, description="append the brand hashtags to every post that does not already carry them"
    )
    approval: bool | list[ApprovalStep] = Field(
        True,
        description="`true`: one approval by any approver; `false`: none; or a list of "
        "approval steps (below), approved in order by different people",
    )
    grace: Annotated[str | int, AsAscii] = Field(
        "15m", description="how late a post may still go out after a stop (e.g. `15m`, `2h`)"
    )
    utm: Utm | None = Field(None, description="UTM tagging of links; omit for none")
    require_alt: bool = Field(
        False,
        description="every image needs an alt text in each language it goes out in (else only "
        "a warning)",
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        zone = _check_zone(value)
        assert zone is not None
        return zone

    @field_validator("hashtags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        for tag in value:
            if not re.fullmatch(r"#\w+#?", tag):  # Weibo writes topics as #话题#
                raise ValueError(f"{tag!r} is not a hashtag: write '#' then letters or digits")
        return value

    @field_validator("approval")
    @classmethod
    def _steps(cls, value: bool | list[ApprovalStep]) -> bool | list[ApprovalStep]:
        if isinstance(value, list):
            if not value:
                raise ValueError("an empty list of approval steps: write 'approval: false'")
            names = [s.step for s in value]
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise ValueError(f"approval step {twice[0]!r} appears twice")
        return value

    @field_validator("grace")
    @classmethod
    def _grace(cls, value: str | int) -> str | int:
        parse_minutes(value)
        return value

    @property
    def grace_minutes(self) -> int:
        return parse_minutes(self.grace)

    @property
    def approval_steps(self) -> list[ApprovalStep]:
        """The chain: `approval: true` is one step open to every approver."""
        if self.approval is True:
            return [DEFAULT_STEP]
        return list(self.approval) if self.approval else []


DEFAULT_STEP = ApprovalStep(step="approval", title="Approval")
"""The one step of `approval: true`."""


class EventSpec(Strict):
    """A named occasion posts can be timed against (``when: {event: nauryz, offset: -1d 09:00}``)."""

    date: Day = Field(description="the day of the occasion")
    time: Annotated[dt.time | None, AsAscii] = Field(
        None, description="local time of the event, when it has one"
    )
    title: str | None = Field(None, description="e.g. `Nauryz (spring festival)`")


class AudienceSpec(Strict):
    """A target group, the languages it reads and the channels that reach it."""

    id: Ident
    name: str = Field(
        min_length=1,
        description="as the team calls it, e.g. `Think tanks`; each audience its own name "
        "(case, spacing and full-width forms do not make another name)",
    )
    group: AudienceGroup = Field(description="which target group of the strategy")
    languages: list[LanguageCode] = Field(min_length=1, description="in order of preference")
    timezone: str | None = Field(None, description="when it differs from the campaign's")
    channels: list[str] = Field(min_length=1, description="channel names from elshi.toml")
    description: str | None = Field(None, description="who exactly, for the record")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return _check_zone(value)

    @field_validator("languages", "channels")
    @classmethod
    def _once(cls, values: list[str]) -> list[str]:
        twice = sorted({v for v in values if values.count(v) > 1})
        if twice:
            raise ValueError(
                ", ".join(repr(v) for v in twice)
                + (" is" if len(twice) == 1 else " are")
                + " listed twice: name each once"
            )
        return values


_OFFSET_RE = re.compile(
    r"^\s*(?P<sign>[+-])?\s*(?:(?P<days>\d+)\s*d)?\s*(?:(?P<hours>\d+)\s*h)?\s*"
    r"(?P<clock>\d{1,2}:\d{2})?\s*$"
)


class EventOffset(BaseModel):
    days: int = 0
    hours: int = 0
    clock: time | None = None


MAX_OFFSET_DAYS = 366
"""An event offset reaches at most a year before or after the event."""


def parse_offset(value: str) -> EventOffset:
    """``"-2d 10:00"`` (two days before, at 10:00), ``"+1d"``, ``"-3h"``, ``"09:30"``."""
    value = halfwidth(value)
    match = _OFFSET_RE.match(value) if len(value) <= 40 else None
    if not match or not any(match.group(g) for g in ("days", "hours", "clock")):
        raise ValueError(
            f"offset {_clip(value)!r} is not understood: write days and/or hours with a sign and "
            "an optional local time, e.g. '-2d 10:00', '+1d', '-3h' or '09:30'"
        )
    days, hours = int(match.group("days") or 0), int(match.group("hours") or 0)
    if days + hours / 24 > MAX_OFFSET_DAYS:
        raise ValueError(
            f"offset {value!r} is too large: an event offset reaches at most "
            f"{MAX_OFFSET_DAYS} days (a year) before or after the event"
        )
    sign = -1 if match.group("sign") == "-" else 1
    clock = None
    if match.group("clock"):
        hour, minute = (int(p) for p in match.group("clock").split(":"))
        if hour > 23 or minute > 59:
            raise ValueError(f"offset {value!r}: {match.group('clock')} is not a time of day")
        clock = time(hour, minute)
    return EventOffset(days=sign * days, hours=sign * hours, clock=clock)


def _clip(text: str, size: int = 60) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


class AtEvent(Strict):
    """Relative to a named event: ``{event: abai-day, offset: "-2d 10:00"}``."""

    event: Ident
    offset: Annotated[str, AsAscii] = Field(
        "0d", description="e.g. `-2d 10:00`, `+1d`, `-3h`, `09:30`"
    )

    @field_validator("offset")
    @classmethod
    def _offset(cls, value: str) -> str:
        parse_offset(value)
        return value


_RRULE_PARTS = {
    "FREQ",
    "INTERVAL",
    "COUNT",
    "UNTIL",
    "BYMINUTE",
    "BYHOUR",
    "BYDAY",
    "BYMONTHDAY",
    "BYYEARDAY",
    "BYWEEKNO",
    "BYMONTH",
    "BYSETPOS",
    "WKST",
}
_FREQUENCIES = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY")
_DAY_LIMITS = {"BYMONTH", "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYDAY"}
_LIMITING = {
    "YEARLY": set[str](),
    "MONTHLY": {"BYMONTH", "BYYEARDAY", "BYWEEKNO"},
    "WEEKLY": {"BYMONTH", "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO"},
    "DAILY": _DAY_LIMITS,
    "HOURLY": _DAY_LIMITS,
}
"""Parts that filter the periods of a frequency (RFC 5545's "limit") rather than expand them."""


def check_rrule(text: str) -> str:
    """The rule without an ``RRULE:`` prefix, or a ValueError naming it. Only the parts that say
    *when within the campaign* are accepted: the campaign's dates (and ``from``/``until``) bound
    every rule, so a rule's own DTSTART is refused, and nothing repeats more often than hourly."""
    rule = text.strip()
    if rule.upper().startswith("RRULE:"):
        rule = rule[len("RRULE:") :]
    shown = _clip(rule)
    if "DTSTART" in rule.upper():
        raise ValueError(
            f"rrule {shown!r} carries its own start (DTSTART); the campaign's dates and "
            "'from'/'until' bound a recurrence, so remove DTSTART"
        )
    if len(rule) > 300 or "\n" in rule or "\r" in rule:
        raise ValueError(f"rrule {shown!r}: write one RRULE line (at most 300 characters)")
    parts: dict[str, str] = {}
    for part in rule.split(";"):
        name, sep, value = part.partition("=")
        name = name.strip().upper()
        if not sep or name not in _RRULE_PARTS:
            raise ValueError(
                f"rrule {shown!r}: {part.strip()[:30]!r} is not a rule part "
                f"({', '.join(sorted(_RRULE_PARTS))})"
            )
        if name in parts:
            raise ValueError(f"rrule {shown!r}: {name} appears twice")
        parts[name] = value.strip().upper()
    frequency = parts.get("FREQ")
    if frequency in ("MINUTELY", "SECONDLY"):
        raise ValueError(
            f"rrule {shown!r}: FREQ={frequency} would post every "
            f"{frequency.removesuffix('LY').lower()}; a post repeats at most hourly"
        )
    if frequency not in _FREQUENCIES:
        raise ValueError(f"rrule {shown!r}: FREQ must be one of {', '.join(_FREQUENCIES)}")
    for name, top in (("INTERVAL", 1000), ("COUNT", 10_000)):
        if name in parts and not (parts[name].isdigit() and 1 <= int(parts[name][:6]) <= top):
            raise ValueError(f"rrule {shown!r}: {name} must be a whole number from 1 to {top}")
    limits = sorted(_LIMITING[frequency] & parts.keys())
    if parts.get("INTERVAL", "1") != "1" and limits:
        # Steps of the interval may never land on what the part allows (DAILY;INTERVAL=7 from a
        # Friday never meets a Tuesday), and the search for one would not end.
        raise ValueError(
            f"rrule {shown!r}: FREQ={frequency} with an INTERVAL cannot also limit "
            f"{', '.join(limits)} (its steps might never land there); e.g. every second "
            "Tuesday is FREQ=WEEKLY;INTERVAL=2;BYDAY=TU"
        )
    if "BYSETPOS" in parts and frequency not in ("YEARLY", "MONTHLY"):
        raise ValueError(f"rrule {shown!r}: BYSETPOS goes with FREQ=MONTHLY or FREQ=YEARLY")
    from dateutil.rrule import rrulestr

    without_until, _ = split_until(rule)
    try:
        rrulestr(without_until, dtstart=datetime(2000, 1, 1))
    except (ValueError, TypeError, OverflowError, IndexError, KeyError) as exc:
        raise ValueError(f"rrule {shown!r} is not valid RFC 5545: {_clip(str(exc))}") from None
    return rule


_UNTIL = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})Z?)?$")


def split_until(rule: str) -> tuple[str, datetime | None]:
    """``rule`` without its UNTIL part, and that part as a local time (whole days end at
    23:59:59). A trailing Z is read as local time too: every time in a campaign is local."""
    parts = [p for p in rule.split(";") if p]
    kept = [p for p in parts if not p.strip().upper().startswith("UNTIL=")]
    if len(kept) == len(parts):
        return rule, None
    value = next(p for p in parts if p.strip().upper().startswith("UNTIL="))
    value = value.strip()[len("UNTIL=") :]
    match = _UNTIL.match(value.strip().upper())
    try:
        if match is None:
            raise ValueError
        year, month, day, hour, minute, second = (
            int(g or d)
            for g, d in zip(match.groups(), ("0", "0", "0", "23", "59", "59"), strict=True)
        )
        until = datetime(year, month, day, hour, minute, second)
    except ValueError:
        raise ValueError(
            f"rrule {_clip(rule)!r}: UNTIL={_clip(value, 20)} is not a date; write e.g. "
            "UNTIL=20270630"
        ) from None
    return ";".join(kept), until


class Recurrence(Strict):
    """A repeating post, bounded by the campaign dates (and ``from``/``until`` when given).
    Exactly one of ``rrule`` (RFC 5545, e.g. ``FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=30``) or
    ``cron`` (five fields, local time, e.g. ``30 9 * * MON``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    rrule: Annotated[str | None, AsAscii] = Field(
        None, description="e.g. `FREQ=WEEKLY;BYDAY=TU;BYHOUR=11;BYMINUTE=0`"
    )
    cron: Annotated[str | None, AsAscii] = Field(
        None, description="e.g. `0 10 1 * *` (10:00 on the 1st, local time)"
    )
    start: Day | None = Field(None, alias="from", description="not before this day")
    until: Day | None = Field(None, description="not after this day")
    limit: Annotated[int, AsAscii] = Field(
        60, ge=1, le=1000, description="at most this many occurrences"
    )

    @field_validator("rrule")
    @classmethod
    def _rrule(cls, value: str | None) -> str | None:
        if value is not None:
            check_rrule(value)
        return value

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from croniter import croniter

        valid = False
        if len(value) <= 100 and len(value.split()) == 5 and "H" not in value.upper().split()[0]:
            try:
                valid = bool(croniter.is_valid(value))
            except Exception:  # croniter raises what its parser meets; any of it means "invalid"
                valid = False
        if not valid:
            raise ValueError(
                f"cron {_clip(value)!r} is not valid: five fields 'minute hour day month "
                "weekday', e.g. '30 9 * * MON'"
            )
        return value

    @model_validator(mode="after")
    def _one_rule(self) -> Recurrence:
        if (self.rrule is None) == (self.cron is None):
            raise ValueError("give exactly one of 'rrule' or 'cron'")
        return self


def _when_form(value: object) -> str | None:
    if isinstance(value, dict):
        if "event" in value:
            return "when:event"
        if "rrule" in value or "cron" in value:
            return "when:repeat"
        return None
    return "when:at"


When = Annotated[
    Annotated[Moment, Tag("when:at")]
    | Annotated[AtEvent, Tag("when:event")]
    | Annotated[Recurrence, Tag("when:repeat")],
    Discriminator(
        _when_form,
        custom_error_type="when_form",
        custom_error_message='write a local date-time ("2027-03-22 10:00"), an event offset '
        '({event: nauryz, offset: "-1d 10:00"}) or a recurrence ({rrule: ...} or {cron: ...})',
    ),
]
"""Tags contain ':' so that error paths can tell them from YAML keys."""


def _text_form(value: object) -> str:
    if isinstance(value, dict):
        return "text:platforms" if "default" in value else "text:languages"
    return "text:plain"


def _variants_form(value: object) -> str:
    return "text:platforms" if isinstance(value, dict) else "text:plain"


TextVariants = Annotated[
    Annotated[str, Tag("text:plain")] | Annotated[dict[str, str], Tag("text:platforms")],
    Discriminator(_variants_form),
]
"""One text, or ``{default: ..., x: ..., mastodon: ...}`` per platform."""

Text = Annotated[
    Annotated[str, Tag("text:plain")]
    | Annotated[dict[str, str], Tag("text:platforms")]
    | Annotated[dict[LanguageCode, TextVariants], Tag("text:languages")],
    Discriminator(_text_form),
]


def _localized_form(value: object) -> str:
    return "text:languages" if isinstance(value, dict) else "text:plain"


Localized = Annotated[
    Annotated[str, Tag("text:plain")] | Annotated[dict[LanguageCode, str], Tag("text:languages")],
    Discriminator(_localized_form),
]
"""One text, or one per language (``{de: ..., zh: ...}``)."""


class MediaItem(Strict):
    """An image or video with a description for people who cannot see it (alt text), passed to
    every platform that takes one (Bluesky, Mastodon, X, LinkedIn, Threads, WeChat bodies), and
    refused where it is longer than the platform takes: X 1,000 characters, Mastodon 1,500 (each
    server sets its own: a Mastodon channel's ``max_alt_characters`` says its server's), Threads
    1,000, LinkedIn 4,086, Bluesky 2,000 graphemes."""

    file: str = Field(description="path relative to the YAML file")
    alt: Localized | None = Field(
        None, description="alt text: one string, or one per language (`{de: ..., zh: ...}`)"
    )


class ArticleSpec(Strict):
    """The long-form version of a post, for platforms that publish articles (WeChat). The post's
    text becomes the article's summary; its link, the "read more" link."""

    title: Localized = Field(description="at most 32 characters on WeChat; per language or one")
    content: Localized | None = Field(
        None,
        description="the article's body: paragraphs separated by blank lines, per language or "
        "one (default: the post's text)",
    )
    cover: str | None = Field(
        None, description="cover image, relative to the YAML file (default: the post's first image)"
    )
    author: str | None = Field(None, max_length=16, description="shown under the title")


def _event_form(value: object) -> str:
    return "event:spec" if isinstance(value, dict) else "event:date"


class PostSpec(Strict):
    """One message, in one or more languages, to one or more audiences."""

    id: Ident
    category: Category = Field(description="the action plan's line of work")
    audiences: list[Ident] = Field(min_length=1, description="ids of the audiences it targets")
    when: When = Field(
        description="a local date-time (`2027-03-22 10:00`), `{event: ..., offset: ...}`, or "
        "`{rrule: ...}` / `{cron: ...}`"
    )
    text: Text = Field(
        description="per language (`de: ...`), each a string or per platform "
        "(`{default: ..., x: ...}`); a bare string is in the first audience's first language"
    )
    narrative: Ident | None = Field(None, description="a key of the campaign's `narratives`")
    variant: str | None = Field(
        None, max_length=32, description="A/B message-variant tag, e.g. `A` or `facts-first`"
    )
    link: str | None = Field(
        None, description="appended to the text, with UTM parameters when `campaign.utm` is set"
    )
    media: list[str | MediaItem] = Field(
        default_factory=list,
        description="images or videos (PNG, JPEG, GIF, WebP, MP4, MOV) inside the campaign "
        "file's folder (or the configured media folder): a path relative to it, or "
        "`{file: ..., alt: {de: ..., zh: ...}}` with a description per language; checked "
        "against each channel's platform limits",
    )
    article: ArticleSpec | None = Field(
        None, description="a long-form version (title, body, cover) for article platforms (WeChat)"
    )
    reply_to: Ident | None = Field(
        None, description="the id of the post this one answers (a thread)"
    )
    timezone: str | None = Field(None, description="overrides the audiences' time zones")
    hashtags: bool = Field(True, description="false: do not append the brand hashtags")
    channels: list[str] | None = Field(
        None, description="limit to these of the audiences' channels"
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return _check_zone(value)

    @field_validator("link")
    @classmethod
    def _link(cls, value: str | None) -> str | None:
        return None if value is None else web_url(value)

    @field_validator("text")
    @classmethod
    def _platform_keys(
        cls, value: str | dict[str, str] | dict[str, str | dict[str, str]]
    ) -> str | dict[str, str] | dict[str, str | dict[str, str]]:
        groups: list[object] = [value] if isinstance(value, dict) and "default" in value else []
        groups += list(value.values()) if isinstance(value, dict) and not groups else []
        for variants in groups:
            if isinstance(variants, dict):
                for key in variants:
                    if key != "default" and key not in PLATFORMS:
                        raise ValueError(
                            f"{key!r} is neither 'default' nor a platform ({', '.join(PLATFORMS)})"
                        )
                if "default" not in variants:
                    raise ValueError("a per-platform text needs a 'default' entry")
        return value


class CampaignFile(Strict):
    """A whole campaign file."""

    campaign: CampaignSpec
    events: dict[
        Ident,
        Annotated[
            Annotated[EventSpec, Tag("event:spec")] | Annotated[Day, Tag("event:date")],
            Discriminator(_event_form),
        ],
    ] = Field(
        default_factory=dict,
        description="named occasions: `nauryz: 2027-03-21` or "
        '`{date: ..., time: "18:00", title: ...}`',
    )
    audiences: list[AudienceSpec] = Field(min_length=1)
    posts: list[PostSpec] = Field(default_factory=list)
