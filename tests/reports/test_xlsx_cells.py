"""The workbook's date cells are converted as whole arrays (`reports.render_xlsx._excel_serials`);
each must be the serial number XlsxWriter itself writes for that time."""

from __future__ import annotations

import math
import warnings

import pandas as pd
from xlsxwriter.utility import _datetime_to_excel_datetime

from reports.render_xlsx import _excel_serials


def test_serials_equal_xlsxwriters_own_conversion() -> None:
    times = pd.Series(
        pd.to_datetime(
            [
                "2027-01-01 10:00",
                None,
                "2027-03-28 01:00:00.123456",
                "1900-03-01",
                "2027-06-30 23:59:59.999999",
                "1969-12-31 23:59:59.000001",
                "2027-01-01 10:00:00.000000999",
                "2100-02-28 12:00",
            ],
            format="ISO8601",
        )
    )
    got = _excel_serials(times.to_numpy(dtype="datetime64[ns]"))
    assert got is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nanoseconds dropped, as the workbook drops them
        want = [
            math.nan
            if t is pd.NaT
            else _datetime_to_excel_datetime(t.to_pydatetime(), False, False)
            for t in times.tolist()
        ]
    assert [repr(v) for v in got] == [repr(v) for v in want]


def test_times_before_march_1900_are_left_to_xlsxwriter() -> None:
    early = pd.Series(pd.to_datetime(["1900-01-01", "2027-01-01"]))
    assert _excel_serials(early.to_numpy(dtype="datetime64[ns]")) is None
