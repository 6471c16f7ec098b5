"""Importing a content calendar kept in a spreadsheet (.xlsx or .csv, one row a post) as the text
of a campaign YAML file.

The header row names the columns (case and spaces do not matter; the list is `COLUMNS`, each
explained in docs/user-guide.md): ``id``, ``category``, ``audiences`` (comma-separated), the time
as ``date`` + ``time``, as ``when``, as ``event`` + ``offset``, or as a ``recurrence`` (an RRULE
or a cron) with ``date``/``until`` as its first/last day; the text as ``text`` (with an optional
``language`` column) or one ``text_de``, ``text_zh``, ... column per language, each optionally
with per-platform overrides (``text_x``, ``text_de_mastodon``); and optionally ``variant``,
``narrative``, ``link``, ``media`` and ``channels`` (comma-separated), the media's alt text as
``alt`` (in the row's language) or ``alt_de``, ``alt_zh``, ... (one line per media file when
there are several), ``reply_to``, ``timezone``, ``hashtags`` (yes/no). Other columns (notes, owner, status...) are ignored unless
their name looks like a misspelt one. A text date that reads two ways (03/04/2027) is refused.

Every problem is collected and reported as ``SHEET:row N:col C (column): message``; nothing is
written unless the sheet is clean. The posts block is generated; the ``campaign``, ``events`` and
``audiences`` blocks are copied from ``campaign_file`` (comments kept), and the whole is then
validated as a campaign, each problem of a post put back at its row and column; without a
campaign file they are written as a skeleton whose ``FILL-IN`` placeholders ``elshi campaign
validate`` points at. Reading the file safely is ``campaigns.sheetfiles``'s job, the empty
calendar to start from ``campaigns.sheettemplate``'s. This module reads files and returns
text; it does not touch the database or write the result.
"""

from __future__ import annotations

import difflib
import functools
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from campaigns.definition import ID_PATTERN, PLATFORMS, Category, halfwidth, parse_offset
from campaigns.links import UnsafeUrl, web_url
from campaigns.sheetfiles import Cell, SheetError, column_letter, read_sheet
from campaigns.sheettemplate import TemplateContext
from campaigns.yamlsource import LIMITS as YAML_LIMITS
from campaigns.yamlsource import Locator, YamlError, control_character, parse_yaml, read_text

__all__ = ["COLUMNS", "SheetError", "column_letter", "import_sheet", "template_context"]

PLACEHOLDER = "FILL-IN"
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
_ID = re.compile(ID_PATTERN)
_DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y", "%d.%m.%y", "%Y/%m/%d")
"""Unambiguous text dates: year first, the German day.month.year, or the Chinese 2027年4月15日
(`_CHINESE_DATE`). Slashed dates are read by
`_slashed` (03/04/2027 is 3 April in Germany and 4 March in the US, so it is refused)."""
_CHINESE_DATE = re.compile(r"^(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?$")
"""2027年4月15日, as the China team writes a date (year, month, day: unambiguous)."""
_SLASHED = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})\s*$")
_CLOCK = re.compile(r"^(\d{1,2})[:.](\d{2})(?::(\d{2}))?$|^(\d{2})(\d{2})$")
"""A time of day as people write it, with two-digit minutes: 10:00, 9:30, 10.30 (German
usage), 10:00:00, or four digits (0930). strptime read more than was written: '10' as 01:00,
'12' as 01:02, '10.5' as 10:05, '9:5' as 09:05."""
_TIME = re.compile(r"^\s*(\S+?)(?:[ T](\d{1,2}[:.]\d{2}(?::\d{2})?))?\s*$")

COLUMNS = (
    "id",
    "category",
    "audiences",
    "date",
    "time",
    "when",
    "event",
    "offset",
    "recurrence",
    "until",
    "language",
    "text",
    "variant",
    "narrative",
    "link",
    "media",
    "alt",
    "channels",
    "reply_to",
    "timezone",
    "hashtags",
)
_ALIASES = {
    "post": "id",
    "post_id": "id",
    "audience": "audiences",
    "lang": "language",
    "url": "link",
    "image": "media",
    "images": "media",
    "alt_text": "alt",
    "description": "alt",
    "channel": "channels",
    "reply": "reply_to",
    "in_reply_to": "reply_to",
    "time_zone": "timezone",
    "tz": "timezone",
    "datetime": "when",
    "repeat": "recurrence",
    "rrule": "recurrence",
    "cron": "recurrence",
    "from": "date",
}
_CATEGORY_ALIASES = {
    "culture": Category.cultural_event,
    "cultural_events": Category.cultural_event,
    "economic_forums": Category.economic_forum,
    "economy": Category.economic_forum,
    "media": Category.media_pr,
    "pr": Category.media_pr,
    "media_and_pr": Category.media_pr,
    "science_and_technology": Category.science_technology,
    "science": Category.science_technology,
}
_YES = {"yes", "y", "true", "1", "ja", "x"}
_NO = {"no", "n", "false", "0", "nein", ""}


