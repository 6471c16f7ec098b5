"""The report as an Excel workbook (XlsxWriter): a "Summary" sheet (the executive summary), an
"About" sheet (scope, the SIMULATED notice, the formulas), then one sheet per table with a
title, its description, formatted headers, number formats (percentages stay numbers Excel can
compute with), frozen header row and filters. A missing value is the grey text "n/a", never 0.
Every text is written as text, never as a formula, and neutralised (`reports.model.neutralise`)
so that a copy pasted elsewhere stays inert; only http(s) URLs become links.
"""

from __future__ import annotations

import functools
import io
import itertools
import math
import os
import queue
import re
import threading
import time
import types
import zipfile
import zlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from reports.model import (
    NA,
    SIMULATED_NOTICE,
    Column,
    Report,
    Table,
    all_simple_urls,
    is_missing,
    neutralise,
    neutralise_all,
    safe_url,
)
from reports.text_blocks import (
    block_of,
    const_block,
    digit_block,
    g16_block,
    joined_rows,
    split_block,
)

MAX_LINKS = 65_000
"""Excel allows 65,530 hyperlinks per sheet; URLs past this are written as text."""

FORMATS: dict[str, dict[str, Any]] = {
    "int": {"num_format": "#,##0"},
    "float": {"num_format": "#,##0.0"},
    "pct": {"num_format": "0.00%"},
    "pp": {"num_format": '+0.00" pp";-0.00" pp"'},
    "hours": {"num_format": '0.0" h"'},
    "index": {"num_format": "0.00"},
    "p": {"num_format": "0.000"},
    "date": {"num_format": "yyyy-mm-dd"},
    "datetime": {"num_format": "yyyy-mm-dd hh:mm"},
    "text": {},
    "url": {},
}


def _sheet_name(name: str, used: set[str]) -> str:
    base = name[:31]
    candidate, n = base, 2
    while candidate.lower() in used:
        suffix = f"~{n}"
        candidate, n = base[: 31 - len(suffix)] + suffix, n + 1
    used.add(candidate.lower())
    return candidate


def _expand(table: Table) -> list[tuple[str, str, str]]:
    """(frame key, header, kind) for every data column: intervals and medians get their own."""
    out: list[tuple[str, str, str]] = []
    for column in table.columns:
        out.append((column.key, column.label, column.kind))
        for extra, suffix in (
            (column.low, "low"),
            (column.high, "high"),
            (column.median, "median"),
        ):
            if extra is not None and extra in table.frame.columns:
                out.append((extra, f"{_base_label(column)}: {suffix}", column.kind))
        if column.link and column.link in table.frame.columns:
            out.append((column.link, "URL", "url"))
    return out


def _base_label(column: Column) -> str:
    return column.label.split(" (")[0]


