"""Command-line arguments no help text suggests: ids past what the databases store, bytes that
are not UTF-8 (a script in another encoding), values the configuration file would refuse, file
names too long for the file system or in folders that do not exist, a migration that is not
one. Each ends in exit code 2 with a message naming the parameter, no traceback, and the
database as it was; and two walks of the command tree keep every id and text parameter on the
checked types, so a new command cannot miss them."""

from __future__ import annotations

import os
from pathlib import Path

import click
import pytest

from elshi.cli import cli
from elshi.commands import options
from tests.campaigns.test_bad_input import GOOD
from tests.cli.conftest import Run, fingerprint

NOT_UTF8 = os.fsdecode(b"caf\xe9")  # Latin-1 bytes: Python holds them as a lone surrogate
LONG = "n" * 300  # past NAME_MAX (255) on every Linux file system


def _parameters(command: click.Command, path: str = "elshi") -> list[tuple[str, click.Parameter]]:
    found = [(path, p) for p in command.params]
    for name, sub in getattr(command, "commands", {}).items():
        found += _parameters(sub, f"{path} {name}")
    return found


def test_every_id_parameter_is_a_row_id_and_no_number_is_unbounded() -> None:
    loose = []
    for path, param in _parameters(cli):
        kind = param.type
        if param.name == "seed" or getattr(param, "count", False):  # any integer seeds
            continue
        if kind is click.INT or (isinstance(kind, click.IntRange) and kind.max is None):
            loose.append(f"{path} {param.name}")
        if isinstance(kind, click.IntRange) and param.name in ("ids", "token_id", "pause_id"):
            loose.append(f"{path} {param.name}: a row id is options.ROW_ID")
    assert not loose, loose


def test_every_text_parameter_refuses_bytes_that_are_not_utf8() -> None:
    plain = [
        f"{path} {p.name}"
        for path, p in _parameters(cli)
        if type(p.type) is click.types.StringParamType
    ]
    assert not plain, plain


def test_every_text_option_refuses_an_empty_value_unless_empty_means_something() -> None:
    loose = [
        f"{path} {p.name}"
        for path, p in _parameters(cli)
        if isinstance(p, click.Option)
        and isinstance(p.type, options.Text)
        and p.type.empty != (p.name in options.EMPTY_MEANS)
    ]
    assert not loose, loose


def test_every_path_parameter_refuses_an_empty_name() -> None:
    plain = [f"{path} {p.name}" for path, p in _parameters(cli) if type(p.type) is click.Path]
    assert not plain, plain
    assert any(isinstance(p.type, options.FilePath) for _, p in _parameters(cli))


@pytest.fixture
def applied(workspace: Path, run: Run) -> Path:
    (workspace / "good.yaml").write_text(GOOD, encoding="utf-8")
    run("campaign", "apply", "good.yaml")
    return workspace / "elshi.db"


