"""``elshi calendar``: the publishing schedule as iCalendar or CSV."""

from __future__ import annotations

from pathlib import Path

import click

from elshi.app import App
from elshi.commands import options
from elshi.output import say


@click.group("calendar")
def command() -> None:
    """The publishing schedule as a calendar. Example:

    \b
        elshi calendar export --format ics --out schedule.ics
    """


@command.command("export")
@click.option(
    "--format", "fmt", type=click.Choice(["ics", "csv"]), default="ics", show_default=True
)
@options.campaign()
@options.out("Write to this file (default: standard output).")
@click.option("--include-cancelled", is_flag=True, help="Also list cancelled deliveries.")
@click.pass_obj
def calendar_export(
    app: App, fmt: str, campaign: str | None, out: Path | None, include_cancelled: bool
) -> None:
    """Export the schedule: an iCalendar file staff can open in Outlook, or CSV. Example:

    \b
        elshi calendar export --format ics --out schedule.ics
    """
    from campaigns.calendar import to_csv, to_ics
    from campaigns.queries import timeline, workspace_id

    if out is not None:
        # before the work (and before the workspace id is recorded)
        kind = ("iCalendar", (".ics",)) if fmt == "ics" else ("CSV", (".csv",))
        app.output_path(out, writes=kind)
    with app.sessions() as session:
        app.check_campaign(session, campaign)
        rows = timeline(session, campaign=campaign, include_cancelled=include_cancelled)
        workspace = workspace_id(session)
        session.commit()
    name = f"Elshi: {campaign}" if campaign else "Elshi campaigns"
    text = (
        to_ics(rows, now=app.now(), name=name, workspace=workspace)
        if fmt == "ics"
        else to_csv(rows)
    )
    if out is None:
        say(text, nl=False)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8", newline="")
        say(f"wrote {out}: {len(rows)} deliveries")
