"""Running conditions of the front door (#9): two applies at once run one after the other (or the
second says another apply is running), a database that does not answer or cannot be written
gives one clear message and exit 1, a database file Elshi creates is private, and ``--out`` is
never the live database or the configuration."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from campaigns.store import APPLY_LOCK
from tests.campaigns.test_bad_input import GOOD
from tests.cli.conftest import Run, fingerprint

ROOT = Path(__file__).resolve().parents[2]


def _set_database(workspace: Path, url: str, *extra: str) -> None:
    config = workspace / "elshi.toml"
    text = config.read_text(encoding="utf-8")
    assert 'url = "sqlite:///elshi.db"' in text
    lines = "\n".join((f'url = "{url}"', *extra))
    config.write_text(text.replace('url = "sqlite:///elshi.db"', lines), encoding="utf-8")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, workspace: Path) -> str:
    """The workspace's database URL: its SQLite file, or the test session's PostgreSQL."""
    (workspace / "good.yaml").write_text(GOOD, encoding="utf-8")
    if request.param == "sqlite":
        return f"sqlite:///{workspace / 'elshi.db'}"
    url = str(request.getfixturevalue("pg_url"))
    _set_database(workspace, url)
    return url


def _campaigns(url: str) -> int:
    from sqlalchemy import text

    from campaigns.store import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM campaign")).scalar_one())
    finally:
        engine.dispose()


@pytest.fixture
def apply_lock_held(database: str, run: Run) -> Iterator[None]:
    """Another apply in progress: SQLite's write lock or PostgreSQL's advisory lock of applies,
    held by a connection of the test."""
    run("db", "upgrade")
    if database.startswith("sqlite"):
        conn = sqlite3.connect(database.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    import psycopg

    with psycopg.connect(database) as pg:
        pg.execute("SELECT pg_advisory_xact_lock(%s)", (APPLY_LOCK,))
        try:
            yield
        finally:
            pg.rollback()


def test_an_apply_that_cannot_get_the_lock_says_another_apply_is_running(
    database: str, workspace: Path, apply_lock_held: None, run: Run
) -> None:
    config = workspace / "elshi.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            "[database]\n", '[database]\nlock_wait = "0s"\n'
        ),
        encoding="utf-8",
    )
    result = run("campaign", "apply", "good.yaml", expect=1)
    assert "another apply" in result.output and "nothing was changed" in result.output
    assert "Traceback" not in result.output
    assert _campaigns(database) == 0


def _elshi(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ELSHI_CONFIG", "ELSHI_DATABASE_URL")}
    return subprocess.Popen(
        [sys.executable, "-m", "elshi", *args],
        cwd=cwd,
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _waiting_for_apply_lock(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as pg:
        row = pg.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        ).fetchone()
    return int(row[0]) if row else 0


def test_two_first_applies_of_one_file_at_once_run_one_after_the_other(
    database: str, workspace: Path
) -> None:
    """Both start on a database that does not exist yet (SQLite) or is empty (PostgreSQL):
    migrations and applies are serialised, one adds the campaign, the other finds it."""
    if database.startswith("sqlite"):
        procs = [_elshi("campaign", "apply", "good.yaml", cwd=workspace) for _ in range(2)]
    else:
        import psycopg

        from campaigns.store import make_engine, upgrade

        engine = make_engine(database)
        upgrade(engine)
        engine.dispose()
        with psycopg.connect(database) as pg:
            pg.execute("SELECT pg_advisory_xact_lock(%s)", (APPLY_LOCK,))
            procs = [_elshi("campaign", "apply", "good.yaml", cwd=workspace) for _ in range(2)]
            # Release only when both wait for the lock: they really run at the same time.
            while _waiting_for_apply_lock(database) < 2:
                if any(p.poll() is not None for p in procs):
                    break
                threading.Event().wait(0.05)
            pg.rollback()
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert not any("Traceback" in o for o in outputs), outputs
    assert sorted("to add" in o for o in outputs) == [False, True], outputs
    assert any("up to date" in o for o in outputs), outputs
    assert _campaigns(database) == 1


def test_a_database_file_elshi_creates_is_private(workspace: Path, run: Run) -> None:
    run("db", "upgrade")
    assert (workspace / "elshi.db").stat().st_mode & 0o777 == 0o600


def test_the_database_file_mode_can_be_configured(workspace: Path, run: Run) -> None:
    _set_database(workspace, "sqlite:///shared.db", 'file_mode = "0640"')
    run("db", "upgrade")
    assert (workspace / "shared.db").stat().st_mode & 0o777 == 0o640


class _Silent:
    """A TCP server on 127.0.0.1 that accepts connections and never answers (a hung
    PostgreSQL)."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.server.close()
        for conn in self.held:
            conn.close()


def test_a_postgresql_server_that_never_answers_gives_up_with_a_clear_message(
    workspace: Path, run: Run
) -> None:
    silent = _Silent()
    try:
        _set_database(
            workspace,
            f"postgresql://postgres@127.0.0.1:{silent.port}/test",
            'connect_timeout = "1s"',
        )
        result = run("campaign", "list", expect=1)
    finally:
        silent.close()
    assert silent.held, "the command never connected"
    assert "timeout expired" in result.output and "connect_timeout" in result.output
    assert "Traceback" not in result.output


