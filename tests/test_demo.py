"""`elshi demo` end to end, as a newcomer runs it: a fresh workspace, both example campaigns
rehearsed on sandbox channels, reports written; running it twice works; the HTML report renders
its charts in headless Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from elshi.cli import cli
from tests.reports.test_html_browser import _chromium

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("demo") / "workspace"
    result = CliRunner().invoke(cli, ["demo", "--dir", str(folder)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "published" in result.output and "report.html" in result.output
    return folder, result.output


@pytest.fixture(scope="module")
def demo_dir(demo_run: tuple[Path, str]) -> Path:
    return demo_run[0]


def test_demo_makes_an_office_of_people_and_says_how_to_open_the_workspace(
    demo_run: tuple[Path, str],
) -> None:
    """A newcomer reads who they can log in as (one-time passwords, printed once and stored
    only as hashes) and the command and address of the web workspace."""
    from datetime import UTC, datetime

    from campaigns import people
    from campaigns.store import make_engine, session_factory

    folder, output = demo_run
    found = {
        m.group(1): (m.group(2), m.group(3))
        for m in re.finditer(
            r"^  (\w+)\s+(author|approver|operator|manager|admin)\s+(\S{12,})$", output, re.M
        )
    }
    roles = sorted(role for role, _password in found.values())
    assert roles == ["admin", "approver", "approver", "author", "manager", "operator"], output
    assert f"cd {folder} && elshi web" in output and "http://127.0.0.1:8080" in output
    engine = make_engine(f"sqlite:///{folder / 'elshi.db'}")
    try:
        with session_factory(engine)() as session:
            for username, (role, password) in found.items():
                person = people.authenticate(session, username, password, now=datetime.now(UTC))
                assert role in {r.value for r in person.roles}
                stored = people.get_user(session, username).password_hash or ""
                assert password not in stored and stored.startswith("$argon2id$")
            session.rollback()
    finally:
        engine.dispose()


def test_demo_writes_reports_naming_both_campaigns_and_their_audiences(demo_dir: Path) -> None:
    html = (demo_dir / "reports" / "report.html").read_text(encoding="utf-8")
    assert (demo_dir / "reports" / "report.xlsx").stat().st_size > 10_000
    for campaign in ("de-2027-gateway", "cn-2027-silk-road"):
        assert campaign in html
    for audience in ("Politische Stiftungen", "Kasachische Diaspora", "高校", "旅游"):
        assert audience in html
    assert "SIMULATED" in html


def test_the_next_step_elshi_report_in_the_workspace_shows_the_rehearsed_figures(
    demo_dir: Path,
) -> None:
    result = CliRunner().invoke(
        cli, ["--config", str(demo_dir / "elshi.toml"), "report"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "rehearsal's end" in result.output
    assert "Every counter is n/a" not in result.output
    text = " ".join(result.output.split())  # the summary is wrapped for the terminal
    assert re.search(r"Engagement rate by impressions \([^)]*\): \d+\.\d\d% \[", text)
    assert "sandbox imitating x" in text


def test_demo_published_every_delivery_into_the_sandbox_outbox(demo_dir: Path) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{demo_dir / 'elshi.db'}")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT state, count(*) FROM delivery GROUP BY state")).all()
        states = {state: count for state, count in rows}
        snapshots = conn.execute(text("SELECT count(*) FROM metric_snapshot")).scalar_one()
    engine.dispose()
    assert set(states) <= {"published", "missed", "failed"}
    assert states["published"] >= 0.95 * sum(states.values())
    pages = list((demo_dir / "outbox").glob("*/*.html"))
    assert len(pages) == states["published"]
    assert snapshots >= 5 * states["published"]  # the collection schedule ran


def test_the_demo_database_is_private(demo_dir: Path) -> None:
    assert (demo_dir / "elshi.db").stat().st_mode & 0o777 == 0o600


def test_running_the_demo_twice_starts_afresh(demo_dir: Path) -> None:
    before = len(list((demo_dir / "outbox").glob("*/*.html")))
    result = CliRunner().invoke(cli, ["demo", "--dir", str(demo_dir)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert len(list((demo_dir / "outbox").glob("*/*.html"))) == before


def test_demo_refuses_a_folder_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    result = CliRunner().invoke(cli, ["demo", "--dir", str(tmp_path)])
    assert result.exit_code == 2 and "not an Elshi demo folder" in result.output
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_demo_report_renders_its_charts_in_chromium(demo_dir: Path) -> None:
    report = demo_dir / "reports" / "report.html"
    shot = demo_dir / "reports" / "report.png"
    result = _chromium(
        demo_dir,
        "--enable-logging=stderr",
        "--v=0",
        f"--screenshot={shot}",
        "--window-size=1280,2000",
        report.as_uri(),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Uncaught" not in result.stderr and "ERROR:CONSOLE" not in result.stderr
    assert shot.stat().st_size > 50_000
    dom = _chromium(demo_dir, "--dump-dom", report.as_uri()).stdout
    assert len(re.findall(r'<svg class="chart"', dom)) >= 3
    assert dom.count('class="errorbar"') >= 3