def write_xlsx(report: Report, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    book = _workbook_class()(str(out), {"nan_inf_to_errors": False})
    title_fmt = book.add_format({"bold": True, "font_size": 14, "font_color": "#1d2733"})
    desc_fmt = book.add_format({"italic": True, "font_color": "#5b6b7b", "text_wrap": False})
    sim_fmt = book.add_format({"bold": True, "font_color": "#ffffff", "bg_color": "#b5473a"})
    head_fmt = book.add_format(
        {
            "bold": True,
            "bg_color": "#e8f1f6",
            "font_color": "#1d2733",
            "text_wrap": True,
            "valign": "bottom",
            "bottom": 2,
            "bottom_color": "#1b7fa6",
        }
    )
    na_fmt = book.add_format({"italic": True, "font_color": "#97a3ae", "align": "right"})
    cell_fmts = {kind: book.add_format(spec) for kind, spec in FORMATS.items()}
    column_fmts = {**cell_fmts, "n/a": na_fmt}
    wrap_fmt = book.add_format({"text_wrap": True, "valign": "top"})
    used: set[str] = set()

    def text(sheet: Any, r: int, c: int, value: object, fmt: Any = None) -> None:
        sheet.write_string(r, c, neutralise(str(value)), fmt)

    summary = book.add_worksheet(_sheet_name("Summary", used))
    summary.set_column(0, 0, 140)
    text(
        summary,
        0,
        0,
        "Executive summary" + ("  —  SIMULATED" if report.simulated else ""),
        sim_fmt if report.simulated else title_fmt,
    )
    text(
        summary,
        1,
        0,
        "Which audiences, narratives and message variants did measurably better "
        "or worse than their campaign, at 7 days, within one rate basis; 95% intervals in "
        "brackets.",
        desc_fmt,
    )
    for r, sentence in enumerate(report.summary.sentences if report.summary else (), start=3):
        text(summary, r, 0, sentence, wrap_fmt)

    about = book.add_worksheet(_sheet_name("About", used))
    about.set_column(0, 0, 34)
    about.set_column(1, 1, 110)
    text(about, 0, 0, report.title + ("  —  SIMULATED" if report.simulated else ""), title_fmt)
    row = 2
    if report.simulated:
        text(about, row, 0, "SIMULATED", sim_fmt)
        text(about, row, 1, SIMULATED_NOTICE, sim_fmt)
        row += 2
    for key, value in (
        ("Scope", report.scope),
        ("Counters as of (UTC)", f"{report.as_of:%Y-%m-%d %H:%M}"),
        ("Generated (UTC)", f"{report.generated_at:%Y-%m-%d %H:%M}"),
        ("Bootstrap seed", str(report.seed)),
    ):
        text(about, row, 0, key, head_fmt)
        text(about, row, 1, value)
        row += 1
    row += 1
    text(about, row, 0, "How these numbers are computed", title_fmt)
    row += 1
    for method in report.methods:
        text(about, row, 0, method.name, head_fmt)
        text(about, row, 1, method.formula + (f" — {method.note}" if method.note else ""))
        row += 1
    row += 1
    text(about, row, 0, "Sheets", title_fmt)
    for table in report.tables.values():
        row += 1
        text(about, row, 0, table.name)
        text(about, row, 1, table.title)

    sheet_class = _column_sheet_class()
    for table in report.tables.values():
        sheet = book.add_worksheet(_sheet_name(table.name, used), worksheet_class=sheet_class)
        columns = _expand(table)
        title = table.title + ("  —  SIMULATED" if report.simulated else "")
        text(sheet, 0, 0, title, sim_fmt if report.simulated else title_fmt)
        text(sheet, 1, 0, table.description, desc_fmt)
        header_row = 3
        for c, (_key, label, kind) in enumerate(columns):
            text(sheet, header_row, c, label, head_fmt)
            width = 14 if kind != "text" else 22
            sheet.set_column(c, c, max(width, min(len(label) * 0.9, 40)))
        sheet.set_row(header_row, 44)
        links = [0]
        frame = table.frame
        for c, (key, _label, kind) in enumerate(columns):
            column = frame[key] if key in frame.columns else pd.Series([None] * len(frame))
            cells = _cells(sheet, header_row + 1, c, column, kind, links)
            sheet.add_column(header_row + 1, c, cells, kind, column_fmts)
        sheet.freeze_panes(header_row + 1, 1)
        if len(table.frame):
            sheet.autofilter(header_row, 0, header_row + len(table.frame), len(columns) - 1)
    book.close()
    return out


_NUMBER_KINDS = ("int", "float", "pct", "pp", "hours", "index", "p")


class _NotAvailable:
    __slots__ = ()


_NA = _NotAvailable()
"""A cell showing the grey "n/a"."""
_XML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_MARKUP = re.compile(r"[&<>\x00-\x08\x0b-\x1f\ufffe\uffff]")
"""Characters XlsxWriter's string escaping changes (markup and control characters): a text
without any, without its own ``_xHHHH_`` escape and without white space at either end (which
it marks) is written as it is."""
_JOINED_MARKUP = re.compile(r"[&<>\x01-\x08\x0b-\x1f\ufffe\uffff]")
"""`_MARKUP` but NUL, in texts joined by NUL (none holding one itself)."""
_PLAIN_URL = re.compile(r'[#%"<>\[\]^`{} ]')
"""A character XlsxWriter's ``Url`` treats specially (an anchor, escapes): a URL without any
is its own relationship target."""
_NUL_SPACE = re.compile(r"\0\s")
"""White space after a NUL (a search the regex engine starts at each NUL)."""
_INLINE = '" t="inlineStr">'
"""A text cell's attribute (no style) before its ``<is>`` element."""
_STRING_LIMIT = 32_767
"""Excel's longest cell text (XlsxWriter cuts longer strings there too)."""


class _Link(str):
    """A URL cell: its text (the string itself), already registered as the sheet's hyperlink.
    A `str` of its own type, made without running Python (a permalink per post)."""

    __slots__ = ()

    @property
    def text(self) -> str:
        return str(self)


_TEXT, _LINK, _MISSING, _OTHER = range(4)
"""What an inline cell is (`_Categories.inline`), or that a cell is not inline."""
_WHAT = {str: _TEXT, _Link: _LINK, _NotAvailable: _MISSING}
_HEADS = ("", "url", "n/a")
"""The style each inline cell asks for (none for a text)."""


class _Categories:
    """A column of cells that are not numbers on an array: ``values``, each distinct cell
    converted once (a text, a bool, a `_Link`, a float, a datetime or `_NA`), and ``codes``,
    the index in ``values`` of each row's cell. Most such columns hold a few values (channels,
    platforms, states...); a column of links or post keys holds one per row."""

    __slots__ = ("codes", "inline", "links", "values")

    def __init__(
        self, codes: np.ndarray, values: list[object], links: np.ndarray | None = None
    ) -> None:
        self.codes = codes
        self.values = values
        self.links = links
        """Which of ``values`` are links though plain texts, by code (a column of usual web
        addresses: no `_Link` made per address); None when only `_Link` values are."""
        self.inline: tuple[np.ndarray, np.ndarray] | bool | None = False
        """When the values are all texts, links or n/a: their ``<is>`` elements as a block
        (a row each) and what each is (`_TEXT`, `_LINK`, `_MISSING`); None when not; False
        until asked."""

    def __len__(self) -> int:
        return len(self.codes)


class _DataColumn:
    """A data column of a sheet: its cells (`_cells`), kind and formats, the start of its
    cells' XML (``<c r="A``) and the XML of its distinct cells already made, by code."""

    __slots__ = ("c", "cells", "formats", "fractions", "head", "kind", "known", "ranks")

    def __init__(
        self, c: int, kind: str, cells: np.ndarray | _Categories, formats: dict[str, Any]
    ) -> None:
        from xlsxwriter.utility import xl_col_to_name

        self.c, self.kind, self.cells, self.formats = c, kind, cells, formats
        self.head = f'<c r="{xl_col_to_name(c)}'
        self.known: dict[int, str] = {}
        self.fractions: np.ndarray | None = None
        """A column of numbers' values that are not written from integers (`_fractions`), as
        `g16_block` text, made for the whole column at once when first needed."""
        self.ranks = np.zeros(1, dtype=np.int64)
        """How many of those values come before each row (and after the last)."""

    def fraction_texts(self, start: int, end: int) -> np.ndarray:
        """The `g16_block` rows of rows ``start`` to ``end``'s values that are not written
        from integers, in row order: formatted once for the whole column, since numpy's cost
        per call outweighed a block of rows' own."""
        if self.fractions is None:
            values = cast(np.ndarray, self.cells)
            rest = _fractions(values, np.isfinite(values))
            self.fractions = g16_block(values[rest])
            self.ranks = np.concatenate([[0], np.cumsum(rest)])
        return self.fractions[self.ranks[start] : self.ranks[end]]


def _fractions(values: np.ndarray, shown: np.ndarray) -> np.ndarray:
    """Which of the ``shown`` (finite) ``values`` are not written from integers: all but the
    whole numbers below 10^15 (-0.0 is "-0")."""
    whole = (
        shown
        & (np.abs(values) < 1e15)
        & (values == np.trunc(values))
        & ~(np.signbit(values) & (values == 0))
    )
    rest: np.ndarray = shown & ~whole
    return rest


def _cells(
    sheet: Any, first: int, c: int, column: pd.Series, kind: str, links: list[int]
) -> np.ndarray | _Categories:
    """One column's cells, converted once: a numeric column (numbers, dates as Excel serials)
    as a float array (NaN = n/a); otherwise `_Categories` of plain values: a float (a number in
    the column's format; NaN = n/a), a datetime, a `_Link`, a bool or a text; `_NA` for n/a."""
    scale = 100.0 if kind == "pp" else 1.0
    if kind in _NUMBER_KINDS and isinstance(column.dtype, np.dtype) and column.dtype.kind in "fiu":
        # NumPy floats or integers (most of a report's columns): NaN is their only missing
        # value, so they are taken as they are, without pandas' pass that sets NaN at the NaN.
        numbers: np.ndarray = column.to_numpy(dtype=np.float64) * scale
        return numbers
    if kind in _NUMBER_KINDS and pd.api.types.is_numeric_dtype(column.dtype):
        numbers = column.to_numpy(dtype="float64", na_value=np.nan) * scale
        return numbers
    if kind in ("date", "datetime"):
        stamps = pd.to_datetime(column, utc=True, errors="coerce").dt.tz_localize(None)
        serials = _excel_serials(stamps.to_numpy(dtype="datetime64[ns]"))
        if serials is not None:
            return serials
        return _categorize([_NA if is_missing(t) else t.to_pydatetime() for t in stamps.tolist()])
    if kind == "url":
        return _url_cells(sheet, first, c, column.tolist(), links)
    if kind in _NUMBER_KINDS:  # numbers in a column of another type (objects, missing values)
        return _categorize([_cell(value, kind) for value in column.tolist()])
    # Text: the same few values repeat (channels, platforms, states...), convert each once.
    if column.dtype != object or pd.api.types.infer_dtype(column, skipna=True) in (
        "string",
        "empty",
    ):
        # One type of value (texts, numbers, bools...; missing ones apart): pandas' codes.
        codes, uniques = pd.factorize(column, use_na_sentinel=True)
        distinct = uniques.tolist()
        if all(type(value) is str for value in distinct):  # none missing: `_cell`'s last step
            values: list[object] = list(neutralise_all(distinct))
        else:
            values = [_cell(value, kind) for value in distinct]
        if len(codes) and codes.min() < 0:
            codes = np.where(codes < 0, len(values), codes)
            values.append(_NA)
        return _Categories(np.asarray(codes), values)
    return _categorize([_cell(value, kind) for value in column.tolist()])


def _categorize(cells: list[object]) -> _Categories:
    """``cells`` as `_Categories`: equal cells of the same type share a code (True and 1 are
    equal keys, not equal cells); an unhashable cell gets a code of its own."""
    seen: dict[object, int] = {}
    values: list[object] = []
    codes: list[int] = []
    for value in cells:
        key: tuple[type, object] | None = (type(value), value)
        try:
            code = seen.get(key)
        except TypeError:  # unhashable
            code, key = None, None
        if code is None:
            code = len(values)
            values.append(value)
            if key is not None:
                seen[key] = code
        codes.append(code)
    return _Categories(np.array(codes, dtype=np.int64), values)


_EXCEL_EPOCH = np.datetime64("1899-12-31T00:00:00", "us")
_DAY_US = 86_400_000_000


def _excel_serials(stamps: np.ndarray) -> np.ndarray | None:
    """Naive UTC times as the Excel serial numbers XlsxWriter writes for them (its
    ``_datetime_to_excel_datetime``, the same float operations on whole arrays; NaN for NaT,
    shown n/a), or None when a time is before 1900-03-01 (Excel's invented 29 February 1900
    and the 1900-01-01 special case are left to XlsxWriter)."""
    missing = np.isnat(stamps)
    # Microseconds, as datetime.datetime keeps them (to_pydatetime drops nanoseconds).
    micros = stamps.astype("datetime64[us]")
    if np.any(micros[~missing] < np.datetime64("1900-03-01", "us")):
        return None
    delta = (micros - _EXCEL_EPOCH).astype(np.int64)
    days, rest = np.divmod(delta, _DAY_US)
    seconds, microseconds = np.divmod(rest, 1_000_000)
    serial = days + (seconds.astype(np.float64) + microseconds.astype(np.float64) / 1e6) / (
        60 * 60 * 24
    )
    serial = np.where(serial > 59, serial + 1, serial)
    serial[missing] = np.nan
    return serial


def _url_cells(
    sheet: Any, first: int, c: int, values: list[object], links: list[int]
) -> _Categories:
    """A URL column's cells, one code a row: a web address (`reports.model.safe_url`) is a
    link and, while the sheet has fewer than `MAX_LINKS`, the sheet's hyperlink (kept by the
    sheet and written in bulk at save); past that limit, or not a web address, it is text."""
    is_text = [type(value) is str for value in values]
    texts = cast(list[str], list(itertools.compress(values, is_text)))
    if all_simple_urls(texts) and _plain_urls("\0".join(texts)):
        # The usual column: web addresses of the usual shape (their own relationship
        # targets, inert as they are) and missing values.
        count = max(0, min(len(texts), MAX_LINKS - links[0]))
        links[0] += count
        # The texts as they are, the first ``count`` marked as links; the others n/a or text.
        cells: list[object] = [
            value if text else _NA if is_missing(value) else neutralise(str(value))
            for text, value in zip(is_text, values, strict=True)
        ]
        rows = np.flatnonzero(is_text)[:count]
        linked = np.zeros(len(values), dtype=bool)
        linked[rows] = True
        if count:
            sheet.add_plain_links(rows + first, c, texts[:count])
        return _Categories(np.arange(len(cells)), cells, linked)
    out: list[object] = []
    plain: list[int] = []  # rows of links with nothing to escape and no anchor
    for r, value in enumerate(values, start=first):
        url = safe_url(value)
        if url is not None and links[0] < MAX_LINKS:
            links[0] += 1
            if _plain_urls(url):
                plain.append(r)
            else:
                sheet.add_link(r, c, url)
            out.append(_Link(neutralise(url)))
        elif is_missing(value):
            out.append(_NA)
        else:
            out.append(neutralise(str(value)))
    if plain:
        sheet.add_plain_links(np.array(plain), c, [values[r - first] for r in plain])
    return _Categories(np.arange(len(out)), out)


def _edge_space(joined: str) -> bool:
    """Whether one of NUL-joined texts starts or ends with white space (which XlsxWriter marks
    as space to preserve): at either end of the whole, or after a NUL in it or in it reversed
    (as fast as a search for NUL; one pattern for both ends of each text took 15 times as
    long)."""
    return (
        joined[:1].isspace()
        or joined[-1:].isspace()
        or _NUL_SPACE.search(joined) is not None
        or _NUL_SPACE.search(joined[::-1]) is not None
    )


def _plain_urls(text: str) -> bool:
    """Whether ``text`` (web addresses) holds nothing that XlsxWriter's ``Url`` escapes or
    takes as an anchor: each address is its own relationship target."""
    return text.isascii() and _PLAIN_URL.search(text) is None


def _cell(value: object, kind: str) -> object:
    """One cell of a column without a fast path, converted (`_NA` when missing)."""
    if is_missing(value):
        return _NA
    if kind in ("date", "datetime"):
        stamp = pd.Timestamp(value)  # type: ignore[arg-type]
        if stamp.tzinfo is not None:
            stamp = stamp.tz_convert("UTC").tz_localize(None)
        return stamp.to_pydatetime()
    if kind == "pp":
        return float(value) * 100  # type: ignore[arg-type]
    if kind in _NUMBER_KINDS:
        return float(value)  # type: ignore[arg-type]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    return neutralise(str(value))


_NA_CELL = f'" s="{{}}" t="inlineStr"><is><t>{NA}</t></is></c>'
"""A grey n/a cell after its ``<c r="A1`` (the style's number goes in the braces)."""
"""A grey n/a cell after its ``<c r="A1`` (the style's number goes in the braces)."""
_FEW_ROWS = 64
"""Rows rendered cell by cell in Python rather than as byte blocks on numpy."""


def _write_bytes(fh: Any, data: bytes) -> None:
    """UTF-8 ``data`` to XlsxWriter's part file (a text file, or a ``StringIO`` in memory)."""
    buffer = getattr(fh, "buffer", None)
    if buffer is not None and os.linesep == "\n":
        fh.flush()
        buffer.write(data)
    else:
        fh.write(data.decode("utf-8"))


def _column_sheet_class() -> type:
    """A worksheet whose data cells are kept per column and written as XML in one pass when
    the workbook is saved, instead of one XlsxWriter call and one cell object each (which
    made a large report's workbook take three times as long as the HTML). The title and
    header rows above them are written by XlsxWriter as usual; the cells come out as
    XlsxWriter writes them (same styles, numbers as ``%.16G``, dates as Excel serials,
    texts as inline strings with XlsxWriter's escapes), but without their reference
    (``r="B7"``, optional: the next column of the row) when the data columns are the first
    of the row, in order: the same cells where Excel and openpyxl read them."""
    from xlsxwriter.url import Url
    from xlsxwriter.utility import _preserve_whitespace, _utf16_len, xl_col_to_name
    from xlsxwriter.worksheet import Worksheet
    from xlsxwriter.xmlwriter import XMLwriter

    class ColumnSheet(Worksheet):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.data_row = -1
            self.data_columns: list[_DataColumn] = []
            self.own_links: list[tuple[int, int, str, str, str]] = []
            self.plain_links: list[tuple[np.ndarray, int, list[str]]] = []
            self.link_targets: list[str] = []
            """The relationship targets of the links `_write_hyperlinks` wrote, in order, when
            the workbook writes them (`BulkRelationships`; else in XlsxWriter's list)."""
            self.bulk_relationships = False

        def add_column(
            self,
            first: int,
            c: int,
            cells: np.ndarray | _Categories,
            kind: str,
            formats: dict[str, Any],
        ) -> None:
            self.data_row = first
            self.data_columns.append(_DataColumn(c, kind, cells, formats))
            if len(cells):
                self._check_dimensions(first + len(cells) - 1, c)

        def add_link(self, r: int, c: int, url: str) -> None:
            """Register a hyperlink to ``url`` (a web address) at a data cell without writing
            the cell (its column writes the text); kept as (row, column, relationship target,
            anchor) and written in bulk at save, as XlsxWriter's ``write_url`` would: a link
            longer than Excel's limit is left out (with XlsxWriter's warning)."""
            if self._check_dimensions(r, c):
                return
            link, _hash, anchor = url.partition("#")
            if not url.isascii() and max(_utf16_len(link), _utf16_len(anchor)) > (
                self.max_url_length
            ):
                self.write_url(r, c, url)  # XlsxWriter warns and ignores it
                return
            if _PLAIN_URL.search(url) is None:
                target = url  # nothing to escape, no anchor: what Url would make of it
            else:
                parsed = Url(url)
                target, anchor = parsed._target(), parsed._anchor
            self.hlink_count += 1
            self.own_links.append((r, c, target, anchor, url))

        def add_plain_links(self, rows: np.ndarray, c: int, urls: list[str]) -> None:
            """`add_link` for many ``urls`` in ascending ``rows`` of column ``c`` at once, each
            an ASCII web address without an anchor or a character to escape (its own
            relationship target)."""
            if self._check_dimensions(int(rows[0]), c) or self._check_dimensions(
                int(rows[-1]), c
            ):  # outside the sheet: each as XlsxWriter would
                for r, url in zip(rows.tolist(), urls, strict=True):
                    self.add_link(r, c, url)
                return
            self.hlink_count += len(urls)
            self.plain_links.append((rows, c, urls))

        def _write_hyperlinks(self) -> None:
            """The ``<hyperlinks>`` element as XlsxWriter writes it (row, then column order;
            an ``r:id`` each, numbered on from the sheet's relationships; the anchor as
            ``location``), and the relationship of each link for the sheet's ``.rels`` part."""
            if not self.own_links and not self.plain_links:
                super()._write_hyperlinks()
                return
            if self.hyperlinks:  # links XlsxWriter registered too: it writes them all
                for rows, c, urls in self.plain_links:
                    for r, url in zip(rows.tolist(), urls, strict=True):
                        self.own_links.append((r, c, url, "", url))
                for r, c, _target, _anchor, address in self.own_links:
                    url = Url(address)
                    url.text = neutralise(address)
                    self.hyperlinks[r][c] = url
                super()._write_hyperlinks()
                return
            # All links as columns: row, column, target, anchor; then in row, column order.
            rows = np.concatenate(
                [np.array([link[0] for link in self.own_links], dtype=np.int64)]
                + [batch[0] for batch in self.plain_links]
            )
            columns = np.concatenate(
                [np.array([link[1] for link in self.own_links], dtype=np.int64)]
                + [np.full(len(batch[0]), batch[1]) for batch in self.plain_links]
            )
            targets = [link[2] for link in self.own_links]
            anchors = [link[3] for link in self.own_links]
            for batch in self.plain_links:
                targets += batch[2]
                anchors += [""] * len(batch[2])
            order = np.lexsort((columns, rows))
            if np.any(np.diff(order) != 1):  # not already in order
                rows, columns = rows[order], columns[order]
                targets = [targets[i] for i in order.tolist()]
                anchors = [anchors[i] for i in order.tolist()]
            first = self.rel_count + 1
            self.rel_count += len(targets)
            if self.bulk_relationships:
                self.link_targets = targets
            else:
                self.external_hyper_links += [["/hyperlink", t, "External"] for t in targets]
            if any(anchors):
                letters = {c: xl_col_to_name(c) for c in set(columns.tolist())}
                escape = self._escape_attributes
                parts = [
                    f'<hyperlink ref="{letters[c]}{r + 1}" r:id="rId{number}"'
                    + (f' location="{escape(anchor)}"/>' if anchor else "/>")
                    for number, r, c, anchor in zip(
                        itertools.count(first), rows.tolist(), columns.tolist(), anchors
                    )
                ]
                self.fh.write("<hyperlinks>" + "".join(parts) + "</hyperlinks>")
                return
            # No anchors (the usual case): every link's element as byte blocks.
            distinct, codes = np.unique(columns, return_inverse=True)
            names = np.array([xl_col_to_name(c).encode() for c in distinct.tolist()])
            blocks = [
                const_block(b'<hyperlink ref="', rows),
                block_of(names[codes]),
                digit_block(rows + 1),
                const_block(b'" r:id="rId', rows),
                digit_block(np.arange(first, first + len(rows), dtype=np.int64)),
                const_block(b'"/>', rows),
            ]
            self.fh.write("<hyperlinks>" + joined_rows(blocks).decode() + "</hyperlinks>")

        def _write_rows(self) -> None:
            if self.data_row < 0:
                super()._write_rows()
                return
            last: int = self.dim_rowmax  # type: ignore[has-type]
            self.dim_rowmax = min(last, self.data_row - 1)
            super()._write_rows()
            self.dim_rowmax = last
            count = max((len(column.cells) for column in self.data_columns), default=0)
            # Cells without their reference (r="A1", optional in the file format: a cell
            # without one is the next column of its row) when the data columns are the row's
            # first ones in order, each as long as the others: about a fifth of a sheet's XML,
            # which the zip's thread joined and deflated.
            implicit = [column.c for column in self.data_columns] == list(
                range(len(self.data_columns))
            ) and all(len(column.cells) == count for column in self.data_columns)
            step = 2000  # rows rendered at a time: the XML of a whole sheet is not held
            for start in range(0, count, step):
                end = min(count, start + step)
                first = self.data_row + start
                if end - start < _FEW_ROWS:  # a small table: numpy's per-call cost would dominate
                    rows = [str(r) for r in range(first + 1, first + 1 + end - start)]
                    rendered = [
                        ["<c" + tail[1:] for tail in tails]
                        if implicit
                        else [column.head + r + tail for r, tail in zip(rows, tails, strict=True)]
                        for column in self.data_columns
                        for tails in (self._render_list(column, start, end),)
                    ]
                    self.fh.write(
                        "".join(
                            f'<row r="{r}">{"".join(cells)}</row>'
                            for r, *cells in zip(rows, *rendered, strict=True)
                        )
                    )
                    continue
                numbers = digit_block(np.arange(first + 1, first + 1 + end - start, dtype=np.int64))
                blocks = [const_block(b'<row r="', numbers), numbers, const_block(b'">', numbers)]
                for column in self.data_columns:
                    cells = self._render(column, start, end)
                    if implicit:  # "<c" and the cell without the quote that ended its r="A1
                        blocks += [const_block(b"<c", numbers), cells[0][:, 1:], *cells[1:]]
                    else:
                        blocks += [const_block(column.head.encode(), numbers), numbers, *cells]
                blocks.append(const_block(b"</row>", numbers))
                if isinstance(self.fh, _ZipPart):
                    self.fh.write_blocks(blocks)  # joined by the zip's thread
                else:
                    _write_bytes(self.fh, joined_rows(blocks))

        def _render(self, column: _DataColumn, start: int, end: int) -> list[np.ndarray]:
            """The XML of rows ``start`` to ``end`` of a column after each cell's ``<c r="A1``,
            as byte blocks (one row per row; NUL bytes are padding)."""
            kind, cells, known = column.kind, column.cells, column.known
            style = self._styles(column.formats)
            if isinstance(cells, np.ndarray):
                texts = functools.partial(column.fraction_texts, start, end)
                return _numbers(kind, cells[start:end], style, texts)
            codes = cells.codes[start:end]
            if cells.inline is False:
                cells.inline = _inline(cells.values, cells.links)
            if isinstance(cells.inline, tuple):  # texts, links and n/a: blocks of elements
                elements, what = cells.inline
                return [
                    _inline_heads(what[codes], style),
                    elements[codes],
                    const_block(b"</c>", codes),
                ]
            distinct, firsts, inverse = np.unique(codes, return_index=True, return_inverse=True)
            self._bodies(kind, cells, distinct[np.argsort(firsts, kind="stable")], style, known)
            table = np.array([known[code].encode() for code in distinct.tolist()], dtype=bytes)
            return [block_of(table[inverse])]

        def _render_list(self, column: _DataColumn, start: int, end: int) -> list[str]:
            """`_render`'s XML as one text per row (for a few rows)."""
            kind, cells, known = column.kind, column.cells, column.known
            style = self._styles(column.formats)
            if isinstance(cells, np.ndarray):
                values = cells[start:end]
                number, missing = _number_styles(kind, np.isfinite(values), style)
                return [
                    f'" s="{number}"><v>{v:.16G}</v></c>' if v - v == 0 else missing
                    for v in values.tolist()
                ]
            codes = cells.codes[start:end].tolist()
            self._bodies(kind, cells, np.array(list(dict.fromkeys(codes))), style, known)
            return [known[code] for code in codes]

        def _styles(self, formats: dict[str, Any]) -> Callable[[str], int]:
            """A column's style numbers, asked of XlsxWriter when first used (it numbers the
            styles in the order cells first ask for them, and writes only those)."""
            styles: dict[str, int] = {}

            def style(name: str) -> int:
                if name not in styles:
                    found = formats[name] if name != "url" else self.default_url_format
                    styles[name] = found._get_xf_index()
                return styles[name]

            return style

        def _bodies(
            self,
            kind: str,
            cells: _Categories,
            used: np.ndarray,
            style: Callable[[str], int],
            known: dict[int, str],
        ) -> None:
            """Make the XML of the cells ``used`` (codes, in the order of their first rows) that
            ``known`` lacks, asking for styles in the order XlsxWriter's cell by cell writing
            would."""
            order = used.tolist()
            if kind in _NUMBER_KINDS and all(isinstance(cells.values[u], float) for u in order):
                style(kind)  # a column of numbers asks for its number format first
            for code in order:
                if code not in known:
                    value = cells.values[code]
                    if cells.links is not None and cells.links[code]:
                        value = _Link(value)
                    known[code] = self._body(value, kind, style)

        def _body(self, value: object, kind: str, style: Callable[[str], int]) -> str:
            """A cell's XML after its ``<c r="A1``, as XlsxWriter writes that value."""
            if type(value) is str:
                return f'" t="inlineStr">{_text(value)}</c>'
            if isinstance(value, float) and math.isfinite(value):
                return f'" s="{style(kind)}"><v>{value:.16G}</v></c>'
            if isinstance(value, float) or value is _NA:
                return _NA_CELL.format(style("n/a"))
            if isinstance(value, bool):
                return f'" t="b"><v>{int(value)}</v></c>'
            if isinstance(value, datetime):
                number = self._convert_date_time(value)
                return f'" s="{style(kind)}"><v>{number:.16G}</v></c>'
            if isinstance(value, _Link):
                return f'" s="{style("url")}" t="inlineStr">{_text(value.text)}</c>'
            return f'" t="inlineStr">{_text(str(value))}</c>'

    def _number_styles(
        kind: str, shown: np.ndarray, style: Callable[[str], int]
    ) -> tuple[int, str]:
        """A column of numbers' (or dates') style number and n/a cell ("" when all
        ``shown``), asked for in the order XlsxWriter's cell by cell writing would."""
        count = int(shown.sum())
        if kind in _NUMBER_KINDS:
            number = style(kind)
            return number, _NA_CELL.format(style("n/a")) if count < shown.size else ""
        # Dates: the styles in the order the cells need them.
        needed = {kind: count > 0, "n/a": count < shown.size}
        got = {
            name: style(name)
            for name in ((kind, "n/a") if shown[0] else ("n/a", kind))
            if needed[name]
        }
        return got.get(kind, 0), _NA_CELL.format(got["n/a"]) if "n/a" in got else ""

    def _numbers(
        kind: str,
        values: np.ndarray,
        style: Callable[[str], int],
        fraction_texts: Callable[[], np.ndarray] | None = None,
    ) -> list[np.ndarray]:
        """The XML of a column of numbers (or dates as serials) after each ``<c r="A1``, as
        byte blocks: a finite value as XlsxWriter writes a number (``%.16G``; a whole number
        below 10^15 is the same digits as the integer, written from it), NaN or an infinity
        as the grey n/a. ``fraction_texts``: the `g16_block` of the values not written from
        integers, when made ahead (`_DataColumn.fraction_texts`)."""
        shown = np.isfinite(values)
        number, missing = _number_styles(kind, shown, style)
        lead = f'" s="{number}"><v>'.encode()
        # An n/a cell's text is laid over the blocks of its row, empty for it but for it, a
        # piece in each from the lead to the tail: not a block as wide as it for every row.
        left = missing.encode()
        absent = np.flatnonzero(~shown)

        def lay(block: np.ndarray) -> None:
            nonlocal left
            piece, left = left[: block.shape[1]], left[block.shape[1] :]
            if piece:
                block[absent, : len(piece)] = np.frombuffer(piece, dtype=np.uint8)

        blocks = [
            block_of(np.where(shown, lead, left[: len(lead)]))
            if missing
            else const_block(lead, values),
        ]
        left = left[len(lead) :]
        rest = _fractions(values, shown)
        whole = shown & ~rest
        ints = np.where(whole, values, 0.0).astype(np.int64)
        if np.any(ints < 0):
            blocks.append(block_of(np.where(ints < 0, b"-", b"")))
        digits = digit_block(np.abs(ints))
        digits[~whole] = 0
        lay(digits)
        blocks.append(digits)
        if rest.any():
            texts = g16_block(values[rest]) if fraction_texts is None else fraction_texts()
            other = np.zeros((values.size, texts.shape[1]), dtype=np.uint8)
            other[rest] = texts
            lay(other)
            blocks.append(other)
        tail = b"</v></c>"
        blocks.append(
            block_of(np.where(shown, tail, left)) if missing else const_block(tail, values)
        )
        return blocks

    def _inline(
        values: list[object], links: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """When every one of ``values`` is a text, a `_Link` or `_NA`: their ``<is>`` elements
        (`_text`; "n/a" for `_NA`) as a block, and what each is (`_TEXT`, `_LINK`,
        `_MISSING`); else None."""
        kinds = map(_WHAT.get, map(type, values), itertools.repeat(_OTHER))
        what = np.fromiter(kinds, dtype=np.int8, count=len(values))
        if np.any(what == _OTHER):
            return None
        if links is not None:
            what[links] = _LINK
        texts = cast(list[str], [NA if v is _NA else v for v in values])  # a _Link is a str
        joined = "\0".join(texts)
        if (
            joined.count("\0") == len(texts) - 1  # no text holds a NUL
            and "_x" not in joined
            and _JOINED_MARKUP.search(joined) is None
            and not _edge_space(joined)
            and max(map(len, texts), default=0) <= _STRING_LIMIT
        ):  # nothing to escape in any: each as it is, between <is><t> and </t></is>
            body = split_block(joined.encode(), len(texts))
            elements = np.hstack(
                [const_block(b"<is><t>", body), body, const_block(b"</t></is>", body)]
            )
        else:
            elements = block_of(np.array([_text(text).encode() for text in texts], dtype=bytes))
        return elements, what

    def _inline_heads(what: np.ndarray, style: Callable[[str], int]) -> np.ndarray:
        """The start of each inline cell after its ``<c r="A1`` (a text's, a link's or n/a's),
        as a block; the styles asked for in the order of their first rows, as XlsxWriter's
        cell by cell writing asks for them."""
        present = np.flatnonzero(np.bincount(what, minlength=len(_HEADS))).tolist()
        firsts = {one: int(np.argmax(what == one)) for one in present}  # without a sort
        heads = [b""] * len(_HEADS)
        for one in sorted(present, key=firsts.__getitem__):
            name = _HEADS[one]
            heads[one] = ((f'" s="{style(name)}' if name else "") + _INLINE).encode()
        if len(present) == 1:
            return const_block(heads[present[0]], what)
        return block_of(np.array(heads, dtype=bytes)[what])

    def _text(text: str) -> str:
        """An inline string's ``<is>`` element, escaped as XlsxWriter escapes strings."""
        if (
            len(text) <= _STRING_LIMIT
            and "_x" not in text
            and _MARKUP.search(text) is None
            and not text[:1].isspace()
            and not text[-1:].isspace()
        ):
            return f"<is><t>{text}</t></is>"  # nothing to escape, no edge to preserve
        text = XMLwriter._escape_control_characters(text[:_STRING_LIMIT]).translate(_XML)
        space = ' xml:space="preserve"' if _preserve_whitespace(text) else ""
        return f"<is><t{space}>{text}</t></is>"

    return ColumnSheet


def _escaped(texts: list[str], escape: Callable[[str], str]) -> list[str]:
    """``[escape(t) for t in texts]`` for XlsxWriter's attribute escaping (string replacements
    that never span a NUL), done on all the texts at once."""
    if not texts:
        return []
    joined = "\0".join(texts)
    if joined.count("\0") != len(texts) - 1:  # a text holds a NUL: one at a time
        return [escape(text) for text in texts]
    return escape(joined).split("\0")


def _workbook_class() -> type:
    """An XlsxWriter workbook whose worksheets' ``.rels`` parts (one relationship per
    hyperlink: tens of thousands in a large report's "posts" sheet) are written in one pass
    each, the same bytes as XlsxWriter's ``Relationships`` writes one element at a time."""
    from xlsxwriter.packager import Packager
    from xlsxwriter.relationships import DOCUMENT_SCHEMA, PACKAGE_SCHEMA, Relationships
    from xlsxwriter.workbook import Workbook

    class BulkRelationships(Relationships):  # type: ignore[misc]
        def __init__(self, hyperlinks: list[str]) -> None:
            super().__init__()
            self.hyperlinks = hyperlinks
            """The targets of the sheet's links (`ColumnSheet.link_targets`): relationships
            before those in ``relationships``, as XlsxWriter orders them."""

        def _write_relationships(self) -> None:
            escape = self._escape_attributes
            parts = [f'<Relationships xmlns="{escape(PACKAGE_SCHEMA)}">']
            if self.hyperlinks:
                # One element per link, as byte blocks: the number, the escaped target.
                kind = escape(DOCUMENT_SCHEMA + "/hyperlink")
                mode = escape("External")
                count = len(self.hyperlinks)
                joined = escape("\0".join(self.hyperlinks))  # never spans a NUL
                if joined.count("\0") == count - 1:  # no target holds a NUL
                    links = split_block(joined.encode(), count)
                else:
                    links = block_of(
                        np.array([escape(t).encode() for t in self.hyperlinks], dtype=bytes)
                    )
                numbers = digit_block(np.arange(self.id, self.id + count, dtype=np.int64))
                parts.append(
                    joined_rows(
                        [
                            const_block(b'<Relationship Id="rId', numbers),
                            numbers,
                            const_block(f'" Type="{kind}" Target="'.encode(), numbers),
                            links,
                            const_block(f'" TargetMode="{mode}"/>'.encode(), numbers),
                        ]
                    ).decode()
                )
                self.id += count
            kinds = {kind: escape(kind) for kind in {link[0] for link in self.relationships}}
            modes = {mode: escape(mode) for mode in {link[2] for link in self.relationships}}
            targets = _escaped([target for _kind, target, _mode in self.relationships], escape)
            parts += [
                f'<Relationship Id="rId{number}" Type="{kinds[kind]}" Target="{target}"'
                + (f' TargetMode="{modes[mode]}"/>' if mode else "/>")
                for number, (kind, _target, mode), target in zip(
                    itertools.count(self.id), self.relationships, targets
                )
            ]
            self.id += len(self.relationships)
            parts.append("</Relationships>")
            self.fh.write("".join(parts))

    class BulkPackager(Packager):  # type: ignore[misc]
        def _write_worksheet_files(self) -> None:
            for worksheet in self.workbook.worksheets():
                worksheet.bulk_relationships = True  # its links' targets: BulkRelationships
            super()._write_worksheet_files()

        def _write_worksheet_rels_files(self) -> None:
            # XlsxWriter's own loop (same parts, same order), with BulkRelationships.
            index = 0
            for worksheet in self.workbook.worksheets():
                if worksheet.is_chartsheet:
                    continue
                index += 1
                external_links = (
                    worksheet.external_hyper_links
                    + worksheet.external_drawing_links
                    + worksheet.external_vml_links
                    + worksheet.external_background_links
                    + worksheet.external_table_links
                    + worksheet.external_comment_links
                )
                hyperlinks = getattr(worksheet, "link_targets", [])
                if not external_links and not hyperlinks:
                    continue
                rels = BulkRelationships(hyperlinks)
                # XlsxWriter's _add_document_relationship for each, in one pass.
                rels.relationships += [
                    (DOCUMENT_SCHEMA + kind, target, mode) for kind, target, mode in external_links
                ]
                rels._set_xml_writer(
                    self._filename("xl/worksheets/_rels/sheet" + str(index) + ".xml.rels")
                )
                rels._assemble_xml_file()

        def _filename(self, xml_filename: str) -> Any:
            """An XML part goes straight into the zip file (`_ZipPart`) instead of a temporary
            file that XlsxWriter zips at the end; other parts (images, VBA: none in a
            report) take XlsxWriter's way."""
            if self.zip is None or not xml_filename.endswith((".xml", ".rels")):
                return super()._filename(xml_filename)
            return self.zip.part(xml_filename)

    class BulkWorkbook(Workbook):  # type: ignore[misc]
        def _get_packager(self) -> Packager:
            packager = BulkPackager()
            packager.zip = getattr(self, "stream_zip", None)
            return packager

        def _store_workbook(self) -> None:
            # XlsxWriter's own, with its ZipFile one that takes the parts as they are written.
            def zip_file(*args: Any, **kwargs: Any) -> _StreamingZip:
                self.stream_zip = _StreamingZip(DEFLATE_LEVEL, *args, **kwargs)
                return self.stream_zip

            try:
                _with_zip_file(Workbook._store_workbook, zip_file)(self)
            except BaseException:
                if getattr(self, "stream_zip", None) is not None:
                    self.stream_zip.abandon()
                raise

    return BulkWorkbook


DEFLATE_LEVEL = 1
"""The workbook's zip compression: zlib level 1 compresses a large report's sheets about 3.5
times as fast as zlib's default (6), for a file about 30% larger (a 50,000-post report's 94 MB
of XML: 0.41 s of CPU and 14.1 MB, against 1.45 s and 10.9 MB at 6 and 0.64 s and 12.6 MB at
3; the XML inside is the same)."""


def _with_zip_file(store: Callable[..., None], zip_file: Callable[..., Any]) -> Callable[..., None]:
    """XlsxWriter's ``_store_workbook`` with ``ZipFile`` bound to ``zip_file``: the same code
    with other globals."""
    names = {**store.__globals__, "ZipFile": zip_file}
    return cast(
        Callable[..., None],
        types.FunctionType(
            store.__code__, names, store.__name__, store.__defaults__, store.__closure__
        ),
    )


_PART_TIME = time.mktime((1980, 1, 31, 0, 0, 0, 0, 0, -1))
"""XlsxWriter's time stamp of every part (31 January 1980, local time)."""
_PART_MODE = 0o100600
"""A part's Unix mode as XlsxWriter's temporary files give it (``mkstemp``)."""


class _StreamingZip(zipfile.ZipFile):
    """The workbook's zip file, deflated at ``level``, into which each XML part is written as
    it is made (`_ZipPart`), by a thread: deflating, its checksum and the writes release the
    GIL, so a part is compressed while the next rows are rendered. The entries are those
    XlsxWriter makes from its temporary files (same names, order, time stamp and mode)."""

    def __init__(self, level: int, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("compresslevel", level)
        super().__init__(*args, **kwargs)
        self.level = level
        self.jobs: queue.Queue[tuple[str, Any, int]] = queue.Queue()  # held by `put`
        self.room = threading.Condition()
        self.queued = 0
        """Bytes of the jobs put and not yet done (`QUEUED_BYTES`)."""
        self.pending = 0
        """Jobs put and not yet done."""
        self.entry: Any = None
        """The part being written (zipfile's writer), by whichever thread does the jobs."""
        self.failure: BaseException | None = None
        self.current: _ZipPart | None = None
        self.pool: ThreadPoolExecutor | None = None
        self.worker = threading.Thread(target=self._work, name="xlsx-zip", daemon=True)
        self.worker.start()

    def _pool(self) -> ThreadPoolExecutor:
        """The threads that deflate a large part's segments (`_ParallelDeflate`), made when
        first needed."""
        if self.pool is None:
            self.pool = ThreadPoolExecutor(DEFLATE_THREADS, thread_name_prefix="xlsx-deflate")
        return self.pool

    def part(self, name: str) -> _ZipPart:
        if self.current is not None:
            self.current.finish()
        info = zipfile.ZipInfo(name, time.localtime(_PART_TIME)[:6])
        info.external_attr = _PART_MODE << 16
        info.compress_type = self.compression
        info._compresslevel = self.compresslevel  # type: ignore[attr-defined]  # as write() does
        self.put("open", info)
        self.current = _ZipPart(self)
        return self.current

    def put(self, job: str, value: Any = None) -> None:
        """Have a job done in order: a small one (opening or closing a part, a little text)
        at once in this thread when the zip's thread has nothing left to do, any other queued
        for the zip's thread, waiting while the jobs not yet done hold more than
        `QUEUED_BYTES` (a job is let through alone, whatever its size)."""
        if self.failure is not None:
            raise self.failure
        size = _job_size(job, value)
        with self.room:
            inline = not self.pending and job != "blocks" and size < INLINE_BYTES
            if not inline:
                while self.queued and self.queued + size > QUEUED_BYTES:
                    self.room.wait()
                self.queued += size
                self.pending += 1
        if inline:  # every job before it is done, and the zip's thread waits for the next
            self._do(job, value)
            if self.failure is not None:
                raise self.failure
            return
        self.jobs.put((job, value, size))

    def _work(self) -> None:
        while True:
            job, value, size = self.jobs.get()
            try:
                self._do(job, value)
            finally:
                with self.room:
                    self.queued -= size
                    self.pending -= 1
                    self.room.notify()
            if job == "stop":
                return

    def _do(self, job: str, value: Any) -> None:
        """One job, done by the zip's thread or, when it has nothing left to do, by the
        writing thread (`put`)."""
        if job == "stop":
            if self.pool is not None:
                self.pool.shutdown()
            return
        if self.failure is not None:
            return  # drain until stopped
        entry = self.entry
        try:
            if job == "open":
                entry = self.open(value, "w")
                if self.compression == zipfile.ZIP_DEFLATED:
                    # zipfile's own compressor object, replaced by one of the same
                    # interface: the bytes it gives inflate to the same part.
                    cast(Any, entry)._compressor = _ParallelDeflate(self.level, self._pool)
            elif job == "data":
                assert entry is not None
                entry.write(value)
            elif job == "blocks":
                assert entry is not None
                entry.write(joined_rows(value))  # numpy's copies release the GIL too
            elif job == "close":
                assert entry is not None
                entry.close()
                entry = None
        except BaseException as error:  # handed to the writing thread
            self.failure = error
        self.entry = entry

    def _put_stop(self) -> None:
        with self.room:
            self.pending += 1
        self.jobs.put(("stop", None, 0))

    def stop(self) -> None:
        """End the thread (after the parts queued so far); raise what it failed with."""
        if self.worker.is_alive():
            self._put_stop()
            self.worker.join()
        if self.failure is not None:
            self.abandon()
            raise self.failure

    def abandon(self) -> None:
        """Give the file up unfinished (writing it failed): end the thread, close the file."""
        if self.worker.is_alive():
            self.failure = self.failure or RuntimeError("abandoned")  # the thread drains
            self._put_stop()
            self.worker.join()
        fp, self.fp = self.fp, None
        if fp is not None and not getattr(self, "_filePassed", True):
            fp.close()

    def close(self) -> None:
        if self.fp is None:
            return
        if self.current is not None and self.failure is None:
            self.current.finish()
        self.current = None
        self.stop()
        super().close()


QUEUED_BYTES = 32 << 20
"""The most bytes of parts (text, blocks of rows) waiting for the zip's thread; the writing
thread waits beyond it. A bound on bytes, not on jobs: with eight jobs at most, the writing
thread waited for the zip's thread every few small parts (27 small sheets, three jobs each),
and each job there first waited for the GIL, up to the interpreter's switch interval while
the writing thread ran Python: 70-120 ms of waiting in a 10,000-post workbook's render (load
~5). Eight blocks of 2,000 rows of the posts sheet (3.7 MB each) fill it, as eight jobs did."""

INLINE_BYTES = 64 << 10
"""A job holding less than this (opening or closing a part, the text of a small sheet) is done
by the writing thread itself when the zip's thread has nothing left to do (`_StreamingZip.put`):
a few microseconds of work, which handed over cost a wait for the GIL on the other side."""


def _job_size(job: str, value: Any) -> int:
    """The bytes a job of the zip's thread holds (`QUEUED_BYTES`)."""
    if job == "data":
        return len(value)
    if job == "blocks":
        return sum(block.nbytes for block in value)
    return 0


DEFLATE_THREADS = 1
"""Threads deflating the segments of a large part, beside the zip's own thread (which joins the
blocks of rows, sums the checksum and writes) and the one rendering the rows."""


class _ParallelDeflate:
    """A part's raw deflate stream, with the interface of the compressor zipfile makes
    (``compress``, then ``flush``), deflated on other threads as pigz does: each write of at
    least `SEGMENT` bytes (a mebibyte) is a segment deflated on its own (with the 32 KiB
    before it as zlib's preset dictionary, so little is lost to the cut) and ended with a
    sync flush (on a byte boundary); the segments in order, then an empty last block, are one
    deflate stream that inflates to the part. zlib releases the GIL, so segments deflate while the zip's
    thread joins the next rows and the writing thread renders more. A part written in smaller
    pieces only (every part of a report but its large sheets) is deflated in the calling
    thread as one stream: the same bytes as zlib's own compressor."""

    SEGMENT = 1 << 20
    WINDOW = 1 << 15
    PENDING = 3
    """Segments deflating at once (their input is held until they are done)."""

    def __init__(self, level: int, pool: Callable[[], ThreadPoolExecutor]) -> None:
        self.level = level
        self.pool = pool
        self.stream: Any = zlib.compressobj(level, zlib.DEFLATED, -15)
        self.segments: deque[Future[bytes] | bytes] | None = None
        """None while the part is one stream in this thread."""
        self.window = b""

    def compress(self, data: bytes | memoryview) -> bytes:
        data = bytes(data)
        if self.segments is None:
            if len(data) < self.SEGMENT:
                out: bytes = self.stream.compress(data)
                self.window = (self.window + data[-self.WINDOW :])[-self.WINDOW :]
                return out
            # From here on, segments: the stream so far ends on a byte boundary.
            self.segments = deque([self.stream.flush(zlib.Z_SYNC_FLUSH)])
        window, self.window = self.window, (self.window + data[-self.WINDOW :])[-self.WINDOW :]
        self.segments.append(self.pool().submit(_deflate_segment, self.level, window, data))
        return self._done(self.PENDING)

    def flush(self) -> bytes:
        if self.segments is None:
            out: bytes = self.stream.flush()
            return out
        return self._done(0) + _LAST_BLOCK

    def _done(self, pending: int) -> bytes:
        """The segments deflated so far, in order; waits while more than ``pending`` are not."""
        assert self.segments is not None
        out: list[bytes] = []
        while self.segments:
            first = self.segments[0]
            if isinstance(first, Future):
                if len(self.segments) <= pending and not first.done():
                    break
                first = first.result()
            out.append(first)
            self.segments.popleft()
        return b"".join(out)


def _deflate_segment(level: int, window: bytes, data: bytes) -> bytes:
    """``data`` raw-deflated after ``window`` (the bytes before it), ended by a sync flush."""
    packer = (
        zlib.compressobj(level, zlib.DEFLATED, -15, zdict=window)
        if window
        else zlib.compressobj(level, zlib.DEFLATED, -15)
    )
    return packer.compress(data) + packer.flush(zlib.Z_SYNC_FLUSH)


_LAST_BLOCK = zlib.compressobj(1, zlib.DEFLATED, -15).flush()
"""An empty final block (ends a deflate stream)."""


class _ZipPart(io.StringIO):
    """An XML part as XlsxWriter's writer object (a ``StringIO``, which it writes to and leaves
    open): the text is encoded and handed to the zip's thread about a megabyte at a time."""

    LIMIT = 1 << 20

    def __init__(self, owner: _StreamingZip) -> None:
        super().__init__()
        self.owner = owner
        self.texts: list[str] = []
        self.size = 0

    def write(self, text: str) -> int:
        self.texts.append(text)
        self.size += len(text)
        if self.size >= self.LIMIT:
            self.flush_texts()
        return len(text)

    def write_bytes(self, data: bytes) -> None:
        """UTF-8 ``data``, after the text written before it."""
        self.flush_texts()
        self.owner.put("data", data)

    def write_blocks(self, blocks: list[np.ndarray]) -> None:
        """`joined_rows` of ``blocks``, after the text written before it."""
        self.flush_texts()
        self.owner.put("blocks", blocks)

    def flush_texts(self) -> None:
        if self.texts:
            self.owner.put("data", "".join(self.texts).encode("utf-8"))
            self.texts, self.size = [], 0

    def finish(self) -> None:
        self.flush_texts()
        self.owner.put("close")
