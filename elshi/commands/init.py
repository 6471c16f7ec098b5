"""``elshi init``: make a folder an Elshi workspace."""

from __future__ import annotations

from pathlib import Path

import click

from elshi.app import App
from elshi.commands import options
from elshi.output import say


@click.command("init")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    show_default=True,
    help="Where to write elshi.toml.",
)
@options.force("Overwrite an existing elshi.toml.")
@click.pass_context
def command(ctx: click.Context, directory: Path, force: bool) -> None:
    """Write a commented starter elshi.toml (sandbox channels used by the shipped examples) and
    create the database. Example:

    \b
        elshi init && elshi campaign apply examples/*.yaml
    """
    from importlib.resources import files

    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "elshi.toml"
    if target.exists() and not force:
        say(f"{target} exists; keeping it (use --force to overwrite)")
    else:
        template = files("elshi").joinpath("templates/elshi.toml").read_text(encoding="utf-8")
        target.write_text(template, encoding="utf-8")
        say(f"wrote {target}")
    app = App(str(target), clock=ctx.obj.clock if isinstance(ctx.obj, App) else None)
    engine = app.engine
    say(f"database ready: {engine.url.render_as_string(hide_password=True)}")
    say("next: elshi campaign apply examples/*.yaml")
