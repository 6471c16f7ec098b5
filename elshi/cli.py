"""The ``elshi`` command line: the root group, global options, the registration of the command
modules in ``elshi.commands`` (one per command group, named like it), and the one table that
turns each package's errors into an exit code and a message without a traceback.

Exit codes: 0 done; 1 an operational failure (the database, a platform, a running condition:
trying again later may work); 2 bad input (a file, a setting, an argument: nothing was
changed). Heavy libraries are imported inside the commands that use them, so ``elshi --help``
stays fast."""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import click

from elshi import __version__
from elshi.app import App
from elshi.commands import options

COMMANDS = (
    "init",
    "demo",
    "campaign",
    "post",
    "calendar",
    "run",
    "status",
    "pause",
    "resume",
    "collect",
    "deliveries",
    "channels",
    "report",
    "outcomes",
    "user",
    "web",
    "db",
)
"""The modules of ``elshi.commands``, in the order ``elshi --help`` lists them; each has a
``command`` (a click command or group) named like the module."""

EXIT_CODES: tuple[tuple[str, str, int], ...] = (
    ("elshi.config", "ConfigError", 2),
    ("elshi.demo", "DemoError", 2),
    ("campaigns.errors", "CampaignInputError", 2),
    ("campaigns.errors", "CampaignsError", 1),
    ("scheduler.errors", "OperationError", 2),
    ("scheduler.errors", "SchedulerError", 1),
    ("reports.errors", "OutcomeFileError", 2),
    ("reports.errors", "ReportError", 1),
    ("connectors.base", "ConnectorError", 1),
    ("notify.base", "NotifyError", 1),
    ("sqlalchemy.exc", "OperationalError", 1),
    ("builtins", "OSError", 1),
)
"""Each package's root error (and the bad-input branch below it) → exit code; the first match
wins. An error outside this table is a bug and keeps its traceback."""


class Failure(click.ClickException):
    """An expected error, shown as ``error: message`` (one line per located problem)."""

    def show(self, file: Any = None) -> None:
        from elshi.output import say

        lines = [line for line in self.message.splitlines() if line.strip()] or ["failed"]
        if len(lines) == 1:
            say(f"error: {lines[0]}", err=True)
            return
        for line in lines:
            say(line, err=True)
        say(f"error: {len(lines)} problems; nothing was changed", err=True)


class InputFailure(Failure):
    exit_code = 2


class OperationalFailure(Failure):
    exit_code = 1


def exit_code(exc: BaseException) -> int | None:
    """The exit code for ``exc`` from `EXIT_CODES`, or None for an unexpected error. Only
    modules already imported are consulted: an error of a module never loaded cannot occur."""
    for module_name, class_name, code in EXIT_CODES:
        module = sys.modules.get(module_name)
        cls = getattr(module, class_name, None) if module is not None else None
        if isinstance(cls, type) and isinstance(exc, cls):
            return code
    return None


def _message(exc: BaseException) -> str:
    if type(exc).__module__.startswith("sqlalchemy"):
        from campaigns.store import describe

        return f"the database: {describe(exc)}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    return str(exc) or type(exc).__name__


class ElshiGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:
            code = exit_code(exc)
            if code is None:
                raise
            failure = InputFailure if code == 2 else OperationalFailure
            raise failure(_message(exc)) from None


@click.group(
    cls=ElshiGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="ELSHI_CONFIG",
    help="Configuration file (default: $ELSHI_CONFIG, then elshi.toml here or in a parent folder).",
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

    Examples:

    \b
        elshi demo                                   # try it: nothing to configure
        elshi init                                   # make this folder a workspace
        elshi campaign apply campaigns/sample.yaml   # then approve, run, report
        elshi run
        elshi report --format html --out report.html
    """
    from elshi import logs

    level = logging.WARNING - 10 * verbose if verbose else logging.INFO
    logs.setup(json_lines=log_json, level=max(level, logging.DEBUG))
    if not verbose:
        # One line per state change is the daemon's log; `elshi run` turns it on.
        logging.getLogger("elshi.state").setLevel(logging.WARNING)
    ctx.obj = App(config_path, as_user=as_user)
    ctx.call_on_close(ctx.obj.close)


for _name in COMMANDS:
    cli.add_command(importlib.import_module(f"elshi.commands.{_name}").command, _name)
options.checked_text(cli)


def main() -> None:
    cli(prog_name="elshi")
