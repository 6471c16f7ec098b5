"""``elshi demo``: the newcomer's path in one command, on the embedded default (SQLite and
sandbox channels, no credentials, no network).

It prepares a workspace (config, the shipped Germany and China campaigns, a database), applies
and approves the campaigns, rehearses their whole period with the daemon's own dispatch and
collection code on a stepping clock (`scheduler.rehearsal`), and writes the reports. Running it
again starts the workspace afresh (only files it made itself are removed).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from importlib.resources import files
from pathlib import Path

MARKER = ".elshi-demo"
DEMO_ACTOR = "demo"


class DemoError(Exception):
    pass


def examples_dir() -> Path:
    """The shipped examples: ``examples/`` beside the installed packages (a clone or editable
    install), else the working directory's."""
    here = Path(__file__).resolve().parent.parent / "examples"
    for candidate in (here, Path.cwd() / "examples"):
        if (candidate / "germany.yaml").is_file() and (candidate / "china.yaml").is_file():
            return candidate
    raise DemoError(
        "cannot find the example campaigns (examples/germany.yaml, "
        "examples/china.yaml); run the demo from a clone of the repository"
    )


def prepare(directory: Path, *, seed: int) -> Path:
    """A fresh workspace in ``directory``; returns its config path."""
    if directory.exists() and any(directory.iterdir()) and not (directory / MARKER).exists():
        raise DemoError(
            f"{directory} exists and is not an Elshi demo folder; choose another with --dir"
        )
    if (directory / MARKER).exists():
        for name in ("elshi.db", "elshi.db-wal", "elshi.db-shm", "elshi.toml"):
            (directory / name).unlink(missing_ok=True)
        for name in ("outbox", "campaigns", "reports"):
            shutil.rmtree(directory / name, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MARKER).write_text("made by elshi demo; running it again starts afresh\n")
    template = files("elshi").joinpath("templates/elshi.toml").read_text(encoding="utf-8")
    config = template.replace(
        '[channels.cn-weibo]\nplatform = "sandbox"\n',
        '[channels.cn-weibo]\nplatform = "sandbox"\n'
        "fail_rate = 0.05        # simulated outages: the demo shows retries\n",
    ).replace("\nfollowers = ", f"\nseed = {seed}\nfollowers = ")
    path = directory / "elshi.toml"
    path.write_text(config, encoding="utf-8")
    source = examples_dir()
    target = directory / "campaigns"
    target.mkdir()
    for name in ("germany.yaml", "china.yaml"):
        shutil.copy2(source / name, target / name)
    if (source / "media").is_dir():
        shutil.copytree(source / "media", target / "media")
    return path


@dataclass
class DemoResult:
    directory: Path
    campaigns: list[str]
    deliveries: int
    published: int
    retried: int
    missed: int
    failed: int
    snapshots: int
    reports: list[Path]
    period: tuple[datetime, datetime]
    summary: str = ""
    users: list[tuple[str, str, str]] = field(default_factory=list)
    """(username, role, one-time password) of the demo's people."""


DEMO_PEOPLE = (
    ("admin", "Aigerim Admin", "admin"),
    ("anna", "Anna Author (press officer)", "author"),
    ("pavel", "Pavel Press-Secretary", "approver"),
    ("amir", "Amir Ambassador", "approver"),
    ("olga", "Olga Operator", "operator"),
    ("marat", "Marat Manager", "manager"),
)
"""The office of the demo: one person per role, two approvers (press secretary, ambassador)."""


def add_demo_people(sessions: object, now: datetime) -> list[tuple[str, str, str]]:
    """Create the demo's people with random one-time passwords (returned, never stored)."""
    from sqlalchemy.orm import sessionmaker

    from campaigns import people

    assert isinstance(sessions, sessionmaker)
    made = []
    with sessions() as session:
        by = people.Person.local(DEMO_ACTOR)
        for username, name, role in DEMO_PEOPLE:
            password = people.generate_password()
            user = people.add_user(
                session,
                username,
                display_name=name,
                roles=[role],
                password=password,
                by=by,
                now=now,
            )
            if role == "admin":
                by = people.Person.of(user)
            made.append((username, role, password))
        session.commit()
    return made


def rehearsal_window(sessions: object) -> tuple[datetime, datetime]:
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session, sessionmaker

    from campaigns.schema import Campaign, Delivery

    assert isinstance(sessions, sessionmaker)
    with sessions() as session:
        assert isinstance(session, Session)
        first, last = session.execute(
            select(func.min(Delivery.due_at), func.max(Delivery.due_at))
        ).one()
        ends = session.scalar(select(func.max(Campaign.ends_on)))
    if first is None or last is None:
        raise DemoError("the example campaigns produced no deliveries")
    start = first - timedelta(hours=1)
    end_of_campaigns = datetime.combine(ends, time(23, 59), tzinfo=UTC) if ends else last
    return start, max(last, end_of_campaigns) + timedelta(days=31)


