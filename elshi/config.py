"""The one configuration loader: ``elshi.toml`` plus environment variables.

The file is found by ``--config``, then ``ELSHI_CONFIG``, then ``./elshi.toml``; without one, the
defaults apply (a SQLite file in the working directory, no channels). ``ELSHI_DATABASE_URL``
overrides the database. Channels are tables under ``[channels.NAME]``; any key ending in ``_env``
names an environment variable holding a secret, which is read only when a connector is opened,
never written anywhere.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.registry import PLATFORMS as REGISTRY
from elshi.notifyconfig import AlertSections, parse_alert_sections

CONFIG_NAME = "elshi.toml"
DEFAULT_DATABASE = "sqlite:///elshi.db"
PLATFORMS = tuple(REGISTRY)
"""Every platform a channel may name (the connector registry's list; "sandbox" is last)."""
DEFAULT_METRICS_SCHEDULE = ("1h", "6h", "24h", "3d", "7d", "30d")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_TOP_KEYS = {
    "database",
    "daemon",
    "metrics",
    "sandbox",
    "channels",
    "notify",
    "alerts",
    "reports",
    "web",
}
_SECTION_KEYS = {
    "database": {"url"},
    "daemon": {
        "lease",
        "max_attempts",
        "backoff",
        "backoff_max",
        "poll",
        "sweep_every",
        "collect_every",
        "workers",
        "late_after",
        "reconcile_after",
        "max_delay",
    },
    "metrics": {"schedule", "followers_every"},
    "sandbox": {"outbox"},
    "web": {
        "bind",
        "base_url",
        "secret_key_env",
        "session_lifetime",
        "timezone",
        "workers",
        "trusted_header",
        "trusted_proxies",
    },
}


_CHANNEL_KEYS = ("platform", "api_base_url", "rate", "mimic")
"""Keys every channel table may have; the rest are the connector's own options."""
_SECRET_KEY = re.compile(r"token|secret|password|passwd|api_?key|consumer_key|credential", re.I)
"""A key like these holds a secret, which must come from the environment (``KEY_env``)."""


class ConfigError(Exception):
    """A problem in the configuration, located as ``FILE:LINE: message`` where possible."""


def parse_seconds(value: object, *, where: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            number = float(match.group(1))
            return number * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    raise ConfigError(f"{where}: {value!r} is not a duration (write e.g. 30s, 5m, 6h, 3d)")


@dataclass(frozen=True)
class ChannelConfig:
    name: str
    platform: str
    api_base_url: str | None
    options: Mapping[str, Any]
    """Every non-secret key of the table (``*_env`` keys keep the variable's name, not a value)."""
    rate_per_minute: float | None = None

    @property
    def text_platform(self) -> str:
        mimic = self.options.get("mimic") if self.platform == "sandbox" else None
        return str(mimic) if mimic else self.platform

    @property
    def secret_envs(self) -> dict[str, str]:
        """Secret name → environment variable name."""
        return {
            key.removesuffix("_env"): str(value)
            for key, value in self.options.items()
            if key.endswith("_env")
        }

    def settings(self, environ: Mapping[str, str] | None = None) -> Any:
        """The connector's view of this channel, with secrets read from the environment now."""
        from connectors.base import ChannelSettings

        env = os.environ if environ is None else environ
        secrets = {name: env[var] for name, var in self.secret_envs.items() if env.get(var)}
        missing = tuple(var for var in self.secret_envs.values() if not env.get(var))
        return ChannelSettings(
            name=self.name,
            platform=self.platform,
            api_base_url=self.api_base_url,
            options=dict(self.options),
            secrets=secrets,
            missing_secrets=missing,
        )


@dataclass(frozen=True)
class DaemonConfig:
    lease_seconds: float = 300.0
    max_attempts: int = 8
    backoff_seconds: float = 30.0
    backoff_max_seconds: float = 3600.0
    poll_seconds: float = 60.0
    sweep_every_seconds: float = 60.0
    collect_every_seconds: float = 900.0
    workers: int = 8
    late_after_seconds: float = 60.0
    reconcile_after_seconds: float = 120.0
    max_delay_seconds: float = 6 * 3600.0


@dataclass(frozen=True)
class WebConfig:
    """``[web]``: the web workspace (``elshi web``). The session-signing key comes from the
    environment variable named by ``secret_key_env``, never from the file."""

    bind: str = "127.0.0.1:8080"
    base_url: str = "http://127.0.0.1:8080"
    secret_key_env: str = "ELSHI_WEB_SECRET_KEY"
    session_lifetime_seconds: float = 8 * 3600.0
    timezone: str = "UTC"
    workers: int = 2
    trusted_header: str | None = None
    trusted_proxies: tuple[str, ...] = ()


@dataclass(frozen=True)
class Config:
    path: Path | None
    base_dir: Path
    database_url: str
    channels: dict[str, ChannelConfig] = field(default_factory=dict)
    daemon: DaemonConfig = field(default_factory=DaemonConfig)
    metrics_schedule: tuple[float, ...] = ()
    followers_every_seconds: float = 86400.0
    web: WebConfig = field(default_factory=WebConfig)
    alerting: AlertSections = field(default_factory=AlertSections)
    """``[notify.NAME]``, ``[alerts]``, ``[reports.NAME]`` and ``[web] base_url``."""

    @property
    def channel_platforms(self) -> dict[str, str]:
        return {name: ch.platform for name, ch in self.channels.items()}

    @property
    def text_platforms(self) -> dict[str, str]:
        """The platform whose text rules each channel follows: a sandbox channel's ``mimic``."""
        return {name: ch.text_platform for name, ch in self.channels.items()}

    def channel(self, name: str) -> ChannelConfig:
        try:
            return self.channels[name]
        except KeyError:
            raise ConfigError(
                f"no channel {name!r} in {self.path or CONFIG_NAME}" + _suggest(name, self.channels)
            ) from None


def _suggest(word: str, choices: Any, cutoff: float = 0.6) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return f" (did you mean {close[0]!r}?)" if close else ""


def find_config(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"{path}: no such configuration file")
        return path
    env = os.environ.get("ELSHI_CONFIG")
    if env:
        path = Path(env)
        if not path.is_file():
            raise ConfigError(f"{path}: no such configuration file (from ELSHI_CONFIG)")
        return path
    local = Path.cwd() / CONFIG_NAME
    return local if local.is_file() else None


def _line_of(text: str, pattern: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if re.search(pattern, line):
            return number
    return None


def resolve_database_url(url: str, base_dir: Path) -> str:
    """A relative SQLite path is relative to the config file's folder."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
        return prefix + str((base_dir / url[len(prefix) :]).resolve())
    return url


def load_config(explicit: str | os.PathLike[str] | None = None) -> Config:
    path = find_config(explicit)
    data: dict[str, Any] = {}
    text = ""
    if path is not None:
        text = path.read_text(encoding="utf-8")
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            match = re.search(r"line (\d+), column (\d+)", str(exc))
            where = f"{path}:{match.group(1)}:{match.group(2)}" if match else str(path)
            raise ConfigError(f"{where}: {exc}") from None
    base_dir = (path.parent if path else Path.cwd()).resolve()
    label = str(path or CONFIG_NAME)

    def at(pattern: str) -> str:
        line = _line_of(text, pattern) if text else None
        return f"{label}:{line}" if line else label

    def at_in_table(table_at: str, key: str) -> str:
        """The line of ``key`` in the table whose header is at ``table_at``."""
        start = int(table_at.rsplit(":", 1)[1]) if table_at != label else 0
        lines = text.splitlines()[start:]
        for number, line in enumerate(lines, start=start + 1):
            if line.lstrip().startswith("["):
                break
            if re.match(r"^\s*" + re.escape(key) + r"\s*=", line):
                return f"{label}:{number}"
        return table_at

    for key in data:
        if key not in _TOP_KEYS:
            where = at(r"^\s*\[?" + re.escape(key))
            raise ConfigError(f"{where}: unknown section or key {key!r}" + _suggest(key, _TOP_KEYS))
    for section, allowed in _SECTION_KEYS.items():
        table = data.get(section, {})
        if not isinstance(table, dict):
            where = at(r"^\s*\[" + section)
            raise ConfigError(f"{where}: [{section}] must be a table")
        for key in table:
            if key not in allowed:
                where = at(r"^\s*" + re.escape(key) + r"\s*=")
                raise ConfigError(
                    f"{where}: unknown key {key!r} in [{section}]" + _suggest(key, allowed)
                )

    url = os.environ.get("ELSHI_DATABASE_URL") or data.get("database", {}).get(
        "url", DEFAULT_DATABASE
    )
    database_url = resolve_database_url(str(url), base_dir)
    outbox = Path(str(data.get("sandbox", {}).get("outbox", "outbox")))
    outbox = outbox if outbox.is_absolute() else base_dir / outbox

    channels: dict[str, ChannelConfig] = {}
    raw_channels = data.get("channels", {})
    if not isinstance(raw_channels, dict):
        raise ConfigError(f"{at(r'channels')}: [channels.NAME] tables expected")
    for name, table in raw_channels.items():
        where = at(rf"^\s*\[channels\.{re.escape(name)}\]")
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: [channels.{name}] must be a table")
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", name):
            raise ConfigError(
                f"{where}: channel name {name!r}: use lower-case letters, digits, '-' and '_'"
            )
        platform = table.get("platform")
        if platform not in PLATFORMS:
            raise ConfigError(
                f"{where}: channel {name!r}: platform {platform!r} is not one of "
                f"{', '.join(PLATFORMS)}" + (_suggest(str(platform), PLATFORMS) if platform else "")
            )
        for key, value in table.items():
            key_at = at_in_table(where, key)
            if key.endswith("_env"):
                if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
                    raise ConfigError(
                        f"{key_at}: {key} must name an environment variable, e.g. "
                        f'{key} = "ELSHI_{name.upper().replace("-", "_")}_TOKEN"'
                    )
            elif _SECRET_KEY.search(key):
                raise ConfigError(
                    f"{key_at}: channel {name!r} has a secret in the file ({key}); put it in an "
                    f'environment variable and write {key}_env = "VARIABLE_NAME" instead'
                )
            elif key not in _CHANNEL_KEYS and _suggest(key, _CHANNEL_KEYS, cutoff=0.8):
                raise ConfigError(
                    f"{key_at}: unknown key {key!r} in [channels.{name}]"
                    + _suggest(key, _CHANNEL_KEYS, cutoff=0.8)
                )
        mimic = table.get("mimic")
        if mimic is not None and (platform != "sandbox" or mimic not in PLATFORMS[:-1]):
            raise ConfigError(
                f"{at_in_table(where, 'mimic')}: channel {name!r}: mimic is for sandbox channels "
                f"and names a platform ({', '.join(PLATFORMS[:-1])})"
                + _suggest(str(mimic), PLATFORMS[:-1])
            )
        options = {k: v for k, v in table.items() if k not in ("platform", "api_base_url", "rate")}
        if platform == "sandbox":
            sandbox_outbox = Path(str(options.get("outbox", outbox)))
            options["outbox"] = str(
                sandbox_outbox if sandbox_outbox.is_absolute() else base_dir / sandbox_outbox
            )
        rate = table.get("rate")
        channels[name] = ChannelConfig(
            name=name,
            platform=platform,
            api_base_url=table.get("api_base_url"),
            options=options,
            rate_per_minute=None if rate is None else _parse_rate(rate, where=where),
        )

    daemon_raw = data.get("daemon", {})
    defaults = DaemonConfig()
    daemon = DaemonConfig(
        lease_seconds=parse_seconds(daemon_raw.get("lease", defaults.lease_seconds), where=label),
        max_attempts=int(daemon_raw.get("max_attempts", defaults.max_attempts)),
        backoff_seconds=parse_seconds(
            daemon_raw.get("backoff", defaults.backoff_seconds), where=label
        ),
        backoff_max_seconds=parse_seconds(
            daemon_raw.get("backoff_max", defaults.backoff_max_seconds), where=label
        ),
        poll_seconds=parse_seconds(daemon_raw.get("poll", defaults.poll_seconds), where=label),
        sweep_every_seconds=parse_seconds(
            daemon_raw.get("sweep_every", defaults.sweep_every_seconds), where=label
        ),
        collect_every_seconds=parse_seconds(
            daemon_raw.get("collect_every", defaults.collect_every_seconds), where=label
        ),
        workers=int(daemon_raw.get("workers", defaults.workers)),
        late_after_seconds=parse_seconds(
            daemon_raw.get("late_after", defaults.late_after_seconds), where=label
        ),
        reconcile_after_seconds=parse_seconds(
            daemon_raw.get("reconcile_after", defaults.reconcile_after_seconds), where=label
        ),
        max_delay_seconds=parse_seconds(
            daemon_raw.get("max_delay", defaults.max_delay_seconds), where=label
        ),
    )
    metrics_raw = data.get("metrics", {})
    schedule = tuple(
        parse_seconds(v, where=f"{label}: [metrics] schedule")
        for v in metrics_raw.get("schedule", DEFAULT_METRICS_SCHEDULE)
    )
    try:
        alerting = parse_alert_sections(
            data, at, lambda value, where: parse_seconds(value, where=where)
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return Config(
        path=path,
        base_dir=base_dir,
        database_url=database_url,
        channels=channels,
        daemon=daemon,
        metrics_schedule=tuple(sorted(schedule)),
        followers_every_seconds=parse_seconds(
            metrics_raw.get("followers_every", "1d"), where=label
        ),
        alerting=alerting,
        web=_web_config(data.get("web", {}), at=at),
    )


def _web_config(raw: Mapping[str, Any], *, at: Any) -> WebConfig:
    import ipaddress
    import zoneinfo

    defaults = WebConfig()

    def where(key: str) -> str:
        return str(at(r"^\s*" + re.escape(key) + r"\s*="))

    def text(key: str, default: str) -> str:
        value = raw.get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where(key)}: [web] {key} must be a non-empty string")
        return value.strip()

    bind = text("bind", defaults.bind)
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(
            f"{where('bind')}: [web] bind {bind!r}: write HOST:PORT, e.g. 127.0.0.1:8080"
        )
    base_url = text("base_url", defaults.base_url).rstrip("/")
    if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", base_url):
        raise ConfigError(
            f"{where('base_url')}: [web] base_url {base_url!r}: write the address people open, "
            "e.g. https://elshi.embassy.example"
        )
    secret_env = text("secret_key_env", defaults.secret_key_env)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", secret_env):
        raise ConfigError(
            f"{where('secret_key_env')}: [web] secret_key_env must name an environment variable"
        )
    lifetime = parse_seconds(raw.get("session_lifetime", "8h"), where=where("session_lifetime"))
    if not 60 <= lifetime <= 30 * 86400:
        raise ConfigError(
            f"{where('session_lifetime')}: [web] session_lifetime must be between 1m and 30d"
        )
    zone = text("timezone", defaults.timezone)
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{where('timezone')}: [web] timezone {zone!r} is not an IANA time zone "
            "(e.g. Europe/Berlin)"
        ) from None
    workers = raw.get("workers", defaults.workers)
    if not isinstance(workers, int) or isinstance(workers, bool) or not 1 <= workers <= 64:
        raise ConfigError(f"{where('workers')}: [web] workers must be a whole number from 1 to 64")
    header = raw.get("trusted_header")
    if header is not None and (
        not isinstance(header, str) or not re.fullmatch(r"[A-Za-z0-9-]+", header)
    ):
        raise ConfigError(
            f"{where('trusted_header')}: [web] trusted_header must be a header name, "
            "e.g. X-Remote-User"
        )
    proxies = raw.get("trusted_proxies", [])
    if not isinstance(proxies, list) or not all(isinstance(p, str) for p in proxies):
        raise ConfigError(
            f"{where('trusted_proxies')}: [web] trusted_proxies must be a list of addresses, "
            'e.g. ["127.0.0.1", "10.0.0.0/24"]'
        )
    for proxy in proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise ConfigError(
                f"{where('trusted_proxies')}: [web] trusted_proxies: {proxy!r} is not an "
                "address or network"
            ) from None
    if header and not proxies:
        raise ConfigError(
            f"{where('trusted_header')}: [web] trusted_header needs trusted_proxies (the "
            "addresses of the reverse proxy that sets it); otherwise anyone could send it"
        )
    return WebConfig(
        bind=bind,
        base_url=base_url,
        secret_key_env=secret_env,
        session_lifetime_seconds=lifetime,
        timezone=zone,
        workers=workers,
        trusted_header=header,
        trusted_proxies=tuple(proxies),
    )


def _parse_rate(value: object, *, where: str) -> float:
    """``rate = "30/h"``, ``"1/10s"``, ``"2/m"`` or a number of posts per minute."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*/\s*(\d*)\s*(s|m|h|d)\s*", str(value))
    if not match:
        raise ConfigError(f'{where}: rate {value!r}: write e.g. "30/h", "1/10s" or "2/m"')
    count = float(match.group(1))
    per = float(match.group(2) or 1) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(3)]
    return count * 60.0 / per
