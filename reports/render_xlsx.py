"""The report as an Excel workbook (XlsxWriter): a "Summary" sheet (the executive summary), an
"About" sheet (scope, the SIMULATED notice, the formulas), then one sheet per table with a
title, its description, formatted headers, number formats (percentages stay numbers Excel can
compute with), frozen header row and filters. A missing value is the grey text "n/a", never 0.
Every text is written as text, never as a formula, and neutralised (`reports.model.neutralise`)
so that a copy pasted elsewhere stays inert; only http(s) URLs become links.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    import xlsxwriter

    out.parent.mkdir(parents=True, exist_ok=True)
    book = xlsxwriter.Workbook(str(out), {"nan_inf_to_errors": False})
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

    for table in report.tables.values():
        sheet = book.add_worksheet(_sheet_name(table.name, used))
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
            _write_column(sheet, header_row + 1, c, column, kind, cell_fmts, na_fmt, links)
        sheet.freeze_panes(header_row + 1, 1)
        if len(table.frame):
            sheet.autofilter(header_row, 0, header_row + len(table.frame), len(columns) - 1)
    book.close()
    return out


_NUMBER_KINDS = ("int", "float", "pct", "pp", "hours", "index", "p")


def _write_column(
    sheet: Any,
    first: int,
    c: int,
    column: pd.Series,
    kind: str,
    formats: dict[str, Any],
    na_fmt: Any,
    links: list[int],
) -> None:
    """One column, converted once: numbers and dates on their fast paths, the rest cell by
    cell through `_write`."""
    if kind in _NUMBER_KINDS and pd.api.types.is_numeric_dtype(column.dtype):
        values = column.to_numpy(dtype="float64", na_value=np.nan)
        scale = 100.0 if kind == "pp" else 1.0
        fmt = formats[kind]
        for r, value in enumerate(values.tolist(), start=first):
            if value != value:
                sheet.write_string(r, c, NA, na_fmt)
            else:
                sheet.write_number(r, c, value * scale, fmt)
        return
    if kind in ("date", "datetime"):
        stamps = pd.to_datetime(column, utc=True, errors="coerce").dt.tz_localize(None)
        fmt = formats[kind]
        for r, stamp in enumerate(stamps.tolist(), start=first):
            if is_missing(stamp):
                sheet.write_string(r, c, NA, na_fmt)
            else:
                sheet.write_datetime(r, c, stamp.to_pydatetime(), fmt)
        return
    for r, value in enumerate(column.tolist(), start=first):
        _write(sheet, r, c, value, kind, formats, na_fmt, links)


def _write(
    sheet: Any,
    r: int,
    c: int,
    value: object,
    kind: str,
    formats: dict[str, Any],
    na_fmt: Any,
    links: list[int],
) -> None:
    """One cell; ``links`` counts the sheet's hyperlinks (Excel's limit)."""
    if is_missing(value):
        sheet.write_string(r, c, NA, na_fmt)
        return
    if kind in ("date", "datetime"):
        stamp = pd.Timestamp(value)  # type: ignore[arg-type]
        if stamp.tzinfo is not None:
            stamp = stamp.tz_convert("UTC").tz_localize(None)
        sheet.write_datetime(r, c, stamp.to_pydatetime(), formats[kind])
        return
    if kind == "url":
        url = safe_url(value)
        if url is not None and links[0] < MAX_LINKS:
            links[0] += 1
            sheet.write_url(r, c, url, string=neutralise(url))
        else:
            sheet.write_string(r, c, neutralise(str(value)))
        return
    if kind == "pp":
        sheet.write_number(r, c, float(value) * 100, formats[kind])  # type: ignore[arg-type]
        return
    if kind in ("int", "float", "pct", "hours", "index", "p"):
        sheet.write_number(r, c, float(value), formats[kind])  # type: ignore[arg-type]
        return
    if isinstance(value, bool | np.bool_):
        sheet.write_boolean(r, c, bool(value))
        return
    sheet.write_string(r, c, neutralise(str(value)))
