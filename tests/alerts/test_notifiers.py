"""Each notifier against a real receiver: SMTP with STARTTLS and a login (aiosmtpd, a fresh
self-signed certificate), the Telegram emulator through python-telegram-bot, a webhook receiver
that checks the signature; what each one's failures become; and the secrets, which never reach
the logs or the database."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from notify.base import Message, NotifierConfigError, RejectedNotifyError, TransientNotifyError
from notify.testing.smtp import SMTPServer, self_signed
from notify.testing.webhook import WebhookReceiver
from tests.alerts.conftest import (
    SMTP_PASSWORD,
    SMTP_PASSWORD_ENV,
    WEBHOOK_SECRET,
    WEBHOOK_SECRET_ENV,
)
from tests.scheduler.conftest import at, post_yaml

MESSAGE = Message(key="elshi-test-1", subject="Test", text="Hello", html="<p>Hello</p>")


def test_email_over_starttls_with_a_login(tmp_path: Path) -> None:
    from notify.email import EmailNotifier

    context, ca_file = self_signed(tmp_path)
    with SMTPServer(login=("elshi", SMTP_PASSWORD), tls_context=context) as server:
        notifier = EmailNotifier(
            "mail",
            host="127.0.0.1",
            port=server.port,
            security="starttls",
            username="elshi",
            password=SMTP_PASSWORD,
            ca_file=ca_file,
            sender="Elshi <elshi@embassy.example>",
            to=["press@embassy.example"],
        )
        notifier.send(MESSAGE)
        (mail,) = server.messages
        assert mail.message_id == "<elshi-test-1@embassy.example>"
        assert mail.text().strip() == "Hello" and "<p>Hello</p>" in mail.html()
        untrusted = EmailNotifier(
            "mail",
            host="127.0.0.1",
            port=server.port,
            sender="elshi@embassy.example",
            to=["press@embassy.example"],
        )
        with pytest.raises(NotifierConfigError, match="certificate is not trusted"):
            untrusted.send(MESSAGE)


def test_email_over_implicit_tls(tmp_path: Path) -> None:
    from notify.email import EmailNotifier

    context, ca_file = self_signed(tmp_path)
    with SMTPServer(tls_context=context, implicit_tls=True) as server:
        EmailNotifier(
            "mail",
            host="127.0.0.1",
            port=server.port,
            security="tls",
            ca_file=ca_file,
            sender="elshi@embassy.example",
            to=["press@embassy.example"],
            timeout=5,
        ).send(MESSAGE)
        assert [m.message_id for m in server.messages] == ["<elshi-test-1@embassy.example>"]


def test_a_refused_login_names_the_settings_and_not_the_password() -> None:
    from notify.email import EmailNotifier

    with SMTPServer(login=("elshi", "the-right-one")) as server:
        notifier = EmailNotifier(
            "mail",
            host="127.0.0.1",
            port=server.port,
            security="none",
            username="elshi",
            password=SMTP_PASSWORD,
            sender="elshi@embassy.example",
            to=["press@embassy.example"],
        )
        with pytest.raises(NotifierConfigError) as caught:
            notifier.send(MESSAGE)
        assert "password_env" in caught.value.message
        assert SMTP_PASSWORD not in caught.value.message
        assert server.refused_logins >= 1


def test_smtp_answers_become_the_taxonomy() -> None:
    from notify.email import EmailNotifier

    with SMTPServer() as server:
        notifier = EmailNotifier(
            "mail",
            host="127.0.0.1",
            port=server.port,
            security="none",
            sender="elshi@embassy.example",
            to=["press@embassy.example"],
        )
        server.refuse_next(1, "451 4.3.0 Try again later")
        with pytest.raises(TransientNotifyError):
            notifier.send(MESSAGE)
        server.refuse_next(1, "554 5.7.1 Message refused")
        with pytest.raises(RejectedNotifyError):
            notifier.send(MESSAGE)
    with pytest.raises(TransientNotifyError, match="ConnectionRefused"):
        notifier.send(MESSAGE)


def test_telegram_sends_plain_text_to_the_chat_and_names_a_refused_token() -> None:
    from connectors.testing.telegram import DEFAULT_TOKEN, TelegramEmulator
    from notify.telegram import TelegramNotifier

    with TelegramEmulator() as emulator:
        notifier = TelegramNotifier(
            "duty", token=DEFAULT_TOKEN, chat_id=str(emulator.chat_id), api_base_url=emulator.url
        )
        notifier.send(
            Message(key="k", subject="s", text="Channel <b>de-x</b> paused " + "x" * 5000)
        )
        (post,) = emulator.live_posts()
        assert post["text"].startswith("Channel <b>de-x</b> paused")
        assert len(post["text"]) <= 4096 and post["text"].endswith("elshi status)")
        emulator.expire_token()
        with pytest.raises(NotifierConfigError, match="token_env") as caught:
            notifier.send(MESSAGE)
        assert DEFAULT_TOKEN not in caught.value.message


def test_a_webhook_request_is_signed_over_timestamp_and_body() -> None:
    from notify.webhook import WebhookNotifier, verify

    with WebhookReceiver(WEBHOOK_SECRET) as receiver:
        WebhookNotifier("hook", url=receiver.url, secret=WEBHOOK_SECRET).send(MESSAGE)
        (call,) = receiver.calls
        assert call.signature_ok and call.key == "elshi-test-1"
        assert call.json()["id"] == "elshi-test-1" and call.json()["text"] == "Hello"
        assert verify(WEBHOOK_SECRET, call.headers, call.body)
        assert not verify(WEBHOOK_SECRET, call.headers, call.body + b" ")
        assert not verify("another-secret", call.headers, call.body)
        wrong = WebhookNotifier("hook", url=receiver.url, secret="not-the-shared-secret")
        with pytest.raises(NotifierConfigError, match="secret_env"):
            wrong.send(MESSAGE)
        receiver.fail_next(1, 429)
        with pytest.raises(TransientNotifyError):
            WebhookNotifier("hook", url=receiver.url, secret=WEBHOOK_SECRET).send(MESSAGE)


@pytest.mark.parametrize(
    ("given", "wait"),
    [
        ({"Retry-After": "120"}, 120.0),
        # an HTTP date, measured on the receiver's own Date (not on our clock, an hour off)
        (
            {
                "Date": "Mon, 30 Nov 2026 17:00:00 GMT",
                "Retry-After": "Mon, 30 Nov 2026 17:01:30 GMT",
            },
            90.0,
        ),
        # without a Date: on our clock
        ({"Date": None, "Retry-After": "Mon, 30 Nov 2026 18:01:30 GMT"}, 90.0),
        # the obsolete RFC 850 form a receiver may still send
        ({"Date": None, "Retry-After": "Monday, 30-Nov-26 18:02:00 GMT"}, 120.0),
        (
            {
                "Date": "Mon, 30 Nov 2026 17:00:00 GMT",
                "Retry-After": "Mon, 30 Nov 2026 16:59:00 GMT",
            },
            0.0,
        ),
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
def test_a_webhook_receivers_retry_after_is_read_in_seconds_or_as_an_http_date(
    given: dict[str, str | None], wait: float | None
) -> None:
    from notify.webhook import WebhookNotifier

    our_clock = at("2026-11-30T18:00:00").timestamp()
    with WebhookReceiver(WEBHOOK_SECRET) as receiver:
        notifier = WebhookNotifier(
            "hook", url=receiver.url, secret=WEBHOOK_SECRET, clock=lambda: our_clock
        )
        receiver.fail_next(1, 503, headers=given)
        with pytest.raises(TransientNotifyError) as raised:
            notifier.send(MESSAGE)
    assert raised.value.retry_after == wait


def test_the_verification_snippet_in_the_operator_guide_accepts_a_real_request() -> None:
    from tests.conftest import ROOT

    guide = (ROOT / "docs" / "operator-guide.md").read_text(encoding="utf-8")
    start = guide.index("```python\n# verify an Elshi webhook")
    code = guide[start + len("```python\n") : guide.index("```", start + 10)]
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    from notify.webhook import WebhookNotifier

    with WebhookReceiver(WEBHOOK_SECRET) as receiver:
        WebhookNotifier("hook", url=receiver.url, secret=WEBHOOK_SECRET).send(MESSAGE)
        (call,) = receiver.calls
    headers = {k.title(): v for k, v in call.headers.items()}
    assert namespace["verify"](WEBHOOK_SECRET.encode(), headers, call.body) is True
    assert namespace["verify"](b"wrong", headers, call.body) is False


def test_notifier_secrets_never_reach_the_logs_or_the_database(
    alert_rig: Any,
    mastodon: Any,
    webhook: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from connectors.testing.telegram import DEFAULT_TOKEN, TelegramEmulator

    monkeypatch.setenv(SMTP_PASSWORD_ENV, SMTP_PASSWORD)
    monkeypatch.setenv("ELSHI_TEST_NOTIFY_BOT", DEFAULT_TOKEN)
    with SMTPServer(login=("elshi", "another-password")) as smtp, TelegramEmulator() as telegram:
        telegram.expire_token()
        webhook.fail_next(5, 403)
        rig = alert_rig(
            f"""
