"""Alerts, end to end in one process on a fake clock: events recorded once in the transaction
of the change, queued per notifier, sent as one message per notifier (a digest for a burst),
retried through outages, never sent as a different message after a crash. Real parts: the
Mastodon emulator with Mastodon.py, an aiosmtpd server, a webhook receiver checking the HMAC."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.alerts.conftest import BOTH_DATABASES, events, notify_toml, outbox
from tests.scheduler.conftest import at, post_yaml


def _token_refused(alert_rig: Any, mastodon: Any, smtp: Any, webhook: Any) -> Any:
    rig = alert_rig(notify_toml(smtp, webhook))
    rig.apply(
        [post_yaml("p1", "2027-03-01 10:00", "Eins"), post_yaml("p2", "2027-03-01 10:00", "Zwei")]
    )
    mastodon.expire_token()
    rig.clock.set(at("2027-03-01T09:00:00"))
    rig.run()
    return rig


@BOTH_DATABASES
def test_a_refused_token_gives_one_email_and_one_webhook_call_naming_the_channel_and_the_fix(
    alert_rig: Any, mastodon: Any, smtp: Any, webhook: Any
) -> None:
    rig = _token_refused(alert_rig, mastodon, smtp, webhook)
    assert [e.kind for e in events(rig)] == ["channel_paused"]
    assert smtp.messages == [] and webhook.calls == []  # the digest window is still open
    rig.clock.advance(minutes=1)
    rig.run()
    rig.clock.advance(minutes=10)
    rig.run()
    assert len(smtp.messages) == 1 and len(webhook.calls) == 1
    mail = smtp.messages[0]
    assert "de-mastodon" in mail.subject
    assert "elshi channels resume de-mastodon" in mail.text()
    assert "elshi channels check de-mastodon" in mail.html()
    assert sorted(mail.recipients) == ["duty@embassy.example", "press@embassy.example"]
    call = webhook.calls[0]
    assert call.signature_ok and call.status == 200
    (alert,) = call.json()["alerts"]
    assert alert["kind"] == "channel_paused" and alert["channel"] == "de-mastodon"
    assert "elshi channels resume de-mastodon" in alert["action"]
    assert call.key.startswith("elshi-") and mail.message_id.startswith("<elshi-")
    assert {o.state for o in outbox(rig)} == {"sent"}


def test_an_event_is_written_in_the_transaction_of_the_change(alert_rig: Any, smtp: Any) -> None:
    from campaigns.schema import AlertEvent, AlertOutbox, Delivery
    from campaigns.schema import DeliveryState as S
    from campaigns.states import transition

    rig = alert_rig(notify_toml(smtp))
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Eins")])
    rig.run()  # the daemon copies the [notify] tables into the database
    with rig.sessions() as session:
        delivery = session.get(Delivery, 1)
        transition(session, delivery, S.missed, actor="test", at=rig.clock(), reason="test")
        assert session.query(AlertEvent).count() == 1
        assert session.query(AlertOutbox).count() == 1
        session.rollback()
    assert events(rig) == [] and outbox(rig) == []
    assert rig.delivery(1).state == "approved"


def test_notifiers_get_only_the_events_campaigns_and_countries_they_ask_for(
    alert_rig: Any, mastodon: Any, smtp: Any
) -> None:
    extra = f"""
[notify.china-desk]
kind = "email"
smtp_host = "127.0.0.1"
smtp_port = {smtp.port}
security = "none"
from = "elshi@embassy.example"
to = ["china@embassy.example"]
countries = ["CN"]

