"""``elshi run``, ``elshi status``, ``elshi collect`` and ``elshi deliveries``: the daemon and
what an operator needs around it."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from elshi.app import App, BadInput
from elshi.output import clip, table, to_json


def _parse_instant(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadInput(f"--now {value!r}: write an ISO time such as 2027-03-22T09:00:00Z") from None
    if moment.tzinfo is None:
        raise BadInput(f"--now {value!r}: give a UTC offset (e.g. Z or +01:00)")
    return moment.astimezone(UTC)


@click.command("run")
@click.option("--once", is_flag=True, help="One pass over what is due now, then exit.")
@click.option(
    "--now",
    "now_text",
    metavar="ISO-TIME",
    help="With --once: run the pass as of this instant (sandbox channels only).",
)
@click.option("--no-collect", is_flag=True, help="Do not collect metrics in this pass.")
@click.pass_obj
def run(app: App, once: bool, now_text: str | None, no_collect: bool) -> None:
    """Run the scheduler daemon in the foreground (for systemd, a container or a terminal):
    publish due deliveries exactly once, retry, reconcile after crashes, collect metrics.
    SIGTERM or Ctrl-C stops it cleanly. Examples:

    \b
        elshi run
        elshi run --once                       # from cron or a systemd timer
        elshi run --once --now 2027-03-22T09:00:00Z   # rehearse on sandbox channels
    """
    import logging

    from elshi.runtime import build_dispatcher

    logging.getLogger("elshi.state").setLevel(logging.INFO)
    clock = app.clock
    if now_text:
        if not once:
            raise BadInput("--now only works with --once")
        fixed = _parse_instant(now_text)
        real = sorted(n for n, c in app.config.channels.items() if c.platform != "sandbox")
        if real:
            raise BadInput(
                f"--now rehearses on sandbox channels only; the configuration has "
                f"real channels: {', '.join(real)}"
            )

        def clock() -> datetime:
            return fixed

    app.sessions  # noqa: B018 - open (and upgrade) the database before starting
    dispatcher = build_dispatcher(app.config, app.sessions, clock, real_time=not now_text)
    if not once:
        dispatcher.run_forever()
        return
    try:
        stats, collected = dispatcher.run_once(collect=not no_collect)
    finally:
        dispatcher.close()
    if not now_text:
        _once_heartbeat(app)
    click.echo(
        f"pass at {clock().isoformat(timespec='seconds')}: {stats.published} published, "
        f"{stats.retried} to retry, {stats.failed} failed, {stats.missed} missed, "
        f"{stats.ambiguous} unsure, {stats.needs_review} need review"
        + (f"; metrics: {collected.snapshots} snapshots" if collected else "")
    )


def _once_heartbeat(app: App) -> None:
    """A pass from cron or a timer is a sign of life too: one row per host, so a timer every
    minute does not fill the worker table."""
    import socket

    from campaigns.schema import Worker
    from campaigns.store import immediate

    now = app.now()
    worker_id = f"{socket.gethostname()}:run-once"
    with immediate(app.sessions) as session:
        worker = session.get(Worker, worker_id)
        if worker is None:
            worker = Worker(
                id=worker_id, host=socket.gethostname(), pid=0, started_at=now, heartbeat_at=now
            )
            session.add(worker)
        worker.pid = os.getpid()
        worker.heartbeat_at = now
        worker.stopped_at = now
        session.commit()


@click.command("status")
@click.option("--campaign", help="Only this campaign.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (--format json).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "prometheus"]),
    help="Output format (default text); prometheus: the text exposition format.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead (atomically: for node_exporter's textfile collector).",
)
@click.option(
    "--check",
    is_flag=True,
    help="For monitoring: one line per problem and exit 1 when there is any (overdue, "
    "waiting for approval past its time, failed, needs review, missed, paused channel, no "
    "daemon heartbeat, collection failing, alerts not sent).",
)
@click.pass_obj
def status(
    app: App,
    campaign: str | None,
    as_json: bool,
    fmt: str | None,
    out: Path | None,
    check: bool,
) -> None:
    """What is coming, publishing, failed, missed and needs review, per campaign and channel;
    with --check, what needs a person, for monitoring. Examples:

    \b
        elshi status
        elshi status --check || alert "Elshi needs attention"
        elshi status --check --json
        elshi status --format prometheus --out /var/lib/node_exporter/textfile/elshi.prom
    """
    from elshi.runtime import thresholds
    from scheduler.health import problems as find_problems
    from scheduler.operations import status as read_status

    fmt = fmt or ("json" if as_json else "text")
    now = app.now()
    with app.sessions() as session:
        found = find_problems(
            session, now, replace(thresholds(app.config), approval_lead=timedelta(0))
        )
        if campaign:
            found = [p for p in found if p.campaign in (None, campaign)]
        if fmt == "prometheus":
            from scheduler.prometheus import render

            _emit(render(session, now, found), out)
            if check and found:
                raise SystemExit(1)
            return
        data = read_status(session, now, campaign=campaign)
    if check and any(p.kind == "daemon_silent" for p in found):
        _raise_silent_daemon_alert(app)
    data["ok"] = not found
    data["problems"] = [_problem_json(p) for p in found]
    if fmt == "json":
        _emit(to_json(data) + "\n", out)
    elif check:
        _emit(_check_lines(found, now), out)
    else:
        _print_status(data)
    if check and found:
        raise SystemExit(1)


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        click.echo(text, nl=False)
        return
    import os
    import tempfile

    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        Path(temporary).chmod(0o644)
        Path(temporary).replace(out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


PER_KIND = 20
"""``--check`` lists at most this many problems of one kind, then counts the rest."""


def _check_lines(found: list[Any], now: datetime) -> str:
    if not found:
        return f"OK: nothing needs attention ({now:%Y-%m-%d %H:%M} UTC)\n"
    lines: list[str] = []
    shown: dict[str, int] = {}
    for problem in found:
        shown[problem.kind] = shown.get(problem.kind, 0) + 1
        if shown[problem.kind] <= PER_KIND:
            lines.append(problem.line())
    for kind, count in shown.items():
        if count > PER_KIND:
            lines.append(f"{kind}: … and {count - PER_KIND} more (elshi status --json lists all)")
    return "\n".join(lines) + "\n"


def _problem_json(problem: Any) -> dict[str, Any]:
    return {
        "kind": problem.kind,
        "message": problem.message,
        "action": problem.action,
        "campaign": problem.campaign,
        "channel": problem.channel,
        "delivery": problem.delivery_id,
        "post": problem.post_id,
    }


def _raise_silent_daemon_alert(app: App) -> None:
    """No daemon is there to send the alert about itself: this process records and sends it."""
    if not app.config.alerting.notifiers:
        return
    from elshi.runtime import build_alerts

    alerts = build_alerts(app.config, app.sessions, app.clock, worker_id=f"status:{os.getpid()}")
    try:
        alerts.run_pass()
    finally:
        alerts.close()


def _print_status(data: dict[str, Any]) -> None:
    states = [
        "draft",
        "approved",
        "scheduled",
        "publishing",
        "published",
        "failed",
        "missed",
        "needs_review",
        "cancelled",
    ]
    if not data["counts"]:
        click.echo("No deliveries yet: elshi campaign apply FILE.yaml")
        return
    click.echo(
        table(
            ["campaign", "channel", *states],
            [
                [r["campaign"], r["channel"], *[r.get(s, "") for s in states]]
                for r in data["counts"]
            ],
        )
    )
    if data["daemons"]:
        click.echo(
            "\nDaemons: "
            + ", ".join(
                f"{w['id']} ({'alive' if w['alive'] else 'silent'}, heartbeat "
                f"{w['heartbeat_at']:%Y-%m-%d %H:%M:%S})"
                for w in data["daemons"]
            )
        )
    else:
        click.echo("\nNo daemon is running (elshi run).")
    for item in data["paused_channels"]:
        click.secho(
            f"Channel {item['channel']} is PAUSED since {item['since']:%Y-%m-%d %H:%M}: "
            f"{item['reason']} — fix it, then: elshi channels resume {item['channel']}",
            fg="red",
        )
    for item in data["rate_limited_channels"]:
        click.echo(f"Channel {item['channel']} is rate-limited until {item['until']:%H:%M:%S}")
    click.echo("")
    if data["attention"]:
        click.echo("Needs attention (retry, cancel or resolve with elshi deliveries ...):")
        click.echo(
            table(
                ["id", "state", "due (UTC)", "local", "channel", "post"],
                [
                    [r["id"], r["state"], r["due_at"], r["local_due"], r["channel"], r["post"]]
                    for r in data["attention"]
                ],
            )
        )
        for r in data["attention"]:
            click.echo(f"  #{r['id']}: {r['reason'] or 'no reason recorded'}")
    sections = [
        ("Publishing now", data["publishing"]),
        ("Overdue (waiting past their time)", data["overdue"]),
        ("Next up", data["upcoming"]),
    ]
    for title, rows in sections:
        if not rows:
            continue
        click.echo(f"\n{title}:")
        click.echo(
            table(
                ["id", "state", "due (UTC)", "local", "channel", "post", "url / note"],
                [
                    [
                        r["id"],
                        r["state"],
                        r["due_at"],
                        r["local_due"],
                        r["channel"],
                        r["post"],
                        clip(r["url"] or r["reason"] or "", 50),
                    ]
                    for r in rows
                ],
            )
        )
    if data["drafts"]:
        click.echo(f"\n{data['drafts']} deliveries await approval (elshi post approve).")


@click.command("collect")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar (default: when attached to a terminal).",
)
@click.pass_obj
def collect(app: App, progress: bool | None) -> None:
    """Collect engagement metrics now for every published post that is due (one round).
    Example:

        elshi collect
    """
    import sys

    from elshi.runtime import build_dispatcher

    dispatcher = build_dispatcher(app.config, app.sessions, app.clock, real_time=True)
    show = sys.stderr.isatty() if progress is None else progress
    try:
        if show:
            with click.progressbar(length=0, label="collecting", file=sys.stderr) as bar:
                stats = dispatcher.collect(progress=bar.update)
        else:
            stats = dispatcher.collect()
    finally:
        dispatcher.close()
    click.echo(
        f"{stats.due} posts due: {stats.snapshots} snapshots, {stats.deleted} deleted on "
        f"the platform, {stats.failed} failed (retried later); "
        f"{stats.follower_samples} follower counts"
    )


@click.group("deliveries")
def deliveries() -> None:
    """Operator actions on single deliveries (ids from elshi status)."""


def _outcome(app: App, fn: Any, by: str | None, **kwargs: Any) -> None:
    from campaigns.people import PeopleError
    from scheduler.operations import OperationError

    with app.sessions() as session:
        try:
            outcomes = fn(session, now=app.now(), actor=app.person(session, by), **kwargs)
        except (OperationError, PeopleError) as exc:
            session.rollback()
            raise BadInput(str(exc)) from None
        session.commit()
    click.echo(
        table(["delivery", "was", "now"], [[o.delivery, o.before, o.after] for o in outcomes])
    )


@deliveries.command("retry")
@click.argument("ids", nargs=-1, type=int, required=True)
@click.option("--by", help="Same as the global --as USER.")
@click.pass_obj
def retry(app: App, ids: tuple[int, ...], by: str | None) -> None:
    """Send failed, missed or cancelled deliveries again, now. Example:

    elshi deliveries retry 42 43
    """
    from scheduler.operations import retry as do

    _outcome(app, do, by, ids=list(ids))


@deliveries.command("cancel")
@click.argument("ids", nargs=-1, type=int, required=True)
@click.option("--reason", help="Why (audited).")
@click.option("--by", help="Same as the global --as USER.")
@click.pass_obj
def cancel(app: App, ids: tuple[int, ...], reason: str | None, by: str | None) -> None:
    """Cancel waiting deliveries. Example:

    elshi deliveries cancel 42 --reason "event postponed"
    """
    from scheduler.operations import cancel as do

    _outcome(app, do, by, ids=list(ids), reason=reason)


@deliveries.command("resolve")
@click.argument("ids", nargs=-1, type=int, required=True)
@click.option("--published", "url", metavar="URL", help="It did go out: its permalink.")
@click.option("--remote-id", help="The platform's id of the post (default: from the URL).")
@click.option("--not-published", "not_published", is_flag=True, help="It did not go out.")
@click.option(
    "--cancel",
    "cancel_it",
    is_flag=True,
    help="With --not-published: cancel instead of sending again.",
)
@click.option("--by", help="Same as the global --as USER.")
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
    )


commands = [run, status, collect]
