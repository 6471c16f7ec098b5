"""The report as an Excel workbook (XlsxWriter): a "Summary" sheet (the executive summary), an
"About" sheet (scope, the SIMULATED notice, the formulas), then one sheet per table with a
title, its description, formatted headers, number formats (percentages stay numbers Excel can
compute with), frozen header row and filters. A missing value is the grey text "n/a", never 0.
Every text is written as text, never as a formula, and neutralised (`reports.model.neutralise`)
so that a copy pasted elsewhere stays inert; only http(s) URLs become links.
"""

from __future__ import annotations

import math
import re
import types
from collections.abc import Callable
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
    is_missing,
    neutralise,
    safe_url,
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
    text(about, 0, 0, report.title, title_fmt)
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
_NA = object()
"""A cell showing the grey "n/a"."""
_XML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_PLAIN_TEXT = re.compile(r"[&<>\x00-\x08\x0b-\x1f\ufffe\uffff]|_x[0-9a-fA-F]{4}_|^\s|\s$")
"""What XlsxWriter's string escaping changes (markup characters, control characters, its own
``_xHHHH_`` escape) or marks (leading or trailing white space): a text without any is written
as it is."""
_PLAIN_URL = re.compile(r'[#%"<>\[\]^`{} ]')
"""A character XlsxWriter's ``Url`` treats specially (an anchor, escapes): a URL without any
is its own relationship target."""
_STRING_LIMIT = 32_767
"""Excel's longest cell text (XlsxWriter cuts longer strings there too)."""


