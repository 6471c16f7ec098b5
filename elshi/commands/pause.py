"""``elshi pause``: the kill switch. The rules (what a pause covers, claims in flight) are in
`campaigns.pauses`; ``elshi resume`` (elshi/commands/resume.py) ends a pause."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from elshi.app import App, BadInput
from elshi.commands import options
from elshi.output import echo_json, say, table

if TYPE_CHECKING:
    from campaigns.pauses import Scope


def scope_of(
    all_: bool, campaign: str | None, country: str | None, channel: str | None
) -> tuple[Scope, str]:
    from campaigns.pauses import Scope

    given = [
        (Scope.all, "") if all_ else None,
        (Scope.campaign, campaign) if campaign else None,
        (Scope.country, country) if country else None,
        (Scope.channel, channel) if channel else None,
    ]
    chosen = [g for g in given if g is not None]
    if len(chosen) != 1:
        raise BadInput("say what to pause: exactly one of --all, --campaign, --country, --channel")
    return chosen[0]


SCOPE_OPTIONS = [
    click.option("--all", "all_", is_flag=True, help="Everything, every channel."),
    options.campaign("One campaign."),
    click.option("--country", metavar="CC", help="Every campaign for one country (DE, CN…)."),
    click.option("--channel", metavar="NAME", help="One channel."),
]


def with_scope(fn: click.decorators.FC) -> click.decorators.FC:
    for option in reversed(SCOPE_OPTIONS):
        fn = option(fn)
    return fn


@click.command("pause")
@with_scope
@click.option("--reason", help="Why (shown in status, kept in the audit log). Required.")
@click.option("--list", "list_", is_flag=True, help="List the active pauses instead.")
@options.json_output
@options.by("Same as the global --as USER.")
@click.pass_obj
def command(
    app: App,
    all_: bool,
    campaign: str | None,
    country: str | None,
    channel: str | None,
    reason: str | None,
    list_: bool,
    as_json: bool,
    by: str | None,
) -> None:
    """The kill switch: stop publishing everything, a campaign, a country or a channel, at
    once, on every daemon. When this returns nothing it covers starts publishing; posts whose
    platform call had already begun are listed as in flight. Examples:

    \b
        elshi --as ops pause --all --reason "national mourning"
        elshi --as ops pause --campaign de-2027-gateway --reason "wrong date in the posts"
        elshi --as ops pause --country CN --reason "embassy instruction"
        elshi pause --list
    """
    from dataclasses import asdict

    from campaigns.pauses import PauseError, active, describe, pause
    from campaigns.people import PeopleError

    if list_:
        with app.sessions() as session:
            rows = [
                {
                    "id": p.id,
                    "scope": p.scope,
                    "target": p.target,
                    "reason": p.reason,
                    "by": p.paused_by,
                    "since": p.paused_at,
                }
                for p in active(session)
            ]
        if as_json:
            echo_json(rows)
        elif not rows:
            say("Nothing is paused.")
        else:
            say(
                table(
                    ["id", "paused", "since", "by", "reason"],
                    [
                        [
                            r["id"],
                            f"{r['scope']} {r['target']}".strip(),
                            r["since"],
                            r["by"],
                            r["reason"],
                        ]
                        for r in rows
                    ],
                )
            )
        return
    scope, target = scope_of(all_, campaign, country, channel)
    if not reason:
        raise BadInput("--reason is required: say why (everyone sees it)")
    with app.sessions() as session:
        person = app.person(session, by)
    try:
        result = pause(
            app.sessions, scope=scope, target=target, reason=reason, by=person, now=app.now()
        )
    except (PauseError, PeopleError) as exc:
        raise BadInput(str(exc)) from None
    with app.sessions() as session:
        from campaigns.schema import Pause

        row = session.get(Pause, result.pause_id)
        assert row is not None
        label = describe(row)
    if as_json:
        echo_json(asdict(result))
        return
    say(f"{label}: {'PAUSED' if result.created else 'was paused already'}")
    if result.handed_back:
        say(f"{len(result.handed_back)} claimed deliveries handed back (not sent).")
    if result.in_flight:
        say(
            f"{len(result.in_flight)} already being sent (cannot be stopped; see elshi status):",
            fg="yellow",
        )
        say(
            table(
                ["delivery", "post", "daemon", "sending since"],
                [[f.delivery_id, f.label, f.worker, f.sending_since] for f in result.in_flight],
            )
        )
    else:
        say("Nothing was being sent: no delivery it covers will go out until you resume.")
    say(f"Resume with: elshi resume {result.pause_id}")