@dataclass
class _Sheet:
    label: str
    rows: list[tuple[int, list[Cell]]]
    problems: list[str] = field(default_factory=list)
    header_row: int = 1
    columns: dict[str, int] = field(default_factory=dict)
    """Normalised column name → 0-based index."""
    titles: list[str] = field(default_factory=list)
    post_rows: list[int] = field(default_factory=list)
    """The row of each imported post, in order."""
    refused_ids: set[str] = field(default_factory=set)
    """The post ids of rows with problems (left out of the validated campaign: a reply to one
    of them is not reported as a reply to an unknown post)."""

    def at(self, row: int, column: str | None = None) -> str:
        if column is None or column not in self.columns:
            return f"{self.label}:row {row}"
        index = self.columns[column]
        return f"{self.label}:row {row}:col {column_letter(index + 1)} ({self.titles[index]})"

    def error(self, row: int, column: str | None, message: str) -> None:
        self.problems.append(f"{self.at(row, column)}: {message}")


def _normalise(title: str) -> str:
    name = re.sub(r"\s+", "_", title.strip())
    head, sep, tail = name.partition("_")
    if head.lower() == "text" and sep:
        return f"text_{tail}"
    if head.lower() == "alt" and sep and tail.lower() != "text":
        return f"alt_{tail}"
    name = name.lower()
    return _ALIASES.get(name, name)


def _alt_column(name: str) -> str | None:
    """``alt_de`` → "de"; None for a name that is not an alt column of a language."""
    if not name.startswith("alt_"):
        return None
    language = name[len("alt_") :]
    return language if _LANGUAGE.match(language) else None


def _text_column(name: str) -> tuple[str | None, str] | None:
    """``text_de`` → ("de", "default"); ``text_x`` → (None, "x"); ``text_de_x`` → ("de", "x")."""
    if not name.startswith("text_"):
        return None
    parts = name[len("text_") :].split("_")
    platform = "default"
    if parts and parts[-1].lower() in PLATFORMS:
        platform = parts.pop().lower()
    if not parts:
        return (None, platform)
    if len(parts) == 1 and _LANGUAGE.match(parts[0]):
        return (parts[0], platform)
    return None


def _text(cell: Cell | None) -> str:
    if cell is None or cell.value is None:
        return ""
    value = cell.value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return _stripped(str(value))


def _stripped(text: str) -> str:
    """``text`` without the spaces around it, nor a byte-order mark (U+FEFF) at its start: one
    is left in a cell by a CSV pasted or joined from a file saved with one, where it is
    invisible (an id or an audience would not match; a text would carry it to the platform)."""
    return text.strip().lstrip("\ufeff").strip()


def _list(cell: Cell | None) -> list[str]:
    """A cell of several items (audiences, channels, media): separated by commas, semicolons
    or line breaks, the full-width and ideographic ones of a Chinese input method too
    ('public，diaspora' was one unknown audience)."""
    return [part.strip() for part in _SEPARATOR.split(_text(cell)) if part.strip()]


_SEPARATOR = re.compile("[,;\n\uff0c\uff1b\u3001]")


class _Ambiguous(ValueError):
    pass


def _slashed(text: str) -> date | None:
    """``13/04/2027`` (day first) or ``04/13/2027`` (month first); `_Ambiguous` when both
    readings are dates (``03/04/2027``)."""
    match = _SLASHED.match(text)
    if match is None:
        return None
    first, second, year = int(match.group(1)), int(match.group(2)), int(match.group(3))
    year += 2000 if year < 100 else 0
    readings = set()
    for day, month in ((first, second), (second, first)):
        try:
            readings.add(date(year, month, day))
        except ValueError:
            continue
    if len(readings) > 1:
        day_first, month_first = date(year, second, first), date(year, first, second)
        raise _Ambiguous(
            f"{text.strip()!r} could be {day_first.day} {day_first:%B} or "
            f"{month_first.day} {month_first:%B}; write the "
            f"date year first, e.g. {day_first.isoformat()}"
        )
    return readings.pop() if readings else None


def _parse_date(cell: Cell) -> date | None:
    value = cell.value
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = halfwidth(_text(cell))
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    chinese = _CHINESE_DATE.match(text)
    if chinese is not None:
        try:
            return date(int(chinese[1]), int(chinese[2]), int(chinese[3]))
        except ValueError:  # 2027年2月30日
            return None
    return _slashed(text)


def _not_a_date(cell: Cell, what: str = "a date", example: str = "2027-03-22") -> str:
    """What to say of a cell that is not ``what``; a number that is a spreadsheet's date serial
    (a date typed into a cell formatted as a number, or a date cell whose format was lost, as
    when a sheet is saved as CSV) is named with the date it stands for."""
    serial = _date_serial(cell)
    if serial is None:
        return f"{_text(cell)!r} is not {what}; write e.g. {example}"
    shown = f"{serial:%Y-%m-%d %H:%M}" if serial.time() != time(0) else f"{serial:%Y-%m-%d}"
    return (
        f"{_text(cell)!r} is not {what} but a number: as a spreadsheet's date serial number it "
        f"is {shown}; if that is meant, format the cell as a date or write {shown}"
    )


