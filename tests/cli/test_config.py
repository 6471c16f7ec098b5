"""Configuration: where elshi.toml is found, what overrides it, and how secrets are kept out of
the file and out of the logs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from elshi.config import ConfigError, load_config
from tests.campaigns.test_bad_input import GOOD
from tests.cli.conftest import Run


def config(path: Path, channel: str, extra: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'[channels.{channel}]\nplatform = "sandbox"\n{extra}', encoding="utf-8")
    return path


@pytest.fixture
def three(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    return {
        "cwd": config(workspace / "elshi.toml", "from-cwd"),
        "env": config(workspace / "env" / "elshi.toml", "from-env"),
        "flag": config(workspace / "flag" / "other.toml", "from-flag"),
    }


def test_the_flag_comes_first(three: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELSHI_CONFIG", str(three["env"]))
    assert list(load_config(three["flag"]).channels) == ["from-flag"]


def test_then_elshi_config(three: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELSHI_CONFIG", str(three["env"]))
    assert list(load_config().channels) == ["from-env"]


def test_then_the_working_directory(three: dict[str, Path]) -> None:
    assert list(load_config().channels) == ["from-cwd"]


def test_the_cli_follows_the_same_order(run: Run, three: dict[str, Path]) -> None:
    def names(*args: str, env: dict[str, str] | None = None) -> list[str]:
        out = run(*args, "channels", "list", "--json", env=env).stdout
        return [c["name"] for c in json.loads(out)]

    env = {"ELSHI_CONFIG": str(three["env"])}
    assert names("--config", str(three["flag"]), env=env) == ["from-flag"]
    assert names(env=env) == ["from-env"]
    assert names() == ["from-cwd"]


def test_a_missing_config_file_is_an_error(workspace: Path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(workspace / "nope.toml")


def test_the_database_is_next_to_the_config_unless_elshi_database_url_says_otherwise(
    three: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (
        load_config(three["flag"]).database_url == f"sqlite:///{three['flag'].parent / 'elshi.db'}"
    )
    monkeypatch.setenv("ELSHI_DATABASE_URL", "postgresql://elshi@db.example.org/elshi")
    assert load_config(three["flag"]).database_url == "postgresql://elshi@db.example.org/elshi"


@pytest.mark.parametrize(
    "key", ["token", "password", "consumer_secret", "access_token_secret", "api_key"]
)
def test_a_secret_written_in_the_file_is_refused(workspace: Path, key: str) -> None:
    path = config(workspace / "elshi.toml", "tg", f'{key} = "123456:abcdef"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:3: channel 'tg' has a secret in the file ({key})")
    assert f'{key}_env = "VARIABLE_NAME"' in message


def test_the_cli_refuses_a_secret_in_the_file_with_exit_code_2(run: Run, workspace: Path) -> None:
    config(workspace / "elshi.toml", "tg", 'token = "123456:abcdef"\n')
    result = run("campaign", "list", expect=2)
    assert "token_env" in result.output
    assert "123456:abcdef" not in result.output


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[databse]\n", "unknown section or key 'databse' (did you mean 'database'?)"),
        ("[daemon]\nleese = '5m'\n", "unknown key 'leese' in [daemon] (did you mean 'lease'?)"),
        (
            '[channels.a]\nplatform = "sandbox"\napi_base_ur = "http://x"\n',
            "unknown key 'api_base_ur' in [channels.a] (did you mean 'api_base_url'?)",
        ),
        ('[channels.a]\nplatform = "mastadon"\n', "(did you mean 'mastodon'?)"),
        (
            '[channels.a]\nplatform = "sandbox"\nmimic = "twitter"\n',
            'mimic = "twitter": must be one of',
        ),
    ],
)
def test_unknown_keys_get_a_suggestion(workspace: Path, text: str, expected: str) -> None:
    path = workspace / "elshi.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert expected in str(caught.value)
    assert str(caught.value).startswith(f"{path}:")


def test_a_sandbox_channel_follows_the_text_rules_of_the_platform_it_mimics(
    workspace: Path,
) -> None:
    path = config(workspace / "elshi.toml", "a", 'mimic = "bluesky"\n')
    loaded = load_config(path)
    assert loaded.channel_platforms == {"a": "sandbox"}
    assert loaded.text_platforms == {"a": "bluesky"}


SECRET = "987654321:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


def test_a_secret_from_the_environment_never_appears_in_the_output_or_logs(
    run: Run, workspace: Path
) -> None:
    with (workspace / "elshi.toml").open("a", encoding="utf-8") as f:
        f.write(
            '\n[channels.tg]\nplatform = "telegram"\napi_base_url = "http://127.0.0.1:9"\n'
            'chat_id = "@elshi_test"\ntoken_env = "ELSHI_TEST_TG"\n'
        )
    (workspace / "campaign.yaml").write_text(GOOD.replace("de-mastodon]", "tg]"), "utf-8")
    env = {"ELSHI_TEST_TG": SECRET}
    outputs = [
        run("--log-json", "-vv", "campaign", "apply", "campaign.yaml", env=env),
        run("--log-json", "-vv", "channels", "list", env=env),
        run("--log-json", "-vv", "channels", "check", "tg", env=env, expect=1),
        run("-vv", "campaign", "show", "de-test", env=env),
    ]
    text = "".join(r.output for r in outputs)
    assert '"level": "debug"' in text  # the logs were captured
    assert "could not check the bot token" in text
    assert SECRET not in text
    assert SECRET.split(":")[1] not in text


def test_the_workspace_config_is_found_from_a_subfolder(
    three: dict[str, Path], workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep = workspace / "campaigns" / "2027"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    loaded = load_config()
    assert list(loaded.channels) == ["from-cwd"]
    assert loaded.base_dir == workspace.resolve()


@pytest.mark.parametrize(
    "args",
    [
        ("campaign", "apply", "campaign.yaml"),
        ("post", "approve", "--campaign", "de-test", "--all"),
        ("run", "--once"),
        ("status",),
        ("db", "upgrade"),
    ],
)
def test_without_a_workspace_commands_refuse_and_create_no_database(
    run: Run,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
) -> None:
    empty = tmp_path_factory.mktemp("elsewhere")
    (empty / "campaign.yaml").write_text(GOOD, encoding="utf-8")
    monkeypatch.chdir(empty)
    result = run(*args, expect=2)
    assert "no elshi.toml in" in result.output
    assert "elshi init" in result.output
    assert sorted(p.name for p in empty.iterdir()) == ["campaign.yaml"]


def test_validate_works_without_a_workspace(
    run: Run, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path_factory.mktemp("elsewhere")
    (empty / "campaign.yaml").write_text(GOOD, encoding="utf-8")
    monkeypatch.chdir(empty)
    assert "ok — campaign de-test" in run("campaign", "validate", "campaign.yaml").output


@pytest.mark.parametrize("opening", ["[", "{a = "])
def test_nesting_past_the_parsers_recursion_is_a_located_error(
    run: Run, workspace: Path, opening: str
) -> None:
    """tomllib recurses once per level: 5,000 levels were a RecursionError traceback."""
    path = workspace / "elshi.toml"
    closing = "]" if opening == "[" else "}"
    lines = path.read_text(encoding="utf-8").count("\n")
    with path.open("a", encoding="utf-8") as file:
        file.write(f"\nx = {opening * 5000}{'1' if opening != '[' else ''}{closing * 5000}\n")
    out = run("status", expect=2).output
    assert f"elshi.toml:{lines + 2}: arrays or inline tables nested too deeply" in out, out
    assert "Traceback" not in out