REFUSED = [
    # ids: past SQLite's 64-bit integer, past PostgreSQL's 32-bit integer, not numbers
    (("deliveries", "retry", "99999999999999999999999"), "not an id"),
    (("deliveries", "cancel", "2147483648"), "not an id"),
    (("resume", "99999999999999999999"), "not an id"),
    (("resume", "--all", "--send", "-1"), "not an id"),
    (("user", "token", "revoke", "99999999999999999999999"), "not an id"),
    (("user", "token", "issue", "x", "--name", "x", "--days", "99999999999"), "--days"),
    # not UTF-8: in a query or in the database, it would be a UnicodeEncodeError
    (("pause", "--all", "--reason", NOT_UTF8), "not valid UTF-8"),
    (("post", "approve", f"de-test/{NOT_UTF8}"), "not valid UTF-8"),
    (("--as", NOT_UTF8, "status"), "not valid UTF-8"),
    (("status", "--campaign", NOT_UTF8), "not valid UTF-8"),
    # text people type and Elshi keeps: control characters and no end
    (("pause", "--all", "--reason", "stop\x1b[2J"), "U+001B"),
    (("post", "reject", "de-test/hello", "--comment", "x\x07"), "U+0007"),
    (("post", "approve", "de-test/hello", "--comment", "x" * 2001), "too long"),
    (("deliveries", "cancel", "1", "--reason", "\x1b]0;title\x07"), "U+001B"),
    # the same input twice; a campaign that is not there
    (("campaign", "apply", "good.yaml", "./good.yaml"), "the same file is given twice"),
    (("status", "--campaign", "nope"), "no campaign 'nope'"),
    (("post", "queue", "--campaign", "nope"), "no campaign 'nope'"),
    (("post", "expired", "--campaign", "nope"), "no campaign 'nope'"),
    (("calendar", "export", "--campaign", "nope"), "no campaign 'nope'"),
    # values the configuration file would refuse
    (("web", "--bind", "nowhere"), "HOST:PORT"),
    (("web", "--bind", "127.0.0.1:99999"), "HOST:PORT"),
    # a migration that is none, or one below the database's (this never downgrades)
    (("db", "upgrade", "--revision", "nope"), "no such migration"),
    (("db", "upgrade", "--revision", "0001"), "never downgrades"),
    # file names the file system cannot hold, folders that do not exist
    (("campaign", "import", f"{LONG}.csv", "--campaign-file", "good.yaml"), "too long"),
    (("--config", f"{LONG}.toml", "status"), "too long"),
    (("report", "--format", "json", "--out", f"{LONG}.json"), "too long"),
    # a folder on the way that is a file (a missing folder is made: see below)
    (("calendar", "export", "--out", "good.yaml/c.ics"), "good.yaml is a file, not a folder"),
    (
        ("campaign", "import", "s.csv", "--campaign-file", "good.yaml", "--out", "s.csv/x.yaml"),
        "s.csv is a file, not a folder",
    ),
]


@pytest.mark.parametrize(("args", "words"), REFUSED, ids=[" ".join(a)[:60] for a, _ in REFUSED])
def test_odd_arguments_end_in_exit_2_naming_what_is_wrong(
    applied: Path, run: Run, workspace: Path, args: tuple[str, ...], words: str
) -> None:
    (workspace / "s.csv").write_text(
        "id,date,time,category,audiences,text\na,2027-04-15,10:00,education,public,Hallo\n",
        encoding="utf-8",
    )
    before = fingerprint(applied)
    result = run(*args, expect=2)
    assert words in result.output, result.output
    assert "Traceback" not in result.output
    assert fingerprint(applied) == before


EMPTY_NAMES = [
    # click reads an empty name as ".", the working folder: read as a campaign, written over by
    # a report, or a --config silently ignored (the workspace's elshi.toml used instead)
    (("--config", "", "status"), "'--config': an empty file name"),
    (("campaign", "validate", ""), "'FILES...': an empty file name"),
    (("campaign", "import", "s.csv", "--campaign-file", ""), "'--campaign-file': an empty"),
    (("campaign", "import", "s.csv", "--out", ""), "'--out': an empty file name"),
    (("report", "--format", "json", "--out", ""), "'--out': an empty file name"),
    (("status", "--format", "prometheus", "--out", ""), "'--out': an empty file name"),
    (("outcomes", "import", ""), "'FILE': an empty file name"),
    (("init", "--dir", ""), "'--dir': an empty folder name"),
    # an empty text option read as "not given": a report of all time, a real pass at the real
    # time (not the rehearsal --now asked for), the OS login name acting
    (("report", "--format", "json", "--since", ""), "'--since': '' is empty"),
    (("report", "--format", "json", "--as-of", " "), "'--as-of': ' ' is empty"),
    (("run", "--once", "--now", ""), "'--now': '' is empty"),
    (("--as", "", "status"), "'--as': '' is empty"),
    (("status", "--campaign", ""), "'--campaign': '' is empty"),
    (("deliveries", "resolve", "1", "--published", ""), "'--published': '' is empty"),
]


def test_an_empty_name_or_value_is_refused_naming_the_parameter(
    applied: Path, run: Run, workspace: Path
) -> None:
    (workspace / "s.csv").write_text(
        "id,date,time,category,audiences,text\na,2027-04-15,10:00,education,public,Hallo\n",
        encoding="utf-8",
    )
    before = fingerprint(applied)
    files = sorted(workspace.iterdir())
    for args, words in EMPTY_NAMES:  # one workspace for all: a usage error opens nothing
        result = run(*args, expect=2)
        assert words in result.output, (args, result.output)
    assert fingerprint(applied) == before
    assert sorted(workspace.iterdir()) == files


