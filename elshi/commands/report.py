"""``elshi report``: effectiveness per audience (terminal, HTML, XLSX, CSV, JSON, Markdown), and
report e-mails sent now (``elshi report send``)."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from elshi.app import App, BadInput
from elshi.commands import options
from elshi.output import say

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

FORMATS = ("html", "xlsx", "csv", "json", "md")
DEFAULT_OUT = {
    "html": "elshi-report.html",
    "xlsx": "elshi-report.xlsx",
    "csv": "elshi-report-csv",
}


_WRITES = {
    "html": ("an HTML report", (".html", ".htm")),
    "xlsx": ("an Excel report", (".xlsx",)),
    "json": ("a JSON report", (".json",)),
    "md": ("a Markdown report", (".md", ".markdown")),
    "csv": ("CSV tables", (".zip", ".csv")),
}
"""What ``--out`` receives in each format, and the names such a file has: an existing file of
another kind is not replaced (`App.output_path`)."""


def _moment(value: str | None, option: str, *, end: bool) -> datetime | None:
    from reports.request import BadMoment, moment

    try:
        return moment(value, end=end)
    except BadMoment as exc:
        raise BadInput(f"{option} {exc}") from None


def _audience_id(session: Session, audience: str, campaign: str | None) -> int:
    from sqlalchemy import select

    from campaigns.schema import Audience

    if audience.isdigit():
        found = session.get(Audience, int(audience))
        if found is None or (campaign is not None and found.campaign_id != campaign):
            raise BadInput(
                f"no audience with id {audience}" + (f" in {campaign}" if campaign else "")
            )
        return found.id
    campaign_part, _, key = audience.rpartition(":")
    query = select(Audience).where(Audience.key == key)
    if campaign_part or campaign:
        query = query.where(Audience.campaign_id == (campaign_part or campaign))
    matches = session.scalars(query).all()
    if not matches:
        raise BadInput(f"no audience {audience!r} (see elshi campaign show CAMPAIGN)")
    if len(matches) > 1:
        options = ", ".join(f"{m.campaign_id}:{m.key}" for m in matches)
        raise BadInput(f"audience {audience!r} is ambiguous: use one of {options}")
    return matches[0].id


@click.group("report", invoke_without_command=True)
@options.campaign("Only this campaign (its id).")
@click.option(
    "--audience",
    help="Only deliveries reaching this audience: its id, KEY (with --campaign) or CAMPAIGN:KEY.",
)
@click.option("--country", help="Only campaigns for this country (ISO code, e.g. DE).")
@click.option("--channel", help="Only deliveries through this channel (its name in elshi.toml).")
@click.option("--since", help="Posts published from this day or time (UTC), e.g. 2027-03-01.")
@click.option("--until", help="Posts published up to this day (inclusive) or before this time.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    help="Output format; without it (and without --out) a short summary is printed.",
)
@options.out(
    "Where to write: a file (html, xlsx, json, md), a folder or .zip (csv).", dir_okay=True
)
@click.option(
    "--as-of",
    "as_of",
    help="Report time: what was known then (UTC; default now, or the rehearsal's end in a demo "
    "workspace). The period (--since/--until) chooses the deliveries; this, what is known.",
)
@click.option(
    "--seed", type=int, default=20270321, show_default=True, help="Seed of the bootstrap."
)
@click.pass_context
def command(
    ctx: click.Context,
    campaign: str | None,
    audience: str | None,
    country: str | None,
    channel: str | None,
    since: str | None,
    until: str | None,
    fmt: str | None,
    out: Path | None,
    as_of: str | None,
    seed: int,
) -> None:
    """Effectiveness per campaign and audience: volume, reach, engagement rates with intervals,
    leaderboards, A/B tests, best hours, outcomes, data quality. Examples:

    \b
        elshi report
        elshi report --campaign de-2027 --format html --out report.html
        elshi report --campaign de-2027 --audience think-tanks --since 2027-03-01 --format xlsx
        elshi report --format csv --out report.zip
        elshi report send weekly        # a [reports.weekly] e-mail, now
    """
    if ctx.invoked_subcommand is not None:
        return
    app: App = ctx.obj

    start = _moment(since, "--since", end=False)
    stop = _moment(until, "--until", end=True)
    if start and stop and start >= stop:
        raise BadInput("--since must be before --until")
    if fmt is None and out is not None:
        fmt = {".html": "html", ".htm": "html", ".xlsx": "xlsx", ".json": "json", ".md": "md"}.get(
            out.suffix.lower(), "csv"
        )
    if out is not None:  # before the work: a refused path wastes none
        out = app.output_path(out, writes=_WRITES[fmt or "html"])
    with app.sessions() as session:
        app.check_campaign(session, campaign)
        audience_id = _audience_id(session, audience, campaign) if audience else None
        _known(session, channel=channel, country=country)

    from reports.request import build

    now = app.now()
    built = build(
        app.engine,
        now=now,
        as_of=_moment(as_of, "--as-of", end=True) or rehearsed(app),
        campaign=campaign,
        audience=audience_id,
        since=start,
        until=stop,
        channel=channel,
        country=country.upper() if country else None,
        imitates=app.config.text_platforms,
        seed=seed,
    )
    if fmt is None:
        from reports.render_text import terminal_summary

        say(terminal_summary(built))
        return
    _write(built, fmt, out)


def _known(session: Session, *, channel: str | None, country: str | None) -> None:
    from sqlalchemy import select

    from campaigns.schema import Campaign, Channel

    if channel is not None:
        names = list(session.scalars(select(Channel.name).order_by(Channel.name)))
        if channel not in names:
            raise BadInput(f"no channel {channel!r} (known: {', '.join(names) or 'none yet'})")
    if country is not None:
        countries = sorted(set(session.scalars(select(Campaign.country))))
        if country.upper() not in countries:
            raise BadInput(
                f"no campaign for country {country!r} (campaigns are for: "
                f"{', '.join(countries) or 'none yet'})"
            )


def rehearsed(app: App, *, other: str = "give --as-of for another time") -> datetime | None:
    """In a demo workspace: the rehearsal's end (said on standard error, so output stays clean,
    with how to choose ``other`` times); the report time `elshi report` and the web's Reports
    page read at by default."""
    from elshi.demo import recorded_as_of

    path = app.config.path
    moment = recorded_as_of(path.parent) if path is not None else None
    if moment is not None:
        say(
            f"(demo workspace: reading as of the rehearsal's end, {moment:%Y-%m-%d %H:%M} UTC; "
            f"{other})",
            err=True,
        )
    return moment


def _write(built: object, fmt: str, out: Path | None) -> None:
    from reports.model import Report

    assert isinstance(built, Report)
    if fmt in ("json", "md") and out is None:
        from reports.render_data import to_json
        from reports.render_text import to_markdown

        say(to_json(built) if fmt == "json" else to_markdown(built), nl=False)
        return
    target = out or Path(DEFAULT_OUT[fmt])
    if fmt == "html":
        from reports.render_html import render

        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render(built), encoding="utf-8")
    elif fmt == "xlsx":
        from reports.render_xlsx import write_xlsx

        write_xlsx(built, target)
    elif fmt == "csv":
        from reports.render_data import write_csv

        write_csv(built, target)
    elif fmt == "json":
        from reports.render_data import json_bytes

        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(json_bytes(built))
    else:
        from reports.render_text import to_markdown

        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(to_markdown(built), encoding="utf-8")
    note = " (SIMULATED data)" if built.simulated else ""
    say(f"wrote {target}{note}")


class NotSent(click.ClickException):
    """The mail server refused or could not be reached (exit 1)."""

    exit_code = 1


@command.command("send")
@click.argument("name")
@click.pass_obj
def report_send(app: App, name: str) -> None:
    """Send the report e-mail of a [reports.NAME] table now (its schedule is unchanged).
    Example:

    \b
        elshi report send weekly
    """
    from elshi.settings import ReportMailConfig
    from notify.base import NotifyError

    reports = app.config.named(ReportMailConfig)
    if name not in reports:
        known = ", ".join(sorted(reports)) or "none; add a [reports.NAME] table to elshi.toml"
        raise BadInput(f"no report {name!r} (known: {known})")
    from campaigns.people import authorize

    with app.sessions() as session:
        authorize(session, app.person(session), "report.view")
    from elshi.runtime import build_alerts

    alerts = build_alerts(app.config, app.sessions, app.clock, worker_id=f"cli:{os.getpid()}")
    try:
        key = alerts.send_report_now(name)
    except NotifyError as exc:
        raise NotSent(f"report {name!r} not sent: {exc.message}") from None
    finally:
        alerts.close()
    spec = reports[name]
    say(f"sent report {name} through {spec.via} (message {key})")
