"""Alerts with real daemon processes (``elshi run``) against a real database: a refused token
with three daemons, one of them killed, gives exactly one e-mail and one webhook call; a daemon
killed with SIGKILL after the receiver accepted an alert and before it was recorded leads to the
same message (same Idempotency-Key) being sent again, never to a different one."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from notify.testing.smtp import SMTPServer
from notify.testing.webhook import WebhookReceiver
from tests.alerts.conftest import WEBHOOK_SECRET, WEBHOOK_SECRET_ENV
from tests.scheduler.harness import Harness

pytestmark = pytest.mark.slow


def _notify(harness: Harness, smtp: SMTPServer | None, hook: WebhookReceiver, digest: str) -> None:
    harness.env[WEBHOOK_SECRET_ENV] = WEBHOOK_SECRET
    lines = [
        "",
        "[alerts]",
        'poll = "1s"',
        "",
        "[notify.ops]",
        'kind = "webhook"',
        f'url = "{hook.url}"',
        f'secret_env = "{WEBHOOK_SECRET_ENV}"',
        f'digest = "{digest}"',
        "timeout = 1",
        "",
    ]
    if smtp is not None:
        lines += [
            "[notify.mail]",
            'kind = "email"',
            'smtp_host = "127.0.0.1"',
            f"smtp_port = {smtp.port}",
            'security = "none"',
            'from = "elshi@embassy.example"',
            'to = ["duty@embassy.example"]',
            f'digest = "{digest}"',
            "timeout = 1",
            "",
        ]
    with harness.config.open("a", encoding="utf-8") as file:
        file.write("\n".join(lines))


def _paused(harness: Harness) -> bool:
    from campaigns.schema import Channel

    with harness.sessions() as session:
        return bool(session.scalar(select(Channel.paused).where(Channel.name == "m0")))


def _db(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return f"sqlite:///{tmp_path / 'elshi.db'}"


@pytest.fixture(params=[pytest.param("postgres", marks=pytest.mark.postgres)])
def many_daemons_db(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    return _db(tmp_path, request)


def test_a_refused_token_with_three_daemons_and_one_killed_gives_one_email_and_one_call(
    tmp_path: Path, many_daemons_db: str
) -> None:
    with (
        SMTPServer() as smtp,
        WebhookReceiver(WEBHOOK_SECRET) as hook,
        Harness(tmp_path, many_daemons_db, seed=3, mastodon_channels=1, x_channels=0) as harness,
    ):
        _notify(harness, smtp, hook, digest="3s")
        harness.mastodons[0].expire_token()
        harness.seed_burst(30, start=datetime.now(UTC) + timedelta(seconds=1), spread=2)
        with harness.daemons(3) as procs:
            assert harness.wait(lambda: _paused(harness), timeout=60)
            # Killed while the alert waits in its digest window: the others must send it.
            procs[0].send_signal(signal.SIGKILL)
            procs[0].wait()
            assert harness.wait(lambda: smtp.messages and hook.calls, timeout=60)
            harness.wait(lambda: False, timeout=4)  # long enough for any duplicate to show
        assert len(smtp.messages) == 1, [m.subject for m in smtp.messages]
        assert len(hook.calls) == 1
        mail, call = smtp.messages[0], hook.calls[0]
        assert "m0" in mail.subject and "elshi channels resume m0" in mail.text()
        assert call.signature_ok
        (alert,) = call.json()["alerts"]
        assert alert["channel"] == "m0" and "elshi channels resume m0" in alert["action"]


def test_sigkill_between_send_and_record_resends_the_same_message(tmp_path: Path) -> None:
    from campaigns.schema import AlertOutbox

    with (
        WebhookReceiver(WEBHOOK_SECRET) as hook,
        Harness(
            tmp_path,
            f"sqlite:///{tmp_path / 'elshi.db'}",
            seed=4,
            mastodon_channels=1,
            x_channels=0,
        ) as harness,
    ):
        _notify(harness, None, hook, digest="0s")
        hook.hold_seconds = 30  # the receiver has it; the daemon waits for the answer
        harness.mastodons[0].expire_token()
        harness.seed_burst(3, start=datetime.now(UTC), spread=0.5)
        first = harness.start_daemon("first")
        assert harness.wait(lambda: len(hook.calls) == 1, timeout=60)
        first.send_signal(signal.SIGKILL)
        first.wait()
        hook.hold_seconds = 0
        with harness.daemons(1, "second"):
            assert harness.wait(lambda: len(hook.calls) == 2, timeout=60)
            assert harness.wait(lambda: _states(harness, AlertOutbox) == {"sent"}, timeout=30)
        assert hook.calls[0].key == hook.calls[1].key
        assert len(hook.accepted()) == 1


def _states(harness: Harness, model: Any) -> set[str]:
    with harness.sessions() as session:
        return set(session.scalars(select(model.state)))
