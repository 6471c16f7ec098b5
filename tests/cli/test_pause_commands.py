"""``elshi pause`` / ``elshi resume``: the kill switch on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.campaigns.factory import doc, post, write
from tests.cli.conftest import Run, fingerprint


@pytest.fixture
def applied(run: Run, workspace: Path) -> Path:
    document = doc(posts=[post("hello"), post("later", when="2027-05-01 10:00")])
    document["campaign"]["approval"] = False
    write(workspace / "campaign.yaml", document)
    run("campaign", "apply", "campaign.yaml")
    return workspace


def test_pause_says_what_it_did_and_status_shows_it(run: Run, applied: Path) -> None:
    out = run("pause", "--campaign", "de-test", "--reason", "wrong date").output
    assert "pause 1 (campaign de-test): PAUSED" in out
    assert "Nothing was being sent" in out and "elshi resume 1" in out
    listed = json.loads(run("pause", "--list", "--json").stdout)
    assert [(p["scope"], p["target"], p["reason"]) for p in listed] == [
        ("campaign", "de-test", "wrong date")
    ]
    assert "Kill switch: campaign de-test PAUSED" in run("status").output
    check = run("status", "--check", expect=1).output
    assert "kill_switch: pause 1 (campaign de-test) since" in check


def test_pause_needs_one_scope_and_a_reason(run: Run, applied: Path) -> None:
    before = fingerprint(applied / "elshi.db")
    assert "exactly one of" in run("pause", "--reason", "x", expect=2).output
    assert (
        "exactly one of"
        in run("pause", "--all", "--country", "DE", "--reason", "x", expect=2).output
    )
    assert "--reason is required" in run("pause", "--all", expect=2).output
    assert (
        "no campaign 'nope'" in run("pause", "--campaign", "nope", "--reason", "x", expect=2).output
    )
    assert fingerprint(applied / "elshi.db") == before


def test_resume_by_scope_with_nothing_overdue(run: Run, applied: Path) -> None:
    run("pause", "--country", "de", "--reason", "instruction")
    assert "Nothing became overdue" in run("resume", "--country", "DE", "--list").output
    out = run("resume", "--country", "DE").output
    assert "resumed; 0 overdue deliveries sent now, 0 skipped" in out
    assert "Nothing is paused." in run("pause", "--list").output
    assert "nothing is paused" in run("resume", "--all", expect=2).output


def test_only_operators_use_the_kill_switch_once_there_are_users(run: Run, applied: Path) -> None:
    run("user", "add", "admin", "--role", "admin")
    run("--as", "admin", "user", "add", "ops", "--role", "operator")
    out = run("--as", "admin", "pause", "--all", "--reason", "x", expect=2).output
    assert "admin may not do pause.create" in out
    assert "PAUSED" in run("--as", "ops", "pause", "--all", "--reason", "x").output
