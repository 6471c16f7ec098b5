"""Importing outcomes (the top of the AMEC ladder: event registrations, scholarship
applications, survey results...) from a CSV file into the ``outcome`` table.

The whole file is checked first and every problem is reported as FILE:LINE: column 'x': what
is wrong; only a file without problems is written, in the caller's transaction. A row whose
(campaign, audience, date, metric, source) was imported before replaces that value, so
importing the same file twice changes nothing.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.schema import Audience, Campaign, Outcome
from campaigns.sheetfiles import csv_problem
from reports.errors import OutcomeFileError as OutcomeFileError

COLUMNS = ("campaign", "audience", "date", "metric", "value", "source")
REQUIRED = ("date", "metric", "value")
ALIASES = {
    "campaign_id": "campaign",
    "audience_key": "audience",
    "day": "date",
    "on_date": "date",
}
METRIC_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
LEVEL_SUFFIXES = ("_rate", "_share", "_pct", "_score", "_index")
NUMBER_RE = re.compile(r"-?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)")
"""A value as a person writes it (docs/metrics.md: a number, dot for decimals): digits, a dot
and a minus sign. Python's float() also takes 'inf', 'nan', '1e3', '1_000', Arabic-Indic
digits and surrounding spaces, which no one means in an outcome file."""
MAX_BYTES = 50 * 1024 * 1024
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
"""Characters that cannot be stored (NUL on PostgreSQL) or shown safely; tabs and line breaks
inside quoted fields are fine."""


@dataclass(frozen=True)
class OutcomeRow:
    line: int
    campaign_id: str
    audience_id: int | None
    on_date: date
    metric: str
    value: float
    source: str


@dataclass
class ImportStats:
    added: int = 0
    updated: int = 0
    unchanged: int = 0


def read_outcomes(path: Path, session: Session, *, campaign: str | None = None) -> list[OutcomeRow]:
    """Parse and check the file against the database; raises OutcomeFileError listing every
    problem (nothing is written here)."""
    from campaigns.definition import halfwidth
    from campaigns.inputfiles import NotARegularFile, TooLarge, read_bounded

    try:
        raw = read_bounded(path, MAX_BYTES)
    except TooLarge:
        raise OutcomeFileError(
            [f"{path}: larger than {MAX_BYTES // 1024 // 1024} MiB; import it in parts"]
        ) from None
    except NotARegularFile as exc:
        raise OutcomeFileError([f"{path}: cannot read it: it {exc}"]) from None
    except FileNotFoundError:
        raise OutcomeFileError([f"{path}: no such file"]) from None
    except OSError as exc:
        raise OutcomeFileError([f"{path}: cannot read it ({exc.strerror})"]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise OutcomeFileError(
            [f"{path}:{line}: not UTF-8 text ({exc.reason}); save it as CSV UTF-8"]
        ) from None
    first = text.split("\n", 1)[0]
    if not text.strip():
        raise OutcomeFileError([f"{path}:1: the file is empty (expected a header row)"])
    # Spreadsheets in a German locale save CSV with ";": take the separator the header uses.
    delimiter = max((",", ";", "\t"), key=first.count)
    # A quoted field may span lines: records are read from the text (not line by line) and
    # located by the line they start on.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records = _records(reader, path)
    header = [h.strip().lower() for h in next(records)[1]]
    names = [ALIASES.get(h, h) for h in header]
    problems = [
        f"{path}:1: column {raw!r} is unknown (expected: {', '.join(COLUMNS)})"
        for raw, name in zip(header, names, strict=True)
        if name not in COLUMNS
    ]
    missing = [c for c in REQUIRED if c not in names]
    if "campaign" not in names and campaign is None:
        missing.insert(0, "campaign")
    problems += [f"{path}:1: column {c!r} is missing" for c in missing]
    duplicated = {n for n in names if names.count(n) > 1}
    problems += [f"{path}:1: column {c!r} appears twice" for c in sorted(duplicated)]
    if problems:
        raise OutcomeFileError(problems)

    campaigns = set(session.scalars(select(Campaign.id)))
    audiences = {(a.campaign_id, a.key): a.id for a in session.scalars(select(Audience))}
    rows: list[OutcomeRow] = []
    seen: dict[tuple[str, int | None, date, str, str], int] = {}
    default_source = path.name
    for number, values in records:
        if not any(v.strip() for v in values):
            continue
        control = next((v for v in values if _CONTROL.search(v)), None)
        if control is not None:
            code = ord(_CONTROL.findall(control)[0])
            problems.append(f"{path}:{number}: a control character (U+{code:04X}); delete it")
            continue
        if len(values) != len(names):
            problems.append(
                f"{path}:{number}: {len(values)} fields, but the header has {len(names)}"
            )
            continue
        cells = {n: v.strip() for n, v in zip(names, values, strict=True)}
        # Dates and values typed with a Chinese input method's full-width digits (２０２７－０３－０５,
        # １２０) are read as the digits they are.
        for name in ("date", "value"):
            if name in cells:
                cells[name] = halfwidth(cells[name])

        def bad(column: str, message: str, line: int = number) -> None:
            problems.append(f"{path}:{line}: column {column!r}: {message}")

        campaign_id = cells.get("campaign") or campaign or ""
        if not campaign_id:
            bad("campaign", "empty (give it here or with --campaign)")
        elif campaign_id not in campaigns:
            bad("campaign", f"no campaign {campaign_id!r} in the database")
        audience_key = cells.get("audience", "")
        audience_id: int | None = None
        if audience_key and campaign_id in campaigns:
            audience_id = audiences.get((campaign_id, audience_key))
            if audience_id is None:
                known = sorted(k for c, k in audiences if c == campaign_id)
                bad(
                    "audience",
                    f"campaign {campaign_id} has no audience {audience_key!r} "
                    f"(its audiences: {', '.join(known) or 'none'})",
                )
        try:
            on_date = datetime.strptime(cells["date"], "%Y-%m-%d").date()
        except ValueError:
            bad("date", f"{cells['date']!r} is not a date: use YYYY-MM-DD, e.g. 2027-03-22")
            on_date = date.min
        metric = cells["metric"]
        if not METRIC_RE.match(metric):
            bad(
                "metric",
                f"{metric!r}: use lower-case letters, digits and _ (e.g. event_registrations)",
            )
        raw_value = halfwidth(values[names.index("value")])
        wrong = value_problem(raw_value, metric)
        value = math.nan if wrong else float(raw_value)
        if wrong:
            bad("value", wrong)
        source = cells.get("source") or default_source
        if len(source) > 200:
            bad("source", "longer than 200 characters")
        key = (campaign_id, audience_id, on_date, metric, source)
        if key in seen:
            bad(
                "metric",
                f"the same campaign, audience, date, metric and source as line {seen[key]}",
            )
        seen[key] = number
        rows.append(OutcomeRow(number, campaign_id, audience_id, on_date, metric, value, source))
    if problems:
        raise OutcomeFileError(problems)
    return rows


def is_level(metric: str) -> bool:
    """A level (a survey result, a rate, a share, a score, an index: its latest value is
    reported) rather than a count of things (registrations, applications: summed)."""
    return metric.startswith("survey_") or metric.endswith(LEVEL_SUFFIXES)


def value_problem(raw: str, metric: str) -> str | None:
    """What is wrong with the value cell ``raw`` (as in the file) for ``metric``, or None. A
    count is a whole number, 0 or more; a level is any decimal number."""
    count = not is_level(metric)
    example = "a whole number such as 12" if count else "a number such as 12 or 0.35"
    if not NUMBER_RE.fullmatch(raw):
        if raw != raw.strip() and NUMBER_RE.fullmatch(raw.strip()):
            return f"{raw!r} has spaces around the number; write {raw.strip()!r}"
        hint = ""
        if "," in raw:
            hint = " (use a dot for decimals and no thousands separator)"
        elif "_" in raw or " " in raw.strip():
            hint = " (write the digits without separators)"
        return f"{raw!r} is not a number{hint}: write {example}"
    if len(raw) > 30:
        return f"{raw!r} has too many digits: write {example}"
    if Decimal(repr(float(raw))) != Decimal(raw):
        # The store keeps a double: 15 or so significant digits. 99999999999999999999 would
        # be stored (and reported) as 100000000000000000000, without a word.
        return (
            f"{raw!r} has more significant digits than are kept (about 15); it would be stored "
            f"as {float(raw)!r}: write {example}"
        )
    if count and raw.startswith("-") and float(raw) != 0:
        return f"{raw!r} is negative, but {metric} counts things: write {example}"
    if count and not float(raw).is_integer():
        return f"{raw!r} is not whole, but {metric} counts things: write {example}"
    return None


def _records(reader: Any, path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line the record starts on, its fields); a CSV error is an `OutcomeFileError` there."""
    line = 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise OutcomeFileError([f"{path}:{line}: {csv_problem(exc)}"]) from None
        yield line, values
        line = reader.line_num + 1


