"""What every command shares: the loaded configuration, the database (upgraded on first use),
the clock and the acting user. Created once per CLI invocation; nothing is opened until a
command asks for it."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from elshi.config import Config


class BadInput(click.ClickException):
    """Bad input (file, configuration, arguments): exit code 2, nothing changed."""

    exit_code = 2

    def show(self, file: object = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class App:
    def __init__(
        self,
        config_path: str | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.config_path = config_path
        self.clock = clock or (lambda: datetime.now(UTC))

    @cached_property
    def config(self) -> Config:
        from elshi import logs
        from elshi.config import ConfigError, load_config

        try:
            config = load_config(self.config_path)
        except ConfigError as exc:
            raise BadInput(str(exc)) from None
        logs.add_secrets(
            logs.secret_values(
                v for ch in config.channels.values() for v in ch.secret_envs.values()
            )
        )
        return config

    def now(self) -> datetime:
        return self.clock()

    @cached_property
    def engine(self) -> Engine:
        from sqlalchemy.exc import OperationalError

        from campaigns.store import make_engine, upgrade

        engine = make_engine(self.config.database_url)
        try:
            upgrade(engine)
        except OperationalError as exc:
            raise click.ClickException(
                f"cannot open the database {engine.url.render_as_string(hide_password=True)}: "
                f"{exc.orig}"
            ) from None
        return engine

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        from campaigns.store import session_factory

        return session_factory(self.engine)

    @staticmethod
    def actor(by: str | None = None) -> str:
        if by:
            return f"user:{by}"
        try:
            return f"user:{getpass.getuser()}"
        except (KeyError, OSError):
            return "user:unknown"
