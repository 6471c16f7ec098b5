"""The calendar export on its own: iCalendar text rules that the CLI test does not reach."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from campaigns.calendar import to_ics

ROW: dict[str, Any] = {
    "delivery": 7,
    "campaign": "de-test",
    "campaign_title": "Test; with, specials",
    "post": "hello",
    "occurrence": 1,
    "category": "education",
    "channel": "de-x",
    "language": "de",
    "due_at": datetime(2027, 4, 15, 8, 0, tzinfo=UTC),
    "local_due": "2027-04-15T10:00",
    "timezone": "Europe/Berlin",
    "state": "draft",
    "text": "line one\r\nline two\rline three",
    "remote_url": None,
}


def test_line_breaks_of_any_kind_are_escaped_and_only_crlf_ends_lines() -> None:
    text = to_ics([ROW], now=datetime(2027, 1, 1, tzinfo=UTC))
    assert "\r" not in text.replace("\r\n", "")
    assert "\n" not in text.replace("\r\n", "")
    unfolded = text.replace("\r\n ", "")
    assert (
        "DESCRIPTION:line one\\nline two\\nline three\\n\\nCampaign: Test\\; with\\, specials"
        in (unfolded)
    )


def test_a_draft_is_tentative_and_a_later_occurrence_is_numbered() -> None:
    text = to_ics([ROW], now=datetime(2027, 1, 1, tzinfo=UTC))
    assert "STATUS:TENTATIVE\r\n" in text
    assert "SUMMARY:[de-x] hello #2\r\n" in text
    assert "DTEND:20270415T081500Z\r\n" in text
