"""``elshi status``: what is coming, publishing, failed, missed and needs review; with
``--check``, what needs a person (for monitoring)."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click

from elshi.app import App
from elshi.commands import options
from elshi.output import clip, say, table, to_json


@click.command("status")
@options.campaign()
@options.json_output
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "prometheus"]),
    help="Output format (default text); prometheus: the text exposition format.",
)
@options.out("Write to this file instead (atomically: for node_exporter's textfile collector).")
@click.option(
    "--check",
    is_flag=True,
    help="For monitoring: one line per problem and exit 1 when there is any (overdue, "
    "waiting for approval past its time, failed, needs review, missed, paused channel, no "
    "daemon heartbeat, collection failing, alerts not sent).",
)
@click.pass_obj
def command(
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
    kinds = {
        "prometheus": ("Prometheus figures", (".prom", ".txt")),
        "json": ("JSON", (".json",)),
        "text": ("text", (".txt",)),
    }
    out = app.output_path(out, writes=kinds[fmt]) if out is not None else None
    now = app.now()
    with app.sessions() as session:
        app.check_campaign(session, campaign)
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
        say(text, nl=False)
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
    from elshi.settings import NotifyConfig

    if not app.config.named(NotifyConfig):
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
        say("No deliveries yet: elshi campaign apply FILE.yaml")
        return
    say(
        table(
            ["campaign", "channel", *states],
            [
                [r["campaign"], r["channel"], *[r.get(s, "") for s in states]]
                for r in data["counts"]
            ],
        )
    )
    if data["daemons"]:
        say(
            "\nDaemons: "
            + ", ".join(
                f"{w['id']} ({'alive' if w['alive'] else 'silent'}, heartbeat "
                f"{w['heartbeat_at']:%Y-%m-%d %H:%M:%S})"
                for w in data["daemons"]
            )
        )
    else:
        say("\nNo daemon is running (elshi run).")
    for item in data["pauses"]:
        where = "EVERYTHING" if item["scope"] == "all" else f"{item['scope']} {item['target']}"
        say(
            f"Kill switch: {where} PAUSED since {item['since']:%Y-%m-%d %H:%M} by {item['by']}: "
            f"{item['reason']} — resume: elshi resume {item['id']}",
            fg="red",
        )
    for item in data["paused_channels"]:
        say(
            f"Channel {item['channel']} is PAUSED since {item['since']:%Y-%m-%d %H:%M}: "
            f"{item['reason']} — fix it, then: elshi channels resume {item['channel']}",
            fg="red",
        )
    for item in data["rate_limited_channels"]:
        say(f"Channel {item['channel']}: {item['words']}; nothing is sent to it before then")
    say("")
    if data["attention"]:
        say("Needs attention (retry, cancel or resolve with elshi deliveries ...):")
        say(
            table(
                ["id", "state", "due (UTC)", "local", "channel", "post"],
                [
                    [r["id"], r["state"], r["due_at"], r["local_due"], r["channel"], r["post"]]
                    for r in data["attention"]
                ],
            )
        )
        for r in data["attention"]:
            say(f"  #{r['id']}: {r['reason'] or 'no reason recorded'}")
    sections = [
        ("Publishing now", data["publishing"]),
        ("Overdue (waiting past their time)", data["overdue"]),
        ("Next up", data["upcoming"]),
    ]
    for title, rows in sections:
        if not rows:
            continue
        say(f"\n{title}:")
        say(
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
        say(f"\n{data['drafts']} deliveries await approval (elshi post approve).")
