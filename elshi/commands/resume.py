"""``elshi resume``: end a kill-switch pause, deciding each delivery that became overdue
meanwhile. The rules are in `campaigns.pauses`."""

from __future__ import annotations

import click

from elshi.app import App, BadInput
from elshi.commands import options
from elshi.commands.pause import scope_of, with_scope
from elshi.output import echo_json, say, table


@click.command("resume")
@click.argument("pause_id", type=options.ROW_ID, required=False)
@with_scope
@click.option(
    "--send",
    "send",
    multiple=True,
    type=options.ROW_ID,
    metavar="ID",
    help="Send this overdue delivery now.",
)
@click.option(
    "--skip",
    "skip",
    multiple=True,
    type=options.ROW_ID,
    metavar="ID",
    help="Skip (cancel) this overdue delivery.",
)
@click.option("--send-all", is_flag=True, help="Send every overdue delivery now.")
@click.option("--skip-all", is_flag=True, help="Skip every overdue delivery.")
@click.option("--list", "list_", is_flag=True, help="Only list what became overdue.")
@options.json_output
@options.by("Same as the global --as USER.")
@click.pass_obj
def command(
    app: App,
    pause_id: int | None,
    all_: bool,
    campaign: str | None,
    country: str | None,
    channel: str | None,
    send: tuple[int, ...],
    skip: tuple[int, ...],
    send_all: bool,
    skip_all: bool,
    list_: bool,
    as_json: bool,
    by: str | None,
) -> None:
    """End a pause (by its id, or by what it paused). Deliveries whose time passed meanwhile
    need a decision each: send now, or skip. Without one the command lists them and changes
    nothing. Examples:

    \b
        elshi resume 3 --list
        elshi --as ops resume 3 --send 41 --send 42 --skip 43
        elshi --as ops resume --campaign de-2027-gateway --skip-all
    """
    from dataclasses import asdict

    from campaigns.pauses import PauseError, find_active, overdue, resume
    from campaigns.people import PeopleError

    with app.sessions() as session:
        if pause_id is None:
            scope, target = scope_of(all_, campaign, country, channel)
            row = find_active(session, scope, target.upper() if scope == "country" else target)
            if row is None:
                raise BadInput(f"nothing is paused for {scope.value} {target}".strip())
            pause_id = row.id
        elif all_ or campaign or country or channel:
            raise BadInput("give the pause's id or what it paused, not both")
        try:
            held = overdue(session, pause_id, now=app.now())
        except PauseError as exc:
            raise BadInput(str(exc)) from None
        person = None if list_ else app.person(session, by)
    if list_:
        if as_json:
            echo_json([asdict(h) for h in held])
        elif not held:
            say(f"Nothing became overdue under pause {pause_id}.")
        else:
            say(
                table(
                    ["delivery", "post", "due (local)", "state"],
                    [[h.delivery_id, h.label, h.local_due, h.state] for h in held],
                )
            )
        return
    assert person is not None
    try:
        result = resume(
            app.sessions,
            pause_id,
            by=person,
            now=app.now(),
            send=send,
            skip=skip,
            send_all=send_all,
            skip_all=skip_all,
        )
    except (PauseError, PeopleError) as exc:
        raise BadInput(f"{exc}\nnothing was changed") from None
    if as_json:
        echo_json(asdict(result))
        return
    say(
        f"pause {result.pause_id}: resumed; {len(result.sent)} overdue deliveries sent now, "
        f"{len(result.skipped)} skipped"
    )
