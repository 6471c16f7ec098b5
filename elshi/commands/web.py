"""``elshi web``: the web workspace (pages and the JSON API) for the people of the office,
served by gunicorn on the database the daemon uses."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from elshi.app import App, BadInput
from elshi.commands import options
from elshi.output import say

if TYPE_CHECKING:
    from elshi.config import Config
    from web.settings import WebSettings


def web_settings(config: Config, environ: dict[str, str] | None = None) -> tuple[WebSettings, bool]:
    """The workspace's settings from ``[web]``; the second value is False when the
    session-signing key was not in the environment and a random one was made for this run."""
    import secrets
    from datetime import timedelta

    from web.settings import WebSettings

    env = os.environ if environ is None else environ
    w = config.web
    key = env.get(w.secret_key_env, "")
    if key and len(key) < 32:
        raise BadInput(
            f"{w.secret_key_env}: the session key must be at least 32 characters "
            "(e.g. python -c 'import secrets; print(secrets.token_hex(32))')"
        )
    return (
        WebSettings(
            secret_key=(key or secrets.token_hex(32)).encode("utf-8"),
            base_url=w.base_url,
            session_lifetime=timedelta(seconds=w.session_lifetime_seconds),
            timezone=w.timezone,
            trusted_header=w.trusted_header,
            trusted_proxies=WebSettings.networks(w.trusted_proxies),
            channel_platforms=config.channel_platforms,
            text_platforms=config.text_platforms,
            channel_options=config.channel_options,
            metrics_schedule=config.metrics_schedule,
        ),
        bool(key),
    )


@click.command("web")
@click.option(
    "--bind",
    type=options.Setting("HostPort", "HOST:PORT"),
    metavar="HOST:PORT",
    help="HOST:PORT to listen on (default: [web] bind, 127.0.0.1:8080).",
)
@click.option(
    "--workers", type=click.IntRange(1, 64), help="Worker processes (default: [web] workers)."
)
@click.pass_obj
def command(app: App, bind: str | None, workers: int | None) -> None:
    """Serve the web workspace: calendar, posts, approvals, campaign uploads, operations with the
    kill switch, live reports, users and the audit log; and the JSON API under /api/v1. It runs
    on the database the daemon uses; people log in with the accounts made by `elshi user add`
    (or `elshi demo`). Example:

    \b
        ELSHI_WEB_SECRET_KEY=$(python -c 'import secrets; print(secrets.token_hex(32))') elshi web
    """
    from web.app import create_app
    from web.server import AddressError, check_address, serve

    config = app.config
    address = bind or config.web.bind
    try:
        check_address(address)
    except AddressError as exc:
        from elshi.cli import OperationalFailure

        origin = f"--bind {address}" if bind else f"{config.path or 'elshi.toml'}: [web] bind"
        message = f"{origin}: {exc}"
        raise (BadInput(message) if exc.lasting else OperationalFailure(message)) from None
    settings, stable = web_settings(config)
    if not stable:
        say(
            f"warning: {config.web.secret_key_env} is not set; sessions end when this server "
            "stops (set it to keep people logged in across restarts)",
            err=True,
        )
    import dataclasses

    from elshi.commands.report import rehearsed
    from elshi.runtime import permalink_reader, session_store

    engine = app.engine
    settings = dataclasses.replace(
        settings,
        # The same connectors and the same report time as `elshi deliveries resolve` and
        # `elshi report` use.
        permalinks=permalink_reader(config, app.clock, session_store(app.sessions, app.clock)),
        report_as_of=rehearsed(app, other="reports: 'Counters as of' chooses another time"),
    )
    flask_app = create_app(settings, engine)
    shown = f"http://{address}" if bind else config.web.base_url
    say(f"Elshi web workspace: open {shown} (listening on {address}); Ctrl-C stops")
    serve(flask_app, engine, bind=address, workers=workers or config.web.workers)
