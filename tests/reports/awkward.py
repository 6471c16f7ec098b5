"""Helpers for the small hand-built histories of the defect-class tests (each test module builds
its own awkward data set with `reports.synthetic.Builder` and computes every expected figure by
hand in the test). Time runs from T0, a Monday."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

T0 = datetime(2027, 5, 3, 8, 0, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)


@contextmanager
def building(engine: Any, now: datetime = T0 - 30 * D) -> Iterator[Any]:
    """A `Builder` in one transaction, its rows created at ``now``."""
    from reports.synthetic import Builder

    with engine.begin() as conn:
        yield Builder(conn, now=now)


def report_of(engine: Any, as_of: datetime, **scope: Any) -> Any:
    from reports.data import Scope, load
    from reports.figures import Options, build_report

    options = Options(**scope.pop("options", {}))
    return build_report(
        load(engine, Scope(as_of=as_of, **scope)), generated_at=as_of, options=options
    )


def one(table: Any, **match: Any) -> dict[str, Any]:
    """The one row of a report table whose columns equal ``match``."""
    frame = table.frame
    for key, value in match.items():
        frame = frame[frame[key] == value]
    assert len(frame) == 1, f"{len(frame)} rows match {match} in {table.name}"
    return dict(frame.iloc[0])


@pytest.fixture(name="engine")
def sqlite_engine(sqlite_url: str) -> Iterator[Any]:
    """Overrides the two-backend ``engine`` in a module that imports it: for tests whose SQL
    is the same on both (the dialect-specific paths have their own tests on PostgreSQL)."""
    from campaigns.store import make_engine, upgrade

    engine = make_engine(sqlite_url)
    upgrade(engine)
    yield engine
    engine.dispose()
