"""Every package's root error reaches the user as one ``error: ...`` line and an exit code —
2 for bad input (nothing changed), 1 for an operational failure — never as a traceback. The
mapping is one table in elshi/cli.py."""

from __future__ import annotations

import importlib
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from elshi.cli import EXIT_CODES, cli, exit_code


@pytest.mark.parametrize(
    ("module", "name", "code"),
    [
        ("elshi.config", "ConfigError", 2),
        ("elshi.config", "NoConfigError", 2),
        ("campaigns.errors", "CampaignInputError", 2),
        ("campaigns.yamlsource", "YamlError", 2),
        ("campaigns.approval", "ApprovalError", 2),
        ("campaigns.timing", "TimingError", 2),
        ("campaigns.errors", "CampaignsError", 1),
        ("campaigns.errors", "StoreError", 1),
        ("campaigns.errors", "BusyError", 1),
        ("campaigns.states", "TransitionError", 1),
        ("scheduler.errors", "OperationError", 2),
        ("scheduler.errors", "SchedulerError", 1),
        ("scheduler.errors", "UnknownChannelError", 1),
        ("reports.errors", "OutcomeFileError", 2),
        ("reports.errors", "ReportError", 1),
        ("connectors.base", "ConnectorError", 1),
        ("connectors.base", "AuthError", 1),
        ("connectors.registry", "UnknownPlatformError", 1),
    ],
)
def test_each_package_error_has_its_exit_code(module: str, name: str, code: int) -> None:
    cls = getattr(importlib.import_module(module), name)
    error = cls.__new__(cls)
    assert exit_code(error) == code


def test_an_unexpected_error_is_not_mapped() -> None:
    assert exit_code(KeyError("bug")) is None


def test_the_table_names_real_classes() -> None:
    for module, name, _ in EXIT_CODES:
        assert isinstance(getattr(importlib.import_module(module), name), type)


def _fail_with(error: Exception) -> click.testing.Result:
    @cli.command("explode", hidden=True)
    def explode() -> None:
        raise error

    try:
        return CliRunner().invoke(cli, ["explode"])
    finally:
        cli.commands.pop("explode")


@pytest.mark.parametrize(
    ("error", "code", "shown"),
    [
        ("scheduler.errors:OperationError('delivery 9 is published')", 2, "delivery 9"),
        ("campaigns.errors:StoreError('cannot use the database')", 1, "cannot use the database"),
        ("connectors.base:AuthError('token refused')", 1, "token refused"),
        ("reports.errors:ReportError('nothing to show')", 1, "nothing to show"),
    ],
)
def test_an_expected_error_prints_one_line_and_no_traceback(
    error: str, code: int, shown: str, workspace: Path
) -> None:
    module, _, expression = error.partition(":")
    name, _, argument = expression.partition("(")
    cls = getattr(importlib.import_module(module), name)
    result = _fail_with(cls(argument.rstrip(")").strip("'")))
    assert result.exit_code == code
    assert result.output == f"error: {shown}" + result.output.split(shown, 1)[1]
    assert result.output.count("\n") == 1
    assert "Traceback" not in result.output


def test_a_database_failure_is_one_message_with_exit_1(workspace: Path) -> None:
    from sqlalchemy.exc import OperationalError

    result = _fail_with(
        OperationalError("INSERT", {}, Exception("attempt to write a readonly database"))
    )
    assert result.exit_code == 1
    assert result.output == (
        "error: the database: attempt to write a readonly database (the database cannot be "
        "written: check the file's permissions and the disk)\n"
    )
