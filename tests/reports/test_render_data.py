"""The data exports convert whole columns at once (`reports.render_data._plain_column`); every
value must come out as converting it alone (`_plain`) gives it, on awkward values."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from reports.render_data import _plain, _plain_column


def _one_by_one(column: pd.Series) -> list[Any]:
    out = [_plain(v) for v in column.tolist()]
    # A float infinity is not JSON: the column path (like the one before it) writes null.
    return [None if isinstance(v, float) and not math.isfinite(v) else v for v in out]


FLOATS = [1.0, -0.0, 2.5, np.nan, np.inf, -np.inf, 2.0**53, 2.0**53 - 1, -3.0, 1e300, 0.1, -7.25]
COLUMNS = [
    pd.Series(FLOATS),
    pd.Series([1, 2, -3, 0], dtype="int64"),
    pd.Series([1, None, 3], dtype="Int64"),
    pd.Series([True, False]),
    pd.Series(["a", None, np.nan, "é", ""], dtype=object),
    pd.Series(["x", 1, 2.0, np.nan, True, pd.Timestamp("2027-01-01", tz="UTC")], dtype=object),
    pd.Series(
        pd.to_datetime(
            ["2027-01-01 10:00", None, "2027-03-28 01:00:00.123", "1999-12-31 23:59:59.000001"],
            utc=True,
            format="ISO8601",
        )
    ),
    pd.Series(pd.to_datetime(["2027-01-01 10:00:00.000000001", None], utc=True)),
    pd.Series(pd.to_datetime(["2027-03-28 00:30", "2027-10-31 01:30"], utc=True)).dt.tz_convert(
        "Europe/Berlin"
    ),
    pd.Series([pd.NaT, pd.NaT], dtype="datetime64[ns, UTC]"),
    pd.Series([], dtype="float64"),
    pd.Series([], dtype="datetime64[ns, UTC]"),
]


@pytest.mark.parametrize("column", COLUMNS, ids=lambda c: str(c.dtype))
def test_a_column_converts_as_its_values_one_by_one(column: pd.Series) -> None:
    whole = _plain_column(column)
    single = _one_by_one(column)
    assert whole == single
    assert [type(v) for v in whole] == [type(v) for v in single]


def test_json_rows_encoded_a_few_at_a_time_are_the_whole_tables(
    engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    import reports.render_data as render_data
    from tests.reports.awkward import report_of
    from tests.reports.test_summary import AS_OF, _campaign

    _campaign(engine, {"Presse": [0.03, 0.05, 0.02], "Diaspora": [0.04, 0.01, 0.06]})
    report = report_of(engine, AS_OF)
    whole = render_data.to_json(report)
    monkeypatch.setattr(render_data, "_JSON_ROWS", 2)
    pieces = render_data.to_json(report)
    assert pieces == whole
    document = json.loads(pieces)
    several = 0
    for table in report.tables.values():
        keys, rows = render_data.table_records(table, report.simulated)
        expected = json.loads(json.dumps([dict(zip(keys, row, strict=True)) for row in rows]))
        assert document["tables"][table.name]["rows"] == expected
        assert [c["key"] for c in document["tables"][table.name]["columns"]] == keys
        several += len(rows) > 2
    assert several  # some table spans several pieces
