"""Real daemon processes (``elshi run``) killed with SIGKILL at seeded moments during a burst,
several daemons at once, emulator faults: nothing is published twice and every delivery ends
published, failed, missed or needs_review with a reason. The long version is bench/crashes.py."""

from __future__ import annotations

from pathlib import Path

import pytest

import scheduler
from tests.scheduler.harness import Harness, run_scenario

pytestmark = pytest.mark.slow


def test_the_harness_runs_the_daemons_of_this_checkout(tmp_path: Path) -> None:
    harness = Harness(tmp_path, f"sqlite:///{tmp_path / 'elshi.db'}", seed=1)
    # The code under test, not whatever copy of Elshi the environment has installed.
    assert harness.env["PYTHONPATH"] == str(Path(scheduler.__file__).resolve().parents[1])


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


def test_sigterm_hands_back_unsent_claims_and_exits_cleanly(tmp_path: Path) -> None:
    import signal
    import time
    from datetime import UTC, datetime

    from tests.scheduler.harness import Harness

    with Harness(tmp_path, f"sqlite:///{tmp_path / 'elshi.db'}", seed=5, latency=0.2) as h:
        h.seed_burst(60, start=datetime.now(UTC), spread=0.5)
        proc = h.start_daemon("term")
        assert h.wait(lambda: h.counts().get("published", 0) >= 3, timeout=30)
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        assert proc.wait(timeout=30) == 0
        stopped_after = time.monotonic() - started
        counts = h.counts()
        assert counts.get("publishing", 0) == 0, counts
        assert counts["published"] + counts.get("approved", 0) + counts.get("scheduled", 0) == 60
        assert counts["published"] < 60  # it stopped mid-burst, handing the rest back
        assert stopped_after < 10
        log = (tmp_path / "daemon-term.log").read_text()
        assert "handed back" in log and "stopped" in log
        # The next daemon finishes the job, each post exactly once.
        with h.daemons(1, "after"):
            assert h.settle(timeout=60)
        report = h.report(started)
        assert report.ok and report.states["published"] == 60, report.summary()


def test_a_slow_backlog_keeps_its_claims_and_no_post_is_sent_twice(tmp_path: Path) -> None:
    from tests.scheduler.harness import run_stale_claim_scenario

    report = run_stale_claim_scenario(
        tmp_path, f"sqlite:///{tmp_path / 'elshi.db'}", count=16, seed=21, latency=0.3
    )
    assert report.ok and not report.resent, report.summary() + "\n" + "\n".join(report.resent)
    assert report.states["published"] == 16, report.summary()


def test_a_killed_daemons_claims_are_finished_long_before_its_lease(tmp_path: Path) -> None:
    from tests.scheduler.harness import run_recovery_scenario

    report, settled = run_recovery_scenario(
        tmp_path, f"sqlite:///{tmp_path / 'elshi.db'}", count=80, seed=22, timeout=60
    )
    assert settled, report.summary()  # the lease is 10 minutes: heartbeats did it
    assert report.ok, report.summary() + "\n" + "\n".join(report.duplicates + report.unexplained)
    assert report.states["published"] == 80
    assert report.recovery, "the victim held no claims when it was killed"
