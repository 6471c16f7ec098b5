"""The one configuration loader: ``elshi.toml`` plus environment variables.

The file is found by ``--config``, then ``ELSHI_CONFIG``, then ``elshi.toml`` in the working
directory or the nearest parent folder that has one (the workspace). Without one, the defaults
apply and commands that need the database refuse (`Config.require`): a new user gets a hint to
run ``elshi init`` instead of an empty database created by accident. ``ELSHI_DATABASE_URL``
overrides the database.

Every setting is declared in `elshi.settings` (kind, default, range) and every channel option
in ``connectors.options``; the whole file is checked when it is loaded, and each problem is
reported as ``FILE:LINE: message`` at the line of the key. Secrets never come from the file:
a channel names the environment variable that holds each one (``token_env = "VARIABLE"``),
read only when a connector is opened, never written anywhere.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from elshi import settings as s
from elshi.settings import DaemonConfig, DatabaseConfig, MetricsConfig, SandboxConfig, WebConfig

CONFIG_NAME = "elshi.toml"
DEFAULT_DATABASE = "sqlite:///elshi.db"
MAX_CONFIG_BYTES = 1024 * 1024
M = TypeVar("M")

_CHANNEL_KEYS = ("platform", "api_base_url", "rate")
"""Keys every channel table may have; the rest are the platform's options."""
_SECRET_LOOKING = re.compile(
    r"token|secret|passw|passphrase|^pass$|pwd|pin$|api[-_]?key|^key$|[-_]key$|credential|"
    r"bearer|auth|cookie|session|jwt|private|signature|appsecret|access[-_]?key|salt",
    re.I,
)
"""A key like these holds a secret, which must come from the environment (``KEY_env``)."""
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,127}")
"""An environment variable's name as people write them (capitals): anything else in a
``*_env`` key is most likely the secret itself, pasted there, and is never repeated."""


