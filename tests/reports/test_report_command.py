"""``elshi report`` end to end through the CLI (CliRunner, a real SQLite file): every format,
"n/a" for what a platform does not give, and the SIMULATED mark on every output."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests.cli.conftest import Run
from tests.reports.conftest import build_fixed

AT = "2027-03-10T12:00"


@pytest.fixture
def store(workspace: Path) -> Path:
    from campaigns.store import make_engine, upgrade

    engine = make_engine(f"sqlite:///{workspace / 'elshi.db'}")
    upgrade(engine)
    build_fixed(engine)
    engine.dispose()
    return workspace


@pytest.fixture
def simulated_store(workspace: Path) -> Path:
    from campaigns.store import make_engine, upgrade
    from reports.synthetic import generate_history

    engine = make_engine(f"sqlite:///{workspace / 'elshi.db'}")
    upgrade(engine)
    with engine.begin() as conn:
        generate_history(conn, deliveries=60, snapshots=600, seed=3, simulated=True, days=20)
    engine.dispose()
    return workspace


def test_without_a_format_a_short_summary_is_printed(store: Path, run: Run) -> None:
    result = run("report", "--as-of", AT)
    assert "Public · de" in result.output
    assert "1.87%" in result.output  # 70 / 3750 (two messages: too few for an interval)
    assert "SIMULATED" not in result.output


def test_html_report_is_one_file_with_inline_charts_and_no_network(store: Path, run: Run) -> None:
    run("report", "--as-of", AT, "--format", "html", "--out", "r.html")
    html = (store / "r.html").read_text(encoding="utf-8")
    assert html.count("<svg") >= 3
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org", "")
    assert "How these numbers are computed" in html


def test_missing_counters_read_n_a_never_zero_in_markdown(store: Path, run: Run) -> None:
    text = run("report", "--as-of", AT, "--format", "md").output
    section = text.split("### Engagement per audience", 1)[1]
    line = next(x for x in section.splitlines() if x.startswith("| Think tanks · de"))
    assert "n/a" in line  # no post of Think tanks is rated by followers
    assert "0.00%" not in line


def test_xlsx_has_one_sheet_per_table_with_number_formats(store: Path, run: Run) -> None:
    run("report", "--as-of", AT, "--format", "xlsx", "--out", "r.xlsx")
    book = load_workbook(store / "r.xlsx")
    assert {"About", "audience_engagement", "posts", "data_quality"} <= set(book.sheetnames)
    sheet = book["audience_engagement"]
    header = [c.value for c in sheet[4]]
    column = header.index("ER by impressions (ratio of sums, 95% CI)") + 1
    cell = sheet.cell(row=5, column=column)
    assert cell.number_format == "0.00%" and isinstance(cell.value, float)
    foll = sheet.cell(row=6, column=header.index("ER by followers (ratio of sums, 95% CI)") + 1)
    assert foll.value == "n/a"


def test_csv_goes_to_a_folder_or_a_zip_one_file_per_table(store: Path, run: Run) -> None:
    run("report", "--as-of", AT, "--format", "csv", "--out", "tables")
    files = {p.name for p in (store / "tables").iterdir()}
    assert {"about.csv", "audience_engagement.csv", "posts.csv"} <= files
    run("report", "--as-of", AT, "--format", "csv", "--out", "tables.zip")
    with zipfile.ZipFile(store / "tables.zip") as archive:
        assert set(archive.namelist()) == files
        text = archive.read("posts.csv").decode()
    header = text.splitlines()[0].split(",")
    d2 = next(line.split(",") for line in text.splitlines()[1:] if ",de-mastodon," in line)
    assert d2[header.index("impressions")] == ""  # NULL stays empty, not 0


def test_json_is_machine_readable_with_nulls_for_missing_values(store: Path, run: Run) -> None:
    document = json.loads(run("report", "--as-of", AT, "--format", "json").stdout)
    assert document["simulated"] is False
    rows = document["tables"]["audience_engagement"]["rows"]
    thinktanks = next(r for r in rows if r["audience_label"] == "Think tanks · de")
    assert thinktanks["er_foll"] is None


def test_the_json_file_is_the_printed_document_in_utf8(store: Path, run: Run) -> None:
    # The file is written from the export's UTF-8 bytes (`json_bytes`), stdout from its text.
    printed = json.loads(run("report", "--as-of", AT, "--format", "json").stdout)
    run("report", "--as-of", AT, "--format", "json", "--out", "r.json")
    written = json.loads((store / "r.json").read_bytes().decode("utf-8"))
    assert written.pop("generated_at") and printed.pop("generated_at")
    assert written == printed and written["tables"]["audience_engagement"]["rows"]


def test_sandbox_numbers_are_marked_simulated_in_every_format(
    simulated_store: Path, run: Run
) -> None:
    at = "2027-01-21"
    assert "SIMULATED" in run("report", "--as-of", at).output
    assert "SIMULATED" in run("report", "--as-of", at, "--format", "md").output
    assert json.loads(run("report", "--as-of", at, "--format", "json").stdout)["simulated"]
    run("report", "--as-of", at, "--format", "html", "--out", "r.html")
    assert "SIMULATED" in (simulated_store / "r.html").read_text(encoding="utf-8")
    run("report", "--as-of", at, "--format", "xlsx", "--out", "r.xlsx")
    book = load_workbook(simulated_store / "r.xlsx")
    assert book.sheetnames[:2] == ["Summary", "About"]
    tables = [name for name in book.sheetnames if name != "About"]
    assert all("SIMULATED" in str(book[name]["A1"].value) for name in tables)
    run("report", "--as-of", at, "--format", "csv", "--out", "t")
    assert "simulated,True" in (simulated_store / "t" / "about.csv").read_text(encoding="utf-8")
    for path in (simulated_store / "t").glob("*.csv"):
        if path.name != "about.csv":
            assert "simulated" in path.read_text(encoding="utf-8").splitlines()[0].split(",")


def test_unknown_campaign_or_bad_dates_exit_with_code_2(store: Path, run: Run) -> None:
    assert "no campaign" in run("report", "--campaign", "nope", expect=2).output
    assert "YYYY-MM-DD" in run("report", "--since", "1.3.2027", expect=2).output
    run("report", "--since", "2027-03-05", "--until", "2027-03-01", expect=2)


def test_audience_can_be_named_by_key(store: Path, run: Run) -> None:
    result = run("report", "--as-of", AT, "--audience", "de:thinktanks")
    assert "Think tanks · de" in result.output and "Public · de" not in result.output


def test_starting_the_cli_does_not_import_pandas() -> None:
    import subprocess
    import sys

    probe = "import sys, elshi.cli; print('pandas' in sys.modules, 'numpy' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.stdout.split() == ["False", "False"], result.stderr


@pytest.mark.parametrize("fmt", ["html", "xlsx", "csv", "json", "md"])
def test_an_empty_store_gives_an_empty_report_not_an_error(
    workspace: Path, run: Run, fmt: str
) -> None:
    assert "no deliveries in scope" in run("report").output
    run("report", "--format", fmt, "--out", f"empty.{fmt}")
    assert (workspace / f"empty.{fmt}").exists()
