"""Report e-mails: ``[reports.NAME]`` sends the executive summary (plain text and HTML) with the
HTML and XLSX reports attached, at its scheduled minute in its time zone, once per scheduled
time however many daemons run; ``elshi report send NAME`` sends one now. A real SMTP server
(aiosmtpd) receives them; the clock is the rig's fake clock."""

from __future__ import annotations

from typing import Any

import pytest

from tests.alerts.conftest import BOTH_DATABASES, notify_toml
from tests.scheduler.conftest import at, post_yaml
from tests.scheduler.test_daemon_cli import elshi

WEEKLY = """
[reports.weekly]
schedule = "mon 08:00"
timezone = "Europe/Berlin"
to = ["ambassador@embassy.example"]
campaign = "de-test"
period = "7d"
"""


@pytest.fixture
def rig(alert_rig: Any, smtp: Any) -> Any:
    rig = alert_rig(notify_toml(smtp) + WEEKLY)
    rig.clock.set(at("2027-02-20T08:00:00"))
    rig.apply([post_yaml("p1", "2027-02-24 10:00", "Eins")])
    rig.clock.set(at("2027-02-24T09:00:00"))
    rig.run()
    assert rig.delivery(1).state == "published"
    return rig


def _service(rig: Any, worker: str) -> Any:
    from elshi.runtime import build_alerts

    service = build_alerts(rig.config, rig.sessions, rig.clock, worker_id=worker, in_daemon=True)
    service.start()
    return service


@BOTH_DATABASES
def test_a_weekly_report_arrives_at_its_minute_once_with_both_attachments(
    rig: Any, smtp: Any
) -> None:
    first, second = _service(rig, "daemon-a"), _service(rig, "daemon-b")
    rig.clock.set(at("2027-03-01T06:59:30"))  # 07:59:30 in Berlin
    first.run_pass()
    assert smtp.messages == []
    rig.clock.set(at("2027-03-01T07:00:00"))
    second.run_pass()
    first.run_pass()
    rig.clock.set(at("2027-03-01T07:00:40"))
    first.run_pass()
    second.run_pass()
    assert len(smtp.messages) == 1
    mail = smtp.messages[0]
    assert mail.recipients == ["ambassador@embassy.example"]
    assert "Elshi report weekly" in mail.subject and "2027-03-01" in mail.subject
    assert "Allgemeine Öffentlichkeit · de-test" in mail.text()
    assert "The full report is attached" in mail.text()
    assert "<h3>Allgemeine Öffentlichkeit · de-test</h3>" in mail.html()
    files = mail.attachments()
    assert sorted(files) == ["elshi-weekly-2027-03-01.html", "elshi-weekly-2027-03-01.xlsx"]
    assert files["elshi-weekly-2027-03-01.xlsx"].startswith(b"PK")
    assert b"<html" in files["elshi-weekly-2027-03-01.html"][:200].lower()
    rig.clock.set(at("2027-03-08T07:00:00"))
    second.run_pass()
    assert len(smtp.messages) == 2


def test_a_mail_server_outage_delays_the_report_but_it_still_goes_once(rig: Any, smtp: Any) -> None:
    service = _service(rig, "daemon-a")
    smtp.refuse_next(2)
    rig.clock.set(at("2027-03-01T07:00:00"))
    service.run_pass()
    assert smtp.messages == []
    for minute in range(1, 20, 3):
        rig.clock.set(at("2027-03-01T07:00:00").replace(minute=minute))
        service.run_pass()
    assert len(smtp.messages) == 1


def test_a_report_time_missed_long_ago_is_not_sent_late(rig: Any, smtp: Any) -> None:
    service = _service(rig, "daemon-a")
    rig.clock.set(at("2027-03-02T07:00:00"))  # a day after Monday 08:00
    service.run_pass()
    assert smtp.messages == []


def test_report_send_sends_one_now(rig: Any, smtp: Any) -> None:
    rig.clock.set(at("2027-03-03T12:00:00"))
    result = elshi(rig, "report", "send", "weekly")
    assert result.exit_code == 0, result.output
    assert "sent report weekly through office-mail" in result.output
    assert len(smtp.messages) == 1 and len(smtp.messages[0].attachments()) == 2
    unknown = elshi(rig, "report", "send", "monthly")
    assert unknown.exit_code == 2 and "known: weekly" in unknown.output


def test_report_send_says_why_when_the_mail_server_refuses(rig: Any, smtp: Any) -> None:
    smtp.refuse_next(1, "550 5.7.1 Relaying denied")
    rig.clock.set(at("2027-03-03T12:00:00"))
    result = elshi(rig, "report", "send", "weekly")
    assert result.exit_code == 1
    assert "not sent" in result.output and "Relaying denied" in result.output
