"""The workbook's cells and links are made in bulk (`reports.render_xlsx`): date cells as whole
arrays (`_excel_serials`), each the serial number XlsxWriter itself writes for that time; links
kept by the sheet and written at save, the same bytes as XlsxWriter's ``write_url``; URLs
checked by a quick pattern first that must agree with the full check."""

from __future__ import annotations

import math
import warnings
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
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
    assert [repr(v) for v in got.tolist()] == [repr(v) for v in want]


def test_times_before_march_1900_are_left_to_xlsxwriter() -> None:
    early = pd.Series(pd.to_datetime(["1900-01-01", "2027-01-01"]))
    assert _excel_serials(early.to_numpy(dtype="datetime64[ns]")) is None


URLS = [
    "https://x.example/p/1",
    "https://x.example/p/2?a=1&b=<2>",
    "https://x.example/p/3#part&q=<1>",
    "https://x.example/p/4%20done",
    'https://x.example/p/5[1]{2}^`|"',
    "http://x.example:8080/p/6",
    "https://bücher.example/straße/7",
    "https://x.example/" + "\U0001f600" * 1100,  # over Excel's URL length in UTF-16: no link
]


def _hyperlink_parts(path: Any) -> tuple[str, str]:
    import re
    import zipfile

    with zipfile.ZipFile(path) as book:
        sheet = book.read("xl/worksheets/sheet1.xml").decode()
        rels = book.read("xl/worksheets/_rels/sheet1.xml.rels").decode()
    found = re.search("<hyperlinks>.*</hyperlinks>", sheet)
    return (found.group(0) if found else ""), rels


def test_hyperlinks_and_relationships_are_xlsxwriters_bytes(tmp_path: Any) -> None:
    """The data sheets keep their links and write them in bulk at save; the ``<hyperlinks>``
    element and the ``.rels`` part must be what XlsxWriter's own ``write_url`` makes."""
    import xlsxwriter

    from reports.model import neutralise
    from reports.render_xlsx import _column_sheet_class, _workbook_class

    cells = [(4 + 3 * i + (i % 2), i % 3, url) for i, url in enumerate(URLS)]
    theirs = xlsxwriter.Workbook(str(tmp_path / "theirs.xlsx"))
    sheet = theirs.add_worksheet()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for r, c, url in cells:
            sheet.write_url(r, c, url, string=neutralise(url))
    theirs.close()
    ours = _workbook_class()(str(tmp_path / "ours.xlsx"))
    sheet = ours.add_worksheet(worksheet_class=_column_sheet_class())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for r, c, url in reversed(cells):  # any order: written sorted by row and column
            sheet.add_link(r, c, url)
    ours.close()
    want = _hyperlink_parts(tmp_path / "theirs.xlsx")
    assert want[0].count("<hyperlink ") == len(URLS) - 1
    assert _hyperlink_parts(tmp_path / "ours.xlsx") == want


_URL_CHARACTERS = [
    *"aZ09/?#=&%._~-:@!$'()*+,;[]{}<>^`|" * 3,
    *' "\\\x00\t\x7fé\x85\u200b\u2028\ufeff\U0001f600',
]
"""Mostly what addresses are made of, and what the full check refuses."""


@given(
    st.sampled_from(["http://", "https://", "HTTP://", "ftp://", "https:/", ""]),
    st.text(alphabet="ab.-1" * 4 + ":@[]%", max_size=8),
    st.text(alphabet=st.sampled_from(_URL_CHARACTERS), max_size=12),
)
@settings(max_examples=1000, deadline=None)
def test_the_quick_url_check_agrees_with_the_full_one(scheme: str, host: str, rest: str) -> None:
    from campaigns.links import is_web_url
    from reports.model import safe_url

    for url in (scheme + host + rest, scheme + host + "/" + rest, scheme + host + "?" + rest):
        assert safe_url(url) == (url if is_web_url(url) else None), url


@pytest.mark.parametrize(
    "values",
    [
        [0.0, 1.0, -3.0, 2.5, 1e15 - 1, 1e15, 1e16, 123456789.0, 0.1, 1 / 3, 5e-324, -1e-7],
        [1.0, 2.0, math.nan, -4.0, 999_999_999_999_999.0],
        [-0.0, 7.0],  # "-0", as "%.16G" writes it
        [1e16, 2.0, 3e15],  # "1E+16"
        [math.nan, math.inf, -math.inf, 3.0],
    ],
)
def test_number_cells_are_written_as_xlsxwriter_writes_numbers(
    values: list[float], tmp_path: Any
) -> None:
    """Whole numbers are written from integers, the rest with "%.16G"; both must give the
    digits XlsxWriter writes (``%.16G``), and n/a where the value is not finite."""
    import re
    import zipfile

    import numpy as np

    from reports.render_xlsx import _column_sheet_class, _workbook_class

    book = _workbook_class()(str(tmp_path / "n.xlsx"))
    formats = {"float": book.add_format({"num_format": "0.0"}), "n/a": book.add_format({})}
    sheet = book.add_worksheet(worksheet_class=_column_sheet_class())
    sheet.add_column(0, 0, np.array(values), "float", formats)
    book.close()
    with zipfile.ZipFile(tmp_path / "n.xlsx") as z:
        xml = z.read("xl/worksheets/sheet1.xml").decode()
    cells = re.findall(r'<c r="A\d+" s="\d+"(?:><v>([^<]*)</v>| t="inlineStr"><is><t>(n/a)<)', xml)
    want = [(f"{v:.16G}", "") if math.isfinite(v) else ("", "n/a") for v in values]
    assert cells == want


def test_the_workbook_is_deflated_at_its_level(tmp_path: Any) -> None:
    """Each part is deflated at `DEFLATE_LEVEL` (XlsxWriter itself takes zlib's default): its
    stored size is that of zlib at that level, not at the default."""
    import zipfile
    import zlib

    from reports.render_xlsx import DEFLATE_LEVEL, _workbook_class

    book = _workbook_class()(str(tmp_path / "z.xlsx"))
    sheet = book.add_worksheet()
    for r in range(2000):
        sheet.write_row(r, 0, [r, r * 0.37, f"text {r % 17}", "same every row"])
    book.close()

    def deflated(data: bytes, level: int) -> int:
        packer = zlib.compressobj(level, zlib.DEFLATED, -15)
        return len(packer.compress(data) + packer.flush())

    with zipfile.ZipFile(tmp_path / "z.xlsx") as z:
        sizes = [(info.compress_size, z.read(info.filename)) for info in z.infolist()]
    assert all(size == deflated(data, DEFLATE_LEVEL) for size, data in sizes)
    assert any(size != deflated(data, 6) for size, data in sizes)