@pytest.mark.postgres
def test_a_statement_that_waits_too_long_is_cancelled_with_a_clear_message(
    workspace: Path, run: Run, pg_url: str
) -> None:
    import psycopg

    _set_database(workspace, pg_url, 'statement_timeout = "1s"')
    run("db", "upgrade")
    with psycopg.connect(pg_url) as pg:
        pg.execute("LOCK TABLE campaign IN ACCESS EXCLUSIVE MODE")
        result = run("campaign", "list", expect=1)
        pg.rollback()
    assert "statement timeout" in result.output and "statement_timeout" in result.output
    assert "Traceback" not in result.output


def _read_only(workspace: Path, run: Run) -> None:
    (workspace / "good.yaml").write_text(GOOD, encoding="utf-8")
    run("campaign", "apply", "good.yaml")
    run("post", "approve", "--campaign", "de-test", "--all")
    _set_database(workspace, "sqlite:///file:elshi.db?mode=ro&uri=true")


def test_run_on_a_read_only_database_says_so_once_without_a_traceback(
    workspace: Path, run: Run
) -> None:
    _read_only(workspace, run)
    before = fingerprint(workspace / "elshi.db")
    result = run("run", "--once", "--now", "2027-04-15T08:00:00Z", expect=1)
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "readonly database" in errors[0], result.output
    assert "cannot be written" in errors[0]
    assert fingerprint(workspace / "elshi.db") == before
    assert not (workspace / "file:elshi.db").exists()


# --- --out ------------------------------------------------------------------------------------

OUTPUTS = {
    "report html": ("report", "--format", "html", "--out"),
    "report xlsx": ("report", "--format", "xlsx", "--out"),
    "report md": ("report", "--format", "md", "--out"),
    "calendar": ("calendar", "export", "--format", "csv", "--out"),
    "status": ("status", "--format", "prometheus", "--out"),
    "import template": ("campaign", "import", "--template"),
    "import": ("campaign", "import", "sheet.csv", "--force", "--out"),
}


def _with_outputs(workspace: Path, run: Run) -> None:
    (workspace / "good.yaml").write_text(GOOD, encoding="utf-8")
    (workspace / "sheet.csv").write_text(
        "id,date,time,category,audiences,text\n"
        "a,2027-04-15,10:00,education,public,Hallo aus Astana\n",
        encoding="utf-8",
    )
    run("campaign", "apply", "good.yaml")


TARGETS = {
    "elshi.db": "the live database",
    "elshi.db-wal": "the live database",
    "sub/../elshi.db": "the live database",
    "link.db": "the live database",
    "hard.db": "the live database",
    "elshi.toml": "the configuration file",
    "hard.toml": "the configuration file",
}
CASES = (
    [(c, "elshi.db") for c in OUTPUTS]
    + [("calendar", t) for t in TARGETS if t != "elshi.db"]
    + [("import template", "hard.toml")]
)


@pytest.mark.parametrize(("command", "target"), CASES)
def test_an_output_path_is_never_the_live_database_or_the_configuration(
    workspace: Path, run: Run, command: str, target: str
) -> None:
    _with_outputs(workspace, run)
    (workspace / "sub").mkdir()
    (workspace / "link.db").symlink_to(workspace / "elshi.db")
    os.link(workspace / "elshi.db", workspace / "hard.db")
    os.link(workspace / "elshi.toml", workspace / "hard.toml")
    database, config = fingerprint(workspace / "elshi.db"), (workspace / "elshi.toml").read_bytes()
    args = OUTPUTS[command]
    result = run(*args, target, expect=2)
    assert TARGETS[target] in result.output and "choose another file" in result.output
    assert f"{args[-1]} {target}" in result.output
    assert fingerprint(workspace / "elshi.db") == database
    assert (workspace / "elshi.toml").read_bytes() == config


def test_every_output_option_is_covered() -> None:
    """Each command option that names a file to write is in OUTPUTS (and so refuses the live
    database and configuration): a new one must be added there."""
    import click

    from elshi.cli import cli

    found = set()

    def walk(command: click.Command, path: tuple[str, ...]) -> None:
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, (*path, name))
            return
        for param in command.params:
            if isinstance(param, click.Option) and param.name in ("out", "template"):
                found.add((*path, param.opts[0]))

    walk(cli, ())
    missing = {
        (path, option)
        for *path, option in found
        if not any(
            tuple(args[: len(path)]) == tuple(path) and args[-1] == option
            for args in OUTPUTS.values()
        )
    }
    assert not missing, missing
    assert found


def test_import_never_writes_over_its_own_inputs(workspace: Path, run: Run) -> None:
    _with_outputs(workspace, run)
    sheet = (workspace / "sheet.csv").read_bytes()
    result = run("campaign", "import", "sheet.csv", "--out", "sheet.csv", "--force", expect=2)
    assert "the spreadsheet being imported" in result.output
    result = run(
        "campaign",
        "import",
        "sheet.csv",
        "--campaign-file",
        "good.yaml",
        "--out",
        "good.yaml",
        "--force",
        expect=2,
    )
    assert "the --campaign-file" in result.output
    assert (workspace / "sheet.csv").read_bytes() == sheet
    assert (workspace / "good.yaml").read_text(encoding="utf-8") == GOOD
