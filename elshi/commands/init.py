"""``elshi init``: make a folder an Elshi workspace: ``elshi.toml`` (sandbox channels to start
with), a first campaign on those channels with an image (``campaigns/sample.yaml``,
``campaigns/media/sample.png``) and the database; then it prints the path every campaign
follows."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import click

from elshi.app import App
from elshi.commands import options
from elshi.output import say

SAMPLE = Path("campaigns") / "sample.yaml"
SAMPLE_IMAGE = Path("campaigns") / "media" / "sample.png"


def sample_campaign(today: date) -> tuple[str, str]:
    """The first campaign's id and text, dated from ``today``: it starts today and runs three
    months, its first post tomorrow at 10:00 local time, so it can be applied and run at once."""
    from importlib.resources import files

    template = files("elshi").joinpath("templates/sample.yaml").read_text(encoding="utf-8")
    campaign_id = f"first-{today:%Y-%m}"
    return campaign_id, template.format(
        campaign_id=campaign_id,
        starts=today.isoformat(),
        ends=(today + timedelta(days=90)).isoformat(),
        day_one=(today + timedelta(days=1)).isoformat(),
        event_day=(today + timedelta(days=14)).isoformat(),
    )


@click.command("init")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    show_default=True,
    help="The workspace folder.",
)
@options.force("Overwrite an existing elshi.toml and campaigns/sample.yaml.")
@click.pass_context
def command(ctx: click.Context, directory: Path, force: bool) -> None:
    """Make a folder a workspace: a commented elshi.toml with sandbox channels (no account, no
    network), a first campaign on them with an image (campaigns/sample.yaml), and the
    database. Example:

    \b
        elshi init && elshi campaign validate campaigns/sample.yaml
    """
    from importlib.resources import files

    app = ctx.obj if isinstance(ctx.obj, App) else None
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "elshi.toml"
    if target.exists() and not force:
        say(f"{target} exists; keeping it (use --force to overwrite)")
    else:
        template = files("elshi").joinpath("templates/elshi.toml").read_text(encoding="utf-8")
        target.write_text(template, encoding="utf-8")
        say(f"wrote {target}")
    now = app.now() if app is not None else datetime.now()
    campaign_id, text = sample_campaign(now.date())
    sample = directory / SAMPLE
    if sample.exists() and not force:
        say(f"{sample} exists; keeping it")
    else:
        sample.parent.mkdir(parents=True, exist_ok=True)
        sample.write_text(text, encoding="utf-8")
        image = directory / SAMPLE_IMAGE
        image.parent.mkdir(parents=True, exist_ok=True)
        image.write_bytes(files("elshi").joinpath("templates/sample.png").read_bytes())
        say(f"wrote {sample}: a first campaign on the sandbox channels, with {SAMPLE_IMAGE}")
    workspace = App(str(target), clock=app.clock if app is not None else None)
    engine = workspace.engine
    say(f"database ready: {engine.url.render_as_string(hide_password=True)}")
    here = "" if directory.resolve() == Path.cwd().resolve() else f"cd {directory} && "
    say(
        "\nNext, the path of every campaign (sandbox channels publish into outbox/):\n"
        f"  {here}elshi campaign validate {SAMPLE}   # problems at FILE:LINE:COL\n"
        f"  elshi campaign plan {SAMPLE}       # what apply would change\n"
        f"  elshi campaign apply {SAMPLE}      # into the database\n"
        f"  elshi post approve --campaign {campaign_id} --all\n"
        "  elshi run                                        # publishes each post at its time\n"
        "  elshi report                                     # engagement per audience\n"
        "Real accounts and other countries: see the comments in elshi.toml."
    )
