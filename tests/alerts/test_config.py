"""The alert sections of elshi.toml are checked like the rest of the file: a mistake is refused
with the file, the line and what to write instead; a secret in the file is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from elshi.config import ConfigError, load_config
from elshi.settings import AlertsConfig, NotifyConfig, ReportMailConfig, to_cron

MAIL = """
[notify.office]
kind = "email"
smtp_host = "mail.example"
from = "elshi@example.org"
to = ["press@example.org"]
"""


def _load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "elshi.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def test_a_complete_configuration_is_read(tmp_path: Path) -> None:
    config = _load(
        tmp_path,
        MAIL
        + """
digest = "5m"
events = ["channel_paused"]
countries = ["DE"]

[reports.weekly]
schedule = "mon 08:00"
timezone = "Europe/Berlin"

[alerts]
heartbeat_timeout = "10m"

[web]
base_url = "https://elshi.example.org/"
""",
    )
    office = config.named(NotifyConfig)["office"]  # type: ignore[attr-defined]
    assert (office.kind, office.digest_seconds, office.events) == (
        "email",
        300.0,
        ("channel_paused",),
    )
    weekly = config.named(ReportMailConfig)["weekly"]  # type: ignore[attr-defined]
    assert (weekly.cron, weekly.via, weekly.formats) == ("0 8 * * mon", "office", ("html", "xlsx"))
    alerts = config.section(AlertsConfig)  # type: ignore[attr-defined]
    assert alerts.heartbeat_timeout_seconds == 600
    assert config.alert_links == "https://elshi.example.org"  # type: ignore[attr-defined]


def test_without_a_web_address_alerts_carry_no_links(tmp_path: Path) -> None:
    assert _load(tmp_path, MAIL).alert_links is None  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (MAIL + 'password = "hunter2"\n', "did you mean 'password_env'?"),
        (MAIL + 'events = ["delivery_faild"]\n', "unknown 'delivery_faild'"),
        (MAIL + 'chat_id = "@duty"\n', "is for kind = 'telegram'"),
        (
            MAIL.replace('kind = "email"', 'kind = "sms"'),
            'kind = "sms": must be one of "email", "telegram", "webhook"',
        ),
        (
            '[notify.hook]\nkind = "webhook"\nurl = "https://x.example/h"\n',
            "secret_env: is required",
        ),
        (MAIL + '\n[reports.weekly]\nschedule = "monday at 8"\n', 'write e.g. "mon 08:00"'),
        (MAIL + '\n[reports.weekly]\nschedule = "mon 25:00"\n', "is not a time of day"),
        (
            MAIL + '\n[reports.weekly]\nschedule = "mon 08:00"\ntimezone = "Berlin"\n',
            "must be an IANA time zone",
        ),
        ('[reports.weekly]\nschedule = "mon 08:00"\n', "there is none yet"),
        (
            MAIL + '\n[reports.weekly]\nschedule = "mon 08:00"\nformats = ["pdf"]\n',
            "pdf not available",
        ),
        (MAIL + '\n[alerts]\nheartbeat = "5m"\n', "unknown key 'heartbeat' in [alerts]"),
        ('[web]\nbase_url = "elshi.example.org"\n', "must be an http:// or https:// address"),
    ],
)
def test_mistakes_are_refused_with_their_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    assert message in str(caught.value)
    assert str(caught.value).startswith(str(tmp_path / "elshi.toml") + ":")
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("schedule", "cron"),
    [
        ("mon 08:00", "0 8 * * mon"),
        ("Mon,Thu 9:30", "30 9 * * mon,thu"),
        ("weekdays 07:30", "30 7 * * mon-fri"),
        ("daily 18:05", "5 18 * * *"),
        ("0 8 1 * *", "0 8 1 * *"),
    ],
)
def test_schedules_in_words_become_cron(schedule: str, cron: str) -> None:
    assert to_cron(schedule) == cron
