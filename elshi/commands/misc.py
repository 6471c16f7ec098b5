"""Top-level commands: ``init`` and ``calendar export``."""

from __future__ import annotations

from pathlib import Path

import click

from elshi.app import App, BadInput


@click.command("init")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    show_default=True,
    help="Where to write elshi.toml.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing elshi.toml.")
@click.pass_context
def init(ctx: click.Context, directory: Path, force: bool) -> None:
    """Write a commented starter elshi.toml (sandbox channels used by the shipped examples) and
    create the database. Example:

        elshi init && elshi campaign apply examples/*.yaml
    """
    from importlib.resources import files

    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "elshi.toml"
    if target.exists() and not force:
        click.echo(f"{target} exists; keeping it (use --force to overwrite)")
    else:
        template = files("elshi").joinpath("templates/elshi.toml").read_text(encoding="utf-8")
        target.write_text(template, encoding="utf-8")
        click.echo(f"wrote {target}")
    app = App(str(target), clock=ctx.obj.clock if isinstance(ctx.obj, App) else None)
    engine = app.engine
    click.echo(f"database ready: {engine.url.render_as_string(hide_password=True)}")
    click.echo("next: elshi campaign apply examples/*.yaml")


@click.group("calendar")
def calendar() -> None:
    """The publishing schedule as a calendar."""


@calendar.command("export")
@click.option(
    "--format", "fmt", type=click.Choice(["ics", "csv"]), default="ics", show_default=True
)
@click.option("--campaign", help="Only this campaign.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file (default: standard output).",
)
@click.option("--include-cancelled", is_flag=True, help="Also list cancelled deliveries.")
@click.pass_obj
def calendar_export(
    app: App, fmt: str, campaign: str | None, out: Path | None, include_cancelled: bool
) -> None:
    """Export the schedule: an iCalendar file staff can open in Outlook, or CSV. Example:

    elshi calendar export --format ics --out schedule.ics
    """
    from campaigns.calendar import to_csv, to_ics
    from campaigns.queries import timeline, workspace_id
    from campaigns.schema import Campaign

    with app.sessions() as session:
        if campaign and session.get(Campaign, campaign) is None:
            raise BadInput(f"no campaign {campaign!r} (see elshi campaign list)")
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
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8", newline="")
        click.echo(f"wrote {out}: {len(rows)} deliveries")


commands = [init, calendar]


@click.command("demo")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default="elshi-demo",
    show_default=True,
    help="Workspace folder (made afresh).",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of the simulated engagement."
)
def demo(directory: Path, seed: int) -> None:
    """Try Elshi with nothing to configure: apply the Germany and China example campaigns to
    sandbox channels, rehearse their whole year in accelerated time with the real scheduler,
    collect simulated metrics, and write the reports. Example:

        elshi demo   # then open elshi-demo/reports/report.html
    """
    import sys

    from elshi.demo import DemoError, run_demo

    bar = (
        click.progressbar(length=1000, label="rehearsing", file=sys.stderr, show_eta=False)
        if sys.stderr.isatty()
        else None
    )
    done = 0

    def progress(fraction: float) -> None:
        nonlocal done
        if bar is not None:
            step = int(fraction * 1000) - done
            if step > 0:
                bar.update(step)
                done += step

    try:
        result = run_demo(directory.resolve(), seed=seed, say=click.echo, progress=progress)
    except DemoError as exc:
        raise BadInput(str(exc)) from None
    finally:
        if bar is not None:
            bar.render_finish()
    click.echo(
        f"\nrehearsed {result.period[0]:%Y-%m-%d} to {result.period[1]:%Y-%m-%d}: "
        f"{result.published} published, {result.retried} retried after simulated outages, "
        f"{result.missed} missed, {result.failed} failed; {result.snapshots} metric snapshots"
    )
    if result.summary:
        click.echo("\n" + result.summary)
    for path in result.reports:
        click.echo(f"report: {path}")
    if result.users:
        click.echo("\nThe web workspace: people of a demo office (one-time passwords, shown once):")
        for username, role, password in result.users:
            click.echo(f"  {username:<6} {role:<9} {password}")
        click.echo(
            f"  open it: cd {result.directory} && elshi web   "
            "then http://127.0.0.1:8080 (log in as anna, pavel, amir, olga, marat or admin)"
        )
    click.echo(
        f"workspace: {result.directory}\n  cd there and try: elshi status · "
        "elshi campaign show de-2027-gateway · elshi report (it reads the rehearsed year)"
    )


commands.append(demo)
