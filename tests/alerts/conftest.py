"""A rig for alert tests: the scheduler rig (a real database, the Mastodon emulator with the real
client library, a fake clock) plus a real SMTP server (aiosmtpd), a webhook receiver that checks
signatures, and ``[notify.*]`` / ``[reports.*]`` tables in its elshi.toml."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from notify.testing.smtp import SMTPServer
from notify.testing.webhook import WebhookReceiver
from tests.conftest import migrated_db_url
from tests.scheduler.conftest import (  # noqa: F401 - fixtures
    MASTODON_TOKEN_ENV,
    Rig,
    clock,
    mastodon,
    mastodon_channel,
)

WEBHOOK_SECRET_ENV = "ELSHI_TEST_WEBHOOK_SECRET"
WEBHOOK_SECRET = "whsec-test-4f1c9a7e2b"
SMTP_PASSWORD_ENV = "ELSHI_TEST_SMTP_PASSWORD"
SMTP_PASSWORD = "smtp-pass-8d2e6c"


class AlertRig(Rig):
    extra_toml: str = ""

    def write_config(self) -> Path:
        path = super().write_config()
        if self.extra_toml:
            path.write_text(path.read_text(encoding="utf-8") + "\n" + self.extra_toml, "utf-8")
        return path


@pytest.fixture(params=["sqlite"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """SQLite unless a test asks for both databases (``BOTH_DATABASES``): the claim and lease
    paths run on PostgreSQL too, the rest of the logic is the same SQL. Already migrated to
    head (`tests.conftest.migrated_db_url`)."""
    return migrated_db_url(request, tmp_path, request.param)


BOTH_DATABASES = pytest.mark.parametrize(
    "db_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


@pytest.fixture
def smtp() -> Iterator[SMTPServer]:
    with SMTPServer() as server:
        yield server


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhookReceiver]:
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, WEBHOOK_SECRET)
    with WebhookReceiver(WEBHOOK_SECRET) as receiver:
        yield receiver


def notify_toml(
    smtp: SMTPServer | None = None,
    webhook: WebhookReceiver | None = None,
    *,
    digest: str = "1m",
    extra: str = "",
) -> str:
    lines: list[str] = []
    if smtp is not None:
        lines += [
            "[notify.office-mail]",
            'kind = "email"',
            'smtp_host = "127.0.0.1"',
            f"smtp_port = {smtp.port}",
            'security = "none"',
            'from = "elshi@embassy.example"',
            'to = ["press@embassy.example", "duty@embassy.example"]',
            f'digest = "{digest}"',
            "",
        ]
    if webhook is not None:
        lines += [
            "[notify.ops-hook]",
            'kind = "webhook"',
            f'url = "{webhook.url}"',
            f'secret_env = "{WEBHOOK_SECRET_ENV}"',
            f'digest = "{digest}"',
            "",
        ]
    return "\n".join(lines) + extra


@pytest.fixture
def alert_rig(db_url: str, tmp_path: Path, clock: Any, mastodon: Any) -> Iterator[Any]:  # noqa: F811
    rigs: list[AlertRig] = []

    def make(extra_toml: str, channels: dict[str, Any] | None = None, **overrides: Any) -> AlertRig:
        rig = AlertRig(
            tmp_path,
            db_url,
            clock,
            channels or {"de-mastodon": mastodon_channel(mastodon)},
            overrides,
        )
        rig.extra_toml = extra_toml
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.close()


def outbox(rig: Any) -> list[Any]:
    from sqlalchemy import select

    from campaigns.schema import AlertOutbox

    with rig.sessions() as session:
        return list(session.scalars(select(AlertOutbox).order_by(AlertOutbox.id)))


def events(rig: Any) -> list[Any]:
    from sqlalchemy import select

    from campaigns.schema import AlertEvent

    with rig.sessions() as session:
        return list(session.scalars(select(AlertEvent).order_by(AlertEvent.id)))