def _not_a_time(cell: Cell) -> str:
    """What to say of a cell that is not a time of day; a fraction of a day (a time typed into a
    cell formatted as a number: 0.4375) is named with the time it stands for."""
    said = (
        f"{_text(cell)!r} is not a time of day; write hours and two-digit minutes, e.g. 10:00 "
        "or 9:30"
    )
    value = cell.value
    text = halfwidth(_text(cell))
    if isinstance(value, bool) or not (
        isinstance(value, int | float) or re.fullmatch(r"0?\.\d+", text)
    ):
        return said
    fraction = float(value) if isinstance(value, int | float) else float(text)
    if not 0 < fraction < 1:
        return said
    minutes = round(fraction * 1440)
    if minutes >= 1440:
        return said
    shown = f"{minutes // 60:02d}:{minutes % 60:02d}"
    return (
        f"{_text(cell)!r} is not a time of day but a number: as a fraction of a day it is "
        f"{shown}; if that is meant, format the cell as a time or write {shown}"
    )


_SERIAL = re.compile(r"^\d{5}(?:\.\d+)?$")
_SERIAL_DAYS = (36526, 73051)
"""The serial numbers of 2000-01-01 and 2100-01-01: a number between them in a date cell is
taken for a date serial (days since 1899-12-30 in Excel and LibreOffice, from March 1900 on)."""


def _date_serial(cell: Cell) -> datetime | None:
    """The date (and time, from a fraction) that the number in ``cell`` stands for as a
    spreadsheet's date serial, or None when it is no number of this century's dates."""
    value = cell.value
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str) and _SERIAL.match(halfwidth(_stripped(value))):
        number = float(halfwidth(_stripped(value)))
    else:
        return None
    if not _SERIAL_DAYS[0] <= number < _SERIAL_DAYS[1]:
        return None
    minutes = round(number * 1440)
    return datetime(1899, 12, 30) + timedelta(minutes=minutes)


def _parse_time(cell: Cell) -> time | None:
    value = cell.value
    if isinstance(value, time):
        return value.replace(tzinfo=None)
    if isinstance(value, datetime):
        return value.time()
    match = _CLOCK.match(halfwidth(_text(cell)))
    if match is None:
        return None
    hour, minute, second = (
        (match[1], match[2], match[3] or "0") if match[1] else (match[4], match[5], "0")
    )
    try:
        return time(int(hour), int(minute), int(second))
    except ValueError:  # 25:00, 10:60
        return None


def _parse_datetime(cell: Cell) -> datetime | None:
    value = cell.value
    if isinstance(value, datetime):
        return value.replace(tzinfo=None) if cell.has_time else None
    match = _TIME.match(halfwidth(_text(cell)))
    if match is None or match.group(2) is None:
        return None
    day = _parse_date(Cell(match.group(1)))
    clock = _parse_time(Cell(match.group(2)))
    return datetime.combine(day, clock) if day is not None and clock is not None else None


def _category(raw: str) -> Category | None:
    key = re.sub(r"[^a-z]+", "_", raw.lower()).strip("_")
    try:
        return Category(key)
    except ValueError:
        return _CATEGORY_ALIASES.get(key)


def _suggest(word: str, choices: Sequence[str], cutoff: float = 0.6) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _read(path: Path) -> _Sheet:
    label, rows = read_sheet(path)
    return _Sheet(label, rows)


def _header(sheet: _Sheet) -> None:
    """Find the header row (the first non-empty one) and map its columns."""
    for number, cells in sheet.rows:
        titles = [_text(c) for c in cells]
        if not any(titles):
            continue
        sheet.header_row = number
        sheet.titles = titles
        known = {*COLUMNS}
        for index, title in enumerate(titles):
            if not title:
                continue
            name = _normalise(title)
            letter = column_letter(index + 1)
            where = f"{sheet.label}:row {number}:col {letter} ({title})"
            if name in sheet.columns:
                first = column_letter(sheet.columns[name] + 1)
                sheet.problems.append(f"{where}: column {name!r} appears twice (first in {first})")
                continue
            if name in known or name.startswith(("text_", "alt_")):
                if name.startswith("text_") and _text_column(name) is None:
                    sheet.problems.append(
                        f"{where}: {title!r} is not a text column: write text_LANG (text_de), "
                        f"text_PLATFORM (text_x) or text_LANG_PLATFORM (text_de_mastodon); "
                        f"platforms: {', '.join(PLATFORMS)}"
                    )
                    continue
                if name.startswith("alt_") and _alt_column(name) is None:
                    sheet.problems.append(
                        f"{where}: {title!r} is not an alt text column: write alt (in the "
                        "row's language) or alt_LANG (alt_de, alt_zh); alt text is the same "
                        "on every platform"
                    )
                    continue
                sheet.columns[name] = index
                continue
            close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.8)
            if close:
                sheet.problems.append(
                    f"{where}: unknown column {title!r} (did you mean {close[0]!r}?)"
                )
        return
    raise SheetError(
        [f"{sheet.label}: the sheet is empty (expected a header row and one row a post)"]
    )


