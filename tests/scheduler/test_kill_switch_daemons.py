"""The kill switch against real daemon processes (``elshi run``) publishing a burst to Mastodon
emulators: once `pause` returns, no post appears on any platform except those it reported in
flight; resuming with "send" publishes the rest, each exactly once."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from campaigns.pauses import overdue, pause, resume
from campaigns.schema import Delivery
from tests.scheduler.harness import Harness

pytestmark = pytest.mark.slow

BURST = 120


def _kill_switch(tmp_path: Path, db_url: str, daemons: int) -> None:
    started = time.monotonic()
    with Harness(tmp_path, db_url, seed=21, mastodon_channels=3, x_channels=0, latency=0.05) as h:
        # A lease longer than the harness's 3 s: this test is about pauses, not about claims
        # that outlive their lease on a loaded machine (issue 14).
        h.config.write_text(h.config.read_text().replace('lease = "3s"', 'lease = "60s"'))
        h.seed_burst(BURST, start=datetime.now(UTC) + timedelta(seconds=1), spread=8)
        with h.daemons(daemons, "ks"):
            assert h.wait(lambda: h.counts().get("published", 0) >= 10, timeout=60)
            result = pause(
                h.sessions,
                scope="all",
                reason="kill switch test",
                by="user:ops",
                now=datetime.now(UTC),
            )
            returned = datetime.now(UTC)
            with h.sessions() as session:
                allowed = set(
                    session.scalars(
                        select(Delivery.text).where(
                            Delivery.id.in_([f.delivery_id for f in result.in_flight])
                        )
                    )
                )
            # The daemons keep running and more posts fall due; watch the platforms a while.
            h.wait(lambda: False, timeout=3)
            after = [
                post["text"]
                for emulator in h.mastodons
                for post in emulator.posts
                if post["created_at"] > returned
            ]
            assert set(after) <= allowed, f"published after the pause returned: {after}"
            published = h.counts().get("published", 0)
            assert published < BURST  # the pause did stop something
            with h.sessions() as session:
                held = overdue(session, result.pause_id, now=datetime.now(UTC))
            assert held, "the burst should have overdue posts by now"
            resume(h.sessions, result.pause_id, by="user:ops", now=datetime.now(UTC), send_all=True)
            assert h.settle(timeout=90), h.counts()
        report = h.report(started)
        assert report.ok, (
            report.summary() + "\n" + "\n".join(report.duplicates + report.unexplained)
        )
        assert report.states["published"] == BURST, report.summary()
        with h.sessions() as session:
            flagged = session.scalar(
                select(Delivery.id).where(Delivery.resumed_from_pause == result.pause_id).limit(1)
            )
        assert flagged is not None  # "published after a kill-switch resume" is recorded


def test_kill_switch_stops_a_daemon_on_sqlite(tmp_path: Path) -> None:
    _kill_switch(tmp_path, f"sqlite:///{tmp_path / 'elshi.db'}", daemons=1)


@pytest.mark.postgres
def test_kill_switch_stops_two_daemons_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    _kill_switch(tmp_path, pg_url, daemons=2)
