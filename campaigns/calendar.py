"""Exporting the schedule as a calendar staff can open in Outlook or Thunderbird (iCalendar,
RFC 5545) or a spreadsheet (CSV). One event per delivery, at its UTC time, titled with the
channel and the post; the text is in the description.

What users wrote is data, never structure: iCalendar text is escaped (backslash, ``;``, ``,``,
line breaks) with control characters removed and lines folded at 75 octets; a URL that is not a
web address is left out; each UID carries the workspace's UUID, so two offices' calendars never
collide in one agenda; a CSV cell that a spreadsheet would run as a formula (``=``, ``+``,
``-``, ``@``, tab, CR) is prefixed with ``'``."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from campaigns.links import is_web_url

CSV_COLUMNS = (
    "delivery",
    "campaign",
    "post",
    "occurrence",
    "category",
    "variant",
    "channel",
    "platform",
    "language",
    "due_at_utc",
    "local_due",
    "timezone",
    "state",
    "approval",
    "text",
    "remote_url",
)


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
"""RFC 5545 TEXT allows no control character but tab (line breaks are escaped first)."""


def _escape(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # a bare CR would end the line
    text = _CONTROL.sub("", text)
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> Iterable[str]:
    """RFC 5545 lines are at most 75 octets; longer ones continue after CRLF + space."""
    encoded = line.encode("utf-8")
    if len(encoded) <= 75:
        yield line
        return
    chunk = ""
    size = 0
    limit = 75
    for ch in line:
        n = len(ch.encode("utf-8"))
        if size + n > limit:
            yield chunk
            chunk, size, limit = " ", 1, 75
        chunk += ch
        size += n
    yield chunk


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def to_ics(
    rows: Iterable[Mapping[str, Any]], *, now: datetime, workspace: str, name: str = "Elshi"
) -> str:
    """The rows of ``campaigns.queries.timeline`` as an iCalendar file; ``workspace`` is the
    database's UUID (``campaigns.queries.workspace_id``)."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Elshi//campaign schedule//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{_escape(name)}",
    ]
    for row in rows:
        due: datetime = row["due_at"]
        summary = f"[{row['channel']}] {row['post']}" + (
            f" #{row['occurrence'] + 1}" if row["occurrence"] else ""
        )
        description = (
            f"{row['text']}\n\nCampaign: {row['campaign_title']} ({row['campaign']})\n"
            f"Local time: {row['local_due'].replace('T', ' ')} {row['timezone']}\n"
            f"Category: {row['category']}  Language: {row['language']}  State: {row['state']}"
        )
        lines += [
            "BEGIN:VEVENT",
            f"UID:delivery-{row['delivery']}-{_escape(workspace)}@elshi",
            f"DTSTAMP:{_stamp(now)}",
            f"DTSTART:{_stamp(due)}",
            f"DTEND:{_stamp(due + timedelta(minutes=15))}",
            f"SUMMARY:{_escape(summary)}",
            f"DESCRIPTION:{_escape(description)}",
            f"CATEGORIES:{_escape(row['category'])},{_escape(row['channel'])}",
            "STATUS:"
            + (
                "CANCELLED"
                if row["state"] == "cancelled"
                else "TENTATIVE"
                if row["state"] == "draft"
                else "CONFIRMED"
            ),
        ]
        if is_web_url(row.get("remote_url")):
            lines.append(f"URL:{row['remote_url']}")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "".join(part + "\r\n" for line in lines for part in _fold(line))


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""How a text a spreadsheet would read as a formula starts (`safe_cell`)."""


def safe_cell(value: object) -> object:
    """``value`` as a spreadsheet will show it, never run it: text a spreadsheet would read as
    a formula (OWASP "CSV injection") gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def to_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        cells = [
            row["delivery"],
            row["campaign"],
            row["post"],
            row["occurrence"],
            row["category"],
            row["variant"] or "",
            row["channel"],
            row["platform"],
            row["language"],
            row["due_at"].strftime("%Y-%m-%dT%H:%M:%SZ"),
            row["local_due"],
            row["timezone"],
            row["state"],
            row["approval"],
            row["text"],
            row["remote_url"] or "",
        ]
        writer.writerow([safe_cell(cell) for cell in cells])
    return out.getvalue()