def _check_columns(sheet: _Sheet) -> None:
    have = set(sheet.columns)
    row = sheet.header_row
    listed = ", ".join(t for t in sheet.titles if t) or "nothing"
    for name in ("id", "category", "audiences"):
        if name not in have:
            sheet.error(
                row, None, f"missing required column {name!r} (the header row has: {listed})"
            )
    if not have & {"date", "when", "event", "recurrence"}:
        sheet.error(
            row,
            None,
            f"missing the time: add a 'date' and 'time' column, a 'when' column, 'event' and "
            f"'offset', or a 'recurrence' (the header row has: {listed})",
        )
    elif "date" in have and "time" not in have and "recurrence" not in have:
        sheet.error(row, None, "column 'date' needs a 'time' column beside it")
    if not any(name == "text" or name.startswith("text_") for name in have):
        sheet.error(
            row,
            None,
            f"missing the text: add a 'text' column or one per language (text_de, text_zh, ...) "
            f"(the header row has: {listed})",
        )


class _Row:
    def __init__(self, sheet: _Sheet, number: int, cells: list[Cell]):
        self.sheet = sheet
        self.number = number
        self.cells = cells

    def cell(self, name: str) -> Cell | None:
        index = self.sheet.columns.get(name)
        if index is None or index >= len(self.cells):
            return None
        return self.cells[index]

    def text(self, name: str) -> str:
        return _text(self.cell(name))

    def error(self, name: str | None, message: str) -> None:
        self.sheet.error(self.number, name, message)


def _when(row: _Row) -> Any:
    try:
        return _when_of(row)
    except _Ambiguous as exc:
        column = next(
            (n for n in ("when", "date", "until") if n in row.sheet.columns and row.text(n)),
            None,
        )
        row.error(column, str(exc))
        return None


def _when_of(row: _Row) -> Any:
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    has = {
        n for n in ("date", "time", "when", "event", "offset", "recurrence", "until") if row.text(n)
    }
    if "recurrence" in has:
        return _recurrence(row, has)
    if "until" in has:
        row.error("until", "'until' goes with a 'recurrence' in the same row")
        return None
    if "event" in has and has & {"date", "time", "when"}:
        row.error("event", "give either a date and time or an event, not both")
        return None
    if "event" in has:
        event = row.text("event")
        if not _ID.match(event):
            row.error("event", f"{event!r} is not an event id (lower-case, e.g. 'nauryz')")
            return None
        offset = halfwidth(row.text("offset")) or "0d"
        try:
            parse_offset(offset)
        except ValueError as exc:
            row.error("offset", str(exc))
            return None
        out: dict[str, str] = {"event": event, "offset": DoubleQuotedScalarString(offset)}
        return out
    if "offset" in has:
        row.error("offset", "an offset needs an 'event' in the same row")
        return None
    if "when" in has:
        cell = row.cell("when")
        assert cell is not None
        moment = _parse_datetime(cell)
        if moment is None:
            row.error("when", _not_a_date(cell, "a date and time of day", "2027-03-22 10:00"))
            return None
        return DoubleQuotedScalarString(moment.strftime("%Y-%m-%d %H:%M"))
    if "date" not in has:
        where = "date" if "date" in row.sheet.columns else "when"
        row.error(where if where in row.sheet.columns else None, "no date: every post needs a time")
        return None
    date_cell, time_cell = row.cell("date"), row.cell("time")
    assert date_cell is not None
    day = _parse_date(date_cell)
    if day is None:
        row.error("date", _not_a_date(date_cell))
    if "time" not in has or time_cell is None:
        row.error(
            "time" if "time" in row.sheet.columns else "date", "no time of day; write e.g. 10:00"
        )
        return None
    clock = _parse_time(time_cell)
    if clock is None:
        row.error("time", _not_a_time(time_cell))
    if day is None or clock is None:
        return None
    return DoubleQuotedScalarString(datetime.combine(day, clock).strftime("%Y-%m-%d %H:%M"))


def _recurrence(row: _Row, has: set[str]) -> Any:
    """``recurrence`` (an RRULE such as FREQ=WEEKLY;BYDAY=MO;BYHOUR=10 or a five-field cron such
    as ``0 10 * * MON``), with ``date`` as its first day and ``until`` as its last."""
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    if has & {"time", "when", "event", "offset"}:
        column = next(n for n in ("time", "when", "event", "offset") if n in has)
        row.error(
            column,
            "a recurrence carries its own time of day (BYHOUR/BYMINUTE, or the cron's first two "
            f"fields); leave {column!r} empty, and use 'date'/'until' for its first/last day",
        )
        return None
    rule = halfwidth(row.text("recurrence"))
    out: dict[str, Any] = {}
    if rule.upper().startswith(("FREQ=", "RRULE:")):
        out["rrule"] = DoubleQuotedScalarString(rule)
    elif len(rule.split()) == 5:
        out["cron"] = DoubleQuotedScalarString(rule)
    else:
        row.error(
            "recurrence",
            f"{rule[:60]!r} is neither an RRULE (FREQ=WEEKLY;BYDAY=MO;BYHOUR=10;BYMINUTE=0) nor "
            "a five-field cron (0 10 * * MON)",
        )
        return None
    for name, key in (("date", "from"), ("until", "until")):
        if name in has:
            cell = row.cell(name)
            assert cell is not None
            day = _parse_date(cell)
            if day is None:
                row.error(name, _not_a_date(cell))
                return None
            out[key] = day.isoformat()
    return out


