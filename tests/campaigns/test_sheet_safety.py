"""Spreadsheets that attack the reader or drown it: XML entities, zip bombs, forged dimensions,
junk rows, huge or broken fields, control characters, a hostile campaign file. Each ends in a
located SheetError (at most 50 problems, then a count), quickly."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from campaigns.sheetfiles import SheetLimits, read_sheet
from campaigns.spreadsheet import SheetError, import_sheet
from tests.campaigns.factory import write
from tests.campaigns.test_bad_input import GOOD

HEADER = "id,date,time,category,audiences,text\n"

# A hang guard, not a timing: the bound on time is measured by bench/front_door.py.
pytestmark = pytest.mark.timeout(120)


def xlsx(path: Path, rows: list[list[object]]) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["id", "date", "time", "category", "audiences", "text"])
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def rewrite_part(path: Path, part: str, change: object) -> Path:
    """Replace one XML part of a workbook (``change``: old text → new text)."""
    with zipfile.ZipFile(path) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    assert callable(change)
    parts[part] = change(parts[part].decode("utf-8")).encode("utf-8")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in parts.items():
            target.writestr(name, data)
    return path


def problems(path: Path, **kwargs: object) -> list[str]:
    with pytest.raises(SheetError) as caught:
        import_sheet(path, campaign_file=kwargs.get("campaign_file"))  # type: ignore[arg-type]
    return caught.value.problems


def test_openpyxl_parses_with_defusedxml() -> None:
    import openpyxl

    assert openpyxl.DEFUSEDXML is True


def test_an_external_entity_is_refused_and_nothing_is_fetched(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET", encoding="utf-8")
    path = xlsx(tmp_path / "x.xlsx", [["a", "2027-04-15", "10:00", "education", "public", "x"]])

    def xxe(xml: str) -> str:
        doctype = f'<!DOCTYPE worksheet [<!ENTITY leak SYSTEM "file://{secret}">]>'
        assert "<t>x</t>" in xml
        return doctype + xml.replace("<t>x</t>", "<t>&leak;</t>", 1)

    rewrite_part(path, "xl/worksheets/sheet1.xml", xxe)
    [message] = problems(path)
    assert "declares XML entities" in message and "TOP-SECRET" not in message


def test_entity_expansion_is_refused(tmp_path: Path) -> None:
    path = xlsx(tmp_path / "x.xlsx", [["a", "2027-04-15", "10:00", "education", "public", "x"]])
    laughs = "".join(
        f'<!ENTITY l{n} "{("&l" + str(n - 1) + ";") * 10 if n else "lol"}">' for n in range(10)
    )

    def bomb(xml: str) -> str:
        assert "<t>x</t>" in xml
        return f"<!DOCTYPE worksheet [{laughs}]>" + xml.replace("<t>x</t>", "<t>&l9;</t>", 1)

    rewrite_part(path, "xl/worksheets/sheet1.xml", bomb)
    [message] = problems(path)
    assert "declares XML entities" in message


def test_a_workbook_that_unpacks_to_too_much_is_refused(tmp_path: Path) -> None:
    path = xlsx(tmp_path / "x.xlsx", [])
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/media/padding.bin", b"\0" * 3_000_000)
    with pytest.raises(SheetError) as caught:
        read_sheet(path, limits=SheetLimits(max_unpacked_bytes=2_000_000))
    assert "unpacks to" in caught.value.problems[0]


def test_a_forged_dimension_does_not_pad_a_million_rows(tmp_path: Path) -> None:
    path = xlsx(tmp_path / "x.xlsx", [["a", "2027-04-15", "10:00", "education", "public", "x"]])
    rewrite_part(
        path,
        "xl/worksheets/sheet1.xml",
        lambda xml: xml.replace('<dimension ref="A1:F2" />', '<dimension ref="A1:XFD1048576" />'),
    )
    assert "XFD1048576" in zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml").decode()
    _, rows = read_sheet(path)
    assert len(rows) == 2 and len(rows[1][1]) == 6


def test_too_many_rows_are_refused(tmp_path: Path) -> None:
    junk = "".join(f"junk{n},,,,,\n" for n in range(25_000))
    path = tmp_path / "x.csv"
    path.write_text(HEADER + junk, encoding="utf-8")
    [message] = problems(path)
    assert "more than 20,000 rows" in message


def test_an_xlsx_with_too_many_rows_is_refused(tmp_path: Path) -> None:
    path = xlsx(tmp_path / "x.xlsx", [[f"p{n}"] for n in range(30)])
    with pytest.raises(SheetError) as caught:
        read_sheet(path, limits=SheetLimits(max_rows=20))
    assert "more than 20 rows" in caught.value.problems[0]


def test_problems_stop_at_fifty_with_a_count(tmp_path: Path) -> None:
    rows = "".join(f"Bad Id {n},2027-04-15,10:00,education,public,x\n" for n in range(120))
    path = tmp_path / "x.csv"
    path.write_text(HEADER + rows, encoding="utf-8")
    found = problems(path)
    assert len(found) == 51 and found[-1] == "... and 70 more problems"
    assert found[0].startswith(f"{path}:row 2:col A (id): 'Bad Id 0' is not an id")


def test_a_field_that_never_ends_is_a_clean_error(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text(HEADER + 'a,2027-04-15,10:00,education,public,"x' + "y" * 200_000, "utf-8")
    [message] = problems(path)
    assert ":row 2 (line 2): not valid CSV" in message and "never closed" in message


def test_a_nul_in_a_cell_is_located(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text(HEADER + "a,2027-04-15,10:00,education,public,Hal\x00lo\n", "utf-8")
    [message] = problems(path)
    assert ":row 2:col F (text): U+0000 (NUL) is not allowed" in message


def test_a_line_separator_in_a_cell_is_located(tmp_path: Path) -> None:
    """Pasted from a web page: a line break most editors do not show (and the YAML made from
    the sheet would break its line numbers)."""
    path = tmp_path / "x.csv"
    path.write_text(HEADER + "a,2027-04-15,10:00,education,public,Hallo\u2028Welt\n", "utf-8")
    [message] = problems(path)
    assert ":row 2:col F (text): U+2028 (LINE SEPARATOR" in message, message


def test_bytes_that_are_not_utf8_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes((HEADER + "a,2027-04-15,10:00,education,public,Caf\xe9\n").encode("latin-1"))
    [message] = problems(path)
    assert ":line 2: not UTF-8 text" in message


def test_a_hostile_campaign_file_is_refused_with_its_place(tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text(
        GOOD.replace("title: Test", 'title: &a ["lol"]\n  x1: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]')
        + "\n".join(f"y{n}: &c{n} [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]" for n in range(12)),
        encoding="utf-8",
    )
    sheet = tmp_path / "x.csv"
    sheet.write_text(HEADER + "a,2027-04-15,10:00,education,public,x\n", "utf-8")
    [message] = problems(sheet, campaign_file=base)
    assert message.startswith(f"{base}:") and ("aliases" in message or "values" in message)


def test_a_campaign_file_with_an_impossible_date_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    base = write(tmp_path / "base.yaml", GOOD.replace("ends: 2027-12-31", "ends: 2027-02-30"))
    sheet = tmp_path / "x.csv"
    sheet.write_text(HEADER + "a,2027-04-15,10:00,education,public,x\n", "utf-8")
    found = problems(sheet, campaign_file=base)
    assert any("'2027-02-30' is not a date" in m for m in found), found


@pytest.mark.parametrize("error", ["#DIV/0!", "#REF!", "#N/A", "#VALUE!", "#NAME?"])
def test_a_cell_showing_a_spreadsheet_error_is_refused_not_published(
    tmp_path: Path, error: str
) -> None:
    path = xlsx(
        tmp_path / "errors.xlsx",
        [["a", "2027-04-15", "10:00", "education", "public", error]],
    )
    found = problems(path)
    assert len(found) == 1, found
    assert f"errors.xlsx:row 2:col F (text): the cell shows the error {error}" in found[0]


def test_a_formula_without_a_computed_value_is_named_not_read_as_empty(tmp_path: Path) -> None:
    """A workbook written by a program (openpyxl, a script) stores formulas without their
    values, which only a spreadsheet program computes; such a cell read as empty: a 'no post
    id' or 'the text is empty' about a cell that is not, or an optional column (link) dropped
    without a word."""
    link = '=CONCAT("https://", "kazembassy.de")'
    path = xlsx(
        tmp_path / "formulas.xlsx",
        [
            ["a", "2027-04-15", "10:00", "education", "public", "Hallo"],
            ['="b"', "2027-04-16", "10:00", "education", "public", "=A2"],
        ],
    )
    book = load_workbook(path)
    sheet = book.active
    assert sheet is not None
    sheet["G1"], sheet["G2"] = "link", link
    book.save(path)
    found = problems(path)
    where = f"{path}" + ":row {}:col {} ({}): formula without a computed value ({})"
    assert found == [
        where.format(2, "G", "link", link)
        + ": open the file in a spreadsheet program and save it, so the value of each formula "
        "is stored",
        *(
            where.format(3, col, name, formula) + ": open the file in a spreadsheet program "
            "and save it, so the value of each formula is stored"
            for col, name, formula in (("A", "id", '="b"'), ("F", "text", "=A2"))
        ),
    ], found


def test_a_formula_with_its_computed_value_is_read_as_that_value(tmp_path: Path) -> None:
    """As a spreadsheet program saves it: the formula and its value (<v>) side by side."""
    path = xlsx(
        tmp_path / "saved.xlsx", [["a", "2027-04-15", "10:00", "education", "public", "=A1"]]
    )
    rewrite_part(
        path,
        "xl/worksheets/sheet1.xml",
        lambda xml: xml.replace("<f>A1</f><v /></c>", "<f>A1</f><v>Hallo</v></c>").replace(
            '<c r="F2">', '<c r="F2" t="str">'
        ),
    )
    _, rows = read_sheet(path)
    assert rows[1][1][5].value == "Hallo" and rows[1][1][5].formula is None
    text, count = import_sheet(path, campaign_file=None)
    assert count == 1 and "text: Hallo" in text
