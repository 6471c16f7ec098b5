"""The calendar export on its own: iCalendar text rules that the CLI test does not reach."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from campaigns.calendar import to_csv, to_ics

NOW = datetime(2027, 1, 1, tzinfo=UTC)
WORKSPACE = "6f1c1f39-1111-4a4e-9f55-0123456789ab"

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
    "platform": "x",
    "variant": None,
    "approval": "pending",
}


def test_line_breaks_of_any_kind_are_escaped_and_only_crlf_ends_lines() -> None:
    text = to_ics([ROW], now=NOW, workspace=WORKSPACE)
    assert "\r" not in text.replace("\r\n", "")
    assert "\n" not in text.replace("\r\n", "")
    unfolded = text.replace("\r\n ", "")
    assert (
        "DESCRIPTION:line one\\nline two\\nline three\\n\\nCampaign: Test\\; with\\, specials"
        in (unfolded)
    )


def test_a_draft_is_tentative_and_a_later_occurrence_is_numbered() -> None:
    text = to_ics([ROW], now=NOW, workspace=WORKSPACE)
    assert "STATUS:TENTATIVE\r\n" in text
    assert "SUMMARY:[de-x] hello #2\r\n" in text
    assert "DTEND:20270415T081500Z\r\n" in text


def test_a_url_that_is_not_a_web_address_cannot_inject_properties() -> None:
    row = {**ROW, "remote_url": "https://x.example/1\r\nATTENDEE:mailto:spy@example.org"}
    text = to_ics([row], now=NOW, workspace=WORKSPACE)
    assert "ATTENDEE" not in text and "URL:" not in text
    row = {**ROW, "remote_url": "javascript:alert(1)"}
    assert "URL:" not in to_ics([row], now=NOW, workspace=WORKSPACE)
    row = {**ROW, "remote_url": "https://x.example/status/1"}
    assert "URL:https://x.example/status/1\r\n" in to_ics([row], now=NOW, workspace=WORKSPACE)


def test_control_characters_in_texts_are_dropped_and_structure_is_escaped() -> None:
    row = {**ROW, "text": "a\x00b\x1b[31mc;d,e\\f", "post": "p\x07"}
    text = to_ics([row], now=NOW, workspace=WORKSPACE)
    assert "\x00" not in text and "\x1b" not in text and "\x07" not in text
    assert "DESCRIPTION:ab[31mc\\;d\\,e\\\\f" in text.replace("\r\n ", "")


def test_uids_carry_the_workspace() -> None:
    one = to_ics([ROW], now=NOW, workspace=WORKSPACE)
    other = to_ics([ROW], now=NOW, workspace="00000000-2222-4a4e-9f55-0123456789ab")
    uid = next(line for line in one.splitlines() if line.startswith("UID:"))
    assert uid == f"UID:delivery-7-{WORKSPACE}@elshi"
    assert uid not in other


def test_csv_cells_a_spreadsheet_would_run_are_neutralised() -> None:
    import csv
    import io

    formulas = ['=HYPERLINK("http://evil")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]
    rows = [{**ROW, "text": f, "remote_url": None} for f in formulas]
    cells = [r[14] for r in list(csv.reader(io.StringIO(to_csv(rows), newline="")))[1:]]
    assert cells == ["'" + f for f in formulas]
