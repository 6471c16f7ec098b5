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


@given(
    st.lists(
        st.builds(
            lambda scheme, host, rest: scheme + host + rest,
            st.sampled_from(["http://", "https://", "ftp://", ""]),
            st.text(alphabet="ab.-1:@", max_size=6),
            st.text(alphabet=st.sampled_from([*_URL_CHARACTERS, "\n", "\r"]), max_size=8),
        ),
        max_size=6,
    )
)
@settings(max_examples=1000, deadline=None)
def test_the_check_of_a_whole_column_agrees_with_each_texts(urls: list[str]) -> None:
    """`all_simple_urls` holds for a list when each text alone has the usual shape, and then
    `safe_url` gives each back as it is."""
    from campaigns.links import MAX_URL_LENGTH
    from reports.model import _SIMPLE_URL, all_simple_urls, safe_url

    each = [len(u) <= MAX_URL_LENGTH and _SIMPLE_URL.fullmatch(u) is not None for u in urls]
    assert all_simple_urls(urls) == (bool(urls) and all(each))
    if all_simple_urls(urls):
        assert [safe_url(u) for u in urls] == urls
    long = "https://x.example/" + "a" * MAX_URL_LENGTH
    assert not all_simple_urls([*urls, long])


@pytest.mark.parametrize(
    "values",
    [
        [0.0, 1.0, -3.0, 2.5, 1e15 - 1, 1e15, 1e16, 123456789.0, 0.1, 1 / 3, 5e-324, -1e-7],
        [1.0, 2.0, math.nan, -4.0, 999_999_999_999_999.0],
        [-0.0, 7.0],  # "-0", as "%.16G" writes it
        [1e16, 2.0, 3e15],  # "1E+16"
        [math.nan, math.inf, -math.inf, 3.0],
        # Enough rows to be written as blocks: n/a laid over the blocks of its row.
        [math.nan, -2.5, 7.0, 0.125, math.inf, -1e16, 1234567.0, 1 / 7, -0.0, 3e-9] * 30,
        [7.0, math.nan, 12.0, -3.0] * 40,  # whole numbers and n/a only
        [math.nan, 1e20, 0.5] * 40,  # no digits but n/a's in the integer block
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
    # Data cells without their reference (r="A2"): each is the next column of its row.
    cells = re.findall(r'<c s="\d+"(?:><v>([^<]*)</v>| t="inlineStr"><is><t>(n/a)<)', xml)
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


_NUMBERS = [0.0, 1.0, -3.0, 2.5, 1e15 - 1, 1e15, 1e16, math.nan, 0.1, 1 / 3, 5e-324, -1e-7]
_NUMBERS += [math.inf, -math.inf, -0.0, 123456789.0, -42.0, 7e-5]
_TEXTS = ["plain", "a & b", "<x>", "_x0041_", " lead", "trail ", "\x01ctl", "中文 · Tourists"]
_TEXTS += ["=1+2", "-minus", None, "x" * 33_000, "line\nbreak", "\ufffe"]
_URLS = [
    "https://x.example/p/1",
    "javascript:alert(1)",
    None,
    "https://x.example/p#part",
    "http://h.example/p?a=1&b=<2>",
    "https://x.example/p/2",
    "https://x.example/p/3%20x",
]
_MIXED = [True, 1, "1", 1.0, None, ("a", 1), False, 0]


def _frame(rows: int) -> pd.DataFrame:
    def cycle(values: list[Any], shift: int = 0) -> list[Any]:
        return [values[(i + shift) % len(values)] for i in range(rows)]

    times = pd.to_datetime(
        cycle(["2027-01-01 10:00", None, "2027-03-28 01:00:00.123456", "2026-12-31 23:59:59"]),
        utc=True,
        format="ISO8601",
    )
    return pd.DataFrame(
        {
            "n": cycle(_NUMBERS),
            "whole": [float(i * 7 - 3000) for i in range(rows)],
            "p": cycle(_NUMBERS, 3),
            "pp": cycle(_NUMBERS, 5),
            "o": pd.Series(cycle([None, 3, 2.5, "4"]), dtype=object),
            "d": times,
            "d2": times[::-1],
            "t": cycle(_TEXTS),
            "b": cycle([True, False, False]),
            "mixed": pd.Series(cycle(_MIXED), dtype=object),
            "u": cycle(_URLS),
            "links": cycle([u for u in _URLS if u and u.startswith("http")]),
            "no_links": cycle(["javascript:alert(1)", "ftp://x.example/", "x & y"]),
            "permalinks": cycle(["https://x.example/p/1", None, "http://h.example/a?b=1&c=2"]),
            "key": [f"p{i:06d}" for i in range(rows)],
        }
    )


_KINDS = {
    "n": "float",
    "whole": "int",
    "p": "pct",
    "pp": "pp",
    "o": "int",
    "d": "datetime",
    "d2": "date",
    "t": "text",
    "b": "text",
    "mixed": "text",
    "u": "url",
    "links": "url",
    "no_links": "url",
    "permalinks": "url",
    "key": "text",
}


def _their_cell(sheet: Any, r: int, c: int, value: Any, kind: str, formats: dict[str, Any]) -> None:
    """The cell as XlsxWriter's own methods write it, by the workbook's rules: a missing or
    non-finite value is the grey n/a text, numbers in their format, dates as dates, texts
    neutralised, http(s) addresses as links."""
    from reports.model import is_missing, neutralise, safe_url

    if kind == "url" and safe_url(value) is not None:
        sheet.write_url(r, c, value, string=neutralise(value))
    elif is_missing(value):
        sheet.write_string(r, c, "n/a", formats["n/a"])
    elif kind in ("date", "datetime"):
        sheet.write_datetime(
            r, c, pd.Timestamp(value).tz_convert(None).to_pydatetime(), formats[kind]
        )
    elif kind in ("int", "float", "pct", "pp"):
        number = float(value) * (100 if kind == "pp" else 1)
        if math.isfinite(number):
            sheet.write_number(r, c, number, formats[kind])
        else:
            sheet.write_string(r, c, "n/a", formats["n/a"])
    elif isinstance(value, bool):
        sheet.write_boolean(r, c, value)
    else:
        sheet.write_string(r, c, neutralise(str(value)))


def _sheet_data(path: Any) -> str:
    import re
    import zipfile

    with zipfile.ZipFile(path) as book:
        xml = book.read("xl/worksheets/sheet1.xml").decode()
    found = re.search("<sheetData>.*</sheetData>", xml, re.S)
    return found.group(0) if found else ""


@pytest.mark.parametrize(("rows", "streamed"), [(6, True), (2150, True), (2150, False)])
def test_data_cells_are_the_xml_xlsxwriter_writes(rows: int, streamed: bool, tmp_path: Any) -> None:
    """Every kind of data cell (numbers with NaN, infinities, -0, 1E+16; dates with and
    without times, missing first or later; texts with markup, control characters, XlsxWriter's
    own escape, edge spaces, non-ASCII, over Excel's length, formulas to neutralise; bools;
    mixed objects; links, non-links and missing URLs, columns of links only, of non-links
    only and of usual links and missing ones), in a few rows (rendered in Python) and
    in more than one block of 2,000 (rendered on numpy), is the XML XlsxWriter's own
    ``write_*`` methods make for it, cell for cell (in its constant-memory mode, which writes
    texts inline as the workbook does); whether the sheet goes into the zip file as it is
    written (the report's workbook) or through XlsxWriter's temporary file."""
    import xlsxwriter

    from reports.render_xlsx import FORMATS, _cells, _column_sheet_class, _workbook_class

    frame = _frame(rows)
    names = ["int", "float", "pct", "pp", "date", "datetime"]

    def formats_of(book: Any) -> dict[str, Any]:
        formats = {name: book.add_format(FORMATS[name]) for name in names}
        formats["n/a"] = book.add_format({"italic": True, "font_color": "#97a3ae"})
        # Style numbers fixed up front: XlsxWriter numbers them in the order cells ask.
        for name in [*names, "n/a"]:
            formats[name]._get_xf_index()
        book.default_url_format._get_xf_index()
        return formats

    theirs = xlsxwriter.Workbook(str(tmp_path / "theirs.xlsx"), {"constant_memory": True})
    formats = formats_of(theirs)
    sheet = theirs.add_worksheet()
    sheet.write_string(0, 0, "header")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # over-long texts are cut, as in ours
        for r, row in enumerate(frame.itertuples(index=False), start=1):
            for c, (key, value) in enumerate(zip(frame.columns, row, strict=True)):
                _their_cell(sheet, r, c, value, _KINDS[key], formats)
    theirs.close()

    book_class = _workbook_class() if streamed else xlsxwriter.Workbook
    ours = book_class(str(tmp_path / "ours.xlsx"), {"nan_inf_to_errors": False})
    formats = formats_of(ours)
    sheet = ours.add_worksheet(worksheet_class=_column_sheet_class())
    sheet.write_string(0, 0, "header")
    links = [0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for c, key in enumerate(frame.columns):
            cells = _cells(sheet, 1, c, frame[key], _KINDS[key], links)
            sheet.add_column(1, c, cells, _KINDS[key], formats)
    ours.close()

    # The header row (XlsxWriter's in both) differs only in its string being shared in ours;
    # the data cells only in ours leaving out their reference (r="B2", optional: a cell
    # without one is the next column of its row), the same cells where a reader puts them.
    import re

    want = _sheet_data(tmp_path / "theirs.xlsx").partition('<row r="2">')[2]
    assert want.count("<row ") == rows - 1
    assert want.count('<c r="') == rows * len(frame.columns)  # row 2's cells too
    got = _sheet_data(tmp_path / "ours.xlsx").partition('<row r="2">')[2]
    assert '<c r="' not in got
    assert got == re.sub(r'<c r="[A-Z]+\d+"', "<c", want)
    assert _hyperlink_parts(tmp_path / "ours.xlsx") == _hyperlink_parts(tmp_path / "theirs.xlsx")
    assert _read_back(tmp_path / "ours.xlsx") == _read_back(tmp_path / "theirs.xlsx")


def _read_back(path: Any) -> list[list[tuple[Any, ...]]]:
    """Every cell of the first sheet as openpyxl reads it (its two parsers: the full one and
    the read-only one): place, value, type, number format, font and link."""
    from openpyxl import load_workbook

    full = load_workbook(path).worksheets[0]
    cells = [
        [
            (
                cell.coordinate,
                cell.value,
                cell.data_type,
                cell.number_format,
                repr(cell.font),
                cell.hyperlink.target if cell.hyperlink else None,
            )
            for cell in row
        ]
        for row in full.iter_rows()
    ]
    lean = load_workbook(path, read_only=True).worksheets[0]
    assert [[cell[1] for cell in row] for row in cells] == [
        list(row) for row in lean.iter_rows(values_only=True)
    ]
    return cells


@pytest.mark.parametrize("rows", [6, 2150])
def test_data_columns_not_from_the_first_keep_their_references(rows: int, tmp_path: Any) -> None:
    """Cells are left without their reference only when the data columns are the first of
    each row, in order: columns starting at B, or with a gap, keep ``r="C2"`` and are read
    where they were put."""
    import re

    import numpy as np
    from openpyxl import load_workbook

    from reports.render_xlsx import _column_sheet_class, _workbook_class

    book = _workbook_class()(str(tmp_path / "gap.xlsx"))
    formats = {"int": book.add_format({"num_format": "0"}), "n/a": book.add_format({})}
    sheet = book.add_worksheet(worksheet_class=_column_sheet_class())
    sheet.add_column(1, 1, np.arange(rows, dtype=np.float64), "int", formats)
    sheet.add_column(1, 3, np.arange(rows, dtype=np.float64) * 2, "int", formats)
    book.close()
    xml = _sheet_data(tmp_path / "gap.xlsx")
    assert len(re.findall(r'<c r="[BD]\d+"', xml)) == 2 * rows
    assert "<c s=" not in xml
    got = load_workbook(tmp_path / "gap.xlsx").worksheets[0]
    assert [got.cell(r + 2, 2).value for r in range(rows)] == list(range(rows))
    assert [got.cell(r + 2, 4).value for r in range(rows)] == [2 * r for r in range(rows)]
    assert all(got.cell(r + 2, c).value is None for r in range(rows) for c in (1, 3))


def test_parts_are_zipped_as_xlsxwriter_zips_them(tmp_path: Any) -> None:
    """The workbook's parts go into the zip file as they are written (by a thread) instead of
    through temporary files: the same entries as XlsxWriter makes (names, order, time stamp,
    mode, contents), and a workbook openpyxl reads back."""
    import zipfile
    from datetime import datetime

    import xlsxwriter
    from openpyxl import load_workbook

    from reports.render_xlsx import _workbook_class

    def fill(book: Any) -> None:
        book.set_properties({"created": datetime(2027, 1, 1)})
        for name in ("one", "two"):
            sheet = book.add_worksheet(name)
            for r in range(3000):
                sheet.write_row(r, 0, [r, r * 0.37, f"text {r % 17}", "中文"])
            sheet.write_url(0, 5, "https://x.example/p/1")
        book.close()

    fill(xlsxwriter.Workbook(str(tmp_path / "theirs.xlsx")))
    fill(_workbook_class()(str(tmp_path / "ours.xlsx")))

    def entries(path: Any) -> list[tuple[Any, ...]]:
        with zipfile.ZipFile(path) as book:
            return [
                (i.filename, i.date_time, i.external_attr, i.compress_type, i.CRC, i.file_size)
                for i in book.infolist()
            ]

    assert entries(tmp_path / "ours.xlsx") == entries(tmp_path / "theirs.xlsx")
    sheet = load_workbook(tmp_path / "ours.xlsx", read_only=True)["two"]
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 3000
    assert rows[2999][:4] == (2999, float(f"{2999 * 0.37:.16G}"), "text 7", "中文")


def test_a_part_that_cannot_be_written_raises_instead_of_hanging() -> None:
    """The zip's thread fails (a full disk): the writing side gets the error at its next part
    or at the end, and nothing waits for ever on the thread's queue."""
    import io
    import zipfile

    from reports.render_xlsx import _StreamingZip

    class FullDisk(io.BytesIO):
        def write(self, data: Any) -> int:
            if self.tell() + len(data) > 50_000:
                raise OSError(28, "No space left on device")
            return super().write(data)

    book = _StreamingZip(1, FullDisk(), "w", compression=zipfile.ZIP_DEFLATED)
    noise = bytes(range(256)) * 4_000  # barely compressible
    with pytest.raises(OSError, match="No space left"):
        for n in range(100):
            part = book.part(f"part{n}.xml")
            for _ in range(20):
                part.write_bytes(noise)
        book.close()
    book.abandon()  # as the workbook does when saving fails
    assert not book.worker.is_alive()
    assert book.fp is None


def test_small_parts_are_zipped_by_the_writing_thread_when_the_zip_thread_is_idle() -> None:
    """Handing each small job to the zip's thread cost a wait for the GIL per job while the
    writing thread ran Python: a job is done at once in the writing thread when nothing is
    queued; blocks of rows still go to the zip's thread. The file is the same either way."""
    import io
    import threading
    import zipfile

    import numpy as np

    import reports.render_xlsx as render_xlsx
    from reports.render_xlsx import _StreamingZip
    from reports.text_blocks import const_block

    done: list[tuple[str, str]] = []
    do = _StreamingZip._do

    def recorded(self: Any, job: str, value: Any) -> None:
        done.append((job, threading.current_thread().name))
        do(self, job, value)

    rows = np.arange(3000)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_StreamingZip, "_do", recorded)
        target = io.BytesIO()
        book = _StreamingZip(1, target, "w", compression=zipfile.ZIP_DEFLATED)
        for n in range(5):
            book.part(f"small{n}.xml").write(f"<x>{n}</x>")
        book.part("large.xml").write_blocks([const_block(b"<row/>", rows)])
        book.part("after.xml").write("<y/>")
        book.close()
    assert book.queued == 0 and book.pending == 0
    mine = threading.current_thread().name
    small = [thread for job, thread in done[: 5 * 3]]  # open, data and close of each
    assert small == [mine] * 15
    assert ("blocks", "xlsx-zip") in done
    with zipfile.ZipFile(target) as archive:
        assert [archive.read(f"small{n}.xml") for n in range(5)] == [
            b"<x>%d</x>" % n for n in range(5)
        ]
        assert archive.read("large.xml") == b"<row/>" * 3000
        assert archive.read("after.xml") == b"<y/>"
    assert render_xlsx.INLINE_BYTES < render_xlsx.QUEUED_BYTES


def test_the_zip_threads_queue_is_bounded_in_bytes() -> None:
    """However many small parts are queued, the blocks of rows waiting for the zip's thread
    hold at most `QUEUED_BYTES` beyond the one being joined."""
    import io
    import threading
    import zipfile

    import numpy as np

    import reports.render_xlsx as render_xlsx
    from reports.render_xlsx import _StreamingZip

    seen: list[int] = []
    gate = threading.Semaphore(0)
    do = _StreamingZip._do

    def slow(self: Any, job: str, value: Any) -> None:
        if job == "blocks":
            gate.acquire()  # the test lets each block through after the next put returned
            seen.append(self.queued)
        do(self, job, value)

    block = np.full((1000, 100), ord("a"), dtype=np.uint8)  # 100,000 bytes a job
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_StreamingZip, "_do", slow)
        mp.setattr(render_xlsx, "QUEUED_BYTES", 250_000)
        book = _StreamingZip(1, io.BytesIO(), "w", compression=zipfile.ZIP_DEFLATED)
        part = book.part("large.xml")
        for _ in range(12):
            part.write_blocks([block])
            gate.release()
        book.close()
    assert len(seen) == 12 and max(seen) <= 250_000


def _deflate_through(level: int, writes: list[bytes]) -> tuple[bytes, set[str]]:
    """``writes`` through `_ParallelDeflate` as zipfile drives a compressor (``compress`` per
    write, then ``flush``): the stream, and the names of the threads that deflated."""
    import threading
    import zlib
    from concurrent.futures import ThreadPoolExecutor

    import reports.render_xlsx as render_xlsx

    threads: set[str] = set()
    segment = render_xlsx._deflate_segment

    def recorded(*args: Any) -> bytes:
        threads.add(threading.current_thread().name)
        return segment(*args)

    with (
        ThreadPoolExecutor(1, thread_name_prefix="deflate") as pool,
        pytest.MonkeyPatch.context() as mp,
    ):
        mp.setattr(render_xlsx, "_deflate_segment", recorded)
        packer = render_xlsx._ParallelDeflate(level, lambda: pool)
        stream = b"".join(packer.compress(data) for data in writes) + packer.flush()
    assert zlib.decompress(stream, -15) == b"".join(writes)
    return stream, threads


def test_a_part_written_in_small_pieces_is_deflated_as_zlib_deflates_it() -> None:
    """Every part but a large sheet's: the same bytes as zlib's compressor at that level."""
    import zlib

    from reports.render_xlsx import _ParallelDeflate

    for writes in ([], [b""], [b"<x/>"], [b"<row>%d</row>" % n * 300 for n in range(40)]):
        assert all(len(data) < _ParallelDeflate.SEGMENT for data in writes)
        packer = zlib.compressobj(1, zlib.DEFLATED, -15)
        want = b"".join(packer.compress(data) for data in writes) + packer.flush()
        assert _deflate_through(1, writes) == (want, set())


def test_a_large_part_is_deflated_in_segments_on_other_threads() -> None:
    """Large writes are deflated on the pool, each after the 32 KiB before it: one deflate
    stream of the same data, about as small as zlib's in one piece (the cuts cost a few bytes
    each), whatever mix of small and large writes, at the given level."""
    import random
    import zlib

    from reports.render_xlsx import _ParallelDeflate

    rng = random.Random(7)
    rows = [
        b'<row r="%d"><c r="A%d" s="5"><v>%d</v></c><c r="B%d"><v>%.16G</v></c></row>'
        % (n, n, rng.randrange(10**6), n, rng.random())
        for n in range(60_000)
    ]
    large = [b"".join(rows[n : n + 15_000]) for n in range(0, 60_000, 15_000)]
    assert all(len(data) >= _ParallelDeflate.SEGMENT for data in large)
    small = [b"<sheetData>", b"", b"<row/>" * 10]
    for writes in (large, small + large, large[:3] + small + large[3:] + small):
        for level in (1, 6):
            stream, threads = _deflate_through(level, writes)
            assert threads and all(name.startswith("deflate") for name in threads)
            packer = zlib.compressobj(level, zlib.DEFLATED, -15)
            whole = len(packer.compress(b"".join(writes)) + packer.flush())
            assert abs(len(stream) - whole) <= whole * 0.002 + 16 * len(writes)


def test_links_past_the_sheets_limit_are_texts(monkeypatch: pytest.MonkeyPatch) -> None:
    """A sheet links at most `MAX_LINKS` cells; later web addresses are their texts, whether
    the column is all usual addresses (and missing values) or not."""
    import reports.render_xlsx as render_xlsx

    class Sheet:
        def __init__(self) -> None:
            self.linked: list[tuple[int, int, str]] = []

        def add_link(self, r: int, c: int, url: str) -> None:
            self.linked.append((r, c, url))

        def add_plain_links(self, rows: Any, c: int, urls: list[str]) -> None:
            self.linked += [(r, c, url) for r, url in zip(rows.tolist(), urls, strict=True)]

    monkeypatch.setattr(render_xlsx, "MAX_LINKS", 4)
    urls = [f"https://x.example/p/{n}" for n in range(5)]
    usual = [urls[0], None, urls[1], math.nan, urls[2], urls[3], urls[4]]
    for values in (usual, [*usual, "javascript:alert(1)"]):
        sheet, links = Sheet(), [1]  # one link on the sheet already
        cells = render_xlsx._url_cells(sheet, 4, 2, values, links)
        assert links == [4]
        assert sheet.linked == [(4, 2, urls[0]), (6, 2, urls[1]), (8, 2, urls[2])]
        marked = cells.links if cells.links is not None else [False] * len(cells.values)
        shown = [
            ("link", str(cell))
            if isinstance(cell, render_xlsx._Link) or marked[cells.codes[row]]
            else cell
            for row, cell in enumerate(cells.values[code] for code in cells.codes)
        ]
        assert shown[:7] == [
            ("link", urls[0]),
            render_xlsx._NA,
            ("link", urls[1]),
            render_xlsx._NA,
            ("link", urls[2]),
            urls[3],
            urls[4],
        ]


@given(
    st.lists(st.text(alphabet=["a", " ", "\t", "\n", "\x85", "\xa0", "\u3000", "é"], max_size=4))
)
@settings(max_examples=1000, deadline=None)
def test_white_space_at_the_edge_of_joined_texts(texts: list[str]) -> None:
    from reports.render_xlsx import _edge_space

    want = any(t[:1].isspace() or t[-1:].isspace() for t in texts)
    assert _edge_space("\0".join(texts)) == want


@given(
    st.lists(st.text(alphabet=["a", "=", "+", "-", "@", "\t", "\r", "\n", "\0", "'"], max_size=3))
)
@settings(max_examples=1000, deadline=None)
def test_texts_neutralised_at_once_are_each_neutralised(texts: list[str]) -> None:
    from reports.model import neutralise, neutralise_all

    assert neutralise_all(texts) == [neutralise(text) for text in texts]


def _g16_texts(values: Any) -> list[bytes]:
    import numpy as np

    from reports.text_blocks import g16_block

    block = g16_block(np.asarray(values, dtype=np.float64))
    return [bytes(row[row != 0]) for row in block]


def test_numbers_formatted_on_arrays_are_percent_16g() -> None:
    """`g16_block` must give ``b"%.16G" % value`` for every finite value: correctly rounded
    to 16 digits, a tie to the even one, trailing zeros dropped, the exponent form outside
    1E-04 to 1E+16, and values it leaves to Python (zeros, the tiny, the huge) among them."""
    import numpy as np

    rng = np.random.default_rng(20261201)
    powers = np.array([10.0**e for e in range(-9, 18)])
    near_powers = (powers.view(np.int64)[:, None] + np.arange(-300, 300)).view(np.float64)
    sixteen = rng.integers(10**15, 10**16, 20_000).astype(np.float64)
    decimals = sixteen / 10.0 ** rng.integers(1, 23, sixteen.size)  # 16-digit decimals...
    around = (decimals.view(np.int64)[:, None] + np.arange(-2, 3)).view(np.float64)  # ± ulps
    ties = rng.integers(10**15, 2**53 - 1, 20_000).astype(np.float64) + 0.5
    groups = [
        [0.5, 0.1, 0.2, 1 / 3, 2 / 3, 0.30000000000000004, 9.9999999999999995, 99999.99999999999],
        [1000000000000000.5, 1000000000000001.5, 1e15, 1e16, 1e16 - 2, 9999999999999999.0],
        [1e-4, 1e-5, 1e-7, 1.5e-7, 0.00012345678901234567, 123456.789, -1e-7, -2.5],
        [0.0, -0.0, 5e-324, 1e-300, 1.7e308, -1e20, 3e-8],
        near_powers.ravel(),
        around.ravel(),
        ties,
        ties / 2.0 ** rng.integers(1, 40, ties.size),  # ties at other scales
        rng.integers(1, 5_000, 20_000) / rng.integers(1, 100_000, 20_000),  # rates
        10 ** rng.uniform(-9, 17, 20_000) * rng.choice([-1, 1], 20_000),
        rng.integers(0, 2**63, 20_000, dtype=np.int64).view(np.float64),  # any bits
    ]
    for values in groups:
        finite = [v for v in np.asarray(values, dtype=np.float64).tolist() if math.isfinite(v)]
        assert _g16_texts(finite) == [b"%.16G" % v for v in finite]


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=20))
@settings(max_examples=500, deadline=None)
def test_any_finite_numbers_formatted_on_arrays_are_percent_16g(values: list[float]) -> None:
    assert _g16_texts(values) == [b"%.16G" % v for v in values]


@given(st.lists(st.integers(min_value=0, max_value=10**18), min_size=1, max_size=30))
@settings(max_examples=500, deadline=None)
def test_digit_blocks_are_the_digits_str_gives(values: list[int]) -> None:
    import numpy as np

    from reports.text_blocks import digit_block

    block = digit_block(np.array(values, dtype=np.int64))
    assert block.shape == (len(values), len(str(max(values))))
    assert [bytes(row[row != 0]) for row in block] == [str(v).encode() for v in values]


@given(st.lists(st.text(alphabet=["a", "é", "中", "&", " "], max_size=5), min_size=1, max_size=9))
@settings(max_examples=300, deadline=None)
def test_texts_split_into_a_block_are_the_texts(texts: list[str]) -> None:
    from reports.text_blocks import joined_rows, split_block

    block = split_block("\0".join(texts).encode(), len(texts))
    assert [bytes(row[row != 0]).decode() for row in block] == texts
    assert joined_rows([block]) == "".join(texts).encode()
