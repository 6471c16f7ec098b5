"""Importing a content calendar (.xlsx or .csv, one row a post) as campaign YAML."""

from __future__ import annotations

import io
import json
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from campaigns.spreadsheet import SheetError, column_letter, import_sheet
from campaigns.validation import load_campaign
from tests.campaigns.factory import BASE, CHANNELS, audience, doc, write

HEADER = ["id", "date", "time", "category", "audiences", "text_de", "text_en", "notes"]


def xlsx(path: Path, rows: list[list[Any]], *, header: list[str] = HEADER) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Calendar"
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def csv_file(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def base(tmp_path: Path) -> Path:
    """The campaign, events and audiences blocks (its own posts are replaced)."""
    diaspora = audience("diaspora", ["de-telegram"], languages=["kk", "de"])
    return write(tmp_path / "base.yaml", doc(audiences=[*BASE["audiences"], diaspora]))


def imported(tmp_path: Path, sheet: Path, base: Path | None) -> tuple[str, Any]:
    text, _ = import_sheet(sheet, campaign_file=base)
    out = tmp_path / "imported.yaml"
    out.write_text(text, encoding="utf-8")
    loaded = load_campaign(out, channels=CHANNELS)
    return text, loaded


def test_an_xlsx_calendar_becomes_a_valid_campaign(tmp_path: Path, base: Path) -> None:
    sheet = xlsx(
        tmp_path / "calendar.xlsx",
        [
            [
                "nauryz",
                date(2027, 3, 20),
                time(10, 0),
                "cultural_event",
                "public",
                "Nauryz!",
                None,
                "ok",
            ],
            [
                "forum",
                datetime(2027, 4, 15),
                "09:30",
                "Economic forum",
                "public, diaspora",
                "Forum",
                "Forum EN",
                None,
            ],
        ],
    )
    text, loaded = imported(tmp_path, sheet, base)
    assert loaded.ok, [str(p) for p in loaded.problems]
    assert loaded.desired is not None
    due = {(d.post, d.channel): d.local_label for d in loaded.desired.deliveries}
    assert due == {
        ("nauryz", "de-x"): "2027-03-20T10:00",
        ("forum", "de-x"): "2027-04-15T09:30",
        ("forum", "de-telegram"): "2027-04-15T09:30",
    }
    assert 'when: "2027-03-20 10:00"' in text  # date-times quoted: they stay strings
    assert "row 2" in text and "row 3" in text  # each post says where it came from
    assert "notes" not in text


def test_the_yaml_round_trips(tmp_path: Path, base: Path) -> None:
    from ruamel.yaml import YAML

    sheet = xlsx(
        tmp_path / "calendar.xlsx",
        [
            [
                "a",
                date(2027, 3, 20),
                time(10, 0),
                "education",
                "public",
                "Zeile 1\nZeile 2",
                None,
                None,
            ]
        ],
    )
    text, _ = import_sheet(sheet, campaign_file=base)
    yaml = YAML(typ="rt", pure=True)
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.preserve_quotes = True
    data = yaml.load(text)
    assert data["posts"][0]["text"] == {"de": "Zeile 1\nZeile 2\n"}
    out = io.StringIO()
    yaml.dump(data, out)
    assert out.getvalue() == text


def test_the_campaign_files_blocks_and_comments_are_kept(tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text(
        "# Germany 2027\ncampaign:  # the campaign\n"
        + "\n".join("  " + line for line in _block(BASE["campaign"]))
        + "\naudiences:\n  - id: public\n    name: P\n    group: media\n    languages: [de]\n"
        "    channels: [de-x]\nposts: []\n",
        encoding="utf-8",
    )
    sheet = csv_file(
        tmp_path / "c.csv",
        "id,when,category,audiences,text\np1,2027-05-01 10:00,tourism,public,Hallo\n",
    )
    text, loaded = imported(tmp_path, sheet, base)
    assert text.startswith("# Germany 2027\ncampaign:  # the campaign\n")
    assert loaded.ok, [str(p) for p in loaded.problems]


def _block(values: dict[str, Any]) -> list[str]:
    return [f"{k}: {json.dumps(v, ensure_ascii=False)}" for k, v in values.items()]


def test_a_csv_with_languages_platform_overrides_and_an_event(tmp_path: Path, base: Path) -> None:
    sheet = csv_file(
        tmp_path / "calendar.csv",
        "id;event;offset;category;audiences;text_de;text_de_x;text_kk;link;variant\n"
        'eve;nauryz;-1d 10:00;media/PR;public,diaspora;"Morgen: Nauryz!\nFrohes Fest.";'
        "Nauryz morgen!;Ертең Наурыз!;https://example.org/n;B\n",
    )
    text, loaded = imported(tmp_path, sheet, base)
    assert loaded.ok, [str(p) for p in loaded.problems]
    assert loaded.desired is not None
    texts = {d.channel: d.text.split("\n\n")[0] for d in loaded.desired.deliveries}
    assert texts == {
        "de-x": "Nauryz morgen!",
        "de-telegram": "Ертең Наурыз!",
    }
    assert 'when: {event: nauryz, offset: "-1d 10:00"}' in text
    assert "category: media_pr" in text and "variant: B" in text


def test_a_plain_text_column_with_a_language_column(tmp_path: Path, base: Path) -> None:
    sheet = csv_file(
        tmp_path / "calendar.csv",
        "id,date,time,category,audiences,language,text,text_x\n"
        "p,22.03.2027,10:00,tourism,public,en,Hello,Hi\n",
    )
    text, loaded = imported(tmp_path, sheet, base)
    assert loaded.ok, [str(p) for p in loaded.problems]
    assert "en:\n        default: Hello\n        x: Hi" in text


def test_without_a_campaign_file_a_skeleton_names_what_to_fill_in(tmp_path: Path) -> None:
    sheet = csv_file(
        tmp_path / "calendar.csv",
        "id,date,time,category,audiences,text_de\np,2027-03-22,10:00,tourism,public,Hallo\n"
        "q,2027-04-02,10:00,tourism,public,Hallo\n",
    )
    text, loaded = imported(tmp_path, sheet, None)
    assert "FILL-IN" in text
    assert "starts: 2027-03-22" in text and "ends: 2027-04-02" in text
    messages = [p.message for p in loaded.errors]
    assert any("timezone: unknown time zone 'FILL-IN'" in m for m in messages)
    assert any("channel 'FILL-IN' is not in the configuration" in m for m in messages)


def problems_of(sheet: Path, base: Path | None = None) -> list[str]:
    with pytest.raises(SheetError) as caught:
        import_sheet(sheet, campaign_file=base)
    return caught.value.problems


def test_missing_required_columns_are_named(tmp_path: Path) -> None:
    sheet = xlsx(tmp_path / "calendar.xlsx", [["a", "x"]], header=["id", "text"])
    problems = problems_of(sheet)
    assert f"{sheet}:row 1: missing required column 'category' (the header row has: id, text)" in (
        problems
    )
    assert any("missing required column 'audiences'" in p for p in problems)
    assert any("missing the time" in p for p in problems)


def test_a_misspelt_column_gets_a_suggestion(tmp_path: Path) -> None:
    sheet = csv_file(tmp_path / "c.csv", "id,date,time,categroy,audiences,text\n")
    assert (
        f"{sheet}:row 1:col D (categroy): unknown column 'categroy' (did you mean 'category'?)"
        in (problems_of(sheet))
    )


def test_every_bad_cell_is_reported_with_its_row_and_column(tmp_path: Path, base: Path) -> None:
    sheet = xlsx(
        tmp_path / "calendar.xlsx",
        [
            ["ok", date(2027, 3, 20), time(10, 0), "tourism", "public", "Gut", None, None],
            ["bad", "31.02.2027", time(10, 0), "tourizm", "public", "Text", None, None],
            ["empty", date(2027, 3, 21), "25:99", "education", "publik", None, None, None],
            ["ok", date(2027, 3, 22), time(10, 0), "tourism", "public", "Doppelt", None, None],
            [None, None, None, None, None, None, None, "only a note"],
        ],
    )
    label = f"{sheet}"
    assert problems_of(sheet, base) == [
        f"{label}:row 3:col D (category): 'tourizm' is not one of cultural_event, education, "
        "tourism, economic_forum, media_pr, science_technology (did you mean 'tourism'?)",
        f"{label}:row 3:col B (date): '31.02.2027' is not a date; write e.g. 2027-03-22",
        f"{label}:row 4:col E (audiences): unknown audience 'publik' (did you mean 'public'?); "
        "the campaign file has diaspora, public",
        f"{label}:row 4:col C (time): '25:99' is not a time of day; write hours and "
        "two-digit minutes, e.g. 10:00 or 9:30",
        f"{label}:row 4:col F (text_de): the text is empty",
        f"{label}:row 5:col A (id): duplicate post id 'ok' (first in row 2)",
    ]


def test_a_date_without_a_time_is_an_error(tmp_path: Path) -> None:
    sheet = csv_file(
        tmp_path / "c.csv", "id,when,category,audiences,text\np,2027-03-22,tourism,public,Hallo\n"
    )
    [problem] = problems_of(sheet)
    assert problem.startswith(f"{sheet}:row 2:col B (when): '2027-03-22' is not a date and time")


def test_an_xlsx_date_cell_without_a_time_format_in_when_is_an_error(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["id", "when", "category", "audiences", "text"])
    sheet.append(["p", datetime(2027, 3, 22), "tourism", "public", "Hallo"])
    sheet["B2"].number_format = "dd.mm.yyyy"
    path = tmp_path / "c.xlsx"
    book.save(path)
    [problem] = problems_of(path)
    assert "row 2:col B (when)" in problem and "not a date and time" in problem


def test_other_file_types_are_refused(tmp_path: Path) -> None:
    sheet = tmp_path / "calendar.ods"
    sheet.write_bytes(b"PK")
    [problem] = problems_of(sheet)
    assert ".xlsx or .csv" in problem


def test_a_corrupt_xlsx_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    sheet = tmp_path / "calendar.xlsx"
    sheet.write_bytes(b"not a zip file")
    [problem] = problems_of(sheet)
    assert "not a readable .xlsx workbook" in problem


def test_column_letters_go_past_z() -> None:
    assert [column_letter(n) for n in (1, 26, 27, 52, 703)] == ["A", "Z", "AA", "AZ", "AAA"]


def _pictures(folder: Path, *names: str) -> None:
    from tests.connectors.files import png_bytes

    for name in names:
        (folder / name).write_bytes(png_bytes(16, 9))


def test_alt_text_columns_describe_the_media_per_language(tmp_path: Path, base: Path) -> None:
    """``alt_LANG`` (or ``alt`` in the row's language): one line per media file when there are
    several ('-' for none), the whole cell for one; the YAML gets ``{file, alt}`` items."""
    _pictures(tmp_path, "a.png", "b.png")
    sheet = csv_file(
        tmp_path / "calendar.csv",
        "id,date,time,category,audiences,text_de,text_en,media,alt_de,alt en\n"
        "one,2027-04-15,10:00,tourism,public,Hallo,Hello,a.png,Die Steppe: weit,The steppe\n"
        'two,2027-04-16,10:00,tourism,public,Hallo,Hello,"a.png, b.png","Erstes\nZweites",'
        '"First\n-"\n'
        "three,2027-04-17,10:00,tourism,public,Hallo,Hello,b.png,,\n",
    )
    text, loaded = imported(tmp_path, sheet, base)
    assert loaded.ok, [str(p) for p in loaded.problems]
    assert loaded.desired is not None
    alts = {d.post: d.alt for d in loaded.desired.deliveries}  # de-x: in German
    assert alts == {"one": ("Die Steppe: weit",), "two": ("Erstes", "Zweites"), "three": ("",)}
    assert "alt: {de: 'Die Steppe: weit', en: The steppe}" in text, text
    assert "alt: {de: Erstes, en: First}" in text and "alt: {de: Zweites}" in text, text
    assert "media: [b.png]" in text, text


@pytest.mark.parametrize(
    ("cells", "column", "message"),
    [
        (',"ein Bild"', "I (alt_de)", "an alt text describes a media file: fill 'media'"),
        ('"a.png, b.png","ein Bild"', "I (alt_de)", "1 line of alt text for 2 media files"),
        ('a.png,"' + "x" * 1001 + '"', "I (alt_de)", "for channel 'de-x': the alt text is 1001"),
    ],
)
def test_alt_text_problems_are_reported_at_the_alt_cell(
    tmp_path: Path, base: Path, cells: str, column: str, message: str
) -> None:
    _pictures(tmp_path, "a.png", "b.png")
    sheet = csv_file(
        tmp_path / "calendar.csv",
        "id,date,time,category,audiences,text_de,text_en,media,alt_de\n"
        f"p,2027-04-15,10:00,tourism,public,Hallo,Hello,{cells}\n",
    )
    with pytest.raises(SheetError) as caught:
        import_sheet(sheet, campaign_file=base, channels=CHANNELS)
    found = caught.value.problems
    assert len(found) == 1 and f"calendar.csv:row 2:col {column}: {message}" in found[0], found


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("10:00", "10:00"),
        ("9:30", "09:30"),
        ("10.30", "10:30"),  # German usage
        ("0930", "09:30"),
        ("10:00:00", "10:00"),
        # strptime read these as 01:00, 01:02, 10:05, 09:05 and 12:03: a post at another hour
        ("10", None),
        ("12", None),
        ("10.5", None),
        ("9:5", None),
        ("123", None),
        ("24:00", None),
    ],
)
def test_a_time_cell_is_read_as_written_or_refused(
    tmp_path: Path, written: str, read: str | None
) -> None:
    sheet = csv_file(
        tmp_path / "calendar.csv",
        f"id,date,time,category,audiences,text\np,2027-04-15,{written},tourism,public,Hallo\n",
    )
    if read is not None:
        text, _ = import_sheet(sheet, campaign_file=None)
        assert f'when: "2027-04-15 {read}"' in text, text
        return
    found = problems_of(sheet)
    assert found == [
        f"{sheet}:row 2:col C (time): {written!r} is not a time of day; write hours and "
        "two-digit minutes, e.g. 10:00 or 9:30"
    ], found


