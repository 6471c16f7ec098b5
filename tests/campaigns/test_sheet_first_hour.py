"""The spreadsheet import as a new user meets it: a template with the documented columns,
drop-down lists and an example row that imports as it is; dates that could be read two ways
refused; a recurrence column; text too long for a platform reported at its row and column."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import load_workbook

from campaigns.sheettemplate import columns_for
from campaigns.spreadsheet import COLUMNS, SheetError, import_sheet, template_context
from campaigns.validation import load_campaign
from tests.campaigns.factory import BASE, CHANNELS, audience, doc, write

HEADER = "id,date,time,category,audiences,text_de\n"


@pytest.fixture
def base(tmp_path: Path) -> Path:
    diaspora = audience("diaspora", ["de-telegram"], languages=["kk", "de"])
    return write(tmp_path / "base.yaml", doc(audiences=[*BASE["audiences"], diaspora]))


def sheet(tmp_path: Path, rows: str, header: str = HEADER) -> Path:
    path = tmp_path / "calendar.csv"
    path.write_text(header + rows, encoding="utf-8")
    return path


def refused(path: Path, base: Path | None, **kwargs: object) -> list[str]:
    with pytest.raises(SheetError) as caught:
        import_sheet(path, campaign_file=base, **kwargs)  # type: ignore[arg-type]
    return caught.value.problems


@pytest.mark.parametrize("day", ["03/04/2027", "4/3/27", "05/06/2027 10:00"])
def test_a_date_that_reads_two_ways_is_refused(tmp_path: Path, base: Path, day: str) -> None:
    header, row = (
        ("id,when,category,audiences,text_de\n", f"a,{day},education,public,Hallo\n")
        if ":" in day
        else (HEADER, f"a,{day},10:00,education,public,Hallo\n")
    )
    [message] = refused(sheet(tmp_path, row, header), base)
    assert "could be" in message and "write the date year first" in message
    assert ":row 2:col B (" in message


@pytest.mark.parametrize(
    ("day", "expected"),
    [("13/04/2027", "2027-04-13"), ("04/13/2027", "2027-04-13"), ("03.04.2027", "2027-04-03")],
)
def test_a_date_that_reads_one_way_is_taken(
    tmp_path: Path, base: Path, day: str, expected: str
) -> None:
    text, _ = import_sheet(
        sheet(tmp_path, f"a,{day},10:00,education,public,Hallo\n"), campaign_file=base
    )
    assert f'when: "{expected} 10:00"' in text


def test_a_recurrence_column_becomes_a_bounded_rule(tmp_path: Path, base: Path) -> None:
    header = "id,date,until,recurrence,category,audiences,text_de\n"
    rows = (
        "weekly,2027-04-05,2027-04-26,FREQ=WEEKLY;BYDAY=MO;BYHOUR=10;BYMINUTE=0,education,public,Hi\n"
        "monthly,,,0 10 1 * *,education,public,Monat\n"
    )
    text, count = import_sheet(sheet(tmp_path, rows, header), campaign_file=base)
    assert count == 2
    out = tmp_path / "out.yaml"
    out.write_text(text, encoding="utf-8")
    loaded = load_campaign(out, channels=CHANNELS)
    assert loaded.ok, [str(p) for p in loaded.problems]
    assert loaded.desired is not None
    weekly = [d for d in loaded.desired.deliveries if d.post == "weekly"]
    assert [d.local_label for d in weekly] == [
        "2027-04-05T10:00",
        "2027-04-12T10:00",
        "2027-04-19T10:00",
        "2027-04-26T10:00",
    ]
    assert len([d for d in loaded.desired.deliveries if d.post == "monthly"]) == 12


def test_a_recurrence_with_a_time_column_says_where_the_time_goes(
    tmp_path: Path, base: Path
) -> None:
    header = "id,date,time,recurrence,category,audiences,text_de\n"
    rows = "w,2027-04-05,10:00,FREQ=WEEKLY;BYDAY=MO;BYHOUR=10,education,public,Hi\n"
    [message] = refused(sheet(tmp_path, rows, header), base)
    assert ":row 2:col C (time): a recurrence carries its own time of day" in message


def test_a_bad_rule_is_reported_at_its_cell(tmp_path: Path, base: Path) -> None:
    header = "id,recurrence,category,audiences,text_de\n"
    rows = "w,FREQ=SECONDLY;BYHOUR=10,education,public,Hi\n"
    [message] = refused(sheet(tmp_path, rows, header), base)
    assert ":row 2:col B (recurrence):" in message and "FREQ=SECONDLY" in message


def test_text_too_long_for_a_channel_is_reported_at_its_row_and_column(
    tmp_path: Path, base: Path
) -> None:
    rows = "short,2027-04-15,10:00,education,public,Hallo\n"
    rows += "long,2027-04-16,10:00,education,public," + "Hallo " * 60 + "\n"
    found = refused(sheet(tmp_path, rows), base, channels=CHANNELS)
    assert len(found) == 1, found
    assert found[0].startswith(f"{tmp_path / 'calendar.csv'}:row 3:col F (text_de): ")
    assert "for channel 'de-x'" in found[0]
    assert "add a column text_de_x with a shorter text for x" in found[0]


def test_every_independent_problem_of_a_sheet_is_reported_in_one_run_in_row_order(
    tmp_path: Path, base: Path
) -> None:
    """A row refused for its cells does not hide a too-long text in another row, and a reply to
    the refused row is not also reported as a reply to an unknown post."""
    header = "id,date,time,category,audiences,text_de,reply_to\n"
    rows = "long,2027-04-16,10:00,education,public," + "Hallo " * 60 + ",\n"
    rows += "bad,2027-04-17,25:00,educaton,public,Hallo,\n"
    rows += "reply,2027-04-18,10:00,education,public,Antwort,bad\n"
    rows += "lost,2027-04-19,10:00,education,public,Antwort,nowhere\n"
    found = refused(sheet(tmp_path, rows, header), base, channels=CHANNELS)
    where = [p.split(": ", 1)[0].rsplit(":row ", 1)[1] for p in found]
    assert where == [
        "2:col F (text_de)",
        "3:col D (category)",
        "3:col C (time)",
        "5:col G (reply_to)",
    ], found
    assert "unknown post 'nowhere'" in found[-1]


def test_the_template_has_the_columns_lists_and_an_example_that_imports(
    tmp_path: Path, base: Path
) -> None:
    from campaigns.sheettemplate import write_template

    path = tmp_path / "template.xlsx"
    context = template_context(base, ["de-x", "de-telegram"])
    columns = write_template(path, context)
    assert columns == columns_for(context)
    assert {"text_de", "text_en", "text_kk", "alt_de", "alt_en", "alt_kk"} <= set(columns)
    assert set(COLUMNS) - {"text", "language", "when", "alt"} <= set(columns)
    book = load_workbook(path)
    posts, lists = book["Posts"], book["Lists"]
    assert lists.sheet_state == "hidden"
    listed = {c[0].value: [x.value for x in c[1:] if x.value] for c in lists.iter_cols()}
    assert listed["audiences"] == ["public", "diaspora"]
    assert listed["channels"] == ["de-x", "de-telegram"]
    assert "cultural_event" in listed["category"]
    validated = {str(v.sqref).split(":")[0][0] for v in posts.data_validations.dataValidation}
    letters = {name: chr(65 + columns.index(name)) for name in ("category", "audiences")}
    assert set(letters.values()) <= validated
    text, count = import_sheet(path, campaign_file=base, channels=CHANNELS)
    assert count == 1 and "id: example-post" in text


def test_the_cli_writes_a_template_and_refuses_to_overwrite(
    tmp_path: Path, base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from elshi.cli import cli

    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    args = ["campaign", "import", "--template", "t.xlsx", "--campaign-file", str(base)]
    first = runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert "wrote t.xlsx: columns id, category, audiences" in first.output
    again = runner.invoke(cli, args)
    assert again.exit_code == 2 and "exists" in again.output
    assert runner.invoke(cli, ["campaign", "import", "t.xlsx"]).exit_code == 0
