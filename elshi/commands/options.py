"""Options and arguments that several commands share, declared once so that they read and
behave alike everywhere (``--json``, ``--by``, ``--campaign``, ``--out``...)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def json_output(fn: F) -> F:
    """``--json``: machine-readable output (parameter ``as_json``)."""
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")(fn)


def by(help: str = "Who (recorded in the audit log; default: the OS user).") -> Callable[[F], F]:
    """``--by NAME``: the person acting."""
    return click.option("--by", metavar="NAME", help=help)


def campaign(help: str = "Only this campaign (its id).") -> Callable[[F], F]:
    """``--campaign ID``."""
    return click.option("--campaign", metavar="ID", help=help)


def out(help: str, *, dir_okay: bool = False) -> Callable[[F], F]:
    """``--out PATH``: where to write. The command must pass it through `App.output_path`,
    which refuses the live database and the configuration file."""
    return click.option(
        "--out", type=click.Path(dir_okay=dir_okay, path_type=Path), metavar="PATH", help=help
    )


def force(help: str = "Overwrite an existing file.") -> Callable[[F], F]:
    return click.option("--force", is_flag=True, help=help)


def campaign_files(fn: F) -> F:
    """``FILES...``: campaign definitions (YAML)."""
    return click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))(fn)


def delivery_ids(fn: F) -> F:
    """``IDS...``: delivery ids as ``elshi status`` lists them."""
    return click.argument("ids", nargs=-1, type=int, required=True)(fn)
