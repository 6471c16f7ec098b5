"""``elshi channels``: the configured accounts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from elshi.app import App, BadInput
from elshi.commands import options
from elshi.output import echo_json, say, table


@click.group("channels")
def command() -> None:
    """The accounts Elshi posts to (from elshi.toml). Example:

    \b
        elshi channels list && elshi channels check
    """


@command.command("list")
@options.json_output
@click.pass_obj
def list_(app: App, as_json: bool) -> None:
    """List configured channels: platform, endpoint, which secrets they need and whether those
    are set (never their values), and whether the channel is paused. Example:

    \b
        elshi channels list --json
    """
    import os

    from sqlalchemy import select

    from campaigns.schema import Channel

    paused: dict[str, str | None] = {}
    if app.config.path is not None:
        with app.sessions() as session:
            paused = {c.name: c.paused_reason for c in session.scalars(select(Channel)) if c.paused}
    rows: list[dict[str, Any]] = []
    for name, ch in sorted(app.config.channels.items()):
        secrets = {var: bool(os.environ.get(var)) for var in ch.secret_envs.values()}
        rows.append(
            {
                "name": name,
                "platform": ch.platform,
                "mimic": ch.options.get("mimic"),
                "api_base_url": ch.api_base_url,
                "rate_per_minute": ch.rate_per_minute,
                "secrets": secrets,
                "paused": name in paused,
                "paused_reason": paused.get(name),
            }
        )
    if as_json:
        echo_json(rows)
        return
    if not rows:
        say("No channels configured: add [channels.NAME] tables to elshi.toml")
        return
    say(
        table(
            ["channel", "platform", "endpoint", "secrets (env vars)", "state"],
            [
                [
                    r["name"],
                    r["platform"] + (f" (like {r['mimic']})" if r["mimic"] else ""),
                    r["api_base_url"]
                    or ("local outbox" if r["platform"] == "sandbox" else "default"),
                    ", ".join(f"{k} {'set' if v else 'MISSING'}" for k, v in r["secrets"].items())
                    or "—",
                    f"paused: {r['paused_reason']}" if r["paused"] else "active",
                ]
                for r in rows
            ],
        )
    )


@command.command("check")
@click.argument("names", nargs=-1)
@click.pass_obj
def check(app: App, names: tuple[str, ...]) -> None:
    """Verify each channel's credentials with the platform and print who it posts as, with a
    note where the platform's own limits differ from the channel's options (a Mastodon
    instance's post and alt text lengths). Exit code 1 when any check fails. Example:

    \b
        ELSHI_MASTODON_TOKEN=... elshi channels check embassy-mastodon
    """
    from connectors.base import ConnectorError
    from connectors.registry import open_connector
    from elshi.runtime import session_store

    selected = names or tuple(sorted(app.config.channels))
    # The logins every daemon shares (a check reuses them instead of logging in anew).
    store = session_store(app.sessions, app.clock) if app.config.path is not None else None
    failed = 0
    rows = []
    notes: list[str] = []
    expiring: dict[str, datetime] = {}
    for name in selected:
        channel = app.config.channels.get(name)
        if channel is None:
            raise BadInput(f"no channel {name!r} in {app.config.path or 'elshi.toml'}")
        connector = None
        try:
            connector = open_connector(channel.settings(), clock=app.clock, sessions=store)
            who = connector.whoami()
            until = _until(who.expires_at, app.now())
            if who.expires_at is not None:
                expiring[name] = who.expires_at
            rows.append(
                [name, channel.platform, "ok", who.handle, who.display_name, who.followers, until]
            )
            notes += [f"note: channel {name}: {note}" for note in connector.setting_notes()]
        except ConnectorError as exc:
            failed += 1
            rows.append(
                [name, channel.platform, f"FAILED ({exc.kind})", exc.message, None, None, None]
            )
        finally:
            if connector is not None:
                connector.close()
    say(
        table(
            ["channel", "platform", "check", "posts as", "name", "followers", "token valid until"],
            rows,
        )
    )
    for note in notes:
        say(note)
    if expiring and app.config.path is not None:
        _remember_expiry(app, expiring)
    if store is not None and not store.encrypted:
        say(
            "note: platform logins (Bluesky, WeChat, LinkedIn sessions) are kept in the "
            "database unencrypted; set ELSHI_SECRET_KEY to encrypt them"
        )
    if failed:
        raise SystemExit(1)


def _until(expires_at: datetime | None, now: datetime) -> str | None:
    """When the credentials stop working, with a warning in the last two weeks."""
    if expires_at is None:
        return None
    left = expires_at - now
    shown = f"{expires_at:%Y-%m-%d}"
    if left.total_seconds() <= 0:
        return f"{shown} (EXPIRED: renew now)"
    if left.days < 14:
        return f"{shown} (in {left.days} days: renew soon)"
    return shown


def _remember_expiry(app: App, expiring: dict[str, datetime]) -> None:
    """Keep what the platforms said in the channel rows, so `elshi status` warns in time."""
    from campaigns.planning import sync_channels

    with app.sessions() as session:
        rows = sync_channels(
            session, app.config.channel_platforms, now=app.now(), names=set(expiring)
        )
        for name, row in rows.items():
            row.token_expires_at = expiring[name]
        session.commit()


@command.command("resume")
@click.argument("name")
@options.by("Same as the global --as USER.")
@click.pass_obj
def resume(app: App, name: str, by: str | None) -> None:
    """Un-pause a channel after fixing its credentials (run `elshi channels check` first).
    Example:

    \b
        elshi channels resume embassy-mastodon --by "A. Nurlanovna"
    """
    from scheduler.operations import resume_channel

    with app.sessions() as session:
        changed = resume_channel(session, name, actor=app.person(session, by), now=app.now())
        session.commit()
    say(f"channel {name}: {'resumed' if changed else 'was not paused'}")
