"""``elshi post approve|reject|queue|expired|show`` with users: the rules of the approval chain
hold through the command line, and a refusal changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.campaigns.factory import doc, post, write
from tests.cli.conftest import Run, fingerprint

CHAIN = [
    {"step": "press-secretary", "title": "Press secretary", "users": ["saule"]},
    {"step": "ambassador", "title": "Ambassador", "users": ["erlan"]},
]


@pytest.fixture
def office(run: Run, workspace: Path) -> Path:
    """Users (an admin, an author, two approvers, an operator) and a campaign with a two-step
    chain applied by the author."""
    run("user", "add", "admin", "--role", "admin")
    for name, role in [
        ("daniyar", "author"),
        ("saule", "approver"),
        ("erlan", "approver"),
        ("ops", "operator"),
    ]:
        run("--as", "admin", "user", "add", name, "--role", role)
    document = doc(posts=[post("hello"), post("later", when="2027-05-01 10:00")])
    document["campaign"]["approval"] = CHAIN
    write(workspace / "campaign.yaml", document)
    run("--as", "daniyar", "campaign", "apply", "campaign.yaml")
    return workspace


def test_approving_as_each_step_releases_the_post(run: Run, office: Path) -> None:
    out = run("--as", "saule", "post", "approve", "de-test/hello").output
    assert "press-secretary" in out and "pending" in out
    out = run("--as", "erlan", "post", "approve", "de-test/hello").output
    assert "ambassador" in out and "approved" in out
    shown = json.loads(run("post", "show", "de-test/hello", "--json").stdout)
    assert shown["state"] == "approved" and shown["authors"] == ["user:daniyar"]
    assert [s["approved_by"] for s in shown["steps"]] == [["user:saule"], ["user:erlan"]]


def test_a_refused_approval_exits_2_and_changes_nothing(run: Run, office: Path) -> None:
    before = fingerprint(office / "elshi.db")
    out = run("--as", "erlan", "post", "approve", "hello", "later", expect=2).output
    assert "nothing was changed" in out
    assert "de-test/hello: step 'press-secretary' is for saule" in out
    assert fingerprint(office / "elshi.db") == before


def test_authors_and_operators_may_not_approve(run: Run, office: Path) -> None:
    out = run("--as", "daniyar", "post", "approve", "hello", expect=2).output
    assert "daniyar may not do post.approve" in out
    out = run("--as", "ops", "post", "approve", "hello", expect=2).output
    assert "ops may not do post.approve" in out


def test_reject_needs_a_comment(run: Run, office: Path) -> None:
    out = run("--as", "saule", "post", "reject", "hello", expect=2).output
    assert "--comment" in out
    run("--as", "saule", "post", "reject", "hello", "--comment", "Datum prüfen")
    shown = json.loads(run("--as", "ops", "post", "show", "hello", "--json").stdout)
    assert shown["state"] == "rejected"
    assert shown["steps"][0]["rejected_by"] == [["user:saule", "Datum prüfen"]]


def test_the_queue_lists_what_waits_for_me_per_step(run: Run, office: Path) -> None:
    out = run("--as", "saule", "post", "queue").output
    assert out.index("de-test/hello") < out.index("de-test/later")
    assert "Press secretary (1/2)" in out
    assert "Nothing waits for erlan" in run("--as", "erlan", "post", "queue").output
    run("--as", "saule", "post", "approve", "later")
    items = json.loads(run("--as", "erlan", "post", "queue", "--json").stdout)
    assert [(i["post"], i["step"]) for i in items] == [("later", "ambassador")]


def test_approve_all_approves_what_it_may_and_lists_the_rest(run: Run, office: Path) -> None:
    run("--as", "saule", "post", "approve", "later")
    out = run("--as", "saule", "post", "approve", "--campaign", "de-test", "--all").output
    assert "you approved step 'press-secretary' already" in out or "is for erlan" in out
    shown = json.loads(run("--as", "ops", "post", "show", "hello", "--json").stdout)
    assert shown["steps"][0]["approved_by"] == ["user:saule"]


def test_expired_is_empty_until_a_post_misses_its_time(run: Run, office: Path) -> None:
    assert "No expired approvals." in run("--as", "ops", "post", "expired").output
