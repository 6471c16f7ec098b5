"""``elshi demo``: the whole path on sandbox channels, with nothing to configure."""

from __future__ import annotations

from pathlib import Path

import click

from elshi.output import say


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
def command(directory: Path, seed: int) -> None:
    """Try Elshi with nothing to configure: apply the Germany and China example campaigns to
    sandbox channels, rehearse their whole year in accelerated time with the real scheduler,
    collect simulated metrics, and write the reports. Example:

    \b
        elshi demo   # then open elshi-demo/reports/report.html
    """
    import sys

    from elshi.demo import run_demo

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
        result = run_demo(directory.resolve(), seed=seed, say=say, progress=progress)
    finally:
        if bar is not None:
            bar.render_finish()
    say(
        f"\nrehearsed {result.period[0]:%Y-%m-%d} to {result.period[1]:%Y-%m-%d}: "
        f"{result.published} published, {result.retried} retried after simulated outages, "
        f"{result.missed} missed, {result.failed} failed; {result.snapshots} metric snapshots"
    )
    if result.summary:
        say("\n" + result.summary)
    for path in result.reports:
        say(f"report: {path}")
    if result.users:
        say("\nThe web workspace: people of a demo office (one-time passwords, shown once):")
        for username, role, password in result.users:
            say(f"  {username:<6} {role:<9} {password}")
        say(
            f"  open it: cd {result.directory} && elshi web   "
            "then http://127.0.0.1:8080 (log in as anna, pavel, amir, olga, marat or admin)"
        )
    say(
        f"workspace: {result.directory}\n  cd there and try: elshi status · "
        "elshi campaign show de-2027-gateway · elshi report (it reads the rehearsed year)"
    )
