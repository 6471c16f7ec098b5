"""What every command shares: the loaded configuration, the database (upgraded on first use),
the clock and the acting user. Created once per CLI invocation; nothing is opened until a
command asks for it."""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from campaigns.people import Person
    from elshi.config import Config


class BadInput(click.ClickException):
    """Bad input (file, configuration, arguments): exit code 2, nothing changed."""

    exit_code = 2

    def show(self, file: object = None) -> None:
        from elshi.output import say

        say(f"error: {self.format_message()}", err=True)


class App:
    def __init__(
        self,
        config_path: str | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        as_user: str | None = None,
    ) -> None:
        self.config_path = config_path
        self.as_user = as_user
        self.clock = clock or (lambda: datetime.now(UTC))
        self._engines: list[Engine] = []

    @cached_property
    def config(self) -> Config:
        from elshi import logs
        from elshi.config import load_config
        from elshi.settings import NotifyConfig

        config = load_config(self.config_path)
        logs.add_secrets(_url_password(config.database_url))
        logs.add_secrets(
            logs.secret_values(
                [
                    *(v for ch in config.channels.values() for v in ch.secret_envs.values()),
                    *(
                        v
                        for n in config.named(NotifyConfig).values()
                        for v in n.secret_envs.values()
                    ),
                ]
            )
        )
        return config

    def now(self) -> datetime:
        return self.clock()

    @cached_property
    def engine(self) -> Engine:
        """The database of the workspace, upgraded to the current schema."""
        return self.open_engine()

    def open_engine(self, *, upgrade: bool = True) -> Engine:
        """The configured database, with its timeouts and file mode. Without a configuration
        it refuses (`NoConfigError`) rather than create a database by accident."""
        from campaigns.store import open_database
        from elshi.settings import DatabaseConfig

        database = self.config.require().section(DatabaseConfig)
        engine = open_database(
            database.url,
            connect_timeout=database.connect_timeout_seconds,
            statement_timeout=database.statement_timeout_seconds,
            file_mode=database.file_mode,
            upgrade_schema=upgrade,
        )
        self._engines.append(engine)
        return engine

    def close(self) -> None:
        """Close the database connections the command opened (when the command ends, however
        it ends): a caller in the same process (a test, a script driving the CLI) is left no
        open handle on the file and no idle PostgreSQL session, without waiting for the
        garbage collector."""
        while self._engines:
            self._engines.pop().dispose()

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        from campaigns.store import session_factory

        return session_factory(self.engine)

    def output_path(
        self,
        path: Path,
        option: str = "--out",
        *,
        inputs: dict[Path, str] | None = None,
        writes: tuple[str, tuple[str, ...]] | None = None,
    ) -> Path:
        """``path`` for a command's output option, refused (`BadInput`) when it is the live
        database (or its -wal/-shm/-journal files), the configuration file, another SQLite
        database, or one of the command's ``inputs`` (path → what it is): writing there would
        destroy them; and when it cannot be written at all (a name too long, a folder on the way
        that is a file, or one that cannot be made: the writers make missing folders, as
        ``elshi report --out reports/x.html`` and a metrics textfile folder expect).
        The same file reached through a symbolic or hard link, or through ``..``, counts as the
        same file. ``writes``: what the command writes and the names such a file has (("JSON",
        (".json",))): an existing file of another kind is not replaced (a campaign file given as
        a report's or a calendar's --out was overwritten without a word)."""
        from campaigns.inputfiles import unusable
        from elshi.config import find_config

        protected: list[tuple[Path, str]] = [(p, what) for p, what in (inputs or {}).items()]
        try:
            config_file = find_config(self.config_path)
        except Exception:
            config_file = None
        if config_file is not None:
            protected.append((config_file, "the configuration file"))
        database = _sqlite_file(self.config.database_url)
        if database is not None:
            for suffix in ("", "-wal", "-shm", "-journal"):
                protected.append((database.with_name(database.name + suffix), "the live database"))
        target = path.expanduser()
        reason = unusable(target)
        if reason is not None:
            # Missing, or under a folder that is none ("Not a directory"): name the folder.
            _check_folder(target.parent, option, path)
        if reason not in (None, "no such file"):
            raise BadInput(f"{option} {path}: {reason}")
        for candidate, what in protected:
            if _same_file(target, candidate):
                raise BadInput(f"{option} {path}: that is {what}; choose another file")
        if target.is_file() and _is_sqlite_file(target):
            raise BadInput(f"{option} {path}: that is a database; choose another file")
        if writes is not None and target.is_file():
            what, suffixes = writes
            if target.suffix.lower() not in suffixes:
                raise BadInput(
                    f"{option} {path}: the file exists and is not {' or '.join(suffixes)}; "
                    f"writing {what} would replace it (name the output …{suffixes[0]}, or move "
                    "the file away first)"
                )
        return path

    @staticmethod
    def check_campaign(session: Session, campaign: str | None) -> None:
        """``--campaign ID`` of a command that reads: an id the database has, else `BadInput`
        (a listing filtered by a typo would say "nothing" and exit 0)."""
        from campaigns.schema import Campaign

        if campaign is not None and session.get(Campaign, campaign) is None:
            raise BadInput(f"no campaign {campaign!r} (see elshi campaign list)")

    def person(self, session: Session, by: str | None = None) -> Person:
        """Who is running this command (see docs/operator-guide.md, "Who runs a command").

        ``ELSHI_TOKEN`` (an API token) proves it; otherwise the name given with ``--as``
        (``ELSHI_USER``) or a command's ``--by``, else the OS login name, must be an enabled
        user. A workspace without users acts as that name with every role, unverified."""
        import os

        from campaigns.people import Person, UnknownPerson, active_person, has_users, user_for_token

        token = os.environ.get("ELSHI_TOKEN", "").strip()
        if token and not token.isascii():  # tokens are ASCII; never repeat it
            raise BadInput("ELSHI_TOKEN: not an Elshi API token (see elshi user token issue)")
        if token:
            try:
                return user_for_token(session, token, now=self.now())
            except UnknownPerson as exc:
                raise BadInput(f"ELSHI_TOKEN: {exc}") from None
        name = (by or self.as_user or "").strip()
        if not has_users(session):
            return Person.local(name or _os_user())
        if not name:
            name = _os_user()
            try:
                return active_person(session, name)
            except UnknownPerson:
                raise BadInput(
                    "this workspace has users: say who you are with --as USER "
                    "(or ELSHI_USER=USER, or ELSHI_TOKEN=an API token)"
                ) from None
        try:
            return active_person(session, name)
        except UnknownPerson as exc:
            raise BadInput(f"cannot act as {name!r}: {exc}") from None


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _sqlite_file(url: str) -> Path | None:
    prefix = "sqlite:///"
    if not url.startswith(prefix) or ":memory:" in url:
        return None
    return Path(url[len(prefix) :]).resolve()


