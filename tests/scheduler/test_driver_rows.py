"""SQLite: the claim's rows read through the driver (`campaigns.driver.rows`, as
`scheduler.dispatch.claim_in` reads them) are SQLAlchemy's rows, value for value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from campaigns import driver
from campaigns.store import make_engine, session_factory
from scheduler.dispatch import _claim_rows
from tests.scheduler.harness import seed_deliveries

DUE = datetime(2027, 3, 1, 9, 0, 0, 250000, tzinfo=UTC)


def test_claim_rows_through_the_driver_are_sqlalchemys(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rows.db'}"
    dues = [DUE + timedelta(seconds=i) for i in range(6)] + [DUE.replace(microsecond=0)]
    seed_deliveries(url, {"c1": "mastodon"}, dues, prefix="r")
    engine = make_engine(url)
    with session_factory(engine)() as session:
        connection = session.connection()
        # values the seeding leaves empty: media and an article (JSON), a retry instant
        connection.execute(
            text(
                'UPDATE delivery SET media = \'["ab/flag.png"]\', article = \'{"title": "T"}\', '
                "next_attempt_at = '2027-03-01 09:00:01.000000' WHERE id % 2 = 0"
            )
        )
        channel = connection.execute(text("SELECT id FROM channel")).scalar_one()
        params = {
            "now": DUE + timedelta(minutes=1),
            "horizon": DUE + timedelta(minutes=1),
            "channel": channel,
            "limit": 5,
        }
        ours = driver.rows(connection, _claim_rows(), params)
        theirs = connection.execute(_claim_rows(), params).all()
    engine.dispose()
    assert len(ours) == 5
    assert [tuple(row) for row in ours] == [tuple(row) for row in theirs]
    assert all(row._fields == tuple(other._fields) for row, other in zip(ours, theirs, strict=True))
    assert {type(row.due_at) for row in ours} == {datetime}
    assert ours[0].due_at.tzinfo is UTC and ours[0].media == []
    assert any(row.media == ["ab/flag.png"] and row.article == {"title": "T"} for row in ours)
