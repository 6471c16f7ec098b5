"""``elshi db``: schema migrations."""

from __future__ import annotations

import click

from elshi.app import App
from elshi.output import say


@click.group("db")
def command() -> None:
    """The database schema (Alembic migrations). Example:

    \b
        elshi db current
    """


@command.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@click.pass_obj
def upgrade(app: App, revision: str) -> None:
    """Upgrade the database schema (the app also does this itself on start). Example:

    \b
        ELSHI_DATABASE_URL=postgresql://elshi@db/elshi elshi db upgrade
    """
    from campaigns.store import current_revision
    from campaigns.store import upgrade as do_upgrade

    engine = app.open_engine(upgrade=False)
    before = current_revision(engine)
    changed = do_upgrade(engine, revision)
    after = current_revision(engine)
    url = engine.url.render_as_string(hide_password=True)
    say(f"{url}: {before or 'empty'} → {after}" if changed else f"{url}: at {after}")


@command.command("current")
@click.pass_obj
def current(app: App) -> None:
    """Print the schema revision of the database and the newest one this version knows.
    Example:

    \b
        elshi db current
    """
    from campaigns.store import current_revision, head_revision

    engine = app.open_engine(upgrade=False)
    say(f"database: {current_revision(engine) or 'empty'}; this version: {head_revision()}")