def _texts(row: _Row) -> Any:
    """The ``text`` value: a string, ``{lang: ...}`` or ``{lang: {default: ..., x: ...}}``."""
    from ruamel.yaml.comments import CommentedMap

    language = row.text("language")
    if language and not _LANGUAGE.match(language):
        row.error("language", f"{language!r} is not a language code such as de, zh, kk, en")
        return None
    by_language: dict[str | None, dict[str, str]] = {}
    sources: dict[tuple[str | None, str], str] = {}
    for name in row.sheet.columns:
        if name == "text":
            key: tuple[str | None, str] | None = (language or None, "default")
        else:
            key = _text_column(name)
            if key is not None and key[0] is None:
                key = (language or None, key[1])
        if key is None:
            continue
        value = row.text(name)
        if not value:
            continue
        raw = row.cell(name)
        assert raw is not None
        value = _stripped(str(raw.value).replace("\r\n", "\n"))
        lang, platform = key
        if (lang, platform) in sources:
            row.error(
                name,
                f"a second text for {lang or 'the post'}/{platform} "
                f"(also in column {sources[(lang, platform)]})",
            )
            continue
        sources[(lang, platform)] = name
        by_language.setdefault(lang, {})[platform] = value
    if not by_language:
        first = next((n for n in row.sheet.columns if n == "text" or n.startswith("text_")), None)
        row.error(first, "the text is empty")
        return None
    for lang, variants in by_language.items():
        if "default" not in variants:
            platforms = ", ".join(sorted(variants))
            column = sources[(lang, sorted(variants)[0])]
            row.error(
                column,
                f"a {platforms} text but no default text"
                + (f" in {lang!r}" if lang else "")
                + ": fill the plain text column too",
            )
            return None
    if None in by_language and len(by_language) > 1:
        row.error(
            "text",
            "a text without a language beside per-language texts: fill 'language' or use text_LANG",
        )
        return None

    def variants_of(variants: dict[str, str]) -> Any:
        if len(variants) == 1:
            return _scalar(variants["default"])
        out = CommentedMap()
        for platform in ("default", *PLATFORMS):
            if platform in variants:
                out[platform] = _scalar(variants[platform])
        return out

    if None in by_language:
        return variants_of(by_language[None])
    texts = CommentedMap()
    for lang, variants in by_language.items():
        texts[lang] = variants_of(variants)
    return texts


def _clip(text: str, size: int = 40) -> str:
    shown = "".join(c if c.isprintable() else "?" for c in text)
    return shown if len(shown) <= size else shown[: size - 1] + "…"


def _scalar(text: str) -> Any:
    from ruamel.yaml.scalarstring import LiteralScalarString

    return LiteralScalarString(text + "\n") if "\n" in text else text


def _bad_cells(row: _Row) -> bool:
    """Report every imported cell holding a control character (a NUL cannot be stored),
    showing a spreadsheet error (``#DIV/0!``) instead of a value, or holding a formula whose
    value was never computed (it would read as an empty cell)."""
    found = False
    for name in row.sheet.columns:
        cell = row.cell(name)
        value = cell.value if cell is not None else None
        if cell is not None and cell.formula is not None:
            row.error(
                name,
                f"formula without a computed value ({_clip(cell.formula)}): open the file in a "
                "spreadsheet program and save it, so the value of each formula is stored",
            )
            found = True
            continue
        if cell is not None and cell.failed:
            row.error(
                name,
                f"the cell shows the error {value}, not a value: correct its formula in the "
                "spreadsheet, or type the value",
            )
            found = True
            continue
        bad = control_character(value) if isinstance(value, str) else None
        if bad is not None:
            row.error(name, f"{bad[1]} is not allowed in a cell; delete it")
            found = True
    return found


def _posts(sheet: _Sheet, audiences: set[str] | None) -> list[Any]:
    from ruamel.yaml.comments import CommentedMap

    posts: list[Any] = []
    seen: dict[str, int] = {}
    for number, cells in sheet.rows:
        used = [cells[i] for i in sheet.columns.values() if i < len(cells)]
        if number <= sheet.header_row or not any(_text(c) or c.formula for c in used):
            continue  # blank, or only notes in columns that are not imported
        row = _Row(sheet, number, cells)
        before = len(sheet.problems)
        if _bad_cells(row):
            continue
        post = CommentedMap()
        ident = row.text("id")
        if not ident:
            row.error("id", "no post id")
        elif not _ID.match(ident):
            row.error(
                "id",
                f"{ident!r} is not an id: lower-case letters, digits, '-' and '_', e.g. "
                f"{re.sub(r'[^a-z0-9_-]+', '-', ident.lower()).strip('-_') or 'nauryz-greeting'!r}",
            )
        elif ident in seen:
            row.error("id", f"duplicate post id {ident!r} (first in row {seen[ident]})")
        else:
            seen[ident] = number
        raw_category = row.text("category")
        category = _category(raw_category) if raw_category else None
        if not raw_category:
            row.error("category", "no category")
        elif category is None:
            choices = [c.value for c in Category]
            row.error(
                "category",
                f"{raw_category!r} is not one of {', '.join(choices)}"
                + _suggest(raw_category.lower(), choices),
            )
        targets = _list(row.cell("audiences"))
        if not targets:
            row.error("audiences", "no audience")
        for name in targets:
            if not _ID.match(name):
                row.error("audiences", f"{name!r} is not an audience id")
            elif audiences is not None and name not in audiences:
                row.error(
                    "audiences",
                    f"unknown audience {name!r}{_suggest(name, sorted(audiences))}; the campaign "
                    f"file has {', '.join(sorted(audiences))}",
                )
        when = _when(row)
        text = _texts(row)
        link = row.text("link")
        if link:
            try:
                web_url(link)
            except UnsafeUrl as exc:
                row.error("link", str(exc))
        media = _media(row)
        flag = row.text("hashtags").lower()
        if flag not in _YES | _NO:
            row.error("hashtags", f"{row.text('hashtags')!r}: write yes or no")
        if len(sheet.problems) > before:
            if ident:
                sheet.refused_ids.add(ident)
            continue
        post["id"] = ident
        assert category is not None
        post["category"] = category.value
        post["audiences"] = _flow(targets)
        post["when"] = _flow_map(when) if isinstance(when, dict) else when
        post["text"] = text
        for name in ("variant", "narrative", "reply_to", "timezone"):
            if row.text(name):
                post[name] = row.text(name)
        if link:
            post["link"] = link
        if media:
            post["media"] = media
        items = _list(row.cell("channels"))
        if items:
            post["channels"] = _flow(items)
        if flag in _NO and flag:
            post["hashtags"] = False
        post.yaml_add_eol_comment(f"row {number}", "id")
        posts.append(post)
        sheet.post_rows.append(number)
    return posts


