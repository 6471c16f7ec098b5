"""The alert sections of ``elshi.toml``: ``[notify.NAME]`` (where alerts go), ``[alerts]`` (when
a condition becomes an alert), ``[reports.NAME]`` (report e-mails on a schedule) and ``[web]
base_url`` (links in alerts). Parsed by `elshi.config.load_config`, checked as strictly as the
rest of the file; secrets only as ``*_env`` names of environment variables."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from notify.base import KINDS

_COMMON = {"kind", "events", "campaigns", "countries", "digest", "timeout"}
_KIND_KEYS = {
    "email": {
        "smtp_host",
        "smtp_port",
        "security",
        "ca_file",
        "username",
        "username_env",
        "password_env",
        "from",
        "to",
    },
    "telegram": {"token_env", "chat_id", "api_base_url"},
    "webhook": {"url", "url_env", "secret_env"},
}
_REPORT_KEYS = {
    "schedule",
    "timezone",
    "via",
    "to",
    "campaign",
    "audience",
    "period",
    "formats",
    "subject",
}
REPORT_FORMATS = ("html", "xlsx", "json", "md")
_ALERT_KEYS = {
    "heartbeat_timeout",
    "approval_warning",
    "token_warning",
    "collection_failing_after",
    "poll",
}
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_ENV = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DAYS = {
    "mon": "mon",
    "tue": "tue",
    "wed": "wed",
    "thu": "thu",
    "fri": "fri",
    "sat": "sat",
    "sun": "sun",
}
_SHORT = re.compile(r"^\s*(?P<days>[a-z,\-]+)\s+(?P<h>\d{1,2}):(?P<m>\d{2})\s*$", re.I)


@dataclass(frozen=True)
class NotifyConfig:
    name: str
    kind: str
    events: tuple[str, ...] = ()
    campaigns: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    digest_seconds: float = 60.0
    options: Mapping[str, Any] = field(default_factory=dict)
    """The kind's own keys (``*_env`` keys keep the variable's name, never a value)."""

    @property
    def timeout_seconds(self) -> float:
        return float(self.options.get("timeout", 10 if self.kind == "webhook" else 30))

    @property
    def secret_envs(self) -> dict[str, str]:
        return {
            k.removesuffix("_env"): str(v) for k, v in self.options.items() if k.endswith("_env")
        }

    def secrets(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        env = os.environ if environ is None else environ
        return {name: env[var] for name, var in self.secret_envs.items() if env.get(var)}

    def missing_secrets(self, environ: Mapping[str, str] | None = None) -> list[str]:
        env = os.environ if environ is None else environ
        return [var for var in self.secret_envs.values() if not env.get(var)]


@dataclass(frozen=True)
class AlertsConfig:
    heartbeat_timeout_seconds: float = 300.0
    approval_warning_seconds: float = 24 * 3600.0
    token_warning_seconds: float = 14 * 86400.0
    collection_failing_seconds: float = 86400.0
    poll_seconds: float = 10.0


@dataclass(frozen=True)
class ReportMailConfig:
    name: str
    cron: str
    schedule: str
    """As written (``mon 08:00`` or a cron expression)."""
    timezone: str
    via: str
    to: tuple[str, ...] = ()
    campaign: str | None = None
    audience: str | None = None
    period_seconds: float | None = None
    formats: tuple[str, ...] = ("html", "xlsx")
    subject: str | None = None


@dataclass(frozen=True)
class AlertSections:
    notifiers: dict[str, NotifyConfig] = field(default_factory=dict)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    reports: dict[str, ReportMailConfig] = field(default_factory=dict)
    web_base_url: str | None = None


Locate = Callable[[str], str]
"""A pattern (regular expression of a line) → ``FILE:LINE``."""
Seconds = Callable[[object, str], float]


class _Problem(Exception):
    pass


def to_cron(schedule: str) -> str:
    """``mon 08:00``, ``mon,thu 08:00``, ``weekdays 07:30``, ``daily 18:00`` or a five-field
    cron expression → a cron expression; ValueError saying what to write."""
    from croniter import croniter

    if len(schedule.split()) == 5:
        if not croniter.is_valid(schedule):
            raise ValueError(f"schedule {schedule!r} is not a valid cron expression")
        return schedule
    match = _SHORT.match(schedule)
    if not match:
        raise ValueError(
            f'schedule {schedule!r}: write e.g. "mon 08:00", "mon,thu 09:30", "weekdays 07:30", '
            '"daily 18:00" or a cron expression ("0 8 * * mon")'
        )
    hour, minute = int(match["h"]), int(match["m"])
    if hour > 23 or minute > 59:
        raise ValueError(f"schedule {schedule!r}: {hour:02d}:{minute:02d} is not a time of day")
    days_text = match["days"].lower()
    if days_text == "daily":
        days = "*"
    elif days_text == "weekdays":
        days = "mon-fri"
    else:
        parts = []
        for word in days_text.split(","):
            day = _DAYS.get(word.strip()[:3])
            if day is None or not word.strip().startswith(day) or len(word.strip()) < 3:
                raise ValueError(
                    f"schedule {schedule!r}: {word!r} is not a day (mon, tue, ... sun, "
                    "weekdays, daily)"
                )
            parts.append(day)
        days = ",".join(parts)
    return f"{minute} {hour} * * {days}"


def parse_alert_sections(data: Mapping[str, Any], at: Locate, seconds: Seconds) -> AlertSections:
    """Raises ValueError with ``FILE:LINE: message``."""
    notifiers = {
        name: _notifier(name, table, at, seconds)
        for name, table in _tables(data, "notify", at).items()
    }
    raw_alerts = data.get("alerts", {})
    if not isinstance(raw_alerts, dict):
        raise ValueError(at(r"^\s*\[alerts") + ": [alerts] must be a table")
    for key in raw_alerts:
        if key not in _ALERT_KEYS:
            key_at = at(r"^\s*" + re.escape(key) + r"\s*=")
            raise ValueError(
                f"{key_at}: unknown key {key!r} in [alerts]; "
                f"known: {', '.join(sorted(_ALERT_KEYS))}"
            )
    d = AlertsConfig()
    where = at(r"^\s*\[alerts\]")
    alerts = AlertsConfig(
        heartbeat_timeout_seconds=seconds(
            raw_alerts.get("heartbeat_timeout", d.heartbeat_timeout_seconds), where
        ),
        approval_warning_seconds=seconds(
            raw_alerts.get("approval_warning", d.approval_warning_seconds), where
        ),
        token_warning_seconds=seconds(
            raw_alerts.get("token_warning", d.token_warning_seconds), where
        ),
        collection_failing_seconds=seconds(
            raw_alerts.get("collection_failing_after", d.collection_failing_seconds), where
        ),
        poll_seconds=max(1.0, seconds(raw_alerts.get("poll", d.poll_seconds), where)),
    )
    emails = [n.name for n in notifiers.values() if n.kind == "email"]
    reports = {
        name: _report(name, table, at, seconds, notifiers, emails)
        for name, table in _tables(data, "reports", at).items()
    }
    # [web] is checked with the web workspace's settings; alerts link to it only when the file
    # names its address (the default is the local development address).
    web = data.get("web", {})
    base_url = web.get("base_url") if isinstance(web, dict) else None
    base_url = base_url.strip() if isinstance(base_url, str) and base_url.strip() else None
    return AlertSections(notifiers, alerts, reports, base_url.rstrip("/") if base_url else None)


def _tables(data: Mapping[str, Any], section: str, at: Locate) -> dict[str, dict[str, Any]]:
    raw = data.get(section, {})
    if not isinstance(raw, dict):
        raise ValueError(at(r"^\s*" + section) + f": [{section}.NAME] tables expected")
    out = {}
    for name, table in raw.items():
        where = at(rf"^\s*\[{section}\.{re.escape(name)}\]")
        if not isinstance(table, dict):
            raise ValueError(f"{where}: [{section}.{name}] must be a table")
        if not _NAME.fullmatch(name):
            raise ValueError(f"{where}: name {name!r}: use lower-case letters, digits, '-' and '_'")
        out[name] = table
    return out


def _words(value: object, where: str, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f'{where}: {key} must be a list of words, e.g. {key} = ["a", "b"]')
    return tuple(value)


def _notifier(name: str, table: dict[str, Any], at: Locate, seconds: Seconds) -> NotifyConfig:
    where = at(rf"^\s*\[notify\.{re.escape(name)}\]")
    kind = table.get("kind")
    if kind not in KINDS:
        raise ValueError(
            f"{where}: [notify.{name}] kind must be one of {', '.join(KINDS)} (got {kind!r})"
        )
    allowed = _COMMON | _KIND_KEYS[kind]
    for key, value in table.items():
        if key not in allowed:
            hint = (
                f'; put the secret in an environment variable and write {key}_env = "VARIABLE"'
                if re.search(r"pass|secret|token", key) and not key.endswith("_env")
                else f"; known for kind {kind!r}: {', '.join(sorted(allowed))}"
            )
            raise ValueError(f"{where}: unknown key {key!r} in [notify.{name}]{hint}")
        if key.endswith("_env") and (not isinstance(value, str) or not _ENV.fullmatch(value)):
            raise ValueError(
                f"{where}: {key} in [notify.{name}] must name an environment variable, e.g. "
                f'{key} = "ELSHI_{name.upper().replace("-", "_")}_{key[:-4].upper()}"'
            )
    from campaigns.events import EVENT_KINDS

    events = _words(table.get("events", []), where, "events")
    unknown = [e for e in events if e not in EVENT_KINDS]
    if unknown:
        raise ValueError(
            f"{where}: [notify.{name}] events: unknown {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(EVENT_KINDS)}"
        )
    countries = _words(table.get("countries", []), where, "countries")
    if any(not re.fullmatch(r"[A-Z]{2}", c) for c in countries):
        raise ValueError(f'{where}: countries are two-letter codes, e.g. countries = ["DE"]')
    need = {
        "email": ("smtp_host", "from", "to"),
        "telegram": ("token_env", "chat_id"),
        "webhook": ("secret_env",),
    }[kind]
    missing = [k for k in need if k not in table]
    if kind == "webhook" and "url" not in table and "url_env" not in table:
        missing.append("url")
    if missing:
        raise ValueError(f"{where}: [notify.{name}] (kind {kind}) needs {', '.join(missing)}")
    if kind == "email":
        _words(table["to"], where, "to")
        security = table.get("security", "starttls")
        if security not in ("starttls", "tls", "none"):
            raise ValueError(
                f'{where}: security must be "starttls", "tls" or "none" (got {security!r})'
            )
    options = {
        k: v
        for k, v in table.items()
        if k not in ("kind", "events", "campaigns", "countries", "digest")
    }
    if "timeout" in options:
        options["timeout"] = seconds(options["timeout"], where)
    return NotifyConfig(
        name=name,
        kind=kind,
        events=events,
        campaigns=_words(table.get("campaigns", []), where, "campaigns"),
        countries=countries,
        digest_seconds=seconds(table.get("digest", "1m"), where),
        options=options,
    )


def _report(
    name: str,
    table: dict[str, Any],
    at: Locate,
    seconds: Seconds,
    notifiers: Mapping[str, NotifyConfig],
    emails: list[str],
) -> ReportMailConfig:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    where = at(rf"^\s*\[reports\.{re.escape(name)}\]")
    for key in table:
        if key not in _REPORT_KEYS:
            raise ValueError(
                f"{where}: unknown key {key!r} in [reports.{name}]; known: "
                f"{', '.join(sorted(_REPORT_KEYS))}"
            )
    schedule = table.get("schedule")
    if not isinstance(schedule, str):
        raise ValueError(f'{where}: [reports.{name}] needs schedule, e.g. schedule = "mon 08:00"')
    try:
        cron = to_cron(schedule)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    zone = table.get("timezone", "UTC")
    try:
        ZoneInfo(str(zone))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f'{where}: timezone {zone!r} is not an IANA time zone (e.g. "Europe/Berlin")'
        ) from None
    via = table.get("via")
    if via is None:
        if len(emails) != 1:
            raise ValueError(
                f'{where}: [reports.{name}] needs via = "NAME" of a [notify.NAME] table with '
                'kind = "email" (its mail server sends the report)'
                + (f"; there are {', '.join(emails)}" if emails else "; there is none yet")
            )
        via = emails[0]
    if via not in notifiers or notifiers[via].kind != "email":
        raise ValueError(
            f'{where}: via = {via!r} must name a [notify.NAME] table with kind = "email"'
        )
    formats = _words(table.get("formats", ["html", "xlsx"]), where, "formats")
    bad = [f for f in formats if f not in REPORT_FORMATS]
    if bad:
        raise ValueError(
            f"{where}: formats: {', '.join(bad)} not available; choose from "
            f"{', '.join(REPORT_FORMATS)}"
        )
    period = table.get("period")
    return ReportMailConfig(
        name=name,
        cron=cron,
        schedule=schedule,
        timezone=str(zone),
        via=str(via),
        to=_words(table["to"], where, "to") if "to" in table else (),
        campaign=str(table["campaign"]) if "campaign" in table else None,
        audience=str(table["audience"]) if "audience" in table else None,
        period_seconds=seconds(period, where) if period is not None else None,
        formats=formats,
        subject=str(table["subject"]) if "subject" in table else None,
    )
