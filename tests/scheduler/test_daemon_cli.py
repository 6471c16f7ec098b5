"""The operator's commands through the CLI (click's CliRunner, a real SQLite file, the Mastodon
emulator): run --once, status (and --check for monitoring), deliveries retry/cancel/resolve,
channels list/check/resume."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from elshi.cli import cli
from tests.scheduler.conftest import at, mastodon_channel, post_yaml


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """The CLI tests run on the embedded default: a SQLite file."""
    return f"sqlite:///{tmp_path / 'elshi.db'}"


@pytest.fixture
def rig(rig_factory: Any, mastodon: Any) -> Any:
    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon)})
    rig.apply(
        [post_yaml("p1", "2027-03-01 10:00", "Eins"), post_yaml("p2", "2027-03-01 11:00", "Zwei")]
    )
    return rig


def elshi(rig: Any, *args: str) -> Any:
    runner = CliRunner()
    from elshi import app as app_module

    original = app_module.App.__init__

    def init(self: Any, config_path: str | None = None, **kwargs: Any) -> None:
        original(self, config_path, **{**kwargs, "clock": rig.clock})

    app_module.App.__init__ = init  # type: ignore[method-assign]
    try:
        return runner.invoke(
            cli, ["--config", str(rig.root / "elshi.toml"), *args], catch_exceptions=False
        )
    finally:
        app_module.App.__init__ = original  # type: ignore[method-assign]


def test_run_once_publishes_what_is_due_and_status_shows_it(rig: Any, mastodon: Any) -> None:
    rig.clock.set(at("2027-03-01T09:00:00"))
    result = elshi(rig, "run", "--once", "--no-collect")
    assert result.exit_code == 0, result.output
    assert "1 published" in result.output
    assert [p["text"] for p in mastodon.posts] == ["Eins"]
    status = json.loads(elshi(rig, "status", "--json").stdout)
    assert status["counts"] == [
        {"campaign": "de-test", "channel": "de-mastodon", "published": 1, "approved": 1}
    ]
    assert [u["post"] for u in status["upcoming"]] == ["p2"]
    assert elshi(rig, "status", "--check").exit_code == 0


def test_status_check_fails_when_a_delivery_needs_attention(rig: Any, mastodon: Any) -> None:
    mastodon.inject("reject", path="/api/v1/statuses", method="POST", message="Validation failed")
    rig.clock.set(at("2027-03-01T09:00:00"))
    elshi(rig, "run", "--once", "--no-collect")
    result = elshi(rig, "status")
    assert "Needs attention" in result.output and "Validation failed" in result.output
    assert elshi(rig, "status", "--check").exit_code == 1
    retried = elshi(rig, "deliveries", "retry", "1", "--by", "ops")
    assert retried.exit_code == 0 and "scheduled" in retried.output
    elshi(rig, "run", "--once", "--no-collect")
    assert [p["text"] for p in mastodon.posts] == ["Eins"]
    assert elshi(rig, "status", "--check").exit_code == 0


def test_cancel_refuses_published_and_stops_waiting(rig: Any, mastodon: Any) -> None:
    rig.clock.set(at("2027-03-01T09:00:00"))
    elshi(rig, "run", "--once", "--no-collect")
    refused = elshi(rig, "deliveries", "cancel", "1")
    assert refused.exit_code == 2 and "published" in refused.output
    cancelled = elshi(rig, "deliveries", "cancel", "2", "--reason", "event postponed")
    assert cancelled.exit_code == 0
    rig.clock.set(at("2027-03-01T10:00:00"))
    elshi(rig, "run", "--once", "--no-collect")
    assert [p["text"] for p in mastodon.posts] == ["Eins"]


def test_resolve_needs_a_decision(rig: Any) -> None:
    result = elshi(rig, "deliveries", "resolve", "1")
    assert result.exit_code == 2 and "--published URL or --not-published" in result.output
    result = elshi(rig, "deliveries", "resolve", "1", "--not-published")
    assert result.exit_code == 2 and "not needs_review" in result.output


def test_now_is_refused_for_real_platforms(rig: Any, mastodon: Any) -> None:
    result = elshi(rig, "run", "--once", "--now", "2027-03-01T09:00:00Z")
    assert result.exit_code == 2
    assert "sandbox channels only" in result.output and "de-mastodon" in result.output
    assert mastodon.posts == []


def test_channels_check_reports_who_it_posts_as_and_fails_on_bad_token(
    rig: Any, mastodon: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok = elshi(rig, "channels", "check")
    assert ok.exit_code == 0 and "pressestelle" in ok.output
    monkeypatch.setenv("ELSHI_TEST_MASTODON_TOKEN", "wrong-token-value-123")
    bad = elshi(rig, "channels", "check")
    assert bad.exit_code == 1 and "FAILED (auth)" in bad.output
    assert "wrong-token-value-123" not in bad.output
    listed = elshi(rig, "channels", "list")
    assert "ELSHI_TEST_MASTODON_TOKEN set" in listed.output


def test_paused_channel_is_shown_and_resumed(rig: Any, mastodon: Any) -> None:
    mastodon.expire_token()
    rig.clock.set(at("2027-03-01T09:00:00"))
    elshi(rig, "run", "--once", "--no-collect")
    status = elshi(rig, "status")
    assert "PAUSED" in status.output and "elshi channels resume de-mastodon" in status.output
    assert elshi(rig, "status", "--check").exit_code == 1
    mastodon._token_error = None
    assert "resumed" in elshi(rig, "channels", "resume", "de-mastodon").output
    elshi(rig, "run", "--once", "--no-collect")
    assert [p["text"] for p in mastodon.posts] == ["Eins"]
