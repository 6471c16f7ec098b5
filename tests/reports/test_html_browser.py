"""The HTML report in a real browser: headless Chromium renders it without console errors, the
charts are in the DOM (error bars, heat maps with thin cells, sparklines), and a screenshot is
taken (kept in the test's temporary folder for a person to look at)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"


def _chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if not Path(CHROMIUM).exists():
        message = "Chromium is not installed (apt-get install -y chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


@pytest.fixture(scope="module")
def report_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from campaigns.store import make_engine, upgrade
    from reports.data import Scope, load
    from reports.figures import build_report
    from reports.render_html import render
    from reports.synthetic import generate_history

    folder = tmp_path_factory.mktemp("browser")
    engine = make_engine(f"sqlite:///{folder / 'elshi.db'}")
    upgrade(engine)
    with engine.begin() as conn:
        history = generate_history(
            conn, deliveries=400, snapshots=8000, seed=11, simulated=True, days=60
        )
    report = build_report(
        load(engine, Scope(as_of=history.now)), generated_at=datetime(2027, 3, 2, tzinfo=UTC)
    )
    engine.dispose()
    path = folder / "report.html"
    path.write_text(render(report), encoding="utf-8")
    return path


def test_report_renders_in_chromium_without_console_errors(report_html: Path) -> None:
    shot = report_html.with_name("report.png")
    result = _chromium(
        report_html.parent,
        "--enable-logging=stderr",
        "--v=0",
        f"--screenshot={shot}",
        "--window-size=1280,2400",
        report_html.as_uri(),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.exists() and shot.stat().st_size > 50_000
    assert "Uncaught" not in result.stderr
    assert "ERROR:CONSOLE" not in result.stderr


def test_charts_are_in_the_rendered_dom(report_html: Path) -> None:
    result = _chromium(report_html.parent, "--dump-dom", report_html.as_uri())
    dom = result.stdout
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(re.findall(r'<svg class="chart"', dom)) >= 3  # intervals and trend panels
    assert dom.count('class="errorbar"') >= 3
    assert len(re.findall(r'<svg class="heat"', dom)) >= 1
    assert 'class="thin"' in dom  # thin heat-map cells are greyed, not coloured
    assert '<svg class="spark"' in dom
    assert "SIMULATED" in dom