def test_lists_may_be_separated_as_a_chinese_input_method_types_them(
    tmp_path: Path, base: Path
) -> None:
    """Full-width comma and semicolon, and the ideographic comma (U+FF0C, U+FF1B, U+3001):
    'public，diaspora' was one unknown audience."""
    sheet = csv_file(
        tmp_path / "calendar.csv",
        "id,date,time,category,audiences,text_de,text_kk\n"
        "a,2027-04-15,10:00,tourism,public\uff0cdiaspora,Hallo,Сәлем\n"
        "b,2027-04-16,10:00,tourism,public\u3001diaspora,Hallo,Сәлем\n"
        "c,2027-04-17,10:00,tourism,public\uff1bdiaspora,Hallo,Сәлем\n",
    )
    text, loaded = imported(tmp_path, sheet, base)
    assert loaded.ok, [str(p) for p in loaded.problems]
    assert text.count("audiences: [public, diaspora]") == 3, text


def test_a_semicolon_csv_with_commas_in_its_texts_is_read_by_its_header(
    tmp_path: Path, base: Path
) -> None:
    """Excel in a German locale saves CSV with semicolons; texts hold commas. csv.Sniffer took
    the commas for the separator: the header was one column and every column 'missing'."""
    sheet = tmp_path / "kalender.csv"
    sheet.write_bytes(
        "\ufeffid;date;time;category;audiences;text_de\r\n"
        'a;15.04.2027;10:00;tourism;public;"Hallo, Welt; schön, ja"\r\n'
        "b;16.04.2027;10.30;tourism;public;Tschüss, Welt, bis bald\r\n".encode()
    )
    text, loaded = imported(tmp_path, sheet, base)
    assert loaded.ok, [str(p) for p in loaded.problems]
    assert "de: Hallo, Welt; schön, ja" in text and "de: Tschüss, Welt, bis bald" in text, text


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("2027年4月15日", "2027-04-15"),
        ("2027 年 04 月 15 号", "2027-04-15"),
        ("2027年2月30日", None),
    ],
)
def test_a_date_written_the_chinese_way_is_read(
    tmp_path: Path, written: str, read: str | None
) -> None:
    """Year, month and day as the China team writes them: unambiguous, so read, not refused
    as 'not a date'; a day that does not exist is still refused at its cell."""
    sheet = csv_file(
        tmp_path / "calendar.csv",
        f"id,date,time,category,audiences,text\np,{written},10:00,tourism,public,你好\n",
    )
    if read is not None:
        text, _ = import_sheet(sheet, campaign_file=None)
        assert f'when: "{read} 10:00"' in text, text
    else:
        assert f"row 2:col B (date): {written!r} is not a date" in problems_of(sheet)[0]
