"""Driving the ``elshi`` command with click's CliRunner in a workspace (the starter elshi.toml
and a real SQLite file in a temporary directory)."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from elshi.cli import cli

Run = Callable[..., Result]


@pytest.fixture
def run(workspace: Path) -> Run:
    """``run("campaign", "apply", "x.yaml", expect=0)``: the result, after checking the exit
    code and that no exception escaped as a traceback."""

    def invoke(*args: str, expect: int | None = 0, env: dict[str, str] | None = None) -> Result:
        result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=True)
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
        if expect is not None:
            assert result.exit_code == expect, result.output
        return result

    return invoke


def fingerprint(database: Path) -> str:
    """SHA-256 of the SQLite file's bytes, after folding its write-ahead log into it (a committed
    change shows; a rolled-back one cannot). Each command closes its connections when it ends
    (`elshi.app.App.close`, tested), so no garbage collection is needed first; a connection
    still in a transaction would leave the log unfolded and fail the check below."""
    with closing(sqlite3.connect(database)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    wal = database.with_name(database.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    return hashlib.sha256(database.read_bytes()).hexdigest()
