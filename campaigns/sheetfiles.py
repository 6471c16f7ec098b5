"""Reading a spreadsheet file (.xlsx or .csv) into rows of cells, safely.

A workbook is a zip of XML parts: before openpyxl sees it, the zip's declared sizes are checked
(a "zip bomb" is refused), and openpyxl parses its XML with defusedxml (a dependency of Elshi:
openpyxl uses it whenever it is installed, and `check_defused` makes sure), so entity
declarations (XXE, "billion laughs") end in `SheetError`, not in a parser's traceback or a
fetched file. Files, rows and columns are capped (`SheetLimits`). This module only reads; the
meaning of the columns is ``campaigns.spreadsheet``'s.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from campaigns.errors import CampaignInputError


class SheetError(CampaignInputError):
    """The sheet cannot be imported; ``problems`` lists every finding, each located (at most
    `SheetLimits.max_problems`, then one line saying how many more)."""

    def __init__(self, problems: list[str], *, limit: int | None = None) -> None:
        limit = LIMITS.max_problems if limit is None else limit
        shown = problems[:limit]
        if len(problems) > limit:
            shown.append(f"... and {len(problems) - limit} more problems")
        super().__init__("\n".join(shown))
        self.problems = shown
        self.count = len(problems)


@dataclass(frozen=True)
class SheetLimits:
    max_bytes: int = 20 * 1024 * 1024
    max_rows: int = 20_000
    """Rows read, counting empty ones between posts (a calendar has one row a post)."""
    max_columns: int = 200
    max_unpacked_bytes: int = 200 * 1024 * 1024
    """What the parts of a workbook may unpack to, together."""
    max_parts: int = 5_000
    max_problems: int = 50


LIMITS = SheetLimits()


@dataclass(frozen=True)
class Cell:
    value: Any
    has_time: bool = True
    """False for a spreadsheet date cell formatted without a time of day."""
    failed: bool = False
    """An .xlsx cell showing an error instead of a value (``#DIV/0!``, ``#REF!``, ``#N/A``...):
    its text is the error's name, never something to publish."""
    formula: str | None = None
    """An .xlsx cell holding a formula whose value was never computed (``=A2+1`` in a file
    written by a program rather than saved by a spreadsheet): its value is unknown, not empty."""


Rows = list[tuple[int, list[Cell]]]


def column_letter(index: int) -> str:
    """1 → A, 27 → AA (as spreadsheets label columns)."""
    letters = ""
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def read_sheet(path: Path, *, limits: SheetLimits = LIMITS) -> tuple[str, Rows]:
    """A label for messages (the file, with the sheet's name when there are several) and its
    rows, numbered as the spreadsheet numbers them; `SheetError` when it cannot be read."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx", ".xlsm"):
        raise SheetError(
            [f"{path}: not a .xlsx or .csv file; save the calendar as Excel (.xlsx) or CSV UTF-8"]
        )
    from campaigns.inputfiles import NotARegularFile, checked_size

    try:
        size = checked_size(path)
    except NotARegularFile as exc:
        raise SheetError([f"{path}: cannot read it: it {exc}"]) from None
    except OSError as exc:
        raise SheetError([f"{path}: cannot read it ({exc.strerror})"]) from None
    if size > limits.max_bytes:
        raise SheetError(
            [
                f"{path}: the file is {size / 1024 / 1024:.0f} MiB; a content calendar is far "
                f"smaller (at most {limits.max_bytes // 1024 // 1024} MiB)"
            ]
        )
    if suffix == ".csv":
        return str(path), _read_csv(path, limits)
    return _read_xlsx(path, limits)


def _read_csv(path: Path, limits: SheetLimits) -> Rows:
    from campaigns.inputfiles import InputFileError, read_bounded

    try:
        raw = read_bounded(path, limits.max_bytes)
    except InputFileError as exc:  # changed since it was looked at
        raise SheetError([f"{path}: cannot read it: it {exc}"]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SheetError(
            [
                f"{path}:line {line}: not UTF-8 text (byte {exc.start}); in Excel use "
                "'Save as: CSV UTF-8 (comma delimited)'"
            ]
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    rows: Rows = []
    try:
        # Numbered by record, not by line: a cell with line breaks is still one row in Excel.
        for number, record in enumerate(reader, start=1):
            if number > limits.max_rows:
                raise SheetError([_too_many_rows(str(path), limits)])
            rows.append((number, [Cell(v) for v in record[: limits.max_columns]]))
    except csv.Error as exc:
        raise SheetError(
            [f"{path}:row {len(rows) + 1} (line {reader.line_num}): {csv_problem(exc)}"]
        ) from None
    return rows


def _delimiter(text: str) -> str:
    """The separator of the header row (its first line with text): a comma, a semicolon (what
    Excel writes in a German locale) or a tab, the one it holds most of. csv.Sniffer guessed
    from the whole sample and took the commas inside a semicolon file's texts ("Hallo, Welt")
    for the separator: every column then 'missing' from a header it read as one."""
    first = next((line for line in text[:65536].splitlines() if line.strip()), "")
    counts = {sep: first.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def csv_problem(exc: csv.Error) -> str:
    """What the csv module's error means for the person who saved the file."""
    reason = str(exc)
    if "field larger than field limit" in reason:
        reason = (
            f"a field is longer than {csv.field_size_limit():,} characters "
            '(probably a quote " that is never closed)'
        )
    return f"not valid CSV ({reason})"


def _too_many_rows(label: str, limits: SheetLimits) -> str:
    return (
        f"{label}: more than {limits.max_rows:,} rows (empty formatted rows count too); a "
        "calendar has one row a post: delete the rows below the posts, or copy the posts to "
        "a new sheet"
    )


def check_defused() -> None:
    """openpyxl decides at import time whether it parses with defusedxml; refuse to read a
    workbook if it does not (defusedxml is one of Elshi's dependencies)."""
    import openpyxl

    if not getattr(openpyxl, "DEFUSEDXML", False):
        raise SheetError(
            [
                "cannot read .xlsx files safely: openpyxl is not using defusedxml "
                "(reinstall Elshi, or unset OPENPYXL_DEFUSEDXML)"
            ]
        )


_FORMULA = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?f[\s>/]")
"""A SpreadsheetML formula element (``<f>``, ``<f t="shared" .../>``, ``<x:f>``)."""


def _check_zip(path: Path, limits: SheetLimits) -> bool:
    """Refuse a workbook whose parts are too many or unpack too large (before openpyxl reads
    them); True when a worksheet holds a formula."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
            unpacked = sum(part.file_size for part in parts)
            if len(parts) > limits.max_parts or unpacked > limits.max_unpacked_bytes:
                raise SheetError(
                    [
                        f"{path}: the workbook unpacks to {unpacked / 1024 / 1024:,.0f} MiB in "
                        f"{len(parts):,} parts; a content calendar is far smaller (re-save it "
                        "from Excel, or save it as CSV UTF-8)"
                    ]
                )
            return any(
                _holds(archive, part)
                for part in parts
                if part.filename.startswith("xl/worksheets/") and part.filename.endswith(".xml")
            )
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, zlib.error) as exc:
        raise SheetError([f"{path}: not a readable .xlsx workbook ({exc})"]) from None


def _holds(archive: Any, part: Any) -> bool:
    """Whether the worksheet ``part`` has a formula element, read in pieces (its size was
    checked with the others')."""
    tail = b""
    with archive.open(part) as stream:
        while chunk := stream.read(1 << 20):
            if _FORMULA.search(tail + chunk):
                return True
            tail = chunk[-64:]
    return False


def _read_xlsx(path: Path, limits: SheetLimits) -> tuple[str, Rows]:
    from datetime import datetime

    from defusedxml import DefusedXmlException
    from openpyxl import load_workbook

    check_defused()
    formulas = _check_zip(path, limits)
    label = str(path)
    rows: Rows = []
    # openpyxl raises whatever its XML parser and its readers meet in a damaged or hostile
    # workbook (ParseError, KeyError, TypeError, ...); all of it means "cannot be read".
    books: list[Any] = []
    try:
        book = load_workbook(path, read_only=True, data_only=True)
        books.append(book)
        sheet = book.active if book.active is not None else book.worksheets[0]
        if len(book.worksheets) > 1:
            label = f"{path}[{sheet.title}]"
        sheet.reset_dimensions()  # a forged <dimension> would pad a million empty rows
        # With formulas in the workbook, the same sheet read a second time gives each cell's
        # formula beside its stored value: a formula without one reads as an empty cell.
        written: Any = itertools.repeat(())
        if formulas:
            source = load_workbook(path, read_only=True, data_only=False)
            books.append(source)
            twin = source[sheet.title]
            twin.reset_dimensions()
            written = twin.iter_rows()
        for number, (cells, texts) in enumerate(
            zip(sheet.iter_rows(), written, strict=False), start=1
        ):
            if number > limits.max_rows:
                raise SheetError([_too_many_rows(label, limits)])
            row = []
            for index, cell in enumerate(cells[: limits.max_columns]):
                value = getattr(cell, "value", None)
                fmt = str(getattr(cell, "number_format", "") or "")
                timed = not isinstance(value, datetime) or "h" in fmt.lower()
                failed = getattr(cell, "data_type", None) == "e"
                formula = None
                if value is None and index < len(texts):
                    text = getattr(texts[index], "value", None)
                    if getattr(texts[index], "data_type", None) == "f" and text:
                        formula = str(text)
                row.append(Cell(value, has_time=timed, failed=failed, formula=formula))
            rows.append((number, row))
    except SheetError:
        raise
    except Exception as exc:
        defused = _cause(exc, DefusedXmlException)
        if defused is not None:
            raise SheetError(
                [
                    f"{path}: the workbook declares XML entities or external references "
                    f"({type(defused).__name__}), which spreadsheets never need; it was not "
                    "read. Re-save it from Excel or LibreOffice"
                ]
            ) from None
        first = str(exc).split("\n")[0][:200]
        raise SheetError(
            [f"{path}: not a readable .xlsx workbook ({type(exc).__name__}: {first})"]
        ) from None
    finally:
        for opened in books:
            opened.close()
    return label, rows


def _cause(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    """``exc`` or the exception it was raised from (openpyxl wraps its parser's errors)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
