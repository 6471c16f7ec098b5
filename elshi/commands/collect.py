"""``elshi collect``: one round of metric collection, now."""

from __future__ import annotations

import click

from elshi.app import App
from elshi.output import say


@click.command("collect")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar (default: when attached to a terminal).",
)
@click.pass_obj
def command(app: App, progress: bool | None) -> None:
    """Collect engagement metrics now for every published post that is due (one round).
    Example:

    \b
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
    say(
        f"{stats.due} posts due: {stats.snapshots} snapshots, {stats.deleted} deleted on "
        f"the platform, {stats.failed} failed (retried later); "
        f"{stats.follower_samples} follower counts"
    )
