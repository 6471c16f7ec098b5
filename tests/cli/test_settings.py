"""Every setting of elshi.toml is checked when the file is loaded: a bad value is reported at
the line of its key, with what is allowed, and every problem of the file at once; channel
options are checked against what each platform declares (connectors.options)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from elshi.config import ConfigError, load_config
from elshi.settings import SECTIONS, DaemonConfig
from tests.cli.conftest import Run

X_CREDENTIALS = (
    'consumer_key_env = "A"\nconsumer_secret_env = "B"\n'
    'access_token_env = "C"\naccess_token_secret_env = "D"\n'
)


def problems(workspace: Path, text: str | bytes) -> list[str]:
    path = workspace / "elshi.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value.problems


BAD = {
    "url not a url": ('[database]\nurl = "not a url"\n', 2, "is not a database URL"),
    "port not a number": (
        '[database]\nurl = "postgresql://elshi@db.example.org:abc/elshi"\n',
        2,
        "not a database URL",
    ),
    "unsupported database": ('[database]\nurl = "mysql://a/b"\n', 2, "names the database"),
    "driver not supported": (
        '[database]\nurl = "postgresql+asyncpg://a/b"\n',
        2,
        "names the driver 'asyncpg'",
    ),
    "driver not installed": (
        '[database]\nurl = "postgresql+pg8000://a/b"\n',
        2,
        "needs the Python package 'pg8000', which is not installed",
    ),
    "time zone that is a folder": ('[web]\ntimezone = "Europe"\n', 2, "an IANA time zone"),
    "time zone too long": (f'[web]\ntimezone = "{"a" * 3000}"\n', 2, "an IANA time zone"),
    "the machine's own time zone": (
        '[web]\ntimezone = "localtime"\n',
        2,
        "an IANA time zone, e.g. \"Europe/Berlin\" ('localtime' is this machine's own",
    ),
    "sqlite in memory": ('[database]\nurl = "sqlite://"\n', 2, "a database in memory"),
    "sqlite :memory:": ('[database]\nurl = "sqlite:///:memory:"\n', 2, "keeps nothing"),
    "sqlite folder missing": (
        '[database]\nurl = "sqlite:///no/such/folder/elshi.db"\n',
        2,
        "a folder that does not exist",
    ),
    "max_attempts many": (
        '[daemon]\nlease = "5m"\nmax_attempts = "many"\n',
        3,
        'max_attempts = "many": must be a whole number from 1 to 100',
    ),
    "poll 0s busy loop": ('[daemon]\npoll = "0s"\n', 2, 'poll = "0s": must be a duration from'),
    "negative lease": ('[daemon]\n\nlease = "-5m"\n', 3, 'lease = "-5m": must be a duration'),
    "lease as words": ('[daemon]\nlease = "five minutes"\n', 2, "must be a duration"),
    "workers 0": ("[daemon]\nworkers = 0\n", 2, "workers = 0: must be a whole number from 1"),
    "workers true": ("[daemon]\nworkers = true\n", 2, "must be a whole number"),
    "backoff_max below backoff": (
        '[daemon]\nbackoff = "1m"\nbackoff_max = "30s"\n',
        3,
        "backoff_max: must be at least backoff (1m)",
    ),
    "schedule item": ('[metrics]\nschedule = ["1h", "soon"]\n', 2, "each a duration"),
    "schedule not a list": ('[metrics]\nschedule = "1h"\n', 2, "must be a list"),
    "file mode": ('[database]\nfile_mode = "0400"\n', 2, "let the owner read and write"),
    "connect timeout": ('[database]\nconnect_timeout = "0s"\n', 2, "must be a duration from 1s"),
    "negative rate": (
        '[channels.a]\nplatform = "sandbox"\n\nrate = "-3/h"\n',
        4,
        'rate = "-3/h": must be a positive rate',
    ),
    "zero rate": ('[channels.a]\nplatform = "sandbox"\nrate = 0\n', 3, "must be a positive rate"),
    "rate words": ('[channels.a]\nplatform = "sandbox"\nrate = "often"\n', 3, "positive rate"),
    "x timeout": (
        f'[channels.x1]\nplatform = "x"\n{X_CREDENTIALS}timeout = "fast"\n',
        7,
        '[channels.x1] timeout = "fast": must be a duration from 1s to 10m',
    ),
    "telegram negative timeout": (
        '[channels.tg]\nplatform = "telegram"\ntoken_env = "T"\nchat_id = "@elshi_de"\n'
        "timeout = -5\n",
        5,
        "[channels.tg] timeout = -5: must be a duration from 1s",
    ),
    "telegram without chat": (
        '[channels.tg]\nplatform = "telegram"\ntoken_env = "T"\n',
        1,
        "[channels.tg] needs chat_id",
    ),
    "mastodon visibility": (
        '[channels.m]\nplatform = "mastodon"\napi_base_url = "https://social.example"\n'
        'token_env = "M"\nvisibility = "everyone"\n',
        5,
        'must be one of "public", "unlisted", "private"',
    ),
    "mastodon without instance": (
        '[channels.m]\nplatform = "mastodon"\ntoken_env = "M"\n',
        1,
        "[channels.m] needs api_base_url",
    ),
    "x without credentials": ('[channels.x1]\nplatform = "x"\n', 1, "needs credentials"),
    "sandbox fail_rate": (
        '[channels.a]\nplatform = "sandbox"\nfail_rate = 2\n',
        3,
        "must be a number from 0 to 1",
    ),
    "api_base_url not http": (
        '[channels.a]\nplatform = "mastodon"\ntoken_env = "M"\napi_base_url = "ftp://x"\n',
        4,
        "must be an http:// or https:// address",
    ),
    "unknown channel option": (
        '[channels.a]\nplatform = "sandbox"\nfollowrs = 10\n',
        3,
        "unknown key 'followrs' in [channels.a] (did you mean 'followers'?)",
    ),
    "env name": (
        '[channels.m]\nplatform = "mastodon"\napi_base_url = "https://s.example"\n'
        'token_env = "not a name"\n',
        4,
        "token_env must name an environment variable",
    ),
    "unknown env key": (
        '[channels.a]\nplatform = "sandbox"\ncookie_env = "C"\n',
        3,
        "unknown key 'cookie_env'",
    ),
    "telegram chat id says what it is": (
        '[channels.t]\nplatform = "telegram"\ntoken_env = "T"\nchat_id = "@x"\n',
        4,
        "must be a name or a number: the channel: its @username or numeric id",
    ),
    "a refused value gives no follow-on 'is required'": (
        '[notify.hook]\nkind = "webhook"\nsecret_env = "S"\nurl = "https://h.example/x?t=1"\n',
        4,
        "url: must not have a query string",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_setting_is_reported_at_the_line_of_its_key(workspace: Path, case: str) -> None:
    text, line, expected = BAD[case]
    found = problems(workspace, text)
    assert len(found) == 1, found
    assert found[0].startswith(f"{workspace / 'elshi.toml'}:{line}: "), found[0]
    assert expected in found[0]


def test_every_problem_of_the_file_is_reported_at_once_in_file_order(workspace: Path) -> None:
    found = problems(
        workspace,
        '[daemon]\nworkers = 0\npoll = "0s"\n\n[channels.a]\nplatform = "sandbox"\n'
        "followers = -1\n",
    )
    assert [re.match(r".*:(\d+): ", p).group(1) for p in found] == ["2", "3", "7"]  # type: ignore[union-attr]


def test_a_non_utf8_byte_is_located(workspace: Path) -> None:
    found = problems(workspace, b'[channels.a]\nplatform = "sandbox"\nseed = "caf\xe9"\n')
    assert found == [
        f"{workspace / 'elshi.toml'}:3:12: byte 0xe9 is not UTF-8; save the file as UTF-8"
    ]


def test_a_toml_syntax_error_is_located(workspace: Path) -> None:
    found = problems(workspace, "[daemon]\nlease = 5m\n")
    assert found[0].startswith(f"{workspace / 'elshi.toml'}:2:")


def test_a_sqlite_file_that_is_not_a_database_is_refused(workspace: Path) -> None:
    (workspace / "notes.db").write_text("my notes", encoding="utf-8")
    found = problems(workspace, '[database]\nurl = "sqlite:///notes.db"\n')
    assert found == [
        f'{workspace / "elshi.toml"}:2: [database] url = "sqlite:///notes.db": names '
        f"{workspace / 'notes.db'}, which is not a SQLite database"
    ]


def test_elshi_database_url_is_checked_and_named_as_the_source(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ELSHI_DATABASE_URL", "postgresql://u:pw@host:port/db")
    found = problems(workspace, "")
    assert found == [
        "ELSHI_DATABASE_URL (environment): ELSHI_DATABASE_URL: is not a database URL; "
        'write "sqlite:///FILE" or "postgresql://USER@HOST[:PORT]/DATABASE"'
    ]
    assert "pw" not in found[0]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("bearer", "abc123secret"),
        ("auth", "Basic dXNlcjpwYXNz"),
        ("cookie", "sid=abcdef"),
        ("session", "eyJhbGciOi"),
        ("key", "k-12345678"),
        ("app_key", "k-12345678"),
    ],
)
def test_a_secret_under_another_name_is_refused_without_echoing_it(
    workspace: Path, key: str, value: str
) -> None:
    found = problems(
        workspace,
        f'[channels.m]\nplatform = "mastodon"\napi_base_url = "https://s.example"\n'
        f'token_env = "M"\n{key} = "{value}"\n',
    )
    assert len(found) == 1
    assert f"has a secret in the file ({key})" in found[0]
    assert value not in found[0]


@pytest.mark.parametrize("key", ["passphrase", "api-key", "pwd", "access_key", "client_secret"])
def test_more_secret_names_are_recognised(workspace: Path, key: str) -> None:
    found = problems(workspace, f'[channels.s]\nplatform = "sandbox"\n{key} = "hunter22-secret"\n')
    assert len(found) == 1 and f"has a secret in the file ({key})" in found[0]
    assert "hunter22" not in found[0]


@pytest.mark.parametrize(
    "url",
    [
        "mysql://u:hunter22@db.example.org/elshi",
        "postgresql+asyncpg://u:hunter22@db.example.org/elshi",
        "postgresql://u:hunter22@db.example.org:99999/elshi",
        "postgresql://u:hunter22@db.example.org/elshi",
    ],
)
def test_a_database_url_with_a_password_is_never_repeated(workspace: Path, url: str) -> None:
    found = problems(workspace, f'[database]\nurl = "{url}"\n')
    assert len(found) == 1 and ":2: [database] url: " in found[0]
    assert "hunter22" not in found[0]


def test_a_database_password_comes_only_from_the_environment(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = problems(
        workspace, '[database]\nurl = "postgresql://elshi:hunter22@db.example.org/elshi"\n'
    )
    assert "holds a password" in found[0] and "ELSHI_DATABASE_URL" in found[0]
    monkeypatch.setenv("ELSHI_DATABASE_URL", "postgresql://elshi:hunter22@db.example.org/elshi")
    (workspace / "elshi.toml").write_text("", encoding="utf-8")
    assert load_config(workspace / "elshi.toml").database_url.endswith("@db.example.org/elshi")
    monkeypatch.setenv("ELSHI_DATABASE_URL", "mysql://elshi:hunter22@db.example.org/elshi")
    with pytest.raises(ConfigError) as caught:
        load_config(workspace / "elshi.toml")
    assert "hunter22" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://user:hunter22@social.example",
        "https://social.example/?access_token=hunter22",
        "https://social.example/api#token=hunter22",
    ],
)
def test_a_secret_in_api_base_url_is_refused_without_echoing_it(workspace: Path, url: str) -> None:
    found = problems(
        workspace, f'[channels.m]\nplatform = "mastodon"\ntoken_env = "M"\napi_base_url = "{url}"\n'
    )
    assert len(found) == 1 and ":4: [channels.m] api_base_url: must not" in found[0]
    assert "hunter22" not in found[0]


def test_channels_list_never_prints_a_secret(run: Run, workspace: Path) -> None:
    with (workspace / "elshi.toml").open("a", encoding="utf-8") as file:
        file.write('\n[channels.leaky]\nplatform = "sandbox"\nbearer = "hunter22-secret"\n')
    for args in (("channels", "list"), ("channels", "list", "--json")):
        result = run(*args, expect=2)
        assert "hunter22" not in result.output
        assert "has a secret in the file (bearer)" in result.output


def test_defaults_load_and_are_in_range(workspace: Path) -> None:
    config = load_config(workspace / "elshi.toml")
    daemon = config.section(DaemonConfig)
    assert (daemon.poll_seconds, daemon.lease_seconds, daemon.workers) == (60.0, 300.0, 8)
    assert config.metrics_schedule == (3600.0, 21600.0, 86400.0, 259200.0, 604800.0, 2592000.0)


def test_every_declared_default_is_valid() -> None:
    from elshi.settings import Context

    for section in SECTIONS:
        for setting in section.settings():
            if setting.key != "url" and setting.default is not None:
                setting.kind.parse(setting.default, Context(Path("/tmp")))


def test_channel_options_reach_the_connector_typed(workspace: Path) -> None:
    path = workspace / "elshi.toml"
    path.write_text(
        '[channels.tg]\nplatform = "telegram"\ntoken_env = "T"\nchat_id = -1001234567\n'
        'timeout = "45s"\ndisable_link_preview = true\n',
        encoding="utf-8",
    )
    options = load_config(path).channels["tg"].settings(environ={"T": "x"}).options
    assert options == {
        "token_env": "T",
        "chat_id": -1001234567,
        "timeout": 45.0,
        "disable_link_preview": True,
    }


def test_the_platform_lists_agree() -> None:
    from connectors.options import PLATFORMS
    from connectors.registry import PLATFORMS as REGISTERED

    assert set(PLATFORMS) == set(REGISTERED)


def test_a_bad_setting_exits_2_without_a_traceback(run: Run, workspace: Path) -> None:
    (workspace / "elshi.toml").write_text('[daemon]\npoll = "0s"\n', encoding="utf-8")
    result = run("status", expect=2)
    assert result.output.startswith(f"error: {workspace / 'elshi.toml'}:2: [daemon] poll")
    assert "Traceback" not in result.output


@pytest.mark.parametrize("kind", ["pipe", "device", "folder", "huge"])
def test_a_configuration_that_is_not_a_small_file_is_refused_without_reading_it(
    workspace: Path, kind: str
) -> None:
    import os

    path = workspace / "elshi.toml"
    path.unlink()
    if kind == "pipe":
        os.mkfifo(path)  # opening it would wait for a writer forever
    elif kind == "device":
        path.symlink_to("/dev/zero")  # reading it would never end
    elif kind == "folder":
        path.mkdir()
    else:
        with path.open("wb") as file:
            file.truncate(4 * 1024**3)  # 4 GiB (sparse): read whole, it would take 4 GiB
    with pytest.raises(ConfigError) as caught:
        load_config()  # found in the working directory, as a workspace's file is
    [message] = caught.value.problems
    expected = {
        "pipe": "it is a named pipe, not a file",
        "device": "it is a device, not a file",
        "folder": "it is a folder, not a file",
        "huge": "4 GiB is larger than the 1 MiB allowed",
    }[kind]
    assert message.startswith(f"{path.name}: ") or message.startswith(f"{path}: ")
    assert expected in message, message


def test_a_sqlite_database_of_another_program_is_refused(workspace: Path) -> None:
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(workspace / "other.db")) as conn:
        conn.execute("CREATE TABLE users (name TEXT)")
        conn.commit()
    (workspace / "damaged.db").write_bytes(b"SQLite format 3\x00" + b"\xff" * 4096)
    found = problems(workspace, '[database]\nurl = "sqlite:///other.db"\n')
    assert len(found) == 1 and "the database of another program (tables users)" in found[0]
    assert found[0].startswith(f"{workspace / 'elshi.toml'}:2: ")
    found = problems(workspace, '[database]\nurl = "sqlite:///damaged.db"\n')
    assert len(found) == 1 and "which SQLite cannot read (file is not a database)" in found[0]


def test_a_byte_order_mark_is_accepted_and_utf16_named(workspace: Path) -> None:
    path = workspace / "elshi.toml"
    path.write_bytes(b'\xef\xbb\xbf[daemon]\r\npoll = "0s"\r\n')  # Notepad's UTF-8
    assert problems(workspace, path.read_bytes())[0].startswith(f"{path}:2: [daemon] poll")
    path.write_bytes(b'\xef\xbb\xbf[daemon]\r\npoll = "5s"\r\n')
    assert load_config(path).daemon.poll_seconds == 5
    found = problems(workspace, "[daemon]\n".encode("utf-16"))
    assert found == [f"{path}:1:1: the file is saved as UTF-16; save it as UTF-8"]


@pytest.mark.parametrize(
    "text",
    [
        '[channels.t]\nplatform = "telegram"\nchat_id = "@kazakhstan_de"\n'
        'token_env = "hunter22secretvalue"\n',
        '[channels.t]\nplatform = "telegram"\nchat_id = "@kazakhstan_de"\n'
        'token_env = "123456:hunter22-secret"\n',
        '[notify.mail]\nkind = "email"\nsmtp_host = "mail.example.org"\nfrom = "a@example.org"\n'
        'to = ["b@example.org"]\npassword_env = "hunter22-secret!"\n',
        '[web]\nsecret_key_env = "hunter22secretvalue"\n',
    ],
)
def test_a_secret_pasted_into_an_env_key_is_refused_and_never_repeated(
    workspace: Path, text: str
) -> None:
    found = problems(workspace, text)
    assert len(found) == 1 and "environment variable in capitals" in found[0], found
    assert "hunter22" not in found[0]