def _media(row: _Row) -> Any:
    """The ``media`` value: the files of the ``media`` column, each as ``{file, alt}`` where an
    ``alt`` or ``alt_LANG`` column describes it. With several files an alt cell has one line per
    file, in their order (``-``: no alt text for that file); with one file the whole cell is its
    alt text."""
    from ruamel.yaml.comments import CommentedMap

    files = _list(row.cell("media"))
    language = row.text("language")
    by_language: dict[str | None, list[str]] = {}
    for name in row.sheet.columns:
        lang = (language or None) if name == "alt" else _alt_column(name)
        if name != "alt" and lang is None:
            continue
        cell = row.cell(name)
        if cell is None or not _text(cell):
            continue
        raw = str(cell.value).replace("\r\n", "\n").strip()
        if not files:
            row.error(name, "an alt text describes a media file: fill 'media' in this row too")
            return None
        lines = [raw] if len(files) == 1 else [line.strip() for line in raw.split("\n")]
        if len(lines) != len(files):
            row.error(
                name,
                f"{len(lines)} line{'s' if len(lines) > 1 else ''} of alt text for "
                f"{len(files)} media files: write one line per file, in the order of the media "
                "column ('-' for a file without one)",
            )
            return None
        lines = ["" if line == "-" else line for line in lines]
        if lang in by_language:
            row.error(name, f"a second alt text in {lang or 'the row'}'s language")
            return None
        by_language[lang] = lines
    if not by_language:
        return _flow(files) if files else None
    if None in by_language and len(by_language) > 1:
        row.error(
            "alt",
            "an alt text without a language beside per-language ones: fill 'language' or use "
            "alt_LANG",
        )
        return None
    from ruamel.yaml.comments import CommentedSeq

    out = CommentedSeq()
    for n, file in enumerate(files):
        alts = {lang: lines[n] for lang, lines in by_language.items() if lines[n]}
        if not alts:
            out.append(file)
            continue
        item = CommentedMap()
        item["file"] = file
        plain = alts.get(None)
        item["alt"] = (
            plain if plain is not None else _flow_map({str(k): v for k, v in alts.items()})
        )
        out.append(item)
    return out


def _flow(items: list[str]) -> Any:
    from ruamel.yaml.comments import CommentedSeq

    seq = CommentedSeq(items)
    seq.fa.set_flow_style()
    return seq


def _flow_map(values: dict[str, str]) -> Any:
    from ruamel.yaml.comments import CommentedMap

    out = CommentedMap(values)
    out.fa.set_flow_style()
    return out


def _base(campaign_file: Path) -> tuple[Any, Locator]:
    """The campaign, events and audiences blocks of ``campaign_file``, comments kept, and where
    its nodes are. The file is first read by ``campaigns.yamlsource`` (its size, depth, aliases,
    bytes and characters checked); ruamel then reads the vetted text for its comments, dates
    kept as text."""
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.error import YAMLError

    name = str(campaign_file)
    try:
        text = read_text(campaign_file, name, max_bytes=YAML_LIMITS.max_bytes)
        _, locator = parse_yaml(text, name)
    except YamlError as exc:
        raise SheetError([str(exc.problem)]) from None
    try:
        document = _round_trip().load(text)
    except (YAMLError, ValueError, TypeError) as exc:
        raise SheetError([f"{campaign_file}: cannot read it as YAML ({exc})"]) from None
    if not isinstance(document, CommentedMap) or "campaign" not in document:
        raise SheetError(
            [f"{campaign_file}: not a campaign file (no 'campaign' block) to copy from"]
        )
    base = CommentedMap()
    for key in ("campaign", "events", "audiences"):
        if key in document:
            base[key] = document[key]
    if "campaign" in document.ca.items:
        base.ca.items["campaign"] = document.ca.items["campaign"]
    if document.ca.comment:
        base.ca.comment = document.ca.comment
    return base, locator