[notify.reviews-only]
kind = "email"
smtp_host = "127.0.0.1"
smtp_port = {smtp.port}
security = "none"
from = "elshi@embassy.example"
to = ["review@embassy.example"]
events = ["delivery_needs_review"]
campaigns = ["de-test"]
"""
    rig = alert_rig(notify_toml(smtp) + extra)
    mastodon.inject("reject", path="/api/v1/statuses", method="POST", message="Validation failed")
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Eins")])
    rig.clock.set(at("2027-03-01T09:00:00"))
    rig.run()
    assert [(o.notifier, o.event.kind) for o in _with_events(rig)] == [
        ("office-mail", "delivery_failed")
    ]


def _with_events(rig: Any) -> list[Any]:
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from campaigns.schema import AlertOutbox

    with rig.sessions() as session:
        return list(
            session.scalars(
                select(AlertOutbox)
                .options(selectinload(AlertOutbox.event))
                .order_by(AlertOutbox.id)
            )
        )


def test_two_hundred_missed_posts_in_a_minute_make_one_email_and_one_webhook_call(
    alert_rig: Any, smtp: Any, webhook: Any
) -> None:
    from tests.scheduler.harness import seed_deliveries

    rig = alert_rig(notify_toml(smtp, webhook))
    rig.run()
    due = at("2027-03-01T06:00:00")
    seed_deliveries(
        rig.db_url,
        {"de-mastodon": "mastodon"},
        [due + timedelta(seconds=i) for i in range(200)],
        prefix="Burst",
    )
    rig.clock.set(at("2027-03-01T07:00:00"))
    rig.run()
    assert len(events(rig)) == 200
    rig.clock.advance(minutes=1, seconds=5)
    rig.run()
    rig.clock.advance(minutes=5)
    rig.run()
    assert len(smtp.messages) == 1 and len(webhook.calls) == 1
    mail = smtp.messages[0]
    assert mail.subject.startswith("[Elshi] 200 alerts")
    assert mail.text().count("Delivery missed (") == 200
    assert len(webhook.calls[0].json()["alerts"]) == 200


@BOTH_DATABASES
def test_an_outage_delays_alerts_but_loses_none(
    alert_rig: Any, mastodon: Any, smtp: Any, webhook: Any
) -> None:
    rig = alert_rig(notify_toml(smtp, webhook, digest="0s"))
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Eins")])
    smtp.refuse_next(3)
    webhook.fail_next(3)
    mastodon.expire_token()
    rig.clock.set(at("2027-03-01T09:00:00"))
    rig.run()
    assert smtp.messages == [] and len(webhook.calls) == 1
    for _ in range(6):  # within the post's 15 min of grace: no "missed" alert joins in
        rig.clock.advance(minutes=2)
        rig.run()
    assert len(smtp.messages) == 1
    assert len(webhook.accepted()) == 1 and len(webhook.calls) == 4
    assert len({c.key for c in webhook.calls}) == 1  # every try was the same message
    assert [o.state for o in outbox(rig)] == ["sent", "sent"]


def test_a_mail_server_that_is_down_is_tried_again_until_it_answers(
    alert_rig: Any, mastodon: Any, smtp: Any
) -> None:
    rig = alert_rig(notify_toml(smtp, digest="0s"))
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Eins")])
    smtp.stop()
    mastodon.expire_token()
    rig.clock.set(at("2027-03-01T09:00:00"))
    rig.run()
    (row,) = outbox(rig)
    assert row.state == "pending" and row.attempts == 1
    assert "ConnectionRefusedError" in (row.last_error or "")
    smtp.start()
    rig.clock.advance(minutes=5)
    rig.run()
    assert len(smtp.messages) == 1 and outbox(rig)[0].state == "sent"


@BOTH_DATABASES
def test_after_a_crash_between_sending_and_recording_the_same_message_is_sent_again(
    alert_rig: Any, mastodon: Any, smtp: Any, webhook: Any
) -> None:
    """The claim fixes the message's key before sending: the next sender (here another worker
    after the lease expired) re-sends exactly that message, and a receiver that dedupes by
    Idempotency-Key or Message-ID keeps one."""
    from elshi.runtime import build_alerts

    rig = alert_rig(notify_toml(smtp, webhook, digest="0s"))
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Eins")])
    mastodon.expire_token()
    rig.clock.set(at("2027-03-01T09:00:00"))
    first = build_alerts(rig.config, rig.sessions, rig.clock, worker_id="crashing")
    first.sync_routes()
    rig.dispatcher().maintenance()
    rig.dispatcher().dispatch()
    batch = first._claim("ops-hook")
    assert batch is not None
    from scheduler.alerts import compose

    first.sender("ops-hook").send(compose(batch.key, batch.events, base_url=None))
    # ... and the process dies here, before recording.
    rig.clock.advance(minutes=3)
    rig.run()
    assert len(webhook.calls) == 2 and len(webhook.accepted()) == 1
    assert webhook.calls[0].key == webhook.calls[1].key == batch.key
    assert len(smtp.messages) == 1
    assert {o.state for o in outbox(rig)} == {"sent"}


def test_alerts_link_to_the_web_workspace_when_it_has_an_address(
    alert_rig: Any, mastodon: Any, smtp: Any
) -> None:
    rig = alert_rig(
        notify_toml(smtp, digest="0s") + '\n[web]\nbase_url = "https://elshi.embassy.example/"\n'
    )
    mastodon.inject("reject", path="/api/v1/statuses", method="POST", message="Validation failed")
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Eins")])
    rig.clock.set(at("2027-03-01T09:00:00"))
    rig.run()
    rig.run()
    text = smtp.messages[0].text()
    post_id = events(rig)[0].post_id
    assert f"Open: https://elshi.embassy.example/posts/{post_id}" in text
    assert "de-test/p1 on de-mastodon" in text and "Validation failed" in text
    assert "elshi deliveries retry 1" in text


def test_a_removed_notifier_drops_its_queue_saying_so(
    alert_rig: Any, mastodon: Any, smtp: Any, webhook: Any
) -> None:
    rig = _token_refused(alert_rig, mastodon, smtp, webhook)
    rig.extra_toml = notify_toml(smtp)
    rig.dispatcher(worker_id="after-edit")
    rig.clock.advance(minutes=2)
    rig.run()
    rows = {o.notifier: o for o in outbox(rig)}
    assert rows["office-mail"].state == "sent"
    assert rows["ops-hook"].state == "dropped"
    assert "no longer in the configuration" in (rows["ops-hook"].last_error or "")


@pytest.mark.parametrize("kind", ["collection", "heartbeat", "approval"])
def test_conditions_found_by_looking_are_recorded_once(
    alert_rig: Any, mastodon: Any, smtp: Any, kind: str
) -> None:
    from sqlalchemy import update

    from campaigns.schema import Channel, Worker

    rig = alert_rig(notify_toml(smtp, digest="0s"))
    if kind == "approval":
        rig.apply([post_yaml("p1", "2027-03-02 08:00", "Eins")], extra="")
        with rig.sessions() as session:
            from campaigns.schema import Delivery

            session.execute(update(Delivery).values(state="draft"))
            session.commit()
        rig.clock.set(at("2027-03-01T08:00:00"))
    else:
        rig.apply([post_yaml("p1", "2027-03-09 10:00", "Eins")])
    rig.run()
    if kind == "collection":
        with rig.sessions() as session:
            session.execute(
                update(Channel).values(
                    collect_failing_since=rig.clock() - timedelta(days=2), collect_error="503"
                )
            )
            session.commit()
    if kind == "heartbeat":
        with rig.sessions() as session:
            session.add(
                Worker(
                    id="old",
                    host="h",
                    pid=1,
                    started_at=rig.clock() - timedelta(hours=2),
                    heartbeat_at=rig.clock() - timedelta(hours=1),
                )
            )
            session.commit()
    from elshi.runtime import build_alerts

    # Any process that sees the database looks (a daemon does not look for its own absence).
    service = build_alerts(rig.config, rig.sessions, rig.clock, worker_id="watcher")
    if kind != "heartbeat":
        rig.dispatcher().heartbeat()
    for _ in range(3):
        service.run_pass()
        rig.clock.advance(seconds=30)
    expected = {
        "collection": "collection_failing",
        "heartbeat": "daemon_silent",
        "approval": "approval_overdue",
    }[kind]
    assert [e.kind for e in events(rig)] == [expected]
    assert len(smtp.messages) == 1


def test_a_token_the_platform_says_will_expire_is_announced_once(
    alert_rig: Any, smtp: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LinkedIn (its emulator, through linkedin-api-client) says when an access token expires;
    the daemon's daily identity read stores it and the alert warns within token_warning."""
    from connectors.testing.linkedin import LinkedInEmulator

    with LinkedInEmulator(clock=lambda: clock().timestamp()) as linkedin:
        token, _ = linkedin.issue(access_lifetime=10 * 86400)
        monkeypatch.setenv("ELSHI_TEST_LI_TOKEN", token)
        monkeypatch.setenv("ELSHI_TEST_LI_ID", linkedin.client_id)
        monkeypatch.setenv("ELSHI_TEST_LI_SECRET", linkedin.client_secret)
        channel = {
            "platform": "linkedin",
            "api_base_url": linkedin.url,
            "organization": str(linkedin.organization_id),
            "access_token_env": "ELSHI_TEST_LI_TOKEN",
            "client_id_env": "ELSHI_TEST_LI_ID",
            "client_secret_env": "ELSHI_TEST_LI_SECRET",
        }
        rig = alert_rig(notify_toml(smtp, digest="0s"), channels={"de-linkedin": channel})
        rig.apply([post_yaml("p1", "2027-03-01 10:00", "Eins")])
        rig.clock.set(at("2027-03-01T09:00:00"))
        rig.run()
        assert rig.delivery(1).state == "published"
        for _ in range(3):
            rig.clock.advance(hours=2)
            rig.dispatcher().run_once(collect=True)
    (event,) = events(rig)
    assert event.kind == "token_expiring" and event.channel == "de-linkedin"
    assert "expires in 9 days" in event.title
    assert len(smtp.messages) == 1 and "de-linkedin" in smtp.messages[0].subject


