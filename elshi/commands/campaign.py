"""``elshi campaign``: validate, plan, apply, list, show and import campaign definitions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from elshi.app import App, BadInput
from elshi.commands import options
from elshi.output import clip, echo_json, say, table

if TYPE_CHECKING:
    from campaigns.planning import Change
    from campaigns.validation import Loaded


@click.group("campaign")
def command() -> None:
    """Campaign definitions: validate, plan, apply, inspect, import. Example:

    \b
        elshi campaign validate campaigns/*.yaml && elshi campaign apply campaigns/*.yaml
    """


def _channels(app: App) -> dict[str, str] | None:
    """Channel → the platform whose rules its text must follow (a sandbox channel's ``mimic``,
    so rehearsing on the sandbox catches what the real platform would refuse)."""
    return app.config.text_platforms if app.config.path is not None else None


def _load(app: App, files: Sequence[Path], *, quiet_ok: bool = False) -> list[Loaded]:
    from campaigns.validation import load_campaigns
    from elshi.settings import WorkspaceConfig

    loaded = load_campaigns(
        list(files),
        channels=_channels(app),
        now=app.now(),
        media_dir=app.config.section(WorkspaceConfig).media_dir,
        channel_options=app.config.channel_options if app.config.path is not None else None,
    )
    for item in loaded:
        for problem in item.problems:
            say(str(problem), err=not problem.is_error)
    errors = sum(len(item.errors) for item in loaded)
    if errors:
        raise BadInput(f"{errors} problem{'s' if errors != 1 else ''} found; nothing was changed")
    if not quiet_ok:
        for item in loaded:
            assert item.desired is not None
            say(
                f"{item.path}: ok — campaign {item.desired.spec.id}, "
                f"{len(item.desired.posts)} posts, {len(item.desired.deliveries)} deliveries"
            )
    return loaded


@command.command("validate")
@options.campaign_files
@click.pass_obj
def validate(app: App, files: tuple[Path, ...]) -> None:
    """Check campaign files; print every problem as FILE:LINE:COL: message.

    Exit code 0 when valid, 2 on any error. Example:

    \b
        elshi campaign validate campaigns/*.yaml
    """
    _load(app, files)


def _run_apply(
    app: App, files: Sequence[Path], *, by: str | None, commit: bool
) -> tuple[list[Loaded], dict[str, list[Change]]]:
    from campaigns.planning import apply_campaign
    from campaigns.store import applying
    from elshi.settings import DatabaseConfig

    loaded = _load(app, files, quiet_ok=True)
    results: dict[str, list[Change]] = {}
    now = app.now()
    wait = app.config.section(DatabaseConfig).lock_wait_seconds
    with applying(app.sessions, wait_seconds=wait) as session:
        person = app.person(session, by)
        for item in loaded:
            assert item.desired is not None
            results[item.desired.spec.id] = apply_campaign(
                session,
                item.desired,
                platforms=app.config.channel_platforms,
                actor=person,
                now=now,
                store_media=commit,
            )
        if commit:
            session.commit()
        else:
            session.rollback()
    return loaded, results


def _print_changes(results: dict[str, list[Change]], *, verb: str) -> None:
    for campaign_id, changes in results.items():
        if not changes:
            say(f"campaign {campaign_id}: up to date, nothing to {verb}")
            continue
        counts = {s: sum(1 for c in changes if c.sign == s) for s in "+~-!"}
        say(
            f"campaign {campaign_id}: {counts['+']} to add, {counts['~']} to change, "
            f"{counts['-']} to remove" + (f", {counts['!']} refused" if counts["!"] else "")
        )
        for change in changes:
            style = {"+": "green", "~": "yellow", "-": "red", "!": "magenta"}[change.sign]
            say(f"  {change}", fg=style)


@command.command("plan")
@options.campaign_files
@options.json_output
@click.option("--timeline/--no-timeline", default=True, help="Show the deliveries in time order.")
@click.pass_obj
def plan(app: App, files: tuple[Path, ...], as_json: bool, timeline: bool) -> None:
    """Show what `apply` would do (+ new, ~ changed, - removed, ! refused) and the timeline of
    deliveries in UTC and in each audience's local time. Changes nothing. Example:

    \b
        elshi campaign plan campaigns/sample.yaml
    """
    loaded, results = _run_apply(app, files, by=None, commit=False)
    rows = []
    for item in loaded:
        assert item.desired is not None
        for d in sorted(item.desired.deliveries, key=lambda d: (d.due_at, d.channel)):
            rows.append(
                {
                    "campaign": item.desired.spec.id,
                    "due_utc": d.due_at.strftime("%Y-%m-%d %H:%M"),
                    "local": d.local_due.strftime("%Y-%m-%d %H:%M"),
                    "timezone": d.timezone,
                    "channel": d.channel,
                    "post": d.post + (f"#{d.occurrence + 1}" if d.occurrence else ""),
                    "language": d.language,
                    "audience": d.audience,
                    "text": d.text,
                }
            )
    if as_json:
        echo_json(
            {
                "changes": {cid: [c.__dict__ for c in ch] for cid, ch in results.items()},
                "timeline": rows,
            }
        )
        return
    _print_changes(results, verb="apply")
    if timeline and rows:
        say("\nTimeline (UTC and local time of the audience each delivery follows):")
        say(
            table(
                ["UTC", "local", "zone", "channel", "post", "lang", "audience", "text"],
                [
                    [
                        r["due_utc"],
                        r["local"],
                        r["timezone"],
                        r["channel"],
                        r["post"],
                        r["language"],
                        r["audience"],
                        clip(r["text"], 40),
                    ]
                    for r in rows
                ],
            )
        )


@command.command("apply")
@options.campaign_files
@options.by("Same as the global --as USER (recorded in the audit log).")
@click.pass_obj
def apply(app: App, files: tuple[Path, ...], by: str | None) -> None:
    """Validate, then apply the files in one transaction. Applying twice changes nothing;
    deliveries that are publishing or published are never rewritten. Example:

    \b
        elshi campaign apply campaigns/*.yaml
    """
    _, results = _run_apply(app, files, by=by, commit=True)
    _print_changes(results, verb="apply")
    drafts = _draft_hint(app, list(results))
    if drafts:
        say(drafts)


def _draft_hint(app: App, campaign_ids: list[str]) -> str | None:
    from sqlalchemy import func, select

    from campaigns.schema import Approval, Post

    with app.sessions() as session:
        pending = session.execute(
            select(Post.campaign_id, func.count())
            .where(
                Post.campaign_id.in_(campaign_ids),
                Post.approval == Approval.pending,
                Post.retired.is_(False),
            )
            .group_by(Post.campaign_id)
        ).all()
    if not pending:
        return None
    parts = [f"{n} in {cid} (elshi post approve --campaign {cid} --all)" for cid, n in pending]
    return "Posts awaiting approval: " + "; ".join(parts)


@command.command("list")
@options.json_output
@click.pass_obj
def list_(app: App, as_json: bool) -> None:
    """List the campaigns in the database with their posts and delivery states. Example:

    \b
        elshi campaign list --json
    """
    from campaigns.queries import campaign_summaries

    with app.sessions() as session:
        rows = campaign_summaries(session)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        say("No campaigns yet: elshi campaign apply FILE.yaml")
        return
    say(
        table(
            ["campaign", "title", "country", "dates", "posts", "pending", "deliveries", "states"],
            [
                [
                    r["id"],
                    clip(r["title"], 36),
                    r["country"],
                    f"{r['starts']} – {r['ends']}",
                    r["posts"],
                    r["pending_approval"],
                    r["deliveries"],
                    ", ".join(f"{k} {v}" for k, v in r["states"].items()),
                ]
                for r in rows
            ],
        )
    )


@command.command("show")
@click.argument("campaign_id")
@options.json_output
@click.pass_obj
def show(app: App, campaign_id: str, as_json: bool) -> None:
    """Show one campaign: audiences, posts, and each delivery's state. Example:

    \b
        elshi campaign show de-2027-gateway
    """
    from campaigns.queries import campaign_detail

    with app.sessions() as session:
        detail = campaign_detail(session, campaign_id)
    if detail is None:
        raise BadInput(f"no campaign {campaign_id!r} (see elshi campaign list)")
    if as_json:
        echo_json(detail)
        return
    c = detail["campaign"]
    say(f"{c['id']}: {c['title']}  [{c['country']}, {c['starts']} – {c['ends']}, {c['timezone']}]")
    say(
        f"key idea: {c['narrative']}  hashtags: {' '.join(c['hashtags']) or '—'}  "
        f"approval: {'required' if c['requires_approval'] else 'not required'}"
    )
    say("\nAudiences:")
    say(
        table(
            ["audience", "name", "group", "languages", "zone", "channels"],
            [
                [
                    a["key"],
                    clip(a["name"], 30),
                    a["group"],
                    ",".join(a["languages"]),
                    a["timezone"],
                    ",".join(a["channels"]),
                ]
                for a in detail["audiences"]
            ],
        )
    )
    say("\nPosts:")
    say(
        table(
            ["post", "category", "variant", "approval", "deliveries"],
            [
                [
                    p["key"],
                    p["category"],
                    p["variant"],
                    p["approval"],
                    ", ".join(f"{k} {v}" for k, v in p["states"].items()),
                ]
                for p in detail["posts"]
            ],
        )
    )
    say("\nDeliveries:")
    say(
        table(
            ["id", "UTC", "local", "channel", "post", "lang", "state", "url"],
            [
                [
                    d["id"],
                    d["due_at"],
                    f"{d['local_due']} {d['timezone']}",
                    d["channel"],
                    d["post"],
                    d["language"],
                    d["state"],
                    d["remote_url"],
                ]
                for d in detail["deliveries"]
            ],
        )
    )


@command.command("import")
@click.argument("sheet", required=False, type=click.Path(dir_okay=False, path_type=Path))
@options.out("Where to write the campaign YAML (default: SHEET with .yaml).")
@click.option(
    "--campaign-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A YAML file with the campaign, events and audiences blocks to use.",
)
@click.option(
    "--template",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Instead of importing: write an empty calendar (.xlsx) with the columns, drop-down "
    "lists and an example row (its audiences and languages from --campaign-file).",
)
@options.force("Overwrite --out (or --template) if it exists.")
@click.pass_obj
def import_(
    app: App,
    sheet: Path | None,
    out: Path | None,
    campaign_file: Path | None,
    template: Path | None,
    force: bool,
) -> None:
    """Turn a content calendar kept in a spreadsheet (.xlsx or .csv, one row a post) into a
    campaign YAML file. Errors name the row and column. Examples:

    \b
        elshi campaign import --template calendar.xlsx --campaign-file base.yaml
        elshi campaign import calendar.xlsx --campaign-file base.yaml --out spring.yaml
    """
    from campaigns.spreadsheet import SheetError, import_sheet

    if template is not None:
        _write_template(app, template, campaign_file, force=force)
        return
    if sheet is None:
        raise BadInput("name the spreadsheet to import (or use --template FILE.xlsx)")
    from campaigns.inputfiles import unusable

    if (reason := unusable(sheet)) is not None:
        raise BadInput(f"{sheet}: {reason}")
    inputs = {sheet: "the spreadsheet being imported"}
    if campaign_file is not None:
        inputs[campaign_file] = "the --campaign-file"
    target = app.output_path(
        out or sheet.with_suffix(".yaml"),
        inputs=inputs,
        writes=("a campaign file", (".yaml", ".yml")),
    )
    if target.exists() and not force:
        raise BadInput(f"{target} exists; use --force to overwrite it")
    try:
        text, count = import_sheet(
            sheet, campaign_file=campaign_file, channels=_channels(app), out=target
        )
    except SheetError as exc:
        for problem in exc.problems:
            say(problem, err=True)
        raise BadInput(f"{exc.count} problem(s) in {sheet}; nothing was written") from None
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    say(f"wrote {target}: {count} posts. Next: elshi campaign validate {target}")


def _write_template(app: App, target: Path, campaign_file: Path | None, *, force: bool) -> None:
    from campaigns.sheettemplate import write_template
    from campaigns.spreadsheet import SheetError, template_context

    app.output_path(
        target,
        "--template",
        inputs={campaign_file: "the --campaign-file"} if campaign_file is not None else None,
        writes=("a calendar template", (".xlsx",)),
    )
    if target.suffix.lower() != ".xlsx":
        raise BadInput(f"{target}: a template is an Excel file; name it ….xlsx")
    if target.exists() and not force:
        raise BadInput(f"{target} exists; use --force to overwrite it")
    channels = sorted(app.config.channels) if app.config.path is not None else None
    try:
        context = template_context(campaign_file, channels)
    except SheetError as exc:
        for problem in exc.problems:
            say(problem, err=True)
        raise BadInput(f"cannot use {campaign_file}; nothing was written") from None
    target.parent.mkdir(parents=True, exist_ok=True)
    columns = write_template(target, context)
    say(
        f"wrote {target}: columns {', '.join(columns)}. Fill one row a post, then: "
        f"elshi campaign import {target}"
        + (f" --campaign-file {campaign_file}" if campaign_file else "")
    )