def _round_trip() -> Any:
    """ruamel's round-trip reader, with dates left as the text that was written (the campaign
    validator parses them, with their positions)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.constructor import RoundTripConstructor

    class _TextDates(RoundTripConstructor):  # type: ignore[misc]
        pass

    _TextDates.add_constructor(
        "tag:yaml.org,2002:timestamp", RoundTripConstructor.construct_yaml_str
    )
    yaml = YAML(typ="rt", pure=True)
    yaml.Constructor = _TextDates
    yaml.allow_duplicate_keys = False
    return yaml


def template_context(campaign_file: Path | None, channels: Sequence[str] | None) -> TemplateContext:
    """What a template for ``campaign_file`` offers (`campaigns.sheettemplate`): its audiences,
    their languages, its first day and narratives; ``channels`` from the configuration, else
    the audiences' own."""
    if campaign_file is None:
        return TemplateContext(channels=tuple(channels or ()))
    base, _ = _base(campaign_file)
    audiences = [a for a in base.get("audiences") or [] if isinstance(a, dict)]
    ids = [str(a["id"]) for a in audiences if a.get("id")]
    languages = list(
        dict.fromkeys(str(lang) for a in audiences for lang in (a.get("languages") or []))
    )
    used = list(dict.fromkeys(str(c) for a in audiences for c in (a.get("channels") or [])))
    campaign = base.get("campaign") or {}
    try:
        first = date.fromisoformat(str(campaign.get("starts")))
    except ValueError:
        first = None
    narratives = list((campaign.get("narratives") or {}).keys()) or (
        [str(campaign["narrative"])] if campaign.get("narrative") else []
    )
    return TemplateContext(
        audiences=tuple(ids),
        languages=tuple(languages),
        channels=tuple(channels) if channels else tuple(used),
        first_day=first,
        narratives=tuple(str(n) for n in narratives),
    )


def _audience_ids(base: Any) -> set[str] | None:
    audiences = base.get("audiences") if base is not None else None
    if not isinstance(audiences, list):
        return None
    ids = {str(a.get("id")) for a in audiences if isinstance(a, dict) and a.get("id")}
    return ids or None


def _skeleton(posts: list[Any], sheet: Path) -> Any:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    days = sorted(
        {
            datetime.strptime(str(p["when"])[:10], "%Y-%m-%d").date()
            for p in posts
            if not isinstance(p["when"], dict)
        }
    )
    languages = sorted({lang for p in posts if isinstance(p["text"], dict) for lang in p["text"]})
    campaign = CommentedMap()
    campaign["id"] = PLACEHOLDER
    campaign["title"] = PLACEHOLDER
    campaign["country"] = PLACEHOLDER
    campaign["narrative"] = PLACEHOLDER
    campaign["starts"] = days[0] if days else PLACEHOLDER
    campaign["ends"] = days[-1] if days else PLACEHOLDER
    campaign["timezone"] = PLACEHOLDER
    campaign["hashtags"] = _flow([])
    campaign.yaml_add_eol_comment("a lower-case id, e.g. de-2027-gateway", "id")
    campaign.yaml_add_eol_comment("two capital letters: DE, CN", "country")
    campaign.yaml_add_eol_comment("the key idea, an id such as gateway-to-eurasia", "narrative")
    campaign.yaml_add_eol_comment("first and last day of the posts in the sheet", "starts")
    campaign.yaml_add_eol_comment("e.g. Europe/Berlin, Asia/Shanghai", "timezone")
    doc = CommentedMap()
    doc["campaign"] = campaign
    events = sorted(
        {
            str(p["when"]["event"])
            for p in posts
            if isinstance(p["when"], dict) and "event" in p["when"]
        }
    )
    if events:
        doc["events"] = CommentedMap((name, PLACEHOLDER) for name in events)
        doc.yaml_set_comment_before_after_key(
            "events", before="\nthe date of each event: name: 2027-03-21"
        )
    audiences = CommentedSeq()
    for name in sorted({a for p in posts for a in p["audiences"]}):
        audience = CommentedMap()
        audience["id"] = name
        audience["name"] = PLACEHOLDER
        audience["group"] = PLACEHOLDER
        audience["languages"] = _flow(languages or [PLACEHOLDER])
        audience["channels"] = _flow([PLACEHOLDER])
        audiences.append(audience)
    doc["audiences"] = audiences
    doc.yaml_set_start_comment(
        f"Imported from {sheet.name}. Replace every {PLACEHOLDER} below (or import again with\n"
        "--campaign-file BASE.yaml to copy the campaign, events and audiences blocks), then run\n"
        "elshi campaign validate on this file."
    )
    doc.yaml_set_comment_before_after_key(
        "audiences",
        before="\ngroup: general_public, political_foundations, think_tanks, business, "
        "universities,\nresearch, media, diaspora, government, students, tourists or other; "
        "channels: names from elshi.toml",
    )
    return doc


def _dump(document: Any) -> str:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt", pure=True)
    yaml.width = 4096
    yaml.representer.ignore_aliases = lambda *_: True
    yaml.indent(mapping=2, sequence=4, offset=2)
    out = io.StringIO()
    yaml.dump(document, out)
    return out.getvalue()