class _Link:
    """A URL cell: its text, already registered as the sheet's hyperlink."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _cells(
    sheet: Any, first: int, c: int, column: pd.Series, kind: str, links: list[int]
) -> np.ndarray | list[object]:
    """One column's cells, converted once: a numeric column (numbers, dates as Excel serials)
    as a float array (NaN = n/a); otherwise plain values: a float (a number in the column's
    format; NaN = n/a), a datetime, a `_Link`, a bool or a text; `_NA` for n/a."""
    if kind in _NUMBER_KINDS and pd.api.types.is_numeric_dtype(column.dtype):
        scale = 100.0 if kind == "pp" else 1.0
        numbers: np.ndarray = column.to_numpy(dtype="float64", na_value=np.nan) * scale
        return numbers
    if kind in ("date", "datetime"):
        stamps = pd.to_datetime(column, utc=True, errors="coerce").dt.tz_localize(None)
        serials = _excel_serials(stamps.to_numpy(dtype="datetime64[ns]"))
        if serials is not None:
            return serials
        return [_NA if is_missing(t) else t.to_pydatetime() for t in stamps.tolist()]
    if kind == "url":
        return _url_cells(sheet, first, c, column.tolist(), links)
    if kind in _NUMBER_KINDS:  # numbers in a column of another type (objects, missing values)
        return [
            _cell(sheet, r, c, value, kind, links)
            for r, value in enumerate(column.tolist(), start=first)
        ]
    # Text: the same few values repeat (channels, platforms, states...), convert each once.
    seen: dict[object, object] = {}
    out: list[object] = []
    for value in column.tolist():
        key = (type(value), value)  # True and 1 are equal keys, not equal cells
        try:
            out.append(seen[key])
        except KeyError:
            seen[key] = _cell(sheet, 0, c, value, kind, links)
            out.append(seen[key])
        except TypeError:  # unhashable
            out.append(_cell(sheet, 0, c, value, kind, links))
    return out


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
) -> list[object]:
    """A URL column's cells: a web address (`reports.model.safe_url`) is a `_Link` and, while
    the sheet has fewer than `MAX_LINKS`, the sheet's hyperlink (kept by the sheet and written
    in bulk at save); past that limit, or not a web address, it is text."""
    out: list[object] = []
    for r, value in enumerate(values, start=first):
        url = safe_url(value)
        if url is not None and links[0] < MAX_LINKS:
            links[0] += 1
            sheet.add_link(r, c, url)
            out.append(_Link(neutralise(url)))
        elif is_missing(value):
            out.append(_NA)
        else:
            out.append(neutralise(str(value)))
    return out


def _cell(sheet: Any, r: int, c: int, value: object, kind: str, links: list[int]) -> object:
    """One cell of a column without a fast path; ``links`` counts the sheet's hyperlinks
    (Excel's limit), which are registered here."""
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


def _column_sheet_class() -> type:
    """A worksheet whose data cells are kept per column and written as XML in one pass when
    the workbook is saved, instead of one XlsxWriter call and one cell object each (which
    made a large report's workbook take three times as long as the HTML). The title and
    header rows above them are written by XlsxWriter as usual; the cells come out as
    XlsxWriter writes them (same styles, numbers as ``%.16G``, dates as Excel serials,
    texts as inline strings with XlsxWriter's escapes)."""
    from xlsxwriter.url import Url
    from xlsxwriter.utility import _preserve_whitespace, _utf16_len, xl_col_to_name
    from xlsxwriter.worksheet import Worksheet
    from xlsxwriter.xmlwriter import XMLwriter

    class ColumnSheet(Worksheet):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.data_row = -1
            self.data_columns: list[tuple[int, str, np.ndarray | list[object], dict[str, Any]]] = []
            self.own_links: list[tuple[int, int, str, str, str]] = []

        def add_column(
            self,
            first: int,
            c: int,
            cells: np.ndarray | list[object],
            kind: str,
            formats: dict[str, Any],
        ) -> None:
            self.data_row = first
            self.data_columns.append((c, kind, cells, formats))
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

        def _write_hyperlinks(self) -> None:
            """The ``<hyperlinks>`` element as XlsxWriter writes it (row, then column order;
            an ``r:id`` each, numbered on from the sheet's relationships; the anchor as
            ``location``), and the relationship of each link for the sheet's ``.rels`` part."""
            if not self.own_links:
                super()._write_hyperlinks()
                return
            if self.hyperlinks:  # links XlsxWriter registered too: it writes them all
                for r, c, _target, _anchor, address in self.own_links:
                    url = Url(address)
                    url.text = neutralise(address)
                    self.hyperlinks[r][c] = url
                super()._write_hyperlinks()
                return
            links = sorted(self.own_links, key=lambda link: (link[0], link[1]))
            letters = {c: xl_col_to_name(c) for c in {link[1] for link in links}}
            escape = self._escape_attributes
            first = self.rel_count + 1
            parts = []
            for number, (r, c, _target, anchor, _url) in enumerate(links, start=first):
                where = f' location="{escape(anchor)}"' if anchor else ""
                parts.append(f'<hyperlink ref="{letters[c]}{r + 1}" r:id="rId{number}"{where}/>')
            self.rel_count += len(links)
            self.external_hyper_links += [["/hyperlink", link[2], "External"] for link in links]
            self.fh.write("<hyperlinks>" + "".join(parts) + "</hyperlinks>")

        def _write_rows(self) -> None:
            if self.data_row < 0:
                super()._write_rows()
                return
            last: int = self.dim_rowmax  # type: ignore[has-type]
            self.dim_rowmax = min(last, self.data_row - 1)
            super()._write_rows()
            self.dim_rowmax = last
            count = max((len(cells) for _c, _k, cells, _f in self.data_columns), default=0)
            texts: list[dict[str, str]] = [{} for _ in self.data_columns]
            step = 2000  # rows rendered at a time: the XML of a whole sheet is not held
            for start in range(0, count, step):
                end = min(count, start + step)
                first = self.data_row + start
                numbers = [str(r) for r in range(first + 1, first + 1 + end - start)]
                rendered = [
                    self._render(c, kind, cells[start:end], f, first, known, numbers)
                    for (c, kind, cells, f), known in zip(self.data_columns, texts, strict=True)
                ]
                rows = zip(numbers, *rendered, strict=True)
                self.fh.write("".join(f'<row r="{r}">{"".join(cells)}</row>' for r, *cells in rows))

        def _render(
            self,
            c: int,
            kind: str,
            cells: np.ndarray | list[object],
            formats: dict[str, Any],
            first: int,
            texts: dict[str, str],
            numbers: list[str],
        ) -> list[str]:
            """The XML of ``cells``, the first in row ``first`` (``numbers``: the rows' numbers
            as text); ``texts`` keeps the column's texts already escaped."""
            letter = xl_col_to_name(c)
            styles: dict[str, int] = {}

            def style(name: str) -> int:
                # Asked only when used: XlsxWriter writes the styles that cells ask for.
                if name not in styles:
                    found = formats[name] if name != "url" else self.default_url_format
                    styles[name] = found._get_xf_index()
                return styles[name]

            na = f'" s="{{}}" t="inlineStr"><is><t>{NA}</t></is></c>'
            if isinstance(cells, np.ndarray):
                return _numbers(letter, kind, cells, numbers, style, na)
            if all(type(v) is str for v in cells):  # a text column: each text escaped once
                strings = cast(list[str], cells)
                for text in set(strings).difference(texts):
                    texts[text] = _text(text)
                head = f'<c r="{letter}'
                return [
                    f'{head}{r}" t="inlineStr">{texts[v]}</c>'
                    for r, v in zip(numbers, strings, strict=True)
                ]
            rows = range(first + 1, first + 1 + len(cells))
            if kind in _NUMBER_KINDS and all(isinstance(v, float) for v in cells):
                # A column of numbers: NaN (and an infinity) shows n/a.
                shown = [v - v == 0 for v in cells]  # type: ignore[operator]
                number = style(kind)
                missing = na.format(style("n/a")) if not all(shown) else ""
                return [
                    f'<c r="{letter}{r}" s="{number}"><v>{v:.16G}</v></c>'
                    if ok
                    else f'<c r="{letter}{r}' + missing
                    for r, v, ok in zip(rows, cells, shown, strict=True)
                ]
            out: list[str] = []
            for r, value in enumerate(cells, start=first + 1):
                ref = f"{letter}{r}"
                if type(value) is str:  # the common case first: a text column
                    body = texts.get(value)
                    if body is None:
                        body = texts[value] = _text(value)
                    out.append(f'<c r="{ref}" t="inlineStr">{body}</c>')
                elif isinstance(value, float) and math.isfinite(value):
                    out.append(f'<c r="{ref}" s="{style(kind)}"><v>{value:.16G}</v></c>')
                elif isinstance(value, float) or value is _NA:
                    out.append(f'<c r="{ref}' + na.format(style("n/a")))
                elif isinstance(value, bool):
                    out.append(f'<c r="{ref}" t="b"><v>{int(value)}</v></c>')
                elif isinstance(value, datetime):
                    number = self._convert_date_time(value)
                    out.append(f'<c r="{ref}" s="{style(kind)}"><v>{number:.16G}</v></c>')
                elif isinstance(value, _Link):
                    out.append(
                        f'<c r="{ref}" s="{style("url")}" t="inlineStr">{_text(value.text)}</c>'
                    )
                else:
                    text = str(value)
                    body = texts.get(text)
                    if body is None:
                        body = texts[text] = _text(text)
                    out.append(f'<c r="{ref}" t="inlineStr">{body}</c>')
            return out

    def _numbers(
        letter: str,
        kind: str,
        values: np.ndarray,
        rows: list[str],
        style: Callable[[str], int],
        na: str,
    ) -> list[str]:
        """The XML of a column of numbers (or dates as serials) in ``rows``: a finite value
        as XlsxWriter writes a number (``%.16G``; a whole number below 10^15 is the same
        digits as the integer, written from it), NaN or an infinity as the grey n/a."""
        shown = np.isfinite(values)
        known = values[shown]
        if kind in _NUMBER_KINDS:
            number = style(kind)
            missing = na.format(style("n/a")) if known.size < values.size else ""
        else:
            # Dates: the styles asked for in the order the cells need them (as XlsxWriter
            # numbers the styles in the order cells first ask for them).
            needed = {kind: known.size > 0, "n/a": known.size < values.size}
            got = {
                name: style(name)
                for name in ((kind, "n/a") if shown[0] else ("n/a", kind))
                if needed[name]
            }
            number = got.get(kind, 0)
            missing = na.format(got["n/a"]) if "n/a" in got else ""
        head, mid = f'<c r="{letter}', f'" s="{number}"><v>'
        whole = (
            known.size > 0
            and bool(np.all(np.abs(known) < 1e15))
            and bool(np.all(known == np.trunc(known)))
            and not bool(np.any(np.signbit(known) & (known == 0)))  # -0.0 is "-0"
        )
        if whole:
            ints = np.where(shown, values, 0.0).astype(np.int64).tolist()
            if not missing:
                return [f"{head}{r}{mid}{v}</v></c>" for r, v in zip(rows, ints, strict=True)]
            return [
                f"{head}{r}{mid}{v}</v></c>" if ok else f"{head}{r}{missing}"
                for r, v, ok in zip(rows, ints, shown.tolist(), strict=True)
            ]
        floats = values.tolist()
        if not missing:
            return [f"{head}{r}{mid}{v:.16G}</v></c>" for r, v in zip(rows, floats, strict=True)]
        return [
            f"{head}{r}{mid}{v:.16G}</v></c>" if ok else f"{head}{r}{missing}"
            for r, v, ok in zip(rows, floats, shown.tolist(), strict=True)
        ]

    def _text(text: str) -> str:
        """An inline string's ``<is>`` element, escaped as XlsxWriter escapes strings."""
        if len(text) <= _STRING_LIMIT and _PLAIN_TEXT.search(text) is None:
            return f"<is><t>{text}</t></is>"  # nothing to escape, no edge to preserve
        text = XMLwriter._escape_control_characters(text[:_STRING_LIMIT]).translate(_XML)
        space = ' xml:space="preserve"' if _preserve_whitespace(text) else ""
        return f"<is><t{space}>{text}</t></is>"

    return ColumnSheet


def _workbook_class() -> type:
    """An XlsxWriter workbook whose worksheets' ``.rels`` parts (one relationship per
    hyperlink: tens of thousands in a large report's "posts" sheet) are written in one pass
    each, the same bytes as XlsxWriter's ``Relationships`` writes one element at a time."""
    from xlsxwriter.packager import Packager
    from xlsxwriter.relationships import PACKAGE_SCHEMA, Relationships
    from xlsxwriter.workbook import Workbook

    class BulkRelationships(Relationships):  # type: ignore[misc]
        def _write_relationships(self) -> None:
            escape = self._escape_attributes
            parts = [f'<Relationships xmlns="{escape(PACKAGE_SCHEMA)}">']
            for number, (kind, target, mode) in enumerate(self.relationships, start=self.id):
                tail = f' TargetMode="{escape(mode)}"' if mode else ""
                parts.append(
                    f'<Relationship Id="rId{number}" Type="{escape(kind)}" '
                    f'Target="{escape(target)}"{tail}/>'
                )
            self.id += len(self.relationships)
            parts.append("</Relationships>")
            self.fh.write("".join(parts))

    class BulkPackager(Packager):  # type: ignore[misc]
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
                if not external_links:
                    continue
                rels = BulkRelationships()
                for link_data in external_links:
                    rels._add_document_relationship(*link_data)
                rels._set_xml_writer(
                    self._filename("xl/worksheets/_rels/sheet" + str(index) + ".xml.rels")
                )
                rels._assemble_xml_file()

    class BulkWorkbook(Workbook):  # type: ignore[misc]
        def _get_packager(self) -> Packager:
            return BulkPackager()

        _store_workbook = _deflating_at(DEFLATE_LEVEL, Workbook._store_workbook)

    return BulkWorkbook


DEFLATE_LEVEL = 3
"""The workbook's zip compression: zlib level 3 compresses a large report's sheets about twice
as fast as zlib's default (6), for a file about 16% larger (a 50,000-post report: 12.6 MB
instead of 10.9; the XML inside is the same)."""


def _deflating_at(level: int, store: Callable[..., None]) -> Callable[..., None]:
    """XlsxWriter's ``_store_workbook`` with its zip file made at ``level`` (it takes zlib's
    default): the same function with ``ZipFile`` bound to a subclass that sets the level."""
    from zipfile import ZipFile

    class LevelZipFile(ZipFile):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("compresslevel", level)
            super().__init__(*args, **kwargs)

    names = {**store.__globals__, "ZipFile": LevelZipFile}
    return cast(
        Callable[..., None],
        types.FunctionType(
            store.__code__, names, store.__name__, store.__defaults__, store.__closure__
        ),
    )