def _url_password(url: str) -> list[str]:
    """The password in a database URL (from ELSHI_DATABASE_URL), which logs must never show."""
    from sqlalchemy.engine import make_url

    try:
        password = make_url(url).password
    except Exception:
        return []
    return [str(password)] if password else []


def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` are one file: the same resolved path, or (both existing) the same
    inode, as a hard link is."""
    if a.resolve() == b.resolve():
        return True
    try:
        return a.samefile(b)
    except OSError:
        return False


def _is_sqlite_file(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            return file.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


def _check_folder(folder: Path, option: str, path: Path) -> None:
    """`App.output_path`'s check of the folder of a file that does not exist yet: the nearest
    folder on the way must exist as a folder we may write in (the missing ones below it are made
    when the file is written); `BadInput` naming why not."""
    from campaigns.inputfiles import unusable

    missing: list[Path] = []
    here = folder
    while (reason := unusable(here)) == "no such file" and here.parent != here:
        missing.append(here)
        here = here.parent
    if reason is not None:
        raise BadInput(f"{option} {path}: {here}: {reason}")
    if not here.is_dir():
        raise BadInput(f"{option} {path}: {here} is a file, not a folder")
    if not os.access(here, os.W_OK | os.X_OK):
        made = f" to make {missing[-1]} in" if missing else ""
        raise BadInput(f"{option} {path}: no permission{made} to write in {here}")
