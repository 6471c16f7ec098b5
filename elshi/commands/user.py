"""``elshi user``: the people who work in Elshi, their roles, passwords and API tokens.

The rules (who may add users, the first user being an admin, the last admin staying one) are in
`campaigns.people`; this module only reads options and prints."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from elshi.app import App, BadInput
from elshi.commands import options
from elshi.output import echo_json, say, table

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from campaigns.people import Person

MAX_TOKEN_DAYS = 36_500
"""A token's life in days: longer would overflow the date arithmetic (year 9999)."""
ROLE_HELP = "author, approver, operator, manager or admin; repeat or separate with commas."


@click.group("user")
def command() -> None:
    """People who use Elshi: roles, passwords and API tokens.

    \b
    Roles: author (upload and change campaigns), approver (approval steps),
    operator (retry, cancel, resolve, pause, resume), manager (reports), admin (users).

    Example:

    \b
        elshi user add aigerim --name "Aigerim Nurlanovna" --role admin
    """


class _Acting:
    """A session and the person running the command; `campaigns.people` errors become a clear
    message with exit code 2 and a rolled-back transaction."""

    def __init__(self, app: App) -> None:
        self.app = app

    def __enter__(self) -> tuple[Session, Person]:
        self.session = self.app.sessions()
        return self.session, self.app.person(self.session)

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        from campaigns.people import PeopleError

        if exc is None:
            self.session.commit()
        self.session.close()
        if isinstance(exc, PeopleError):
            raise BadInput(str(exc)) from None


def _read_password(from_stdin: bool) -> str | None:
    if not from_stdin:
        return None
    import sys

    from campaigns.people import MAX_PASSWORD

    # Bytes, decoded here: how the text stream decodes them depends on the locale (strict:
    # a UnicodeDecodeError; surrogateescape: lone surrogates no hash can encode).
    stream = getattr(sys.stdin, "buffer", None)
    try:
        if stream is not None:
            line = str(stream.readline(4 * MAX_PASSWORD + 2).decode("utf-8"))
        else:
            line = sys.stdin.readline(MAX_PASSWORD + 2)
    except UnicodeDecodeError:
        raise BadInput("--password-stdin: the password is not UTF-8 text") from None
    password = line.rstrip("\r\n")
    if not password:
        raise BadInput("--password-stdin: no password on standard input")
    return password


@command.command("add")
@click.argument("username")
@click.option("--name", "display_name", help="Full name as colleagues know it.")
@click.option("--email", help="E-mail address (for notifications).")
@click.option("--role", "roles", multiple=True, required=True, help=ROLE_HELP)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input (otherwise one is generated and shown once).",
)
@click.pass_obj
def add(
    app: App,
    username: str,
    display_name: str | None,
    email: str | None,
    roles: tuple[str, ...],
    password_stdin: bool,
) -> None:
    """Add a user. The first user must be an admin; after that, only admins add users.
    Examples:

    \b
        elshi user add aigerim --name "Aigerim Nurlanovna" --role admin
        elshi --as aigerim user add daniyar --role author --email d@embassy.example
        printf '%s\\n' "$PW" | elshi --as aigerim user add saule --role approver --password-stdin
    """
    from campaigns.people import add_user, generate_password

    password = _read_password(password_stdin)
    generated = password is None
    if password is None:
        password = generate_password()
    with _Acting(app) as (session, person):
        user = add_user(
            session,
            username,
            display_name=display_name,
            email=email,
            roles=roles,
            password=password,
            by=person,
            now=app.now(),
        )
    say(f"user {user.username} added ({', '.join(user.roles)})")
    if generated:
        say(f"one-time password (shown once; change it): {password}")


@command.command("list")
@options.json_output
@click.pass_obj
def list_(app: App, as_json: bool) -> None:
    """List users: roles, whether disabled, last login, API tokens in use. Example:

    \b
        elshi user list --json
    """
    from campaigns.people import authorize, users

    with _Acting(app) as (session, person):
        authorize(session, person, "user.view")
        rows: list[dict[str, Any]] = [
            {
                "username": u.username,
                "name": u.display_name,
                "email": u.email,
                "roles": list(u.roles),
                "disabled": u.disabled,
                "has_password": u.password_hash is not None,
                "last_login_at": u.last_login_at,
                "tokens": sum(1 for t in u.tokens if t.revoked_at is None),
            }
            for u in users(session)
        ]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        say(
            "No users yet: anyone with database access acts with every role.\n"
            'Add the first (an admin): elshi user add NAME --name "Full Name" --role admin'
        )
        return
    say(
        table(
            ["user", "name", "roles", "state", "last login", "tokens"],
            [
                [
                    r["username"],
                    r["name"],
                    ", ".join(r["roles"]),
                    "disabled" if r["disabled"] else "active",
                    r["last_login_at"],
                    r["tokens"],
                ]
                for r in rows
            ],
        )
    )


