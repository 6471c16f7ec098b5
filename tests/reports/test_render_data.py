"""The data exports convert whole columns at once (`reports.render_data._plain_column`, and
for JSON `_json_values`, as text on numpy); every value must come out as converting it alone
(`_plain`) and encoding it gives it, on awkward values."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from reports.render_data import _json_rows, _json_values, _plain, _plain_column
from reports.text_blocks import joined_rows


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


ENCODE = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode


def _json_texts(column: pd.Series) -> list[str]:
    """Each row's JSON text, from the column's blocks."""
    blocks = _json_values(column)
    return [joined_rows([b[i : i + 1] for b in blocks]).decode() for i in range(len(column))]


@pytest.mark.parametrize("column", COLUMNS, ids=lambda c: str(c.dtype))
def test_a_columns_json_texts_are_its_plain_values_encoded(column: pd.Series) -> None:
    assert _json_texts(column) == [ENCODE(v) for v in _plain_column(column)]


def test_json_texts_of_awkward_texts_and_numbers() -> None:
    texts = pd.Series(['quote " and \\ back', "line\nbreak\t", "\x00\x1f", "中文 é ü", "%s %%"])
    numbers = pd.Series(
        [1e-05, 123456789.125, -1e16, 5e-324, 1.7976931348623157e308, 0.30000000000000004]
    )
    for column in (texts, numbers, texts.astype("string"), texts.astype("string[pyarrow]")):
        assert _json_texts(column) == [ENCODE(v) for v in _plain_column(column)]


@pytest.mark.parametrize("few", [0, 1000], ids=["numpy", "dicts"])
def test_json_rows_are_the_rows_encoded_as_objects(
    few: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Made as text on numpy, or (a few rows) as dicts json encodes: the same text."""
    import reports.render_data as render_data

    monkeypatch.setattr(render_data, "_FEW_ROWS", few)
    keys = ["a", 'quo"te', "per%cent", "中", "simulated"]
    frame = pd.DataFrame(
        {
            "a": [1.5, np.nan, 3.0],
            'quo"te': ["x", None, 'y"'],
            "per%cent": [True, False, True],
            "中": pd.Series([1, 2, 3], dtype="int64"),
            "simulated": [False, False, False],
        }
    )
    plain = [_plain_column(frame[key]) for key in keys]
    expected = ", ".join(
        ENCODE(dict(zip(keys, row, strict=True))) for row in zip(*plain, strict=True)
    )
    assert _json_rows(frame, keys, True).decode() == expected
    assert _json_rows(frame.iloc[:1], keys, True).decode() == ENCODE(
        dict(zip(keys, [values[0] for values in plain], strict=True))
    )
    assert _json_rows(frame.iloc[:0], keys, True) == b""
    # Without a simulated column, the report's flag; a key the frame lacks is null; a key
    # given twice is there once.
    rows = json.loads("[" + _json_rows(frame, ["a", "gone", "a"], True).decode() + "]")
    assert rows == [{"a": a, "gone": None, "simulated": True} for a in (1.5, None, 3)]
    assert _json_rows(frame, ["a", "gone", "a"], True).decode().count('"a"') == 3


@pytest.mark.parametrize("few", [0, 1000], ids=["numpy", "dicts"])
def test_json_rows_encoded_a_few_at_a_time_are_the_whole_tables(
    few: int, engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import reports.render_data as render_data

    monkeypatch.setattr(render_data, "_FEW_ROWS", few)
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
        document["tables"][table.name]["rows"] = [dict(zip(keys, row, strict=True)) for row in rows]
    assert several  # some table spans several pieces
    # Byte for byte the text of encoding the whole document, rows as dicts of plain values.
    assert ENCODE(document) == whole
