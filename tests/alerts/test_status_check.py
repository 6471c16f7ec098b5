"""``elshi status --check`` for monitoring: exit 1 with one line per problem for each case a
person must act on, exit 0 with one "OK" line otherwise; ``--json``; ``--format prometheus``
to a file, written atomically. Through the CLI, on a real SQLite file and the Mastodon
emulator, on the rig's fake clock."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from tests.scheduler.conftest import at, post_yaml
from tests.scheduler.test_daemon_cli import elshi


@pytest.fixture
def rig(alert_rig: Any) -> Any:
    rig = alert_rig("")
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Eins")])
    return rig


def _ran_at(rig: Any, moment: str) -> None:
    rig.clock.set(at(moment))
    result = elshi(rig, "run", "--once", "--no-collect")
    assert result.exit_code == 0, result.output


def test_all_is_well_after_a_pass(rig: Any, mastodon: Any) -> None:
    _ran_at(rig, "2027-03-01T09:00:00")
    result = elshi(rig, "status", "--check")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK: nothing needs attention")


def _never_ran(rig: Any, mastodon: Any) -> None:
    rig.clock.set(at("2027-03-01T08:30:00"))


def _daemon_stopped_long_ago(rig: Any, mastodon: Any) -> None:
    _ran_at(rig, "2027-03-01T08:30:00")
    rig.clock.set(at("2027-03-01T08:40:00"))


def _waiting_for_approval_past_its_time(rig: Any, mastodon: Any) -> None:
    from campaigns.schema import Delivery, Post

    with rig.sessions() as session:
        session.execute(update(Post).values(approval="pending"))
        session.execute(update(Delivery).values(state="draft"))
        session.commit()
    _ran_at(rig, "2027-03-01T09:05:00")


def _paused_channel(rig: Any, mastodon: Any) -> None:
    mastodon.expire_token()
    _ran_at(rig, "2027-03-01T09:00:00")


def _failed(rig: Any, mastodon: Any) -> None:
    mastodon.inject("reject", path="/api/v1/statuses", method="POST", message="Validation failed")
    _ran_at(rig, "2027-03-01T09:00:00")


def _needs_review(rig: Any, mastodon: Any) -> None:
    from campaigns.schema import Delivery
    from campaigns.schema import DeliveryState as S
    from campaigns.states import transition

    with rig.sessions() as session:
        delivery = session.get(Delivery, 1)
        transition(session, delivery, S.publishing, actor="test", at=rig.clock(), reason="t")
        transition(session, delivery, S.needs_review, actor="test", at=rig.clock(), reason="t")
        delivery.last_error = "the request timed out after sending"
        session.commit()
    _ran_at(rig, "2027-03-01T09:00:00")


def _collection_failing(rig: Any, mastodon: Any) -> None:
    _ran_at(rig, "2027-03-01T09:00:00")
    mastodon.inject("server_error", path="/api/v1/statuses", method="GET", times=1000)
    for hour in (10, 34):  # the first failure, and one a day later
        rig.clock.set(at("2027-03-01T00:00:00") + timedelta(hours=hour))
        assert elshi(rig, "collect", "--no-progress").exit_code == 0
        assert elshi(rig, "run", "--once", "--no-collect").exit_code == 0


def _token_expiring(rig: Any, mastodon: Any) -> None:
    from campaigns.schema import Channel

    _ran_at(rig, "2027-03-01T09:00:00")
    with rig.sessions() as session:  # as the daemon stores what the platform said
        session.execute(update(Channel).values(token_expires_at=at("2027-03-04T09:00:00")))
        session.commit()


CASES = {
    "daemon_silent: no daemon has ever run": _never_ran,
    "daemon_silent: no daemon heartbeat since 2027-03-01 08:30:00 UTC": _daemon_stopped_long_ago,
    "approval_overdue: de-test/p1 was due": _waiting_for_approval_past_its_time,
    "channel_paused: channel de-mastodon is paused": _paused_channel,
    "delivery_failed: delivery 1 de-test/p1@de-mastodon is failed": _failed,
    "delivery_needs_review: delivery 1 de-test/p1@de-mastodon is needs_review": _needs_review,
    "collection_failing: metrics of channel de-mastodon cannot be collected": _collection_failing,
    "token_expiring: the token of channel de-mastodon expires in 3 days": _token_expiring,
}


@pytest.mark.parametrize("expected", list(CASES), ids=[f.__name__[1:] for f in CASES.values()])
def test_check_fails_with_one_line_per_problem(rig: Any, mastodon: Any, expected: str) -> None:
    CASES[expected](rig, mastodon)
    result = elshi(rig, "status", "--check")
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert [line for line in lines if line.startswith(expected)], result.output
    assert all(" — " in line for line in lines), "each line says what to do"
    as_json = elshi(rig, "status", "--check", "--json")
    assert as_json.exit_code == 1
    data = json.loads(as_json.stdout)
    assert data["ok"] is False
    assert expected.split(":")[0] in {p["kind"] for p in data["problems"]}


def test_prometheus_figures_go_atomically_to_a_file(
    rig: Any, mastodon: Any, tmp_path: Path
) -> None:
    mastodon.expire_token()
    _ran_at(rig, "2027-03-01T09:00:00")
    target = tmp_path / "textfile" / "elshi.prom"
    result = elshi(rig, "status", "--format", "prometheus", "--out", str(target))
    assert result.exit_code == 0, result.output
    text = target.read_text()
    assert 'elshi_deliveries{campaign="de-test",channel="de-mastodon",state="scheduled"} 1' in text
    assert 'elshi_channel_paused{channel="de-mastodon"} 1' in text
    heartbeat = at("2027-03-01T09:00:00").timestamp()
    assert f"elshi_daemon_last_heartbeat_timestamp_seconds {int(heartbeat)}" in text
    assert 'elshi_check_problems{kind="channel_paused"} 1' in text
    assert "elshi_check_ok 0" in text
    assert [p.name for p in target.parent.iterdir()] == ["elshi.prom"]
    assert elshi(rig, "status", "--format", "prometheus", "--check").exit_code == 1


def test_lateness_is_exported_per_channel(rig: Any, mastodon: Any) -> None:
    _ran_at(rig, "2027-03-01T09:03:00")
    text = elshi(rig, "status", "--format", "prometheus").output
    assert 'elshi_publish_lateness_seconds{channel="de-mastodon",quantile="0.5"} 180' in text


def test_with_no_daemon_the_check_itself_sends_that_alert_once(alert_rig: Any, smtp: Any) -> None:
    from tests.alerts.conftest import notify_toml

    rig = alert_rig(notify_toml(smtp, digest="0s"))
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Eins")])
    for _ in range(2):
        assert elshi(rig, "status", "--check").exit_code == 1
        rig.clock.advance(minutes=5)
    (mail,) = smtp.messages
    assert "No daemon running" in mail.subject
    assert "no daemon has ever run against this database" in mail.text()
