"""The documentation generated from the code: the CLI reference (docs/cli.md, from each
command's help), the configuration reference (docs/configuration.md, from `elshi.settings` and
``connectors.options``) and the campaign format (docs/campaign-format.md, from
``campaigns.reference``). Tests fail when a file differs from what this renders; regenerate
them all with ``python -m elshi.docs``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
REGENERATE = "python -m elshi.docs"
_WIDTH = 100


def _header(source: str) -> str:
    return (
        f"<!-- Generated from {source} by `{REGENERATE}`; do not edit. A test fails when this "
        "file and the code disagree. -->\n"
    )


# --- the CLI ----------------------------------------------------------------------------------


def walk(
    command: click.Command, ctx: click.Context
) -> Iterator[tuple[click.Command, click.Context]]:
    """Every command under ``command`` (itself first), with a context for its help."""
    yield command, ctx
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                child = click.Context(
                    sub, info_name=name, parent=ctx, terminal_width=_WIDTH, max_content_width=_WIDTH
                )
                yield from walk(sub, child)


def root_context() -> tuple[click.Command, click.Context]:
    from elshi.cli import cli

    # The root's own context settings (its -h/--help) as a real invocation has them: click
    # caches each command's help option the first time it is asked for, so rendering without
    # them would depend on whether a command already ran in this process.
    names = cli.context_settings.get("help_option_names", ["--help"])
    ctx = click.Context(
        cli,
        info_name="elshi",
        terminal_width=_WIDTH,
        max_content_width=_WIDTH,
        help_option_names=names,
    )
    return cli, ctx


def render_cli() -> str:
    cli, root = root_context()
    lines = [
        "# Command-line reference",
        "",
        _header("the commands' help (elshi/commands/)").rstrip(),
        "",
        "Every command prints this help with `--help`. Exit codes: 0 done; 1 an operational "
        "failure (the database, a platform, another process: trying again later may work); "
        "2 bad input (a file, a setting, an argument: nothing was changed). An option given "
        "an empty value (`--since ''`, `--config ''`, a script's variable that was not set) "
        "is refused, never read as not given; only `--comment`, `--reason`, `--email` and "
        "`--name` take an empty text. An `--out` replaces an existing file only of its own "
        "kind (a report's `.html`, a calendar's `.ics`...): a campaign file or a workbook "
        "named by mistake is left alone.",
        "",
    ]
    for command, ctx in walk(cli, root):
        path = ctx.command_path
        lines += [f"## `{path}`", "", "```text", command.get_help(ctx).rstrip(), "```", ""]
    return "\n".join(lines)


def command_paths() -> list[str]:
    """``elshi``, ``elshi campaign``, ``elshi campaign apply``...: every command there is."""
    cli, root = root_context()
    return [ctx.command_path for _, ctx in walk(cli, root)]


# --- the configuration ------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(setting: object) -> str:
    from elshi.config import tomllib_repr
    from elshi.settings import Setting

    assert isinstance(setting, Setting)
    return f"`{tomllib_repr(setting.default)}`"


def render_configuration() -> str:
    from connectors.options import PLATFORMS
    from elshi.settings import SECTIONS, option_kind

    lines = [
        "# Configuration reference (`elshi.toml`)",
        "",
        _header("elshi/settings.py and connectors/options.py").rstrip(),
        "",
        "Elshi reads `elshi.toml` from `--config`, then `ELSHI_CONFIG`, then the working folder "
        "or the nearest folder above it that has one (the workspace). An empty `--config ''` is "
        "refused (as is an empty value of every file or folder option and argument); an empty "
        "`ELSHI_CONFIG` counts as not set, as for every environment variable. The whole file is checked "
        "when it is loaded: each problem is reported as `FILE:LINE: message` at the line of the "
        "key, with what is allowed, and nothing runs until the file is right. Durations are "
        'written `"500ms"`, `"30s"`, `"5m"`, `"6h"` or `"3d"` (or a number of seconds).',
        "",
        "Secrets are never written in the file: a channel names the environment variable that "
        'holds each one (`token_env = "ELSHI_MASTODON_TOKEN"`). A key that looks like a secret '
        "(`token`, `password`, `bearer`, `auth`, `cookie`, `session`, `*_key`...) and an "
        "`api_base_url` with credentials or a query string are refused, without repeating the "
        "value.",
        "",
    ]
    for section in SECTIONS:
        title = f"[{section.name}.NAME]" if section.named else f"[{section.name}]"
        lines += [f"## `{title}`", "", section.doc, "", "| key | allowed | default | meaning |"]
        lines.append("|---|---|---|---|")
        for setting in section.settings():
            meaning = setting.doc + (
                f"; the environment variable `{setting.env}` overrides it" if setting.env else ""
            )
            lines.append(
                f"| `{setting.key}` | {_cell(setting.kind.allowed())} | {_default(setting)} "
                f"| {_cell(meaning)} |"
            )
        lines.append("")
    lines += [
        "## `[channels.NAME]`",
        "",
        "One table per account. `NAME` is what campaign files name in `channels:` (lower-case "
        "letters, digits, `-` and `_`). Every channel takes:",
        "",
        "| key | allowed | meaning |",
        "|---|---|---|",
        f"| `platform` | one of {', '.join(f'`{p}`' for p in PLATFORMS)} | the connector |",
        "| `api_base_url` | an http:// or https:// address without credentials, query or "
        "fragment | the platform's endpoint (see each platform) |",
        '| `rate` | a positive rate such as `"30/h"`, `"1/10s"` or `"2/m"` | posts per '
        "channel; the platform's own limit by default |",
        "",
    ]
    for platform in PLATFORMS.values():
        lines += [
            f'### `platform = "{platform.name}"`',
            "",
            f"`api_base_url` ({platform.api_base_url}): {platform.api_base_url_doc}.",
            "",
        ]
        if platform.credentials:
            choices = " or ".join(
                " + ".join(f"`{n}_env`" for n in group) for group in platform.credentials
            )
            lines += [f"Credentials: {choices}.", ""]
        lines += ["| key | allowed | default | meaning |", "|---|---|---|---|"]
        for option in platform.options:
            key = f"{option.name}_env" if option.secret else option.name
            allowed = (
                "the name of an environment variable holding the secret"
                if option.secret
                else option_kind(option).allowed()
            )
            default = (
                "**required**"
                if option.required
                else ("—" if option.default is None else f"`{option.default}`")
            )
            lines.append(f"| `{key}` | {_cell(allowed)} | {default} | {_cell(option.doc)} |")
        lines.append("")
    return "\n".join(lines)


def _campaign_format() -> str:
    from campaigns.reference import render

    return render()


GENERATED: dict[str, Callable[[], str]] = {
    "docs/cli.md": render_cli,
    "docs/configuration.md": render_configuration,
    "docs/campaign-format.md": _campaign_format,
}


def main() -> None:
    for name, render in GENERATED.items():
        (ROOT / name).write_text(render(), encoding="utf-8")
        print(f"wrote {name}")


if __name__ == "__main__":
    main()
