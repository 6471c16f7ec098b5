"""The store queries of `reports.data` against plain definitions computed from every snapshot:
the latest counters equal a ROW_NUMBER() window over the snapshots, the values at fixed ages a
linear interpolation of the whole curve, the half-life the first crossing of half the final
value. On a seeded synthetic history (snapshots inserted out of order), SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

ENG = (
    "CASE WHEN likes IS NULL AND reposts IS NULL AND replies IS NULL AND quotes IS NULL "
    "THEN NULL ELSE coalesce(likes,0)+coalesce(reposts,0)+coalesce(replies,0)+coalesce(quotes,0)"
    " END"
)


@pytest.fixture
def history(engine: Any) -> tuple[Any, Any, pd.DataFrame]:
    from reports.data import Scope, load
    from reports.synthetic import generate_history

    with engine.begin() as conn:
        summary = generate_history(conn, deliveries=150, snapshots=3000, seed=5, days=30)
    as_of = summary.now - timedelta(days=3)  # some snapshots lie after the report time
    data = load(engine, Scope(as_of=as_of))
    with engine.connect() as conn:
        snapshots = pd.DataFrame(
            conn.execute(
                text(
                    f"SELECT s.id, s.delivery_id, s.collected_at, s.impressions, s.likes, "
                    f"{ENG} AS eng, d.published_at FROM metric_snapshot s "
                    "JOIN delivery d ON d.id = s.delivery_id WHERE s.collected_at <= :as_of "
                    "AND NOT s.deleted"
                ),
                {"as_of": as_of if engine.dialect.name != "sqlite" else as_of.replace(tzinfo=None)},
            ).all()
        )
    for column in ("collected_at", "published_at"):
        snapshots[column] = pd.to_datetime(snapshots[column], utc=True, format="mixed")
    snapshots["age"] = (snapshots["collected_at"] - snapshots["published_at"]).dt.total_seconds()
    return engine, data, snapshots


def test_latest_counters_equal_the_row_number_window_definition(
    history: tuple[Any, Any, pd.DataFrame],
) -> None:
    engine, data, _ = history
    as_of = data.scope.as_of
    window = (
        "SELECT delivery_id, impressions, likes FROM (SELECT delivery_id, impressions, likes, "
        "ROW_NUMBER() OVER (PARTITION BY delivery_id ORDER BY collected_at DESC, id DESC) AS rn "
        "FROM metric_snapshot WHERE collected_at <= :as_of) t WHERE rn = 1"
    )
    with engine.connect() as conn:
        bind = as_of if engine.dialect.name != "sqlite" else as_of.replace(tzinfo=None)
        expected = pd.DataFrame(conn.execute(text(window), {"as_of": bind}).all())
    got = data.deliveries.set_index("delivery_id").loc[expected["delivery_id"]]
    assert len(expected) > 100
    assert np.allclose(got["impressions"], expected["impressions"].astype(float), equal_nan=True)
    assert np.allclose(got["likes"], expected["likes"].astype(float), equal_nan=True)


def test_values_at_fixed_ages_equal_interpolation_of_the_whole_curve(
    history: tuple[Any, Any, pd.DataFrame],
) -> None:
    _, data, snapshots = history
    got = data.deliveries.set_index("delivery_id")
    compared = 0
    for delivery_id, curve in snapshots.sort_values(["collected_at", "id"]).groupby("delivery_id"):
        if got.loc[delivery_id, "remote_deleted_at"] is not pd.NaT:
            continue
        ages = np.concatenate([[0.0], curve["age"].to_numpy()])
        eng = np.concatenate([[0.0], curve["eng"].astype(float).to_numpy()])
        for label, seconds in (("24h", 86_400), ("7d", 604_800)):
            value = got.loc[delivery_id, f"eng_{label}"]
            if ages[-1] <= seconds:
                assert np.isnan(value)  # no snapshot after that age yet
            else:
                assert value == pytest.approx(np.interp(seconds, ages, eng))
                compared += 1
    assert compared > 100


def test_half_life_is_the_first_crossing_of_half_the_latest_value(
    history: tuple[Any, Any, pd.DataFrame],
) -> None:
    _, data, snapshots = history
    got = data.deliveries.set_index("delivery_id")
    checked = 0
    for delivery_id, curve in snapshots.sort_values(["collected_at", "id"]).groupby("delivery_id"):
        eng = curve["eng"].astype(float).to_numpy()
        ages = curve["age"].to_numpy()
        if np.isnan(eng[-1]) or eng[-1] <= 0:
            continue
        i = int(np.argmax(eng * 2 >= eng[-1]))
        before_age, before = (ages[i - 1], eng[i - 1]) if i else (0.0, 0.0)
        expected = (
            ages[i]
            if eng[i] == before
            else before_age + (eng[-1] / 2 - before) / (eng[i] - before) * (ages[i] - before_age)
        )
        assert got.loc[delivery_id, "half_life"] == pytest.approx(expected)
        checked += 1
    assert checked > 100


def test_two_connections_give_the_frames_of_one(history: tuple[Any, Any, pd.DataFrame]) -> None:
    """Given an engine, the snapshot queries run on a second connection in a thread; the frames
    are those of every query run on one connection."""
    from reports.data import load

    engine, data, _ = history
    with engine.connect() as conn:
        single = load(conn, data.scope)
    for name in ("campaigns", "audiences", "deliveries", "attribution", "followers", "outcomes"):
        pd.testing.assert_frame_equal(getattr(data, name), getattr(single, name))
    assert data.deliveries["snapshots"].sum() > 0


def _failures(conn: Any) -> int:
    return int(conn.execute(text("SELECT sum(collect_failures) FROM delivery")).scalar_one())


def _commit_failure(engine: Any) -> None:
    with engine.begin() as writer:
        writer.execute(text("UPDATE delivery SET collect_failures = collect_failures + 1"))


def test_the_second_connection_reads_the_first_ones_state(
    history: tuple[Any, Any, pd.DataFrame],
) -> None:
    """Both connections read the store as it was when the first started: a later commit is in
    neither (PostgreSQL: an imported snapshot). SQLite reads on one connection: no helper."""
    from reports.data import _helper

    engine, _, _ = history
    with engine.connect() as conn:
        if engine.dialect.name != "postgresql":
            assert _helper(engine, conn) is None
            return
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        helper = _helper(engine, conn)
        assert helper is not None
        try:
            before = _failures(conn)
            _commit_failure(engine)
            assert _failures(conn) == before
            assert _failures(helper) == before
        finally:
            helper.close()
    with engine.connect() as conn:
        assert _failures(conn) == before + len(_ids(conn))


def _ids(conn: Any) -> list[int]:
    return list(conn.execute(text("SELECT id FROM delivery")).scalars())


def test_the_collector_does_not_run_while_reading_and_is_restored(
    history: tuple[Any, Any, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading pauses Python's cyclic garbage collector (its passes over the row tuples were a
    tenth of the reading's CPU) and leaves it as it found it: enabled, or disabled."""
    import gc

    import reports.data
    from reports.data import load

    engine, data, _ = history
    passes: list[str] = []
    during: list[int] = []
    read = reports.data._load

    def counted(*args: Any, **kwargs: Any) -> Any:
        before = len(passes)
        try:
            return read(*args, **kwargs)
        finally:
            during.append(len(passes) - before)

    def record(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            passes.append(phase)

    monkeypatch.setattr(reports.data, "_load", counted)
    threshold = gc.get_threshold()
    enabled = gc.isenabled()
    gc.callbacks.append(record)
    try:
        gc.enable()
        gc.set_threshold(1)  # without the pause, a pass every few new tuples
        again = load(engine, data.scope)
        assert gc.isenabled()
        gc.disable()
        load(engine, data.scope)
        assert not gc.isenabled()
    finally:
        gc.callbacks.remove(record)
        gc.set_threshold(*threshold)
        if enabled:
            gc.enable()
    assert during == [0, 0]
    pd.testing.assert_frame_equal(again.deliveries, data.deliveries)


def test_instants_are_read_to_the_microsecond(history: tuple[Any, Any, pd.DataFrame]) -> None:
    """The deliveries' instants (PostgreSQL hands them over as microseconds since 1970, SQLite
    as its text) are the stored ones to the microsecond, aware UTC, a missing one NaT: against
    the ORM type's reading of the same rows (published after the report time: NaT)."""
    from sqlalchemy import select

    from campaigns.schema import Delivery

    def utc(moment: Any) -> pd.Timestamp:
        stamp = pd.Timestamp(moment)
        return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")

    engine, data, _ = history
    frame = data.deliveries.set_index("delivery_id")
    d = Delivery.__table__.c
    with engine.connect() as conn:
        stored = conn.execute(select(d.id, d.due_at, d.published_at)).all()
    assert frame["due_at"].dtype == frame["published_at"].dtype == "datetime64[us, UTC]"
    as_of = utc(data.scope.as_of)
    later = 0
    for delivery, due, published in stored:
        assert frame.loc[delivery, "due_at"] == utc(due)
        if published is None or utc(published) > as_of:
            later += published is not None
            assert pd.isna(frame.loc[delivery, "published_at"])
        else:
            assert frame.loc[delivery, "published_at"] == utc(published)
    assert frame["published_at"].dt.microsecond.gt(0).any()
    assert later > 0 and frame["published_at"].notna().any()


def test_rows_become_columns_of_the_values_as_they_are() -> None:
    """`_frame` cuts the driver's rows into object arrays through one object matrix; values numpy
    would read as another level of nesting (lists or tuples, equal in length or not) stay values."""
    from reports.data import _columns

    def values(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
        columns = _columns(rows, width)
        assert all(c.dtype == object and c.shape == (len(rows),) for c in columns)
        return [list(column) for column in columns]

    rows: list[tuple[Any, ...]] = [(1, "a", None, 2.5), (2, None, "c", None)]
    assert values(rows, 4) == [[1, 2], ["a", None], [None, "c"], [2.5, None]]
    for nested in ([[1, 2], [3, 4]], [[1, 2], [3]], [(1,), (3,)], [{"k": 1}, None]):
        rows = [(1, nested[0]), (2, nested[1])]
        assert values(rows, 2) == [[1, 2], nested]
    assert values([], 3) == [[], [], []]


READ_IN_A_FRESH_PROCESS = """
import sys
from datetime import datetime

from sqlalchemy import inspect

from campaigns.schema import Delivery
from campaigns.store import make_engine
from reports.data import Scope, load

data = load(make_engine(sys.argv[1]), Scope(as_of=datetime.fromisoformat(sys.argv[2])))
print(len(data.deliveries), inspect(Delivery).configured)
"""


def test_reading_configures_no_orm_mapper(history: tuple[Any, Any, pd.DataFrame]) -> None:
    """The report's queries are on tables: reading in a fresh process (a report from the command
    line) leaves the ORM's mappers unconfigured, which costs ~0.04 s the first time."""
    import subprocess
    import sys

    engine, data, _ = history
    url = engine.url.render_as_string(hide_password=False)
    done = subprocess.run(
        [sys.executable, "-c", READ_IN_A_FRESH_PROCESS, url, data.scope.as_of.isoformat()],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == [str(len(data.deliveries)), "False"]
