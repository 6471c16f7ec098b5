"""``elshi user``: adding people, passwords shown once, tokens, and who the CLI acts as."""

from __future__ import annotations

import re

from tests.cli.conftest import Run


def _bootstrap(run: Run) -> None:
    run("user", "add", "aigerim", "--name", "Aigerim N.", "--role", "admin")
    run("--as", "aigerim", "user", "add", "daniyar", "--role", "author,approver")


def test_a_workspace_without_users_says_how_to_add_the_first(run: Run) -> None:
    out = run("user", "list").output
    assert "No users yet" in out and "--role admin" in out


def test_add_shows_a_generated_password_once_and_it_works(run: Run) -> None:
    out = run("user", "add", "aigerim", "--role", "admin").output
    password = re.search(r"one-time password \(shown once; change it\): (\S+)", out)
    assert password is not None
    from campaigns.people import authenticate
    from elshi.app import App

    app = App()
    with app.sessions() as session:
        assert (
            authenticate(session, "aigerim", password.group(1), now=app.now()).username == "aigerim"
        )


def test_password_from_stdin_is_not_echoed(run: Run) -> None:
    from click.testing import CliRunner

    from elshi.cli import cli

    result = CliRunner().invoke(
        cli,
        ["user", "add", "aigerim", "--role", "admin", "--password-stdin"],
        input="s3cret-long-pw\n",
    )
    assert result.exit_code == 0, result.output
    assert "s3cret" not in result.output and "one-time" not in result.output


def test_once_there_are_users_the_cli_must_name_one(run: Run) -> None:
    _bootstrap(run)
    assert "say who you are with --as USER" in run("user", "list", expect=2).output
    assert "cannot act as 'nobody'" in run("--as", "nobody", "user", "list", expect=2).output
    out = run("user", "list", env={"ELSHI_USER": "aigerim"}).output
    assert "daniyar" in out and "author, approver" in out


def test_roles_are_enforced_with_the_reason(run: Run) -> None:
    _bootstrap(run)
    out = run("--as", "daniyar", "user", "add", "eve", "--role", "admin", expect=2).output
    assert "daniyar may not do user.manage: it needs the role admin" in out


def test_a_token_is_printed_once_and_proves_who_runs_a_command(run: Run) -> None:
    _bootstrap(run)
    out = run("--as", "daniyar", "user", "token", "issue", "daniyar", "--name", "laptop").output
    plain = out.strip().splitlines()[-1]
    assert plain.startswith("elshi_")
    listed = run("--as", "aigerim", "user", "token", "list").output
    assert "laptop" in listed and plain not in listed
    # The token acts as daniyar (an author): admin work is refused, even with --as aigerim.
    refused = run("--as", "aigerim", "user", "list", expect=2, env={"ELSHI_TOKEN": plain})
    assert "daniyar may not do user.view" in refused.output
    run("--as", "daniyar", "user", "token", "revoke", "1")
    out = run("user", "list", expect=2, env={"ELSHI_TOKEN": plain}).output
    assert "ELSHI_TOKEN: unknown, revoked or expired token" in out


def test_disable_and_set_password(run: Run) -> None:
    _bootstrap(run)
    assert "daniyar: disabled" in run("--as", "aigerim", "user", "disable", "daniyar").output
    assert "is disabled" in run("--as", "daniyar", "user", "list", expect=2).output
    out = run("--as", "aigerim", "user", "set-password", "daniyar").output
    assert "one-time password" in out
    assert "disabled" in run("--as", "aigerim", "user", "list").output
