"""Where the daemon's short write transactions run: claims, the check before each send, results,
hand-backs, heartbeats. A *job* is a function of a session; it writes, returns a value, and has
no other effect (it may run twice: see below). It is committed before its caller sees the value.

`Writer` is one thread per daemon that runs the jobs queued by every publishing thread one after
another and commits all the jobs waiting at that moment in one transaction (group commit): on
SQLite the daemon's own writers never wait for each other's lock, and on both databases a burst
costs one commit per batch instead of two per post. A `Batch` job (one item for a function that
takes many) is run together with the other items for that function in the same transaction:
the checks before sending and the results of many channels cost a few statements, not a few
per post. Jobs run in the order they were queued, so a
result queued before the next check of the same channel is committed no later than that check.
If a batch fails, it is rolled back and its jobs are run again one transaction each, so one bad
job fails alone. `Direct` runs each job in its own transaction in the caller's thread (tests and
one-off commands). This module must not call a platform.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from campaigns.store import immediate

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - an item


@dataclass(frozen=True)
class Batch(Generic[I, T]):
    """One ``item`` for ``run``, which takes the items of several jobs and returns one value
    for each, in order."""

    run: Callable[[Session, list[I]], list[T]]
    item: I

    def __call__(self, session: Session) -> T:
        return self.run(session, [self.item])[0]


Job = Callable[[Session], T]

MAX_BATCH = 500
"""At most this many jobs per transaction (a claim of 200 rows counts as one)."""


class Transactions(Protocol):
    def run(self, job: Job[T]) -> T:
        """Run ``job`` and commit it; its value, or its exception."""

    def submit(self, job: Job[T]) -> Future[T]:
        """Queue ``job``; the future resolves once it is committed."""


class Direct:
    """Each job in its own transaction, in the calling thread."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def run(self, job: Job[T]) -> T:
        with immediate(self.sessions) as session:
            value = job(session)
            session.commit()
            return value

    def submit(self, job: Job[T]) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(self.run(job))
        except Exception as exc:
            future.set_exception(exc)
        return future


class Writer:
    """One thread running queued jobs, several per transaction, in the order they were queued
    (on PostgreSQL too: two threads overlapped their round trips but split a burst into smaller
    batches, which cost more statements and CPU per post; bench/dispatch.py)."""

    def __init__(self, sessions: sessionmaker[Session], *, name: str = "writer") -> None:
        self.sessions = sessions
        self._queue: queue.SimpleQueue[tuple[Job[Any], Future[Any]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._closed = False
        self._thread.start()

    def run(self, job: Job[T]) -> T:
        return self.submit(job).result()

    def submit(self, job: Job[T]) -> Future[T]:
        future: Future[T] = Future()
        if self._closed:
            future.set_exception(RuntimeError("the writer is closed"))
            return future
        self._queue.put((job, future))
        return future

    def close(self) -> None:
        """Run what is queued, then stop the thread."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()

    def _loop(self) -> None:
        stop = False
        while not stop:
            item = self._queue.get()
            if item is None:
                break
            batch = [item]
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:  # closed: this batch is the last
                    stop = True
                    break
                batch.append(more)
            self._commit(batch)

    def _commit(self, batch: list[tuple[Job[Any], Future[Any]]]) -> None:
        try:
            with immediate(self.sessions) as session:
                values = _run_all(session, [job for job, _ in batch])
                session.commit()
        except Exception as exc:
            if len(batch) == 1:
                batch[0][1].set_exception(exc)
                return
            for one in batch:  # find the job that failed; the others commit on their own
                self._commit([one])
            return
        for (_, future), value in zip(batch, values, strict=True):
            future.set_result(value)


def _run_all(session: Session, jobs: list[Job[Any]]) -> list[Any]:
    """Run ``jobs`` in ``session``: the `Batch` items of one function together (where the first
    of them stood), the others one by one."""
    values: list[Any] = [None] * len(jobs)
    groups: dict[Callable[..., Any], list[int]] = {}
    order: list[Callable[..., Any] | int] = []
    for index, job in enumerate(jobs):
        if isinstance(job, Batch):
            if job.run not in groups:
                groups[job.run] = []
                order.append(job.run)
            groups[job.run].append(index)
        else:
            order.append(index)
    for step in order:
        if isinstance(step, int):
            values[step] = jobs[step](session)
        else:
            indexes = groups[step]
            results = step(session, [jobs[i].item for i in indexes])  # type: ignore[attr-defined]
            for i, value in zip(indexes, results, strict=True):
                values[i] = value
        session.flush()  # its ORM changes, before the next job's plain statements
    return values
