"""Options and arguments that several commands share, declared once so that they read and
behave alike everywhere (``--json``, ``--by``, ``--campaign``, ``--out``...)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from campaigns import MAX_ROW_ID

F = TypeVar("F", bound=Callable[..., Any])


class RowId(click.ParamType[int]):
    """The type of every argument or option that names a row by its id (a delivery, a pause,
    a token): a whole number the databases can store (`campaigns.MAX_ROW_ID`), else a usage
    error (exit 2) naming the parameter, never an overflow inside a query."""

    name = "id"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            text = str(value).strip()
            number = int(text) if text.isascii() and text.isdigit() and len(text) < 20 else 0
        if not 0 < number <= MAX_ROW_ID:
            self.fail(
                f"{value!r} is not an id: a whole number from 1 to {MAX_ROW_ID:,}", param, ctx
            )
        return number


ROW_ID = RowId()


class Setting(click.ParamType[Any]):
    """An option that overrides a setting of elshi.toml (``elshi web --bind`` for ``[web]
    bind``): its value is checked by the same kind of `elshi.settings` (named here, imported
    only when a value is given: the module is heavy for start-up) as the setting, so the
    command line takes no value the file would refuse."""

    def __init__(self, kind: str, metavar: str) -> None:
        self.kind = kind
        self.name = metavar

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from elshi import settings

        try:
            return getattr(settings, self.kind)().parse(value, settings.Context(Path.cwd()))
        except settings.Invalid as exc:
            self.fail(f"{value!r} {exc}" if exc.echo else str(exc), param, ctx)


class Text(click.types.StringParamType):
    """Every text argument and option (`checked_text` puts it in place of click's string
    type): an argument that is not valid UTF-8 reaches Python as lone surrogates, which no
    database, log or message can encode; it is refused here, naming the parameter, rather than
    failing in a query. File names (``click.Path``) keep their bytes: a file may have such a
    name. An option given as an empty (or blank) text is refused too, unless empty means
    something for it (`EMPTY_MEANS`): commands read an empty value as "not given", so
    ``--since ''`` was a report of all time, ``run --once --now ''`` a real pass at the real
    time, ``--as ''`` the OS login name: a script whose variable was not set did something
    else than it said, without a word."""

    def __init__(self, *, empty: bool = True) -> None:
        self.empty = empty

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        text = super().convert(value, param, ctx)
        if not self.empty and isinstance(text, str) and not text.strip():
            self.fail(f"{text!r} is empty; give a value, or leave the option out", param, ctx)
        if isinstance(text, str) and _SURROGATE.search(text):
            raw = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            shown = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in raw)
            self.fail(
                f"'{shown}' is not valid UTF-8 text (check the encoding of the terminal or "
                "script that passed it)",
                param,
                ctx,
            )
        return text


_SURROGATE = re.compile("[\ud800-\udfff]")
EMPTY_MEANS = frozenset({"comment", "reason", "email", "name"})
"""Options for which an empty text is a value: no comment or reason, no e-mail address (``user
edit --email ''`` removes it), a name the command checks itself."""


class FilePath(click.Path):
    """Every file or folder parameter (`checked_text` puts it in place of click's ``Path``):
    an empty value (``--config ''``, ``--out ''``, a variable that expanded to nothing) is
    refused, naming the parameter. click would take it as the path ``.``: the working folder
    read as a campaign or written over by a report, or a ``--config`` silently ignored."""

    @classmethod
    def like(cls, other: click.Path) -> FilePath:
        return cls(
            exists=other.exists,
            file_okay=other.file_okay,
            dir_okay=other.dir_okay,
            writable=other.writable,
            readable=other.readable,
            resolve_path=other.resolve_path,
            allow_dash=other.allow_dash,
            path_type=other.type,
            executable=other.executable,
        )

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str | bytes) and not value:
            what = "folder" if not self.file_okay else "file"
            tail = ", or leave the option out" if isinstance(param, click.Option) else ""
            self.fail(f"an empty {what} name; name one{tail}", param, ctx)
        return super().convert(value, param, ctx)


def checked_text(command: click.Command) -> None:
    """Give every text parameter of ``command`` and its subcommands the `Text` type, and every
    path parameter the `FilePath` type."""
    for param in command.params:
        if type(param.type) is click.types.StringParamType:
            option = isinstance(param, click.Option)
            param.type = Text(empty=not option or param.name in EMPTY_MEANS)
        elif type(param.type) is click.Path:
            param.type = FilePath.like(param.type)
    for sub in getattr(command, "commands", {}).values():
        checked_text(sub)


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
    return click.argument("ids", nargs=-1, type=ROW_ID, required=True)(fn)
