"""A running daemon notices at once (not at its next poll) that deliveries became claimable
elsewhere: PostgreSQL LISTEN/NOTIFY, SQLite's cheap change check. Real databases; the daemon
test runs a real daemon thread on the real clock against the Mastodon emulator."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from campaigns.schema import Delivery, WakeupSignal
from campaigns.schema import DeliveryState as S
from campaigns.states import transition
from scheduler.wakeups import Watcher
from tests.scheduler.conftest import Rig, mastodon_channel, post_yaml

GENEROUS = 20.0
"""Seconds a test waits for something that should take well under one (a busy CI machine)."""


def _watch(rig: Any) -> tuple[Watcher, threading.Event]:
    woke = threading.Event()
    watcher = Watcher(rig.sessions.kw["bind"], woke.set).start()
    return watcher, woke


def _set_state(rig: Any, state: S) -> None:
    from campaigns.store import immediate

    with immediate(rig.sessions) as session:  # a daemon may be writing (SQLite)
        delivery = session.get(Delivery, 1)
        transition(session, delivery, state, actor="user:test", at=rig.clock(), reason="test")
        session.commit()


def _approval_wakes(rig: Any, text: str) -> Watcher:
    """A post approved by another connection wakes a watcher started while it was a draft;
    the watcher, stopped, is returned."""
    rig.apply([post_yaml("p1", "2027-03-01 10:00", text)])
    _set_state(rig, S.draft)
    watcher, woke = _watch(rig)
    try:
        woke.clear()
        _set_state(rig, S.approved)
        assert woke.wait(GENEROUS)
    finally:
        watcher.stop()
    return watcher


SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
"""For the SQLite watcher's tests: PostgreSQL listens for notifications, no files to watch."""


def test_a_delivery_approved_elsewhere_wakes_a_watching_daemon(
    rig_factory: Any, mastodon: Any
) -> None:
    _approval_wakes(rig_factory({"de-mastodon": mastodon_channel(mastodon)}), "Freigabe")


def test_a_new_apply_wakes_a_watching_daemon(rig_factory: Any, mastodon: Any) -> None:
    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon)})
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Erster")])
    watcher, woke = _watch(rig)
    try:
        woke.clear()
        rig.apply(
            [
                post_yaml("p1", "2027-03-01 10:00", "Erster"),
                post_yaml("p2", "2027-03-01 11:00", "Zweiter"),
            ]
        )
        assert woke.wait(GENEROUS)
    finally:
        watcher.stop()


def test_only_changes_that_make_deliveries_claimable_bump_the_sqlite_signal(
    tmp_path: Path, clock: Any, mastodon: Any
) -> None:
    rig = Rig(
        tmp_path, f"sqlite:///{tmp_path / 'elshi.db'}", clock, {"m": mastodon_channel(mastodon)}
    )
    request_close = rig.close
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Zähler")])

    def counter() -> int:
        with rig.sessions() as session:
            return int(session.scalar(select(WakeupSignal.counter)) or 0)

    start = counter()
    _set_state(rig, S.draft)  # not claimable
    daemon = rig.daemon("daemon")
    daemon.register()
    daemon.heartbeat()
    with rig.sessions() as session:  # a write that is not about what is claimable
        session.execute(update(Delivery).values(text="Zähler!"))
        session.commit()
    assert counter() == start
    _set_state(rig, S.approved)
    assert counter() == start + 1
    request_close()


def test_a_running_daemon_publishes_a_new_approval_long_before_its_next_poll(
    rig_factory: Any, mastodon: Any
) -> None:
    from connectors.base import system_clock
    from elshi.runtime import build_dispatcher, settings_from

    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon, rate="600/m")})
    rig.apply([post_yaml("p1", "2027-03-01 10:00", "Jetzt")])
    with rig.sessions() as session:  # due a moment ago (real time), waiting for approval
        due = datetime.now(UTC) - timedelta(seconds=1)
        session.execute(update(Delivery).values(due_at=due))
        session.commit()
    _set_state(rig, S.draft)
    config = rig.config
    settings = replace(settings_from(config, worker_id="live"), poll_seconds=3600.0)
    daemon = build_dispatcher(config, rig.sessions, system_clock, real_time=True, settings=settings)
    thread = threading.Thread(target=daemon.run_forever, kwargs={"install_signals": False})
    thread.start()
    try:
        assert daemon.ready.wait(GENEROUS)
        _set_state(rig, S.approved)
        assert _wait(lambda: rig.delivery().state == "published")
    finally:
        daemon.stopping.set()
        thread.join(GENEROUS)
    assert len(mastodon.posts) == 1


def _wait(predicate: Any) -> bool:
    done = threading.Event()
    for _ in range(int(GENEROUS * 20)):
        if predicate():
            return True
        done.wait(0.05)
    return False


@SQLITE_ONLY
def test_without_inotify_the_sqlite_watcher_checks_every_half_second(
    rig_factory: Any, mastodon: Any, monkeypatch: Any
) -> None:
    """Where the C library has no inotify (not Linux), the SQLite watcher falls back to reading
    PRAGMA data_version every half second; an approval still wakes the daemon."""
    import scheduler.wakeups as wakeups

    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon)})
    monkeypatch.setattr(wakeups, "_libc", lambda: None)
    watcher = _approval_wakes(rig, "Ohne inotify")
    assert not watcher._thread.is_alive()


@SQLITE_ONLY
def test_on_linux_the_sqlite_watcher_is_woken_by_the_write_itself(
    rig_factory: Any, mastodon: Any, monkeypatch: Any
) -> None:
    """With inotify the check runs because the commit wrote to the database's files: with the
    periodic check an hour away, an approval still wakes the watcher."""
    import scheduler.wakeups as wakeups

    rig = rig_factory({"de-mastodon": mastodon_channel(mastodon)})
    if wakeups._libc() is None:
        pytest.skip("no inotify in this C library: the watcher polls (test above)")
    monkeypatch.setattr(wakeups, "SQLITE_AUTHORITY", 3600.0)
    _approval_wakes(rig, "Geschrieben")
