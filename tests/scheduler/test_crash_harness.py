"""Real daemon processes (``elshi run``) killed with SIGKILL at seeded moments during a burst,
several daemons at once, emulator faults: nothing is published twice and every delivery ends
published, failed, missed or needs_review with a reason. The long version is bench/crashes.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.scheduler.harness import run_scenario

pytestmark = pytest.mark.slow


def test_sigkill_rounds_on_sqlite_publish_each_delivery_once(tmp_path: Path) -> None:
    report = run_scenario(
        tmp_path, f"sqlite:///{tmp_path / 'elshi.db'}", count=120, kill_rounds=4, daemons=1, seed=11
    )
    assert report.ok, report.summary() + "\n" + "\n".join(report.duplicates + report.unexplained)
    assert report.kills == 4
    assert report.states["published"] >= 100, report.summary()


def test_two_daemons_on_one_sqlite_file_with_faults(tmp_path: Path) -> None:
    report = run_scenario(
        tmp_path,
        f"sqlite:///{tmp_path / 'elshi.db'}",
        count=120,
        kill_rounds=2,
        daemons=2,
        seed=12,
        chaos={"rate_limit": 0.05, "server_error": 0.05, "drop_after": 0.05},
    )
    assert report.ok, report.summary() + "\n" + "\n".join(report.duplicates + report.unexplained)


@pytest.mark.postgres
def test_three_daemons_on_postgresql_with_kills_and_faults(tmp_path: Path, pg_url: str) -> None:
    report = run_scenario(
        tmp_path,
        pg_url,
        count=200,
        kill_rounds=3,
        daemons=3,
        seed=13,
        chaos={"rate_limit": 0.04, "unavailable": 0.04, "drop_after": 0.04},
    )
    assert report.ok, report.summary() + "\n" + "\n".join(report.duplicates + report.unexplained)
    assert report.states["published"] >= 150, report.summary()