def import_outcomes(
    session: Session, rows: list[OutcomeRow], *, imported_from: str, now: datetime
) -> ImportStats:
    """Insert or update the rows (the caller commits). The rows already stored for the file's
    campaigns are read in one query, not one per row: a file of 200,000 rows took 80 s that
    way (a query and an autoflush each)."""
    stats = ImportStats()
    stored: dict[tuple[object, ...], Outcome] = {}
    campaigns = sorted({row.campaign_id for row in rows})
    for start in range(0, len(campaigns), 500):
        chunk = campaigns[start : start + 500]
        for found in session.scalars(select(Outcome).where(Outcome.campaign_id.in_(chunk))):
            key = (found.campaign_id, found.audience_id, found.on_date, found.metric, found.source)
            stored[key] = found
    for row in rows:
        key = (row.campaign_id, row.audience_id, row.on_date, row.metric, row.source)
        existing = stored.get(key)
        if existing is None:
            stored[key] = Outcome(
                campaign_id=row.campaign_id,
                audience_id=row.audience_id,
                on_date=row.on_date,
                metric=row.metric,
                value=row.value,
                source=row.source,
                imported_from=imported_from,
                imported_at=now,
            )
            session.add(stored[key])
            stats.added += 1
        elif existing.value != row.value:
            existing.value = row.value
            existing.imported_from = imported_from
            existing.imported_at = now
            stats.updated += 1
        else:
            stats.unchanged += 1
    session.flush()
    return stats