class ConfigError(Exception):
    """The root of configuration errors: one or more problems, each ``FILE:LINE: message``.

    Subclasses: `NoConfigError` (a command needs a workspace and there is none)."""

    def __init__(self, problems: str | Iterable[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class NoConfigError(ConfigError):
    """No elshi.toml was found where a command needs one."""


def platforms() -> tuple[str, ...]:
    """The platforms a channel may name (the one list: ``connectors.options``)."""
    from connectors.options import PLATFORMS

    return tuple(PLATFORMS)


@dataclass(frozen=True)
class ChannelConfig:
    name: str
    platform: str
    api_base_url: str | None
    options: Mapping[str, Any]
    """Every option of the table, checked and typed (``*_env`` keys keep the variable's name,
    never a value)."""
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
class Config:
    path: Path | None
    base_dir: Path
    sections: Mapping[type, object] = field(default_factory=dict)
    named_sections: Mapping[type, Mapping[str, object]] = field(default_factory=dict)
    channels: dict[str, ChannelConfig] = field(default_factory=dict)
    alert_links: str | None = None
    """``[web] base_url`` when the file sets it: alerts link to the web workspace's pages."""

    def section(self, model: type[M]) -> M:
        """The values of one section (``config.section(DaemonConfig).poll_seconds``)."""
        value = self.sections.get(model)
        if value is None:
            s.section_for(model)  # raises for a model that is not declared
            value = model()
        assert isinstance(value, model)
        return value

    def named(self, model: type[M]) -> dict[str, M]:
        """The ``[section.NAME]`` tables of a named section, by name."""
        found = self.named_sections.get(model, {})
        return {name: value for name, value in found.items() if isinstance(value, model)}

    def require(self, what: str = "this command") -> Config:
        """This configuration, or `NoConfigError` when there is no file and no
        ``ELSHI_DATABASE_URL``: a command that needs the database must not create a new
        one by accident."""
        if self.path is None and not os.environ.get("ELSHI_DATABASE_URL"):
            raise NoConfigError(
                f"no {CONFIG_NAME} in {Path.cwd()} or any folder above it, so {what} does not "
                "know which database to use. Run `elshi init` to make this folder a workspace, "
                "or point --config (or ELSHI_CONFIG) at your elshi.toml."
            )
        return self

    @property
    def database_url(self) -> str:
        return self.section(DatabaseConfig).url

    @property
    def daemon(self) -> DaemonConfig:
        return self.section(DaemonConfig)

    @property
    def metrics_schedule(self) -> tuple[float, ...]:
        return self.section(MetricsConfig).schedule

    @property
    def followers_every_seconds(self) -> float:
        return self.section(MetricsConfig).followers_every_seconds

    @property
    def web(self) -> WebConfig:
        return self.section(WebConfig)

    @property
    def channel_platforms(self) -> dict[str, str]:
        return {name: ch.platform for name, ch in self.channels.items()}

    @property
    def text_platforms(self) -> dict[str, str]:
        """The platform whose text rules each channel follows: a sandbox channel's ``mimic``."""
        return {name: ch.text_platform for name, ch in self.channels.items()}

    @property
    def channel_options(self) -> dict[str, dict[str, Any]]:
        """Each channel's options (no secrets), for the text rules that depend on the account
        (Weibo's safe domain)."""
        return {name: dict(ch.options) for name, ch in self.channels.items()}

    def channel(self, name: str) -> ChannelConfig:
        try:
            return self.channels[name]
        except KeyError:
            raise ConfigError(
                f"no channel {name!r} in {self.path or CONFIG_NAME}" + _suggest(name, self.channels)
            ) from None


def _suggest(word: str, choices: Iterable[str], cutoff: float = 0.6) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return f" (did you mean {close[0]!r}?)" if close else ""


def find_config(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """``--config``, then ``ELSHI_CONFIG``, then ``elshi.toml`` in the working directory or
    the nearest parent folder that has one."""
    for value, origin in ((explicit, ""), (os.environ.get("ELSHI_CONFIG"), " (from ELSHI_CONFIG)")):
        if value:
            from campaigns.inputfiles import unusable

            path = Path(value)
            reason = unusable(path)
            if reason == "no such file":
                raise ConfigError(f"{path}: no such configuration file{origin}")
            if reason is not None:
                raise ConfigError(f"{path}: cannot read the configuration ({reason}){origin}")
            return path  # `_read` refuses a folder, a pipe or a device
    here = Path.cwd()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_NAME
        if candidate.exists():  # a folder or a pipe named elshi.toml is reported, not skipped
            return candidate
    return None


def _read(path: Path) -> str:
    from campaigns.inputfiles import NotARegularFile, TooLarge, read_bounded

    try:
        data = read_bounded(path, MAX_CONFIG_BYTES)
    except NotARegularFile as exc:
        raise ConfigError(f"{path}: cannot read the configuration: it {exc}") from None
    except TooLarge as exc:
        raise ConfigError(f"{path}: {exc} for a configuration file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration ({exc.strerror})") from None
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise ConfigError(f"{path}:1:1: the file is saved as UTF-16; save it as UTF-8")
    try:
        return data.decode("utf-8-sig")  # Windows editors start UTF-8 with a BOM
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            f"{path}:{line}:{column}: byte 0x{data[exc.start]:02x} is not UTF-8; save the file "
            "as UTF-8"
        ) from None


class _Located:
    """Collects problems, each at the line of the key it is about."""

    def __init__(self, label: str, text: str) -> None:
        from elshi.tomllines import key_lines

        self.label = label
        self.lines = key_lines(text) if text else {}
        self.found: list[tuple[int, str]] = []

    def add(self, path: tuple[str, ...], message: str) -> None:
        from elshi.tomllines import line_of

        line = line_of(self.lines, path)
        where = f"{self.label}:{line}" if line else self.label
        self.found.append((line or 0, f"{where}: {message}"))

    @property
    def problems(self) -> list[str]:
        """Every problem, in the order of the file."""
        return [message for _, message in sorted(self.found, key=lambda item: item[0])]


def _shown(raw: object) -> str:
    text = tomllib_repr(raw)
    return text if len(text) <= 60 else text[:57] + "..."


def tomllib_repr(raw: object) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, str):
        return '"' + raw.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(raw, list):
        return "[" + ", ".join(tomllib_repr(v) for v in raw) + "]"
    if isinstance(raw, dict):
        return "{...}"
    return str(raw)


def _parse_value(
    found: _Located,
    path: tuple[str, ...],
    label: str,
    kind: s.Kind[Any],
    raw: object,
    ctx: s.Context,
) -> Any:
    if isinstance(raw, str) and re.search("[\ud800-\udfff]", raw):
        # An environment variable set in another encoding (the file is read as strict UTF-8).
        found.add(path, f"{label}: not valid UTF-8 text (check the encoding it was set in)")
        return None
    try:
        return kind.parse(raw, ctx)
    except s.Invalid as exc:
        shown = f" = {_shown(raw)}" if exc.echo else ""
        found.add(path, f"{label}{shown}: {exc}")
        return None


def _load_section(
    found: _Located,
    section: s.Section,
    table: object,
    path: tuple[str, ...],
    ctx: s.Context,
    environ: Mapping[str, str],
) -> object | None:
    title = "[" + ".".join(path) + "]"
    if not isinstance(table, dict):
        found.add(path, f"{title} must be a table")
        return None
    declared = list(s.declared(section.model))
    keys = {setting.key for _, setting in declared}
    for key in table:
        if key not in keys:
            found.add((*path, key), f"unknown key {key!r} in {title}" + _suggest(key, keys))
    values: dict[str, Any] = {}
    ok = True
    before = len(found.found)
    for item, setting in declared:
        override = environ.get(setting.env) if setting.env else None
        if override:
            where: tuple[str, ...] = (*path, setting.key)
            value = _parse_value(
                _Env(found, setting.env or ""),
                where,
                setting.env or "",
                setting.kind,
                override,
                replace(ctx, from_environment=True),
            )
        elif setting.key in table:
            value = _parse_value(
                found,
                (*path, setting.key),
                f"{title} {setting.key}",
                setting.kind,
                table[setting.key],
                ctx,
            )
        elif setting.default is None:
            value = None
        else:
            value = _parse_value(
                found,
                path,
                f"{title} {setting.key} (default {_shown(setting.default)})",
                setting.kind,
                setting.default,
                ctx,
            )
        if value is None and setting.default is not None:
            ok = False
        values[item.name] = value
    if not ok:
        return None
    model: object = section.model(**values)
    if len(found.found) > before:
        # A value was refused: the rules between values would only repeat it ("url is
        # required" after a refused url), so they wait for the next run.
        return None
    for key, message in getattr(model, "problems", lambda: ())():
        found.add((*path, key), f"{title} {key}: {message}")
    return model


class _Env(_Located):
    """Problems in a value that came from an environment variable, not from the file."""

    def __init__(self, parent: _Located, variable: str) -> None:
        self.parent = parent
        self.variable = variable

    def add(self, path: tuple[str, ...], message: str) -> None:
        self.parent.found.append((0, f"{self.variable} (environment): {message}"))


def _too_deep(text: str, limit: int = 50) -> int:
    """The line where brackets and braces first nest past ``limit`` (strings are not told
    apart: this only locates a file tomllib could not parse)."""
    depth = 0
    for number, line in enumerate(text.splitlines(), start=1):
        for char in line:
            depth += 1 if char in "[{" else -1 if char in "]}" else 0
            if depth > limit:
                return number
    return 1


def load_config(
    explicit: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None
) -> Config:
    """Find, read and check the configuration; `ConfigError` lists every problem."""
    env = os.environ if environ is None else environ
    path = find_config(explicit)
    data: dict[str, Any] = {}
    text = ""
    if path is not None:
        text = _read(path)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            match = re.search(r"line (\d+), column (\d+)", str(exc))
            where = f"{path}:{match.group(1)}:{match.group(2)}" if match else str(path)
            message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
            raise ConfigError(f"{where}: {message} (TOML syntax)") from None
        except RecursionError:  # tomllib recurses once per level of nesting
            line = _too_deep(text)
            raise ConfigError(
                f"{path}:{line}: arrays or inline tables nested too deeply (a configuration "
                "needs a few levels)"
            ) from None
    base_dir = (path.parent if path else Path.cwd()).resolve()
    found = _Located(str(path or CONFIG_NAME), text)
    ctx = s.Context(base_dir)

    known = [sec.name for sec in s.SECTIONS] + [s.CHANNEL_SECTION]
    for key in data:
        if key not in known:
            found.add((key,), f"unknown section or key {key!r}" + _suggest(key, known))

    sections: dict[type, object] = {}
    named: dict[type, dict[str, object]] = {}
    for section in s.SECTIONS:
        table = data.get(section.name, {})
        if not section.named:
            value = _load_section(found, section, table, (section.name,), ctx, env)
            if value is not None:
                sections[section.model] = value
            continue
        if not isinstance(table, dict):
            found.add((section.name,), f"[{section.name}.NAME] tables expected")
            continue
        named[section.model] = {}
        for name, sub in table.items():
            value = _load_section(found, section, sub, (section.name, name), ctx, env)
            if value is not None:
                named[section.model][name] = value

    sandbox = sections.get(SandboxConfig)
    outbox = sandbox.outbox if isinstance(sandbox, SandboxConfig) else base_dir / "outbox"
    channels = _load_channels(found, data.get(s.CHANNEL_SECTION, {}), ctx, outbox)
    _check_report_senders(found, named)
    if found.problems:
        raise ConfigError(found.problems)
    return Config(
        path=path,
        base_dir=base_dir,
        sections=sections,
        named_sections=named,
        channels=channels,
        alert_links=_alert_links(sections, data),
    )


def _check_report_senders(found: _Located, named: dict[type, dict[str, object]]) -> None:
    """Each ``[reports.NAME]`` is sent through an e-mail ``[notify.NAME]`` (``via``, or the
    only one): a cross-section rule, so it is checked here and ``via`` filled in."""
    from dataclasses import replace

    emails = [
        name
        for name, table in named.get(s.NotifyConfig, {}).items()
        if isinstance(table, s.NotifyConfig) and table.kind == "email"
    ]
    reports = named.get(s.ReportMailConfig, {})
    for name, report in list(reports.items()):
        assert isinstance(report, s.ReportMailConfig)
        if report.via is None and len(emails) == 1:
            reports[name] = replace(report, via=emails[0])
        elif report.via is None:
            there = f"there are {', '.join(emails)}" if emails else "there is none yet"
            found.add(
                ("reports", name),
                f'[reports.{name}] needs via = "NAME" of a [notify.NAME] table with kind = '
                f'"email" (its mail server sends the report); {there}',
            )
        elif report.via not in emails:
            found.add(
                ("reports", name, "via"),
                f"[reports.{name}] via = {report.via!r} must name a [notify.NAME] table with "
                'kind = "email"',
            )


def _alert_links(sections: Mapping[type, object], data: Mapping[str, Any]) -> str | None:
    web = data.get("web")
    config = sections.get(s.WebConfig)
    if isinstance(web, dict) and "base_url" in web and isinstance(config, s.WebConfig):
        return config.base_url.rstrip("/")
    return None


def _load_channels(
    found: _Located, raw: object, ctx: s.Context, outbox: Path
) -> dict[str, ChannelConfig]:
    from connectors.options import PLATFORMS

    channels: dict[str, ChannelConfig] = {}
    if not isinstance(raw, dict):
        found.add(("channels",), "[channels.NAME] tables expected")
        return channels
    for name, table in raw.items():
        path = ("channels", name)
        title = f"[channels.{name}]"
        if not isinstance(table, dict):
            found.add(path, f"{title} must be a table")
            continue
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", name):
            found.add(path, f"channel name {name!r}: use lower-case letters, digits, '-' and '_'")
            continue
        platform_name = table.get("platform")
        platform = PLATFORMS.get(platform_name) if isinstance(platform_name, str) else None
        if platform is None:
            hint = _suggest(str(platform_name), PLATFORMS) if platform_name else ""
            said = f"platform {_shown(platform_name)}" if platform_name else "no platform"
            found.add(
                (*path, "platform") if platform_name else path,
                f"channel {name!r}: {said}; write platform = one of {', '.join(PLATFORMS)}{hint}",
            )
            continue
        channel = _load_channel(found, name, table, platform, ctx, outbox)
        if channel is not None:
            channels[name] = channel
    return channels


def _load_channel(
    found: _Located,
    name: str,
    table: dict[str, Any],
    platform: Any,
    ctx: s.Context,
    outbox: Path,
) -> ChannelConfig | None:
    path = ("channels", name)
    title = f"[channels.{name}]"
    before = len(found.found)
    names = [o.name for o in platform.options]
    secrets = {o.name for o in platform.options if o.secret}
    allowed = [*_CHANNEL_KEYS, *(n + "_env" if n in secrets else n for n in names)]
    options: dict[str, Any] = {}
    for key, value in table.items():
        where = (*path, key)
        if key in _CHANNEL_KEYS:
            continue
        if key.endswith("_env"):
            secret = key.removesuffix("_env")
            if secret not in secrets:
                found.add(
                    where,
                    f"unknown key {key!r} in {title}: a {platform.name} channel reads "
                    + (
                        "secrets from " + ", ".join(sorted(n + "_env" for n in secrets))
                        if secrets
                        else "no secrets"
                    )
                    + _suggest(key, [n + "_env" for n in secrets]),
                )
            elif not isinstance(value, str) or not _ENV_NAME.fullmatch(value):
                found.add(
                    where,
                    f"{title} {key} must name an environment variable in capitals, e.g. "
                    f'{key} = "ELSHI_{name.upper().replace("-", "_")}_{secret.upper()}", and '
                    "the secret goes into that variable (the value written here is not "
                    "repeated: it may be the secret itself)",
                )
            else:
                options[key] = value
            continue
        if key in secrets or (key not in names and _SECRET_LOOKING.search(key)):
            # Never repeat the value: it is a secret written where it must not be.
            found.add(
                where,
                f"channel {name!r} has a secret in the file ({key}); put it in an environment "
                f'variable and write {key}_env = "VARIABLE_NAME" instead'
                + ("" if key in secrets else _secrets_read(platform)),
            )
            continue
        option = platform.option(key)
        if option is None:
            found.add(
                where,
                f"unknown key {key!r} in {title}"
                + _suggest(key, allowed, cutoff=0.7)
                + f"; a {platform.name} channel takes: {', '.join(allowed)}",
            )
            continue
        value = _parse_value(found, where, f"{title} {key}", s.option_kind(option), value, ctx)
        if value is not None:
            options[key] = str(value) if isinstance(value, Path) else value
    for option in platform.options:
        present = f"{option.name}_env" in table if option.secret else option.name in table
        if option.required and not present:
            key = f"{option.name}_env" if option.secret else option.name
            found.add(path, f"{title} needs {key} ({option.doc})")
    if platform.credentials and not any(
        all(f"{n}_env" in table for n in group) for group in platform.credentials
    ):
        choices = " or ".join("+".join(f"{n}_env" for n in group) for group in platform.credentials)
        found.add(path, f"{title} needs credentials: {choices}")
    api_base_url = None
    if "api_base_url" in table:
        api_base_url = _parse_value(
            found,
            (*path, "api_base_url"),
            f"{title} api_base_url",
            s.HttpUrl(),
            table["api_base_url"],
            ctx,
        )
    elif platform.api_base_url == "required":
        found.add(path, f"{title} needs api_base_url ({platform.api_base_url_doc})")
    rate = None
    if "rate" in table:
        rate = _parse_value(found, (*path, "rate"), f"{title} rate", s.Rate(), table["rate"], ctx)
    if len(found.found) > before:
        return None
    if platform.name == "sandbox":
        options["outbox"] = str(options.get("outbox", outbox))
    return ChannelConfig(
        name=name,
        platform=platform.name,
        api_base_url=api_base_url,
        options=options,
        rate_per_minute=rate,
    )


def _secrets_read(platform: Any) -> str:
    names = [f"{o.name}_env" for o in platform.options if o.secret]
    if not names:
        return f" (but {platform.name} channels read no secret at all)"
    return f" (but {platform.name} channels read only {', '.join(names)})"
