"""A daemon whose database is full or read-only (#9): one clear message, no traceback per
second, jobs pausing longer each time, and one line when it works again. The failures are real
SQLite errors (a page limit for a full disk, a read-only open for a read-only file); time is a
hand-driven monotonic clock."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from campaigns.store import condition, make_engine
from scheduler.trouble import Trouble


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _database(tmp_path: Path) -> Path:
    path = tmp_path / "x.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x BLOB)")
    return path


def full_writer(tmp_path: Path) -> Callable[[], None]:
    """A write to a database that has no room left (SQLITE_FULL, as on a full disk)."""
    engine = make_engine(f"sqlite:///{_database(tmp_path)}")

    def write() -> None:
        with engine.begin() as conn:
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
            conn.exec_driver_sql(f"PRAGMA max_page_count = {pages}")
            conn.execute(text("INSERT INTO t VALUES (zeroblob(100000))"))

    return write


def read_only_writer(tmp_path: Path) -> Callable[[], None]:
    engine = make_engine(f"sqlite:///file:{_database(tmp_path)}?mode=ro&uri=true")

    def write() -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))

    return write


@pytest.mark.parametrize(
    ("make", "expected", "words"),
    [
        (full_writer, "full", "the disk is full"),
        (read_only_writer, "read-only", "cannot be written"),
    ],
)
def test_a_database_condition_is_said_once_and_the_job_pauses_longer_each_time(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    make: Callable[[Path], Callable[[], None]],
    expected: str,
    words: str,
) -> None:
    write = make(tmp_path)
    ticks = Ticks()
    trouble = Trouble(first=1.0, longest=60.0, clock=ticks)
    calls = 0

    def job() -> None:
        nonlocal calls
        calls += 1
        write()

    caplog.set_level(logging.INFO, logger="elshi.daemon")
    pauses = []
    for second in range(600):  # ten minutes of a job scheduled every second
        ticks.now = float(second)
        if not trouble.may_run("heartbeat"):
            continue
        try:
            job()
        except Exception as exc:
            assert condition(exc) == expected
            pauses.append(trouble.failed("heartbeat", exc))
    assert pauses[:7] == [1, 2, 4, 8, 16, 32, 60]
    assert calls == len(pauses) < 20  # not 600
    records = [r for r in caplog.records if r.name == "elshi.daemon"]
    assert len(records) == 1, [r.getMessage() for r in records]
    assert records[0].levelno == logging.ERROR and "Traceback" not in caplog.text
    assert words in records[0].getMessage()


def test_recovery_is_said_once_with_the_count_of_silenced_failures(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ticks = Ticks()
    trouble = Trouble(first=1.0, longest=8.0, clock=ticks)
    error = sqlite3.OperationalError("database or disk is full")
    caplog.set_level(logging.INFO, logger="elshi.daemon")
    trouble.failed("dispatch", error)
    trouble.failed("heartbeat", error)  # the same condition met by another job: not said again
    trouble.failed("dispatch", error)
    trouble.succeeded("dispatch")  # the heartbeat still fails: not recovered yet
    assert trouble.failing == {"heartbeat": 1}
    trouble.succeeded("heartbeat")
    messages = [r.getMessage() for r in caplog.records if r.name == "elshi.daemon"]
    assert len(messages) == 2, messages
    assert "working again" in messages[1] and "2 repeated failure(s)" in messages[1]
    trouble.succeeded("heartbeat")  # nothing more to say
    assert len([r for r in caplog.records if r.name == "elshi.daemon"]) == 2


def test_an_unexpected_error_keeps_its_traceback_once(caplog: pytest.LogCaptureFixture) -> None:
    trouble = Trouble(clock=Ticks())
    caplog.set_level(logging.INFO, logger="elshi.daemon")
    for _ in range(5):
        try:
            raise KeyError("bug")
        except KeyError as exc:
            trouble.failed("sweep", exc)
    records = [r for r in caplog.records if r.name == "elshi.daemon"]
    assert len(records) == 1
    assert caplog.text.count("Traceback") == 1 and "KeyError: 'bug'" in caplog.text
    assert "sweep failed" in records[0].getMessage()


def test_the_daemon_jobs_go_through_trouble(
    rig_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The daemon's periodic jobs (`Dispatcher.guarded`) skip while pausing and log once."""
    rig = rig_factory({"sb": {"platform": "sandbox"}})
    dispatcher = rig.dispatcher()
    ticks = Ticks()
    dispatcher.trouble = Trouble(first=1.0, longest=30.0, clock=ticks)
    calls = 0

    def failing() -> None:
        nonlocal calls
        calls += 1
        raise sqlite3.OperationalError("attempt to write a readonly database")

    job = dispatcher.guarded("heartbeat", failing)
    caplog.set_level(logging.INFO, logger="elshi.daemon")
    for second in range(120):
        ticks.now = float(second)
        job()
    assert calls < 12
    assert len([r for r in caplog.records if r.name == "elshi.daemon"]) == 1
    rig.close()


def test_the_wakeup_watcher_says_an_unusable_database_once_however_often_it_retries(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """It used to log a warning at every retry (every 2 s) while the database was away."""
    import threading

    from scheduler.wakeups import Watcher

    engine = make_engine(f"sqlite:///{tmp_path / 'no-such-folder' / 'elshi.db'}")
    trouble = Trouble(first=0.0001, longest=0.0001)  # retry at once: many failures, quickly
    woken = threading.Semaphore(0)
    with caplog.at_level(logging.WARNING, logger="elshi.daemon"):
        watcher = Watcher(engine, woken.release, trouble=trouble).start(wait=0)
        for _ in range(20):  # every failure wakes the daemon (a signal may have been missed)
            assert woken.acquire(timeout=30)
        watcher.stop()

    assert trouble.failing["wake-ups"] >= 20
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1
    assert "database" in caplog.text