@pytest.mark.parametrize(
    "args",
    [
        ("calendar", "export", "--out", "new/folders/c.ics"),
        (
            "campaign",
            "import",
            "s.csv",
            "--campaign-file",
            "good.yaml",
            "--out",
            "new/folders/x.yaml",
        ),
        ("campaign", "import", "--template", "new/folders/t.xlsx"),
        ("report", "--format", "json", "--out", "new/folders/r.json"),
        ("status", "--format", "prometheus", "--out", "new/folders/elshi.prom"),
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_an_output_in_folders_that_do_not_exist_yet_makes_them(
    applied: Path, run: Run, workspace: Path, args: tuple[str, ...]
) -> None:
    (workspace / "s.csv").write_text(
        "id,date,time,category,audiences,text\na,2027-04-15,10:00,education,public,Hallo\n",
        encoding="utf-8",
    )
    run(*args)
    assert (workspace / args[-1]).is_file()


def test_a_media_path_too_long_for_the_file_system_is_located(applied: Path, run: Run) -> None:
    text = GOOD.replace(
        "    text: Hallo aus Astana.", f"    text: Hallo aus Astana.\n    media: [{LONG}.png]"
    )
    Path("long-media.yaml").write_text(text, encoding="utf-8")
    before = fingerprint(applied)
    out = run("campaign", "apply", "long-media.yaml", expect=2).output
    assert "long-media.yaml:24:13: " in out and "File name too long" in out, out
    assert fingerprint(applied) == before


def test_db_upgrade_to_the_current_revision_changes_nothing(applied: Path, run: Run) -> None:
    from campaigns.store import head_revision

    out = run("db", "upgrade", "--revision", str(head_revision())).output
    assert "at " in out and "→" not in out, out


def test_an_id_from_options_is_a_number(run: Run, applied: Path) -> None:
    assert options.ROW_ID.convert("42", None, None) == 42
    assert options.ROW_ID.convert(7, None, None) == 7


@pytest.mark.parametrize(
    ("typed", "words"),
    [
        (b"caf\xe9-password-long\n", "not UTF-8"),  # Latin-1: a UnicodeEncodeError before
        (b"pass\x1bword-12345\n", "U+001B"),
        (b"x" * 100_000, "too long"),  # no newline: the whole of stdin was read and hashed
    ],
)
def test_a_password_on_stdin_that_cannot_be_one_is_refused_without_a_traceback(
    applied: Path, workspace: Path, typed: bytes, words: str
) -> None:
    from click.testing import CliRunner

    runner = CliRunner()
    assert runner.invoke(cli, ["user", "add", "boss", "--role", "admin"]).exit_code == 0
    before = fingerprint(applied)
    args = ["--as", "boss", "user", "add", "eve", "--role", "author", "--password-stdin"]
    result = runner.invoke(cli, args, input=typed)
    assert result.exit_code == 2, result.output
    assert words in result.output and "Traceback" not in result.output
    assert fingerprint(applied) == before


@pytest.mark.parametrize(
    ("variable", "args", "words"),
    [
        (
            "ELSHI_TOKEN",
            ("post", "approve", "de-test/hello"),
            "ELSHI_TOKEN: not an Elshi API token",
        ),
        ("ELSHI_DATABASE_URL", ("status",), "ELSHI_DATABASE_URL: not valid UTF-8"),
        ("ELSHI_USER", ("status",), "not valid UTF-8"),
    ],
)
def test_an_environment_variable_set_in_another_encoding_is_refused_by_name(
    applied: Path, run: Run, variable: str, args: tuple[str, ...], words: str
) -> None:
    """Set in Latin-1, it reaches Python as lone surrogates: ELSHI_TOKEN was a
    UnicodeEncodeError traceback at start-up (the log redaction encodes every secret)."""
    before = fingerprint(applied)
    value = os.fsdecode(b"elshi_caf\xe9-0123456789")
    out = run(*args, expect=2, env={variable: value}).output
    assert words in out, out
    assert "caf" not in out or variable == "ELSHI_USER"  # a token is never repeated
    assert fingerprint(applied) == before


@pytest.mark.parametrize("raw", [b"tok\xffen-0123456789", b"tok\x1ben-0123456789"])
def test_a_channel_secret_that_is_no_credential_is_an_auth_failure_not_a_network_one(
    workspace: Path, run: Run, raw: bytes
) -> None:
    """Set in another encoding, the token reached the HTTP library, whose encoder failed: a
    'network error' classed transient (retried). Now the channel's auth fails, by name."""
    (workspace / "elshi.toml").write_text(
        '[channels.m]\nplatform = "mastodon"\napi_base_url = "http://127.0.0.1:9"\n'
        'token_env = "ELSHI_TEST_TOKEN"\n',
        encoding="utf-8",
    )
    out = run("channels", "check", "m", expect=None, env={"ELSHI_TEST_TOKEN": os.fsdecode(raw)})
    assert "FAILED (auth)" in out.output and "ELSHI_TEST_TOKEN holds a control" in out.output
    assert "0123456789" not in out.output and "Traceback" not in out.output


def test_web_on_an_address_it_cannot_listen_on_fails_at_once_saying_why(
    workspace: Path, run: Run
) -> None:
    """gunicorn tried a bind five times, a second apart, and stopped with exit code 1 and a log
    line per try; `elshi web` now tries once before it starts it. 192.0.2.1 is a documentation
    address (RFC 5737) no machine has."""
    import socket

    out = run("web", "--bind", "192.0.2.1:8080", expect=2).output
    assert "--bind 192.0.2.1:8080: no network interface of this machine" in out, out
    out = run("web", "--bind", "nowhere.invalid:8080", expect=2).output
    assert "no such host name 'nowhere.invalid'" in out, out
    config = workspace / "elshi.toml"
    config.write_text(
        config.read_text(encoding="utf-8") + '\n[web]\nbind = "192.0.2.1:8080"\n', "utf-8"
    )
    out = run("web", expect=2).output
    assert "elshi.toml: [web] bind: no network interface" in out, out
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = run("web", "--bind", f"127.0.0.1:{port}", expect=1).output
    assert f"port {port} on 127.0.0.1 is already in use" in out, out
    assert "Traceback" not in out and "Starting gunicorn" not in out


def test_an_output_never_replaces_an_existing_file_of_another_kind(
    applied: Path, run: Run, workspace: Path
) -> None:
    """Every writer replaced whatever file --out named: the campaign file given by mistake as a
    calendar's or a report's --out was gone without a word. An existing file is replaced only
    by its own kind (a report by a report); a new file may have any name."""
    campaign = (workspace / "good.yaml").read_bytes()
    (workspace / "s.csv").write_text(
        "id,date,time,category,audiences,text\na,2027-04-15,10:00,education,public,Hallo\n",
        encoding="utf-8",
    )
    before = fingerprint(applied)
    for args, said in (
        (("calendar", "export", "--out", "good.yaml"), "is not .ics; writing iCalendar"),
        (("calendar", "export", "--format", "csv", "--out", "good.yaml"), "is not .csv"),
        (("report", "--format", "json", "--out", "good.yaml"), "is not .json"),
        (("report", "--out", "good.yaml"), "is not .zip or .csv; writing CSV tables"),
        (("status", "--format", "prometheus", "--out", "good.yaml"), "is not .prom or .txt"),
        (("campaign", "import", "s.csv", "--out", "s.xlsx", "--force"), None),
    ):
        if said is None:  # an existing workbook given as the import's --out
            (workspace / "s.xlsx").write_bytes(b"PK\x03\x04 a workbook")
            said = "is not .yaml or .yml; writing a campaign file"
            target = "s.xlsx"
        else:
            target = "good.yaml"
        out = run(*args, expect=2).output
        assert f"--out {target}: the file exists and {said}" in out, (args, out)
    assert (workspace / "good.yaml").read_bytes() == campaign
    assert fingerprint(applied) == before
    run("calendar", "export", "--out", "schedule.ics")
    run("calendar", "export", "--out", "schedule.ics")  # its own kind: replaced
    run("report", "--format", "json", "--out", "report.txt")  # a new file: any name
