"""The ``elshi`` command line: the root group, global options, and the wiring of the command
groups in ``elshi.commands``. Heavy libraries are imported inside the commands that use them,
so ``elshi --help`` stays fast."""

from __future__ import annotations

import logging

import click

from elshi import __version__
from elshi.app import App
from elshi.commands import campaign, channels, daemon, db, misc, post, report, user, web


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="ELSHI_CONFIG",
    help="Configuration file (default: $ELSHI_CONFIG, then ./elshi.toml).",
)
@click.option(
    "--as",
    "as_user",
    envvar="ELSHI_USER",
    metavar="USER",
    help="Act as this Elshi user (default: $ELSHI_USER, then the OS login name).",
)
@click.option("--log-json", is_flag=True, help="Log one JSON object per line (for machines).")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(__version__, prog_name="elshi")
@click.pass_context
def cli(
    ctx: click.Context, config_path: str | None, as_user: str | None, log_json: bool, verbose: int
) -> None:
    """Elshi runs social-media campaigns for a press or public-diplomacy office: campaign files
    in, posts published exactly once at their local time, engagement measured per audience.

    \b
    Start:   elshi init && elshi campaign apply examples/*.yaml
    Daemon:  elshi run
    Report:  elshi report --format html --out report.html
    """
    from elshi import logs

    level = logging.WARNING - 10 * verbose if verbose else logging.INFO
    logs.setup(json_lines=log_json, level=max(level, logging.DEBUG))
    if not verbose:
        # One line per state change is the daemon's log; `elshi run` turns it on.
        logging.getLogger("elshi.state").setLevel(logging.WARNING)
    ctx.obj = App(config_path, as_user=as_user)


for group in (
    campaign.group,
    post.group,
    db.group,
    channels.group,
    daemon.deliveries,
    user.group,
):
    cli.add_command(group)
for command in (*misc.commands, *daemon.commands, *report.commands, *web.commands):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="elshi")