def test_a_post_sent_after_a_kill_switch_resume_is_announced(
    alert_rig: Any, mastodon: Any, smtp: Any
) -> None:
    from sqlalchemy import update

    from campaigns.schema import Delivery

    rig = alert_rig(notify_toml(smtp, digest="0s"))
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Eins")])
    with rig.sessions() as session:  # what an operator's "send the held posts" records
        session.execute(update(Delivery).values(resumed_from_pause=1))
        session.commit()
    rig.clock.set(at("2027-03-01T09:00:00"))
    rig.run()
    rig.run()
    assert [e.kind for e in events(rig)] == ["published_after_resume"]
    assert "de-test/p1 on de-mastodon" in smtp.messages[0].text()


@pytest.mark.parametrize("notifiers", [False, True], ids=["nobody to tell", "a notifier"])
def test_a_running_daemon_schedules_the_alert_pass_only_when_it_has_someone_to_tell(
    alert_rig: Any, mastodon: Any, webhook: Any, notifiers: bool
) -> None:
    """Without notifiers or scheduled reports a pass does nothing; scheduled every 10 s it
    still woke two of an idle daemon's threads (bench/idle.py). The routes are copied to the
    database all the same (a notifier removed from elshi.toml is marked inactive)."""
    import threading

    from campaigns.schema import Notifier

    rig = alert_rig(notify_toml(webhook=webhook) if notifiers else "")
    with rig.sessions() as session:  # a notifier of an earlier configuration
        session.add(Notifier(name="old-hook", kind="webhook", updated_at=rig.clock()))
        session.commit()
    daemon = rig.daemon("daemon")
    thread = threading.Thread(target=daemon.run_forever, kwargs={"install_signals": False})
    thread.start()
    try:
        assert daemon.ready.wait(20)
        jobs = {job.id for job in daemon._scheduler.get_jobs()}
    finally:
        daemon.stopping.set()
        thread.join(20)
    assert ("alerts" in jobs) == notifiers
    assert {"sweep", "heartbeat", "collect"} <= jobs
    with rig.sessions() as session:
        active = {n.name: n.active for n in session.query(Notifier)}
    assert active == ({"old-hook": False, "ops-hook": True} if notifiers else {"old-hook": False})