def run_demo(
    directory: Path,
    *,
    seed: int = 0,
    say: Callable[[str], None] = print,
    progress: Callable[[float], None] | None = None,
    with_reports: bool = True,
) -> DemoResult:
    """Everything ``elshi demo`` does; ``progress`` receives the rehearsed fraction (0..1)."""
    from campaigns.approval import approve, campaign_posts
    from campaigns.people import Person
    from campaigns.planning import apply_campaign
    from campaigns.store import open_database, session_factory
    from campaigns.validation import load_campaigns
    from elshi.config import load_config
    from elshi.runtime import build_dispatcher, settings_from
    from elshi.settings import DatabaseConfig
    from scheduler.rehearsal import SteppingClock, rehearse

    config_path = prepare(directory, seed=seed)
    config = load_config(config_path)
    real = sorted(n for n, c in config.channels.items() if c.platform != "sandbox")
    if real:
        raise DemoError(f"the demo runs on sandbox channels only, not {', '.join(real)}")
    say(f"workspace: {directory}")
    files_ = sorted((directory / "campaigns").glob("*.yaml"))
    loaded = load_campaigns(
        files_, channels=config.channel_platforms, channel_options=config.channel_options
    )
    problems = [str(p) for item in loaded for p in item.errors]
    if problems:
        raise DemoError("the example campaigns do not validate:\n" + "\n".join(problems))
    database = config.section(DatabaseConfig)
    engine = open_database(database.url, file_mode=database.file_mode)  # private, like any
    sessions = session_factory(engine)
    applied_at = datetime.now(UTC)
    ids = []
    with sessions() as session:
        for item in loaded:
            assert item.desired is not None
            apply_campaign(
                session,
                item.desired,
                platforms=config.channel_platforms,
                actor=f"user:{DEMO_ACTOR}",
                now=applied_at,
            )
            ids.append(item.desired.spec.id)
        session.flush()
        for cid in ids:
            approve(
                session,
                campaign_posts(session, cid),
                by=Person.local(f"{DEMO_ACTOR} (auto)"),
                now=applied_at,
            )
        session.commit()
    deliveries = sum(len(item.desired.deliveries) for item in loaded if item.desired)
    say(f"applied and approved {len(ids)} campaigns ({', '.join(ids)}): {deliveries} deliveries")
    start, end = rehearsal_window(sessions)
    clock = SteppingClock(start)
    settings = settings_from(config, worker_id="demo", seed=seed)
    dispatcher = build_dispatcher(config, sessions, clock, real_time=False, settings=settings)
    span = (end - start).total_seconds()
    say(
        f"rehearsing {start:%Y-%m-%d} → {end:%Y-%m-%d} in accelerated time "
        "(sandbox channels; every number is SIMULATED)"
    )
    try:
        stats = rehearse(
            dispatcher,
            clock,
            end,
            progress=(lambda now: progress((now - start).total_seconds() / span))
            if progress
            else None,
        )
    finally:
        dispatcher.close()
    if progress:
        progress(1.0)
    reports: list[Path] = []
    summary = ""
    record_as_of(directory, clock())
    if with_reports:
        say("writing the reports")
        reports, summary = write_reports(
            directory / "reports", engine, as_of=clock(), imitates=config.text_platforms
        )
    users = add_demo_people(sessions, datetime.now(UTC))
    engine.dispose()
    return DemoResult(
        directory,
        ids,
        deliveries,
        stats.published,
        stats.retried,
        stats.missed,
        stats.failed,
        stats.snapshots,
        reports,
        (start, end),
        summary,
        users,
    )


_AS_OF = "rehearsed until "


def record_as_of(directory: Path, moment: datetime) -> None:
    """Note in the workspace's marker when the rehearsal ended, so that ``elshi report`` there
    reads the rehearsed figures by default (the rehearsed year may lie in the future)."""
    marker = directory / MARKER
    lines = [ln for ln in marker.read_text().splitlines() if not ln.startswith(_AS_OF)]
    marker.write_text("\n".join([*lines, _AS_OF + moment.isoformat()]) + "\n")


def recorded_as_of(directory: Path) -> datetime | None:
    """The rehearsal's end recorded in a demo workspace (None elsewhere)."""
    marker = directory / MARKER
    if not marker.is_file():
        return None
    for line in marker.read_text().splitlines():
        if line.startswith(_AS_OF):
            try:
                return datetime.fromisoformat(line.removeprefix(_AS_OF).strip())
            except ValueError:
                return None
    return None


def write_reports(
    folder: Path, engine: object, *, as_of: datetime, imitates: dict[str, str] | None = None
) -> tuple[list[Path], str]:
    """The HTML and XLSX reports of everything in the database, read as of ``as_of``; and the
    terminal summary. ``imitates``: channel → the platform a sandbox channel imitates."""
    from sqlalchemy import Engine

    from reports.render_html import render
    from reports.render_text import terminal_summary
    from reports.render_xlsx import write_xlsx
    from reports.request import build

    assert isinstance(engine, Engine)
    built = build(engine, now=as_of, imitates=imitates)
    folder.mkdir(parents=True, exist_ok=True)
    html = folder / "report.html"
    html.write_text(render(built), encoding="utf-8")
    xlsx = write_xlsx(built, folder / "report.xlsx")
    return [html, xlsx], terminal_summary(built)