@command.command("edit")
@click.argument("username")
@click.option("--name", "display_name", help="New full name.")
@click.option("--email", help="New e-mail address ('' removes it).")
@click.option("--role", "roles", multiple=True, help=f"The new roles (all of them): {ROLE_HELP}")
@click.pass_obj
def edit(
    app: App, username: str, display_name: str | None, email: str | None, roles: tuple[str, ...]
) -> None:
    """Change a user's name, e-mail or roles (admins). Example:

    \b
        elshi --as aigerim user edit daniyar --role author --role approver
    """
    from campaigns.people import update_user

    with _Acting(app) as (session, person):
        user = update_user(
            session,
            username,
            display_name=display_name,
            email=email,
            roles=roles or None,
            by=person,
            now=app.now(),
        )
    say(f"user {user.username}: {user.display_name}, {', '.join(user.roles)}")


def _toggle(app: App, username: str, disabled: bool) -> None:
    from campaigns.people import set_disabled

    with _Acting(app) as (session, person):
        changed = set_disabled(session, username, disabled, by=person, now=app.now())
    state = "disabled" if disabled else "enabled"
    say(f"user {username}: {state}" if changed else f"user {username} was {state} already")


@command.command("disable")
@click.argument("username")
@click.pass_obj
def disable(app: App, username: str) -> None:
    """Disable a user: no login, their API tokens stop working; history keeps their name.
    Example:

    \b
        elshi --as aigerim user disable daniyar
    """
    _toggle(app, username, True)


@command.command("enable")
@click.argument("username")
@click.pass_obj
def enable(app: App, username: str) -> None:
    """Enable a disabled user again. Example:

    \b
        elshi --as aigerim user enable daniyar
    """
    _toggle(app, username, False)


@command.command("set-password")
@click.argument("username")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the new password from standard input (otherwise one is generated and shown once).",
)
@click.pass_obj
def set_password(app: App, username: str, password_stdin: bool) -> None:
    """Set a user's password (admins for anyone; everyone for themselves). Example:

    \b
        printf '%s\\n' "$NEW" | elshi --as daniyar user set-password daniyar --password-stdin
    """
    from campaigns.people import generate_password
    from campaigns.people import set_password as do_set

    password = _read_password(password_stdin)
    generated = password is None
    if password is None:
        password = generate_password()
    with _Acting(app) as (session, person):
        do_set(session, username, password, by=person, now=app.now())
    say(f"user {username}: password set")
    if generated:
        say(f"one-time password (shown once; change it): {password}")


@command.group("token")
def token() -> None:
    """API tokens: for the JSON API and for ELSHI_TOKEN on the command line. Example:

    \b
        elshi --as aigerim user token issue aigerim --name intranet --days 90
    """


@token.command("issue")
@click.argument("username")
@click.option("--name", "label", required=True, help="What the token is for, e.g. 'intranet'.")
@click.option(
    "--days",
    type=click.IntRange(1, MAX_TOKEN_DAYS),
    help="Expires after this many days.",
)
@click.pass_obj
def token_issue(app: App, username: str, label: str, days: int | None) -> None:
    """Issue a token; it is printed once and only its hash is kept. Example:

    \b
        elshi --as aigerim user token issue aigerim --name intranet --days 90
    """
    from datetime import timedelta

    from campaigns.people import issue_token

    now = app.now()
    expires = now + timedelta(days=days) if days else None
    with _Acting(app) as (session, person):
        row, plain = issue_token(
            session, username, name=label, by=person, now=now, expires_at=expires
        )
        token_id = row.id
    say(f"token {token_id} for {username} ({label}); shown once, keep it safe:")
    say(plain)


@token.command("list")
@click.argument("username", required=False)
@options.json_output
@click.pass_obj
def token_list(app: App, username: str | None, as_json: bool) -> None:
    """List tokens (never their values): yours, or a user's / everyone's for an admin.
    Example:

    \b
        elshi --as aigerim user token list
    """
    from campaigns.people import authorize, tokens

    with _Acting(app) as (session, person):
        if username is None or username.lower() != person.username:
            authorize(session, person, "user.view")
        rows = [
            {
                "id": t.id,
                "user": t.user.username,
                "name": t.name,
                "prefix": t.prefix + "…",
                "created_at": t.created_at,
                "expires_at": t.expires_at,
                "last_used_at": t.last_used_at,
                "revoked_at": t.revoked_at,
            }
            for t in tokens(session, username)
        ]
    if as_json:
        echo_json(rows)
        return
    say(
        table(
            ["id", "user", "name", "starts", "created", "expires", "last used", "state"],
            [
                [
                    r["id"],
                    r["user"],
                    r["name"],
                    r["prefix"],
                    r["created_at"],
                    r["expires_at"],
                    r["last_used_at"],
                    "revoked" if r["revoked_at"] else "active",
                ]
                for r in rows
            ],
        )
    )


@token.command("revoke")
@click.argument("token_id", type=options.ROW_ID)
@click.pass_obj
def token_revoke(app: App, token_id: int) -> None:
    """Revoke a token at once (its owner or an admin). Example:

    \b
        elshi user token revoke 3
    """
    from campaigns.people import revoke_token

    with _Acting(app) as (session, person):
        changed = revoke_token(session, token_id, by=person, now=app.now())
    say(f"token {token_id}: {'revoked' if changed else 'was revoked already'}")
