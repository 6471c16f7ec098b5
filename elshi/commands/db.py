"""``elshi db``: schema migrations."""

from __future__ import annotations

import click

from elshi.app import App


@click.group("db")
def group() -> None:
    """The database schema (Alembic migrations)."""


@group.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@click.pass_obj
def upgrade(app: App, revision: str) -> None:
    """Upgrade the database schema (the app also does this itself on start). Example:

    ELSHI_DATABASE_URL=postgresql://elshi@db/elshi elshi db upgrade
    """
    from campaigns.store import current_revision, make_engine
    from campaigns.store import upgrade as do_upgrade

    engine = make_engine(app.config.database_url)
    before = current_revision(engine)
    changed = do_upgrade(engine, revision)
    after = current_revision(engine)
    url = engine.url.render_as_string(hide_password=True)
    click.echo(f"{url}: {before or 'empty'} → {after}" if changed else f"{url}: at {after}")


@group.command("current")
@click.pass_obj
def current(app: App) -> None:
    """Print the schema revision of the database and the newest one this version knows."""
    from campaigns.store import current_revision, head_revision, make_engine

    engine = make_engine(app.config.database_url)
    click.echo(f"database: {current_revision(engine) or 'empty'}; this version: {head_revision()}")
