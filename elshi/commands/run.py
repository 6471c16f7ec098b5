"""``elshi run``: the scheduler daemon."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import click

from elshi.app import App, BadInput
from elshi.output import say


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
def command(app: App, once: bool, now_text: str | None, no_collect: bool) -> None:
    """Run the scheduler daemon in the foreground (for systemd, a container or a terminal):
    publish due deliveries exactly once, retry, reconcile after crashes, collect metrics.
    SIGTERM or Ctrl-C stops it cleanly. Examples:

    \b
        elshi run
        elshi run --once                       # from cron or a systemd timer
        elshi run --once --now 2027-03-22T09:00:00Z   # rehearse on sandbox channels
    """
    import logging

    from elshi import logs
    from elshi.runtime import build_dispatcher, import_connectors

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
        import_connectors(app.config)
        _settle_memory()
        with logs.background():
            dispatcher.run_forever()
        return
    try:
        stats, collected = dispatcher.run_once(collect=not no_collect)
    finally:
        dispatcher.close()
    if not now_text:
        _once_heartbeat(app)
    say(
        f"pass at {clock().isoformat(timespec='seconds')}: {stats.published} published, "
        f"{stats.retried} to retry, {stats.failed} failed, {stats.missed} missed, "
        f"{stats.ambiguous} unsure, {stats.needs_review} need review"
        + (f"; metrics: {collected.snapshots} snapshots" if collected else "")
    )


def _settle_memory() -> None:
    """Before the daemon starts: collect the start-up's garbage once, then leave the objects
    that remain (modules, the ORM's mappings, the configuration: ~140k, alive until the
    process ends) out of the garbage collector's later passes. Otherwise every full
    collection of a busy daemon walks them all, ~0.1 s with the GIL held, in which no thread
    publishes (bench/dispatch.py: one in each all-at-once run, 1-2 % of its CPU); the objects
    the daemon makes while running are collected as before."""
    import gc

    gc.collect()
    gc.freeze()


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
