"""The declarative table of ``elshi.toml``: every setting's key, kind, default, allowed range and
meaning, in one place. The loader (`elshi.config`) validates the file against it, and
docs/configuration.md is generated from it (`render_reference`), so the two cannot drift.

A section is a frozen dataclass whose fields are declared with `setting(...)`, listed in
`SECTIONS`. Adding a section (``[web]``, ``[notify.NAME]``...) is a declaration here, no new
loader code: the loader reads the fields, parses and range-checks each value with its `Kind`,
and the rest of the code reads it typed with ``config.section(WebConfig)`` (or
``config.named(NotifyConfig)`` for ``[notify.NAME]`` tables). Cross-field rules go in the
dataclass's ``problems()`` method.

The kinds are also the one parser of the channel options that ``connectors.options`` declares
(`option_kind`).
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import Field, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar, cast

T = TypeVar("T")

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")


class Invalid(ValueError):
    """A value outside its kind: ``str(exc)`` says what is allowed. ``echo`` is False when the
    value may hold a secret and must not be repeated in the message."""

    def __init__(self, message: str, *, echo: bool = True) -> None:
        super().__init__(message)
        self.echo = echo


@dataclass(frozen=True)
class Context:
    """What parsing may depend on: the folder of the configuration file (relative paths), and
    whether the value comes from an environment variable rather than the file (a secret may
    come only from there)."""

    base_dir: Path
    from_environment: bool = False


def format_seconds(seconds: float) -> str:
    """``300`` → ``5m``: the shortest exact way to write a duration in the file."""
    if seconds == 0:
        return "0s"
    for unit in ("d", "h", "m", "s"):
        count = seconds / _UNITS[unit]
        if count >= 1 and count == round(count, 3):
            return f"{count:g}{unit}"
    return f"{seconds * 1000:g}ms"


# --- kinds ------------------------------------------------------------------------------------


class Kind(ABC, Generic[T]):
    """How one setting is written and checked."""

    name: ClassVar[str] = "value"

    @abstractmethod
    def parse(self, raw: object, ctx: Context) -> T:
        """The checked value, or `Invalid` saying what is allowed."""

    def allowed(self) -> str:
        """The allowed values, for messages and the reference (``a duration from 1s to 1h``)."""
        return self.name

    def default_value(self, raw: object) -> T:
        """The value of a declared default when no file is read (the field's own default)."""
        return self.parse(raw, Context(Path()))


def _is_number(raw: object) -> bool:
    return isinstance(raw, int | float) and not isinstance(raw, bool)


def _range(low: float | None, high: float | None, show: Any = format) -> str:
    if low is not None and high is not None:
        return f" from {show(low)} to {show(high)}"
    if low is not None:
        return f" of at least {show(low)}"
    if high is not None:
        return f" of at most {show(high)}"
    return ""


@dataclass(frozen=True)
class Duration(Kind[float]):
    """Seconds as a number, or text with a unit: ``"500ms"``, ``"30s"``, ``"5m"``, ``"6h"``,
    ``"3d"``."""

    minimum: float = 0.0
    maximum: float | None = None
    name: ClassVar[str] = "duration"

    def parse(self, raw: object, ctx: Context) -> float:
        seconds: float | None = None
        if _is_number(raw):
            seconds = float(raw)  # type: ignore[arg-type]
        elif isinstance(raw, str):
            match = _DURATION.match(raw)
            if match:
                seconds = float(match.group(1)) * _UNITS[match.group(2)]
        if (
            seconds is None
            or not math.isfinite(seconds)
            or seconds < self.minimum
            or (self.maximum is not None and seconds > self.maximum)
        ):
            raise Invalid(f'must be {self.allowed()}, written like "30s", "5m", "6h" or "3d"')
        return seconds

    def allowed(self) -> str:
        return "a duration" + _range(self.minimum, self.maximum, format_seconds)


@dataclass(frozen=True)
class Integer(Kind[int]):
    minimum: int | None = None
    maximum: int | None = None
    name: ClassVar[str] = "whole number"

    def parse(self, raw: object, ctx: Context) -> int:
        if not isinstance(raw, int) or isinstance(raw, bool):
            raise Invalid(f"must be {self.allowed()}")
        if (self.minimum is not None and raw < self.minimum) or (
            self.maximum is not None and raw > self.maximum
        ):
            raise Invalid(f"must be {self.allowed()}")
        return raw

    def allowed(self) -> str:
        return "a whole number" + _range(self.minimum, self.maximum, lambda v: f"{v:,}")


@dataclass(frozen=True)
class Number(Kind[float]):
    minimum: float | None = None
    maximum: float | None = None
    name: ClassVar[str] = "number"

    def parse(self, raw: object, ctx: Context) -> float:
        if not _is_number(raw) or not math.isfinite(float(raw)):  # type: ignore[arg-type]
            raise Invalid(f"must be {self.allowed()}")
        value = float(raw)  # type: ignore[arg-type]
        if (self.minimum is not None and value < self.minimum) or (
            self.maximum is not None and value > self.maximum
        ):
            raise Invalid(f"must be {self.allowed()}")
        return value

    def allowed(self) -> str:
        return "a number" + _range(self.minimum, self.maximum, lambda v: f"{v:g}")


@dataclass(frozen=True)
class Flag(Kind[bool]):
    name: ClassVar[str] = "true/false"

    def parse(self, raw: object, ctx: Context) -> bool:
        if not isinstance(raw, bool):
            raise Invalid("must be true or false (without quotes)")
        return raw

    def allowed(self) -> str:
        return "true or false"


@dataclass(frozen=True)
class Text(Kind[str]):
    pattern: str | None = None
    describe: str = "text"
    max_length: int = 1000
    name: ClassVar[str] = "text"

    def parse(self, raw: object, ctx: Context) -> str:
        if not isinstance(raw, str):
            raise Invalid(f"must be {self.allowed()} in quotes")
        if len(raw) > self.max_length or _CONTROL.search(raw):
            raise Invalid(
                f"must be {self.allowed()} (at most {self.max_length} characters, "
                "no control characters)"
            )
        if self.pattern is not None and not re.fullmatch(self.pattern, raw):
            raise Invalid(f"must be {self.allowed()}")
        return raw

    def allowed(self) -> str:
        return self.describe


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Identifier(Kind[str | int]):
    """A string or a whole number (ids such as ``-1001234567`` or ``"@channel"``)."""

    pattern: str | None = None
    hint: str = ""
    """What the id is (the option's meaning), said when a value does not fit the pattern."""
    name: ClassVar[str] = "id"

    def parse(self, raw: object, ctx: Context) -> str | int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            text = str(raw)
        elif isinstance(raw, str) and raw.strip() and not _CONTROL.search(raw):
            text = raw.strip()
        else:
            raise Invalid(f"must be {self.allowed()}")
        if self.pattern is not None and not re.fullmatch(self.pattern, text):
            raise Invalid(f"must be {self.allowed()}" + (f": {self.hint}" if self.hint else ""))
        return raw if isinstance(raw, int) else text

    def allowed(self) -> str:
        return "a name or a number"


@dataclass(frozen=True)
class Choice(Kind[str]):
    choices: tuple[str, ...]
    name: ClassVar[str] = "choice"

    def parse(self, raw: object, ctx: Context) -> str:
        if not isinstance(raw, str) or raw not in self.choices:
            import difflib

            close = difflib.get_close_matches(str(raw), self.choices, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise Invalid(f"must be {self.allowed()}{hint}")
        return raw

    def allowed(self) -> str:
        return "one of " + ", ".join(f'"{c}"' for c in self.choices)


@dataclass(frozen=True)
class Words(Kind[tuple[str, ...]]):
    name: ClassVar[str] = "list of words"

    def parse(self, raw: object, ctx: Context) -> tuple[str, ...]:
        items = raw.split(",") if isinstance(raw, str) else raw
        if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
            raise Invalid(f"must be {self.allowed()}")
        return tuple(w for w in (str(i).strip() for i in items) if w)

    def allowed(self) -> str:
        return 'a list of words (["a", "b"])'


@dataclass(frozen=True)
class Durations(Kind[tuple[float, ...]]):
    item: Duration
    name: ClassVar[str] = "list of durations"

    def parse(self, raw: object, ctx: Context) -> tuple[float, ...]:
        if not isinstance(raw, list):
            raise Invalid(f"must be {self.allowed()}")
        try:
            return tuple(sorted(self.item.parse(v, ctx) for v in raw))
        except Invalid:
            raise Invalid(f"must be {self.allowed()}") from None

    def allowed(self) -> str:
        return f"a list, each {self.item.allowed()}"


@dataclass(frozen=True)
class Rate(Kind[float]):
    """Posts per minute: ``"30/h"``, ``"1/10s"``, ``"2/m"``, or a number per minute."""

    maximum_per_minute: float = 100_000.0
    name: ClassVar[str] = "rate"

    def parse(self, raw: object, ctx: Context) -> float:
        per_minute: float | None = None
        if _is_number(raw):
            per_minute = float(raw)  # type: ignore[arg-type]
        elif isinstance(raw, str):
            match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*/\s*(\d*(?:\.\d+)?)\s*(s|m|h|d)\s*", raw)
            if match:
                per = float(match.group(2) or 1) * _UNITS[match.group(3)]
                per_minute = float(match.group(1)) * 60.0 / per if per > 0 else None
        if (
            per_minute is None
            or not math.isfinite(per_minute)
            or not 0 < per_minute <= self.maximum_per_minute
        ):
            raise Invalid(f"must be {self.allowed()}")
        return per_minute

    def allowed(self) -> str:
        return 'a positive rate such as "30/h", "1/10s" or "2/m"'


@dataclass(frozen=True)
class Folder(Kind[Path]):
    """A path, relative to the configuration file's folder."""

    name: ClassVar[str] = "path"

    def parse(self, raw: object, ctx: Context) -> Path:
        if not isinstance(raw, str) or not raw.strip() or _CONTROL.search(raw) or "\x00" in raw:
            raise Invalid(f"must be {self.allowed()}")
        path = Path(raw).expanduser()
        return path if path.is_absolute() else ctx.base_dir / path

    def allowed(self) -> str:
        return "a path (relative to the folder of elshi.toml)"


@dataclass(frozen=True)
class HttpUrl(Kind[str]):
    """An ``http(s)://host[:port][/path]`` address (without a trailing slash). Credentials
    (``user:password@``), a query string or a fragment are refused without repeating the value:
    secrets come from ``*_env`` variables only."""

    name: ClassVar[str] = "URL"

    def parse(self, raw: object, ctx: Context) -> str:
        from urllib.parse import urlsplit

        if not isinstance(raw, str):
            raise Invalid(f"must be {self.allowed()} in quotes")
        try:
            parts = urlsplit(raw)
            port = parts.port
        except ValueError:
            raise Invalid(f"must be {self.allowed()}", echo=False) from None
        if parts.username is not None or parts.password is not None:
            raise Invalid(
                "must not carry credentials (user:password@); name the environment variable "
                "that holds the secret in a *_env key instead",
                echo=False,
            )
        if parts.query or parts.fragment or "?" in raw:
            raise Invalid(
                "must not have a query string or fragment (it may hold a token); name the "
                "environment variable that holds the secret in a *_env key instead",
                echo=False,
            )
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or _CONTROL.search(raw)
            or " " in raw
            or (port is not None and not 0 < port < 65536)
        ):
            raise Invalid(f"must be {self.allowed()}")
        return raw.rstrip("/")

    def allowed(self) -> str:
        return "an http:// or https:// address"


@dataclass(frozen=True)
class EnvName(Kind[str]):
    """The name of an environment variable (which holds a secret)."""

    name: ClassVar[str] = "variable name"

    def parse(self, raw: object, ctx: Context) -> str:
        if not isinstance(raw, str) or not re.fullmatch(r"[A-Z_][A-Z0-9_]{0,127}", raw):
            # Never repeated: a value here that is no variable name may be the secret itself.
            raise Invalid(
                f"must be {self.allowed()}; the secret goes into that variable", echo=False
            )
        return raw

    def allowed(self) -> str:
        return 'the name of an environment variable in capitals, e.g. "ELSHI_WEB_SECRET_KEY"'


@dataclass(frozen=True)
class TimeZone(Kind[str]):
    name: ClassVar[str] = "time zone"

    def parse(self, raw: object, ctx: Context) -> str:
        from campaigns.zones import zone_problem

        if not isinstance(raw, str) or not raw.strip():
            raise Invalid(f"must be {self.allowed()}")
        problem = zone_problem(raw.strip())
        if problem is not None:
            raise Invalid(f"must be {self.allowed()} ({problem})")
        return raw.strip()

    def allowed(self) -> str:
        return 'an IANA time zone, e.g. "Europe/Berlin"'


@dataclass(frozen=True)
class HostPort(Kind[str]):
    name: ClassVar[str] = "address"

    def parse(self, raw: object, ctx: Context) -> str:
        text = raw.strip() if isinstance(raw, str) else ""
        host, _, port = text.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536 or _CONTROL.search(text):
            raise Invalid(f"must be {self.allowed()}")
        return text

    def allowed(self) -> str:
        return 'HOST:PORT, e.g. "127.0.0.1:8080"'


@dataclass(frozen=True)
class Networks(Kind[tuple[str, ...]]):
    name: ClassVar[str] = "list of networks"

    def parse(self, raw: object, ctx: Context) -> tuple[str, ...]:
        import ipaddress

        if not isinstance(raw, list) or not all(isinstance(p, str) for p in raw):
            raise Invalid(f"must be {self.allowed()}")
        for item in raw:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise Invalid(f"{item!r} is not an address or network; {self.allowed()}") from None
        return tuple(raw)

    def allowed(self) -> str:
        return 'a list of addresses or networks, e.g. ["127.0.0.1", "10.0.0.0/24"]'


@dataclass(frozen=True)
class FileMode(Kind[int]):
    """Permissions as octal text (``"0600"``); the owner must be able to read and write."""

    name: ClassVar[str] = "file mode"

    def parse(self, raw: object, ctx: Context) -> int:
        if not isinstance(raw, str) or not re.fullmatch(r"0?[0-7]{3}", raw):
            raise Invalid(f"must be {self.allowed()}")
        mode = int(raw, 8)
        if mode & 0o600 != 0o600:
            raise Invalid(f"must be {self.allowed()}")
        return mode

    def allowed(self) -> str:
        return 'octal permissions in quotes that let the owner read and write, e.g. "0600"'


@dataclass(frozen=True)
class DatabaseUrl(Kind[str]):
    """``sqlite:///FILE`` (relative to the configuration file's folder) or
    ``postgresql://USER@HOST[:PORT]/DB``, with a driver that is installed. An existing SQLite
    file must be a SQLite database."""

    name: ClassVar[str] = "database URL"
    drivers: ClassVar[dict[str, dict[str, str]]] = {
        "sqlite": {"pysqlite": "sqlite3"},
        "postgresql": {"psycopg": "psycopg", "psycopg2": "psycopg2", "pg8000": "pg8000"},
    }

    def parse(self, raw: object, ctx: Context) -> str:
        import importlib.util

        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        if not isinstance(raw, str) or _CONTROL.search(raw):
            raise Invalid(f"must be {self.allowed()}", echo=False)
        try:
            url = make_url(raw)
        except (ArgumentError, ValueError):
            raise Invalid(f"is not a database URL; write {self.allowed()}", echo=False) from None
        try:
            url.port  # noqa: B018 - make_url checks the port only when it is read
        except ValueError:
            raise Invalid("has a port that is not a number", echo=False) from None
        backend, _, driver = url.drivername.partition("+")
        backend = "postgresql" if backend == "postgres" else backend
        if backend not in self.drivers:
            raise Invalid(
                f"names the database {backend!r}; Elshi supports {self.allowed()}", echo=False
            )
        if url.password is not None and not ctx.from_environment:
            raise Invalid(
                "holds a password, and secrets never go in this file: give the whole URL in "
                "the environment variable ELSHI_DATABASE_URL, or the password in PGPASSWORD "
                "or ~/.pgpass",
                echo=False,
            )
        known = self.drivers[backend]
        driver = driver or next(iter(known))
        module = known.get(driver)
        if module is None:
            raise Invalid(
                f"names the driver {driver!r}; use one of {', '.join(known)} "
                f"({backend}+{next(iter(known))})",
                echo=False,
            )
        if importlib.util.find_spec(module) is None:
            raise Invalid(
                f"needs the Python package {module!r}, which is not installed "
                f"(pip install {module})",
                echo=False,
            )
        if url.port is not None and not 0 < url.port < 65536:
            raise Invalid("has a port outside 1..65535", echo=False)
        if backend == "sqlite":
            return _sqlite_url(raw, url.database, ctx)
        if not url.host or not url.database:
            raise Invalid("must name a host and a database: postgresql://USER@HOST/DB", echo=False)
        return raw

    def allowed(self) -> str:
        return '"sqlite:///FILE" or "postgresql://USER@HOST[:PORT]/DATABASE"'

    def default_value(self, raw: object) -> str:
        return str(raw)  # checked (and made absolute) when a file is loaded


_SQLITE_MAGIC = b"SQLite format 3\x00"


def _sqlite_url(raw: str, database: str | None, ctx: Context) -> str:
    if database in (None, "", ":memory:") or "mode=memory" in raw:
        raise Invalid(
            "is a database in memory, which keeps nothing after the command; name a file, "
            'e.g. "sqlite:///elshi.db"'
        )
    if database.startswith("file:"):
        return raw
    path = Path(database).expanduser()
    path = path if path.is_absolute() else (ctx.base_dir / path)
    if path.is_dir():
        raise Invalid(f"names the folder {path}; name a database file in it, e.g. elshi.db")
    if not path.parent.is_dir():
        raise Invalid(f"names a file in {path.parent}, a folder that does not exist")
    if path.is_file():
        try:
            with path.open("rb") as file:
                head = file.read(len(_SQLITE_MAGIC))
        except OSError as exc:
            raise Invalid(f"names {path}, which cannot be read ({exc.strerror})") from None
        if head and head != _SQLITE_MAGIC:
            raise Invalid(f"names {path}, which is not a SQLite database")
        if head:
            _check_tables(path)
    return "sqlite:///" + str(path.resolve())


def _check_tables(path: Path) -> None:
    """An existing SQLite file must be Elshi's (it has ``alembic_version``) or empty: Elshi
    would otherwise add its tables to another program's database."""
    import sqlite3
    from contextlib import closing

    try:
        with closing(sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)) as conn:
            names = {
                row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
    except sqlite3.DatabaseError as exc:
        raise Invalid(f"names {path}, which SQLite cannot read ({exc})") from None
    if names and "alembic_version" not in names:
        shown = ", ".join(sorted(names)[:4]) + (", ..." if len(names) > 4 else "")
        raise Invalid(
            f"names {path}, the database of another program (tables {shown}); name a new "
            "file for Elshi"
        )


# --- declarations -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    key: str
    kind: Kind[Any]
    default: object
    """As written in the file (``"5m"``); parsed like a written value. None: not set unless the
    file sets it."""
    doc: str
    env: str | None = None
    """An environment variable that overrides the file."""


def setting(key: str, kind: Kind[T], default: object, doc: str, *, env: str | None = None) -> T:
    """Declare a field of a section: its key in the file, kind, default (as written in the
    file) and meaning. The field's own default is the parsed default."""
    declared = Setting(key, kind, default, doc, env)
    value = None if default is None else kind.default_value(default)
    # A None default makes an optional setting: the field is then ``T | None``.
    return cast(T, field(default=value, metadata={"setting": declared}))


def declared(model: type) -> Iterator[tuple[Field[Any], Setting]]:
    for item in fields(model):
        found = item.metadata.get("setting")
        if isinstance(found, Setting):
            yield item, found


@dataclass(frozen=True)
class Section:
    name: str
    model: type
    doc: str
    named: bool = False
    """``[name.NAME]`` tables, each one a ``model`` (``[notify.office-mail]``...)."""

    def settings(self) -> list[Setting]:
        return [s for _, s in declared(self.model)]


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = setting(
        "url",
        DatabaseUrl(),
        "sqlite:///elshi.db",
        "where the data lives; a relative SQLite path is relative to elshi.toml",
        env="ELSHI_DATABASE_URL",
    )
    connect_timeout_seconds: float = setting(
        "connect_timeout",
        Duration(1, 600),
        "10s",
        "PostgreSQL: give up connecting after this long (a server that accepts connections "
        "but never answers)",
    )
    statement_timeout_seconds: float = setting(
        "statement_timeout",
        Duration(1, 86400),
        "5m",
        "PostgreSQL: cancel a statement that runs longer than this",
    )
    lock_wait_seconds: float = setting(
        "lock_wait",
        Duration(0, 3600),
        "30s",
        "how long `campaign apply` waits while another apply (or, on SQLite, another writer) "
        "holds the database, before it gives up with nothing changed",
    )
    file_mode: int = setting(
        "file_mode",
        FileMode(),
        "0600",
        "SQLite: permissions of a database file Elshi creates (and its -wal and -shm files)",
    )


@dataclass(frozen=True)
class DaemonConfig:
    lease_seconds: float = setting(
        "lease",
        Duration(1, 86400),
        "5m",
        "how long a claimed delivery is reserved for one daemon before recovery reconciles it",
    )
    max_attempts: int = setting(
        "max_attempts", Integer(1, 100), 8, "transient failures before a delivery is failed"
    )
    backoff_seconds: float = setting(
        "backoff",
        Duration(0.1, 86400),
        "30s",
        "first retry delay; doubles with jitter, never below the platform's retry-after",
    )
    backoff_max_seconds: float = setting(
        "backoff_max", Duration(0.1, 7 * 86400), "1h", "longest retry delay (at least backoff)"
    )
    poll_seconds: float = setting(
        "poll",
        Duration(0.5, 3600),
        "1m",
        "longest sleep between looks for new work (new deliveries are found at their time anyway)",
    )
    sweep_every_seconds: float = setting(
        "sweep_every", Duration(0.5, 86400), "1m", "how often expired claims are reconciled"
    )
    collect_every_seconds: float = setting(
        "collect_every", Duration(1, 7 * 86400), "15m", "how often due metrics are collected"
    )
    workers: int = setting("workers", Integer(1, 256), 8, "channels published in parallel")
    late_after_seconds: float = setting(
        "late_after", Duration(0, 86400), "1m", "a post published later than this counts as late"
    )
    reconcile_after_seconds: float = setting(
        "reconcile_after",
        Duration(1, 86400),
        "2m",
        "after an unclear answer, when to ask the platform whether the post went out",
    )
    max_delay_seconds: float = setting(
        "max_delay",
        Duration(0, 30 * 86400),
        "6h",
        "a retried post never goes out later than this after its time",
    )
    heartbeat_seconds: float = setting(
        "heartbeat",
        Duration(0.2, 3600),
        "30s",
        "how often a running daemon records that it is alive; silent for three of these, it "
        "is dead and other daemons take over its claims",
    )
    name: str | None = setting(
        "name",
        Text(r"[A-Za-z0-9_.@-]{1,100}", describe='letters, digits, ".", "_", "-", "@"'),
        None,
        "the daemon's identity across restarts (unset: the host name): restarted under its "
        "name, a daemon takes over the claims of its dead predecessor at once; a second "
        "daemon of one name runs as NAME#2",
    )

    def problems(self) -> Iterator[tuple[str, str]]:
        if self.backoff_max_seconds < self.backoff_seconds:
            yield (
                "backoff_max",
                (f"must be at least backoff ({format_seconds(self.backoff_seconds)})"),
            )


@dataclass(frozen=True)
class MetricsConfig:
    schedule: tuple[float, ...] = setting(
        "schedule",
        Durations(Duration(60, 400 * 86400)),
        ["1h", "6h", "24h", "3d", "7d", "30d"],
        "when to collect engagement after publication (an empty list: never)",
    )
    followers_every_seconds: float = setting(
        "followers_every", Duration(60, 30 * 86400), "1d", "how often follower counts are sampled"
    )


@dataclass(frozen=True)
class SandboxConfig:
    outbox: Path = setting(
        "outbox", Folder(), "outbox", 'where sandbox channels "publish" (one page per post)'
    )


@dataclass(frozen=True)
class WorkspaceConfig:
    media_dir: Path | None = setting(
        "media_dir",
        Folder(),
        None,
        "one media folder for every campaign file: their `media:` paths are then relative to it "
        "(unset: to each campaign file's own folder); nothing outside it can be published",
    )


@dataclass(frozen=True)
class WebConfig:
    """``[web]``: the web workspace (``elshi web``). The session-signing key comes from the
    environment variable named by ``secret_key_env``, never from the file."""

    bind: str = setting("bind", HostPort(), "127.0.0.1:8080", "where `elshi web` listens")
    base_url: str = setting(
        "base_url", HttpUrl(), "http://127.0.0.1:8080", "the address people open (links, cookies)"
    )
    secret_key_env: str = setting(
        "secret_key_env",
        EnvName(),
        "ELSHI_WEB_SECRET_KEY",
        "the environment variable holding the session-signing key (32+ characters)",
    )
    session_lifetime_seconds: float = setting(
        "session_lifetime",
        Duration(60, 30 * 86400),
        "8h",
        "a session ends this long after its last request",
    )
    timezone: str = setting("timezone", TimeZone(), "UTC", "the time zone pages show by default")
    workers: int = setting("workers", Integer(1, 64), 2, "web server processes")
    trusted_header: str | None = setting(
        "trusted_header",
        Text(r"[A-Za-z0-9-]+", describe='a header name, e.g. "X-Remote-User"'),
        None,
        "single sign-on: the header a trusted reverse proxy sets to the user name",
    )
    trusted_proxies: tuple[str, ...] = setting(
        "trusted_proxies",
        Networks(),
        [],
        "the reverse proxies allowed to set trusted_header",
    )

    def problems(self) -> Iterator[tuple[str, str]]:
        if self.trusted_header and not self.trusted_proxies:
            yield (
                "trusted_header",
                (
                    "needs trusted_proxies (the addresses of the reverse proxy that sets it); "
                    "otherwise anyone could send it"
                ),
            )


_SHORT_SCHEDULE = re.compile(r"^\s*(?P<days>[a-z,\-]+)\s+(?P<h>\d{1,2}):(?P<m>\d{2})\s*$", re.I)
_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def to_cron(schedule: str) -> str:
    """``mon 08:00``, ``mon,thu 09:30``, ``weekdays 07:30``, ``daily 18:00`` or a five-field
    cron expression → a cron expression; ValueError saying what to write."""
    from croniter import croniter

    if len(schedule.split()) == 5:
        if not croniter.is_valid(schedule):
            raise ValueError(f"{schedule!r} is not a valid cron expression")
        return schedule
    match = _SHORT_SCHEDULE.match(schedule)
    if not match:
        raise ValueError(
            f'{schedule!r}: write e.g. "mon 08:00", "mon,thu 09:30", "weekdays 07:30", '
            '"daily 18:00" or a cron expression ("0 8 * * mon")'
        )
    hour, minute = int(match["h"]), int(match["m"])
    if hour > 23 or minute > 59:
        raise ValueError(f"{schedule!r}: {hour:02d}:{minute:02d} is not a time of day")
    days_text = match["days"].lower()
    if days_text == "daily":
        return f"{minute} {hour} * * *"
    if days_text == "weekdays":
        return f"{minute} {hour} * * mon-fri"
    days = []
    for word in (w.strip() for w in days_text.split(",")):
        if len(word) < 3 or word[:3] not in _DAY_NAMES:
            raise ValueError(
                f"{schedule!r}: {word!r} is not a day (mon, tue, ... sun, weekdays, daily)"
            )
        days.append(word[:3])
    return f"{minute} {hour} * * {','.join(days)}"


@dataclass(frozen=True)
class Schedule(Kind[str]):
    """When a report e-mail goes out, as written: ``"mon 08:00"`` or a cron expression (the
    value is kept as written; `to_cron` gives the cron form)."""

    name: ClassVar[str] = "schedule"

    def parse(self, raw: object, ctx: Context) -> str:
        if not isinstance(raw, str):
            raise Invalid(f"must be {self.allowed()}")
        try:
            to_cron(raw)
        except ValueError as exc:
            raise Invalid(str(exc).split(": ", 1)[-1]) from None
        return raw

    def allowed(self) -> str:
        return 'a schedule such as "mon 08:00", "weekdays 07:30", "daily 18:00" or "0 8 * * mon"'


NOTIFY_KINDS = ("email", "telegram", "webhook")
_NOTIFY_KEYS = {
    "email": (
        "smtp_host",
        "smtp_port",
        "security",
        "ca_file",
        "username",
        "username_env",
        "password_env",
        "from",
        "to",
    ),
    "telegram": ("token_env", "chat_id", "api_base_url"),
    "webhook": ("url", "url_env", "secret_env"),
}
_NOTIFY_REQUIRED = {
    "email": ("smtp_host", "from", "to"),
    "telegram": ("token_env", "chat_id"),
    "webhook": ("secret_env",),
}


@dataclass(frozen=True)
class NotifyConfig:
    """``[notify.NAME]``: where alerts go (docs/operator-guide.md, "Alerts"). Secrets only as
    ``*_env`` names of environment variables."""

    kind: str | None = setting(
        "kind", Choice(NOTIFY_KINDS), None, "email, telegram or webhook (required)"
    )
    events: tuple[str, ...] = setting(
        "events", Words(), [], "the event kinds it wants (empty: all)"
    )
    campaigns: tuple[str, ...] = setting(
        "campaigns", Words(), [], "the campaign ids it covers (empty: all)"
    )
    countries: tuple[str, ...] = setting(
        "countries", Words(), [], 'the campaign countries it covers, e.g. ["DE"] (empty: all)'
    )
    digest_seconds: float = setting(
        "digest",
        Duration(0, 86400),
        "1m",
        "alerts within this time of the first go out as one message",
    )
    timeout_seconds: float | None = setting(
        "timeout", Duration(1, 600), None, "give up one try after this long (30s; webhook 10s)"
    )
    smtp_host: str | None = setting("smtp_host", Text(max_length=255), None, "email: the server")
    smtp_port: int | None = setting(
        "smtp_port", Integer(1, 65535), None, "email: 587 (starttls), 465 (tls), 25 (none)"
    )
    security: str = setting(
        "security",
        Choice(("starttls", "tls", "none")),
        "starttls",
        "email: STARTTLS, TLS from the first byte, or none (a local relay)",
    )
    ca_file: Path | None = setting(
        "ca_file", Folder(), None, "email: certificate authorities to trust (a private server)"
    )
    username: str | None = setting("username", Text(max_length=255), None, "email: the login")
    username_env: str | None = setting(
        "username_env", EnvName(), None, "email: the variable holding the login"
    )
    password_env: str | None = setting(
        "password_env", EnvName(), None, "email: the variable holding the password"
    )
    sender: str | None = setting(
        "from", Text(max_length=320), None, 'email: the sender, e.g. "Elshi <elshi@example.org>"'
    )
    to: tuple[str, ...] = setting("to", Words(), [], "email: the recipients")
    token_env: str | None = setting(
        "token_env", EnvName(), None, "telegram: the variable holding the bot token"
    )
    chat_id: str | int | None = setting(
        "chat_id", Identifier(), None, "telegram: the chat, group or channel (id or @name)"
    )
    api_base_url: str | None = setting(
        "api_base_url", HttpUrl(), None, "telegram: a local Bot API server"
    )
    url: str | None = setting("url", HttpUrl(), None, "webhook: where to POST")
    url_env: str | None = setting(
        "url_env", EnvName(), None, "webhook: the variable holding the address (when secret)"
    )
    secret_env: str | None = setting(
        "secret_env", EnvName(), None, "webhook: the variable holding the signing secret"
    )

    @property
    def timeout(self) -> float:
        if self.timeout_seconds is not None:
            return self.timeout_seconds
        return 10.0 if self.kind == "webhook" else 30.0

    @property
    def secret_envs(self) -> dict[str, str]:
        """Secret name (``password``, ``token``, ``secret``, ``url``, ``username``) → the
        environment variable holding it."""
        found = {
            "username": self.username_env,
            "password": self.password_env,
            "token": self.token_env,
            "url": self.url_env,
            "secret": self.secret_env,
        }
        return {name: var for name, var in found.items() if var}

    def options(self) -> dict[str, Any]:
        """The kind's own settings, by their keys in the file (for `notify.registry`)."""
        values: dict[str, Any] = {"timeout": self.timeout}
        for item, decl in declared(type(self)):
            if self.kind and decl.key in _NOTIFY_KEYS[self.kind]:
                value = getattr(self, item.name)
                if value is not None and not decl.key.endswith("_env"):
                    values[decl.key] = str(value) if isinstance(value, Path) else value
        return values

    def problems(self) -> Iterator[tuple[str, str]]:
        from campaigns.events import EVENT_KINDS

        if self.kind is None:
            yield ("kind", f"is required: one of {', '.join(NOTIFY_KINDS)}")
            return
        for item, decl in declared(type(self)):
            key = decl.key
            owner = next((k for k, keys in _NOTIFY_KEYS.items() if key in keys), None)
            if (
                owner is not None
                and owner != self.kind
                and getattr(self, item.name)
                not in (
                    None,
                    (),
                    "starttls",
                )
            ):
                yield (key, f"is for kind = {owner!r}; this notifier is kind = {self.kind!r}")
        for key in _NOTIFY_REQUIRED[self.kind]:
            field_name = "sender" if key == "from" else key
            if getattr(self, field_name) in (None, ()):
                yield (key, f"is required for kind = {self.kind!r}")
        if self.kind == "webhook" and self.url is None and self.url_env is None:
            yield ("url", "is required for kind = 'webhook' (or url_env)")
        unknown = [e for e in self.events if e not in EVENT_KINDS]
        if unknown:
            yield (
                "events",
                f"unknown {', '.join(map(repr, unknown))}; known: {', '.join(EVENT_KINDS)}",
            )
        if any(not re.fullmatch(r"[A-Z]{2}", c) for c in self.countries):
            yield ("countries", 'are two-letter codes, e.g. ["DE"]')


REPORT_FORMATS = ("html", "xlsx", "json", "md")


@dataclass(frozen=True)
class ReportMailConfig:
    """``[reports.NAME]``: a report e-mailed on a schedule (docs/operator-guide.md, "Report
    e-mails")."""

    schedule: str | None = setting(
        "schedule", Schedule(), None, 'when, e.g. "mon 08:00" or "0 8 * * mon" (required)'
    )
    timezone: str = setting("timezone", TimeZone(), "UTC", "the time zone of the schedule")
    via: str | None = setting(
        "via",
        Text(r"[a-z0-9][a-z0-9_-]{0,63}", describe="the name of a [notify.NAME] table"),
        None,
        "the [notify.NAME] (kind email) whose server sends it (default: the only one)",
    )
    to: tuple[str, ...] = setting("to", Words(), [], "recipients (default: the notifier's)")
    campaign: str | None = setting("campaign", Text(max_length=64), None, "only this campaign")
    audience: str | None = setting(
        "audience", Text(max_length=130), None, "only this audience: KEY or CAMPAIGN:KEY"
    )
    period_seconds: float | None = setting(
        "period", Duration(3600, 400 * 86400), None, "posts of this period before (default all)"
    )
    formats: tuple[str, ...] = setting(
        "formats", Words(), ["html", "xlsx"], f"attachments: {', '.join(REPORT_FORMATS)}"
    )
    subject: str | None = setting("subject", Text(max_length=200), None, "the e-mail's subject")

    @property
    def cron(self) -> str:
        assert self.schedule is not None
        return to_cron(self.schedule)

    def problems(self) -> Iterator[tuple[str, str]]:
        if self.schedule is None:
            yield ("schedule", 'is required, e.g. schedule = "mon 08:00"')
        bad = [f for f in self.formats if f not in REPORT_FORMATS]
        if bad:
            yield (
                "formats",
                f"{', '.join(bad)} not available; choose from {', '.join(REPORT_FORMATS)}",
            )


@dataclass(frozen=True)
class AlertsConfig:
    """``[alerts]``: when a condition becomes an alert."""

    heartbeat_timeout_seconds: float = setting(
        "heartbeat_timeout",
        Duration(10, 86400),
        "5m",
        "no daemon heartbeat for this long is an alert (and fails elshi status --check)",
    )
    approval_warning_seconds: float = setting(
        "approval_warning",
        Duration(0, 30 * 86400),
        "24h",
        "a post due within this time and not approved yet is an alert",
    )
    token_warning_seconds: float = setting(
        "token_warning",
        Duration(0, 365 * 86400),
        "14d",
        "a channel token expiring within this time is an alert (where the platform says when)",
    )
    collection_failing_seconds: float = setting(
        "collection_failing_after",
        Duration(60, 30 * 86400),
        "1d",
        "metric collection failing this long for a channel is an alert",
    )
    poll_seconds: float = setting(
        "poll", Duration(1, 3600), "10s", "how often the daemon looks and sends"
    )


SECTIONS: tuple[Section, ...] = (
    Section("database", DatabaseConfig, "The database."),
    Section("daemon", DaemonConfig, "The scheduler daemon (`elshi run`)."),
    Section("metrics", MetricsConfig, "Engagement collection."),
    Section("sandbox", SandboxConfig, "Sandbox channels (no network, simulated metrics)."),
    Section("workspace", WorkspaceConfig, "The workspace: elshi.toml, campaigns/ and media/."),
    Section("web", WebConfig, "The web workspace (`elshi web`)."),
    Section("alerts", AlertsConfig, "When a condition becomes an alert."),
    Section("notify", NotifyConfig, "Where alerts go: e-mail, Telegram, webhooks.", named=True),
    Section("reports", ReportMailConfig, "Report e-mails on a schedule.", named=True),
)
"""Every section but ``[channels.NAME]``, whose keys depend on the platform
(``connectors.options``)."""

CHANNEL_SECTION = "channels"


def section_named(name: str) -> Section | None:
    return next((s for s in SECTIONS if s.name == name), None)


def section_for(model: type) -> Section:
    for section in SECTIONS:
        if section.model is model:
            return section
    raise KeyError(f"{model.__name__} is not a section of elshi.toml (add it to SECTIONS)")


# --- channel options ---------------------------------------------------------------------------


def option_kind(option: Any) -> Kind[Any]:
    """The kind that parses a ``connectors.options.Option``."""
    low, high = option.minimum, option.maximum
    kinds: dict[str, Kind[Any]] = {
        "text": Text(option.pattern, describe=option.doc if option.pattern else "text"),
        "id": Identifier(option.pattern, hint=option.doc),
        "integer": Integer(None if low is None else int(low), None if high is None else int(high)),
        "number": Number(low, high),
        "seconds": Duration(low or 0.0, high),
        "flag": Flag(),
        "choice": Choice(tuple(option.choices)),
        "words": Words(),
        "url": HttpUrl(),
        "path": Folder(),
    }
    return kinds[option.kind]