def import_sheet(
    sheet: Path,
    *,
    campaign_file: Path | None,
    channels: Mapping[str, str] | None = None,
    out: Path | None = None,
) -> tuple[str, int]:
    """The campaign YAML text for ``sheet`` and its number of posts; raises `SheetError` with
    every problem found. With ``campaign_file`` the result is validated as a whole campaign
    (``channels``: the configured channels and their platforms, as for ``validate``; ``out``:
    where it will be written, for its media paths), and each problem of a post is reported at
    the post's row and the column it came from."""
    data = _read(sheet)
    _header(data)
    _check_columns(data)
    if data.problems:
        raise SheetError(list(data.problems))
    base, where = _base(campaign_file) if campaign_file is not None else (None, None)
    posts = _posts(data, _audience_ids(base))
    if not posts:
        raise SheetError(
            list(data.problems)
            or [f"{data.label}: no posts below the header row {data.header_row}"]
        )
    from ruamel.yaml.comments import CommentedSeq

    document = base if base is not None else _skeleton(posts, sheet)
    block = CommentedSeq(posts)
    document["posts"] = block
    document.yaml_set_comment_before_after_key(
        "posts", before=f"\nposts imported from {sheet.name} (one per row; 'row N' is its row)"
    )
    text = _dump(document)
    if where is not None:
        # The rows that were read are validated as a campaign even when other rows were
        # refused: every independent problem is reported in one run.
        _validate(data, text, where, channels, out or sheet.with_suffix(".yaml"))
    if data.problems:
        raise SheetError(_in_row_order(data.problems))
    return text, len(posts)


def _in_row_order(problems: list[str]) -> list[str]:
    """Problems at sheet rows in the order of the rows (a problem of the campaign file first)."""

    def row(problem: str) -> int:
        found = re.search(r":row (\d+)", problem)
        return int(found.group(1)) if found else 0

    return sorted(problems, key=row)


def _validate(
    sheet: _Sheet,
    text: str,
    base: Locator,
    channels: Mapping[str, str] | None,
    out: Path,
) -> None:
    """Validate the imported campaign; problems of posts are put back on the sheet, the others
    at their place in the campaign file (``base``) the other blocks came from."""
    from campaigns.validation import load_campaign

    loaded = load_campaign(out, channels=channels, text=text)
    for problem in loaded.errors:
        path = problem.path
        if (
            path[2:3] == ("reply_to",)
            and "unknown post" in problem.message
            and any(repr(ident) in problem.message for ident in sheet.refused_ids)
        ):
            continue  # the reply's parent is a refused row, reported there
        if len(path) >= 2 and path[0] == "posts" and isinstance(path[1], int):
            number = sheet.post_rows[path[1]]
            message = problem.message
            if path[2:3] == ("text",) and "its own shorter text" in message:
                platform = message.split("give ")[-1].split(" ")[0]
                column = f"text_{path[3]}_{platform}" if len(path) > 3 else f"text_{platform}"
                message = (
                    message.split("; shorten it")[0]
                    + f"; shorten it, or add a column {column} with a shorter text for {platform}"
                )
            sheet.error(number, _column_of(sheet, path[2:]), message)
        else:
            message = _AT_LINE.sub(
                lambda m: str(_line_in(base, text, int(m.group(1)))), problem.message
            )
            sheet.problems.append(str(base.problem(path, message)))


_AT_LINE = re.compile(r"(?<=at line )(\d+)")
"""A line of the campaign named in a problem ("already the name of audience 'x' at line 14"):
a line of the text the import makes, to be named as a line of the campaign file."""


def _line_in(base: Locator, text: str, line: int) -> int:
    """The campaign file's line of the node on ``line`` of ``text`` (the imported campaign,
    whose blocks came from that file but not always on the same lines)."""
    paths = [path for path, (at, _) in _located(text, base.file).values.items() if at == line]
    if not paths or max(paths, key=len)[:1] in ((), ("posts",)):
        return line
    return base.position(max(paths, key=len))[0]


@functools.lru_cache(maxsize=1)
def _located(text: str, name: str) -> Locator:
    return parse_yaml(text, name)[1]


def _column_of(sheet: _Sheet, path: tuple[str | int, ...]) -> str | None:
    """The sheet column a post's value came from (``path`` is below the post)."""
    have = sheet.columns
    if not path:
        return None
    key = path[0]
    if key == "text":
        language = str(path[1]) if len(path) > 1 else None
        platform = str(path[2]) if len(path) > 2 and path[2] != "default" else None
        candidates = [
            f"text_{language}_{platform}" if language and platform else None,
            f"text_{platform}" if platform else None,
            f"text_{language}" if language else None,
            "text",
        ]
        return next((c for c in candidates if c in have), None)
    if key == "when":
        return next((c for c in ("recurrence", "when", "date", "event") if c in have), None)
    if key == "media":
        if len(path) > 2 and path[2] == "alt":
            language = str(path[3]) if len(path) > 3 else None
            found = f"alt_{language}" if language and f"alt_{language}" in have else "alt"
            return found if found in have else None
        return "media" if "media" in have else None
    return str(key) if key in have else None