[notify.mail]
kind = "email"
smtp_host = "127.0.0.1"
smtp_port = {smtp.port}
security = "none"
username = "elshi"
password_env = "{SMTP_PASSWORD_ENV}"
from = "elshi@embassy.example"
to = ["press@embassy.example"]
digest = "0s"

[notify.duty-chat]
kind = "telegram"
token_env = "ELSHI_TEST_NOTIFY_BOT"
chat_id = "{telegram.chat_id}"
api_base_url = "{telegram.url}"
digest = "0s"

[notify.hook]
kind = "webhook"
url = "{webhook.url}"
secret_env = "{WEBHOOK_SECRET_ENV}"
digest = "0s"
"""
        )
        rig.apply([post_yaml("p1", "2027-03-01 10:00", "Eins")])
        mastodon.expire_token()
        rig.clock.set(at("2027-03-01T09:00:00"))
        with caplog.at_level(logging.DEBUG):
            rig.run()
            rig.clock.advance(minutes=5)
            rig.run()
    logged = caplog.text
    assert "not sent" in logged  # each notifier failed, and said so
    dump = _dump(rig)
    assert "refused the login" in dump and "refused the signature" in dump
    for secret in (SMTP_PASSWORD, DEFAULT_TOKEN, WEBHOOK_SECRET):
        assert secret not in logged
        assert secret not in dump


def _dump(rig: Any) -> str:
    from campaigns.schema import Base

    out = []
    with rig.sessions() as session:
        for table in Base.metadata.sorted_tables:
            out += [
                repr(tuple(row)) for row in session.execute(text(f'SELECT * FROM "{table.name}"'))
            ]
    return "\n".join(out)
