"""``elshi outcomes``: results measured off the platforms, imported from CSV."""

from __future__ import annotations

from pathlib import Path

import click

from elshi.app import App, BadInput
from elshi.commands import options
from elshi.output import say


@click.group("outcomes")
def command() -> None:
    """Outcomes measured off the platforms (AMEC): registrations, applications, surveys.
    Example:

    \b
        elshi outcomes import registrations.csv --dry-run
    """


@command.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@options.campaign("Campaign of rows whose campaign column is empty or absent.")
@click.option("--dry-run", is_flag=True, help="Check the file and report; change nothing.")
@click.pass_obj
def outcomes_import(app: App, file: Path, campaign: str | None, dry_run: bool) -> None:
    """Import outcomes from a CSV with the columns campaign, audience (key; empty = the whole
    campaign), date (YYYY-MM-DD), metric (e.g. event_registrations, scholarship_applications,
    survey_awareness), value and source. A row already imported (same campaign, audience, date,
    metric, source) gets the new value. Any error: nothing is written, exit code 2. Example:

    \b
        elshi outcomes import registrations.csv
    """
    from reports.outcomes import OutcomeFileError, import_outcomes, read_outcomes

    with app.sessions() as session:
        try:
            rows = read_outcomes(file, session, campaign=campaign)
        except OutcomeFileError as exc:
            for problem in exc.problems:
                say(problem, err=True)
            raise BadInput(
                f"{len(exc.problems)} problem(s) in {file}; nothing was imported"
            ) from None
        if dry_run:
            say(f"{file}: ok — {len(rows)} outcomes (dry run: nothing written)")
            return
        stats = import_outcomes(session, rows, imported_from=str(file), now=app.now())
        session.commit()
    say(f"{file}: {stats.added} added, {stats.updated} updated, {stats.unchanged} unchanged")
