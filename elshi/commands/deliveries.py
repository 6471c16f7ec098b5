"""``elshi deliveries``: an operator's actions on single deliveries."""

from __future__ import annotations

from typing import Any

import click

from elshi.app import App, BadInput
from elshi.commands import options
from elshi.output import say, table


@click.group("deliveries")
def command() -> None:
    """Operator actions on single deliveries (ids from elshi status). Example:

    \b
        elshi deliveries retry 42
    """


def _outcome(app: App, fn: Any, by: str | None, **kwargs: Any) -> None:
    with app.sessions() as session:
        outcomes = fn(session, now=app.now(), actor=app.person(session, by), **kwargs)
        session.commit()
    say(table(["delivery", "was", "now"], [[o.delivery, o.before, o.after] for o in outcomes]))


@command.command("retry")
@options.delivery_ids
@options.by("Same as the global --as USER.")
@click.pass_obj
def retry(app: App, ids: tuple[int, ...], by: str | None) -> None:
    """Send failed, missed or cancelled deliveries again, now. Example:

    \b
        elshi deliveries retry 42 43
    """
    from scheduler.operations import retry as do

    _outcome(app, do, by, ids=list(ids))


@command.command("cancel")
@options.delivery_ids
@click.option("--reason", help="Why (audited).")
@options.by("Same as the global --as USER.")
@click.pass_obj
def cancel(app: App, ids: tuple[int, ...], reason: str | None, by: str | None) -> None:
    """Cancel waiting deliveries. Example:

    \b
        elshi deliveries cancel 42 --reason "event postponed"
    """
    from scheduler.operations import cancel as do

    _outcome(app, do, by, ids=list(ids), reason=reason)


@command.command("resolve")
@options.delivery_ids
@click.option("--published", "url", metavar="URL", help="It did go out: its permalink.")
@click.option("--remote-id", help="The platform's id of the post (default: from the URL).")
@click.option("--not-published", "not_published", is_flag=True, help="It did not go out.")
@click.option(
    "--cancel",
    "cancel_it",
    is_flag=True,
    help="With --not-published: cancel instead of sending again.",
)
@options.by("Same as the global --as USER.")
@click.pass_obj
def resolve(
    app: App,
    ids: tuple[int, ...],
    url: str | None,
    remote_id: str | None,
    not_published: bool,
    cancel_it: bool,
    by: str | None,
) -> None:
    """Settle deliveries that need review after you checked the channel. Examples:

    \b
        elshi deliveries resolve 42 --published https://mastodon.social/@botschaft/1131
        elshi deliveries resolve 43 --not-published          # send it again
        elshi deliveries resolve 44 --not-published --cancel
    """
    from elshi.runtime import permalink_reader, session_store
    from scheduler.operations import resolve as do

    if bool(url) == bool(not_published):
        raise BadInput("say either --published URL or --not-published")
    if cancel_it and not not_published:
        raise BadInput("--cancel goes with --not-published")
    _outcome(
        app,
        do,
        by,
        ids=list(ids),
        published_url=url,
        remote_id=remote_id,
        cancel_instead=cancel_it,
        metrics_schedule=app.config.metrics_schedule,
        # Each platform turns its own permalink into the post's id (and refuses another's).
        identify=permalink_reader(app.config, app.clock, session_store(app.sessions, app.clock)),
    )
