"""Dates, times and numbers as people type them: a date cell holding a spreadsheet's date serial
(46123) is refused with the date it stands for; full-width digits and punctuation (２０２７－０４－１５
１０：００, as a Chinese input method types them) are read as digits in spreadsheets and campaign
files alike."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from campaigns.spreadsheet import SheetError, import_sheet
from campaigns.validation import load_campaign
from tests.campaigns.factory import CHANNELS, write
from tests.campaigns.test_bad_input import GOOD


def xlsx(path: Path, header: list[str], row: list[Any], number_format: str | None = None) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(header)
    sheet.append(row)
    if number_format is not None:
        sheet.cell(row=2, column=2).number_format = number_format
    book.save(path)
    return path


def problems(sheet: Path, base: Path | None = None) -> list[str]:
    with pytest.raises(SheetError) as caught:
        import_sheet(sheet, campaign_file=base, channels=CHANNELS)
    return caught.value.problems


HEADER = ["id", "date", "time", "category", "audiences", "text"]


@pytest.mark.parametrize(
    ("cell", "number_format", "named"),
    [
        # 46123 days after 1899-12-30: 2026-01-01 is 46023, and 100 days later is 11 April.
        (46123, "General", "2026-04-11"),
        (46123.0, "0", "2026-04-11"),
        ("46123", None, "2026-04-11"),
    ],
)
def test_a_date_serial_number_is_named_as_the_date_it_stands_for(
    tmp_path: Path, cell: Any, number_format: str | None, named: str
) -> None:
    row = ["spring", cell, "10:00", "cultural_event", "public", "Hallo"]
    sheet = xlsx(tmp_path / "c.xlsx", HEADER, row, number_format)
    [problem] = problems(sheet)
    assert ":row 2:col B (date): '46123' is not a date but a number" in problem
    assert f"as a spreadsheet's date serial number it is {named}" in problem
    assert f"format the cell as a date or write {named}" in problem


def test_a_date_and_time_serial_names_the_time_too(tmp_path: Path) -> None:
    # 46123 + 10.5/24 is 10:30 on that day.
    header = ["id", "when", "category", "audiences", "text"]
    sheet = xlsx(tmp_path / "c.xlsx", header, ["s", 46123 + 10.5 / 24, "tourism", "public", "Hi"])
    [problem] = problems(sheet)
    assert "col B (when):" in problem and "it is 2026-04-11 10:30" in problem


def test_a_number_that_is_no_date_of_this_century_is_simply_not_a_date(tmp_path: Path) -> None:
    sheet = xlsx(tmp_path / "c.xlsx", HEADER, ["s", 2027, "10:00", "tourism", "public", "Hi"])
    [problem] = problems(sheet)
    assert problem.endswith("col B (date): '2027' is not a date; write e.g. 2027-03-22")


@pytest.mark.parametrize(
    ("day", "clock"),
    [
        ("２０２７－０４－１５", "１０：３０"),
        ("２０２７-０４-１５", "１０:３０"),
        ("１５.０４.２０２７", "１０．３０"),
        ("２０２７/０４/１５", "１０３０"),
        ("２０２７年４月１５日", "１０：３０"),
    ],
)
def test_full_width_digits_in_a_sheets_dates_and_times_are_read_as_digits(
    tmp_path: Path, day: str, clock: str
) -> None:
    sheet = tmp_path / "c.csv"
    sheet.write_text(
        f"id,date,time,category,audiences,text\nspring,{day},{clock},cultural_event,public,你好\n",
        encoding="utf-8",
    )
    text, count = import_sheet(sheet, campaign_file=write(tmp_path / "b.yaml", GOOD))
    assert count == 1 and 'when: "2027-04-15 10:30"' in text


def test_full_width_digits_in_a_sheets_offset_and_when_are_read_as_digits(tmp_path: Path) -> None:
    sheet = tmp_path / "c.csv"
    sheet.write_text(
        "id,when,event,offset,category,audiences,text\n"
        "a,２０２７－０４－１５　１０：３０,,,tourism,public,Eins\n"
        "b,,nauryz,－１ｄ　０９：００,tourism,public,Zwei\n",
        encoding="utf-8",
    )
    text, count = import_sheet(sheet, campaign_file=write(tmp_path / "b.yaml", GOOD))
    assert count == 2
    assert 'when: "2027-04-15 10:30"' in text and 'offset: "-1d 09:00"' in text


def test_full_width_digits_in_a_campaign_file_are_read_as_digits(tmp_path: Path) -> None:
    text = (
        GOOD.replace("starts: 2027-01-01", "starts: ２０２７－０１－０１")
        .replace("nauryz: 2027-03-21", "nauryz: {date: ２０２７-０３-２１, time: '１８：００'}")
        .replace('when: "2027-04-15 10:00"', 'when: "２０２７－０４－１５ １０：００"')
        .replace('offset: "-1d 10:00"', 'offset: "－１ｄ １０：００"')
    )
    loaded = load_campaign(write(tmp_path / "c.yaml", text), channels=CHANNELS)
    assert loaded.ok, [str(p) for p in loaded.errors]
    assert loaded.desired is not None
    assert loaded.desired.spec.starts == date(2027, 1, 1)
    due = sorted(d.due_at for p in loaded.desired.posts for d in p.deliveries)
    # 2027-03-20 10:00 and 2027-04-15 10:00 in Berlin (UTC+1, then UTC+2).
    assert due[0].replace(tzinfo=None) == datetime(2027, 3, 20, 9, 0)
    assert datetime(2027, 4, 15, 8, 0) in [d.replace(tzinfo=None) for d in due]


def test_a_time_typed_into_a_number_cell_is_named_as_the_time_it_stands_for(
    tmp_path: Path,
) -> None:
    # 0.4375 of a day is 10 h 30 min (630 of 1,440 minutes).
    row = ["s", "2027-04-15", 0.4375, "tourism", "public", "Hi"]
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER)
    sheet.append(row)
    book.save(tmp_path / "c.xlsx")
    [problem] = problems(tmp_path / "c.xlsx")
    assert "col C (time): '0.4375' is not a time of day but a number" in problem
    assert "as a fraction of a day it is 10:30" in problem


def test_a_full_width_recurrence_limit_is_a_number(tmp_path: Path) -> None:
    # Mondays at 10:00 all year, at most ３: refused as more than 3 posts (read as the number 3,
    # not refused as "not a valid integer").
    text = GOOD.replace(
        'when: "2027-04-15 10:00"',
        'when: {rrule: "FREQ=WEEKLY;BYDAY=MO;BYHOUR=10;BYMINUTE=0", limit: ３}',
    )
    loaded = load_campaign(write(tmp_path / "c.yaml", text), channels=CHANNELS)
    [problem] = loaded.errors
    assert "gives more than 3 posts" in problem.message
