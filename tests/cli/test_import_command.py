"""``elshi campaign import``: a spreadsheet in, a campaign file out, or located errors and
nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.campaigns.factory import write
from tests.campaigns.test_bad_input import GOOD
from tests.cli.conftest import Run, fingerprint

SHEET = (
    "id,date,time,category,audiences,text_de,text_en\n"
    "spring,2027-03-20,10:00,cultural_event,public,Frühling!,Spring!\n"
    "forum,2027-04-15,09:30,economic_forum,public,Forum,Forum\n"
)


@pytest.fixture
def base(workspace: Path) -> Path:
    return write(workspace / "base.yaml", GOOD)


def test_a_good_sheet_becomes_a_file_that_validates_and_applies(
    run: Run, workspace: Path, base: Path
) -> None:
    (workspace / "calendar.csv").write_text(SHEET, encoding="utf-8")
    result = run("campaign", "import", "calendar.csv", "--campaign-file", "base.yaml")
    assert "wrote calendar.yaml: 2 posts" in result.output
    run("campaign", "validate", "calendar.yaml")
    applied = run("campaign", "apply", "calendar.yaml")
    assert "+ post de-test/spring" in applied.output


def test_a_sheet_with_a_missing_column_exits_2_writes_nothing_and_changes_nothing(
    run: Run, workspace: Path, base: Path
) -> None:
    run("campaign", "apply", "base.yaml")
    before = fingerprint(workspace / "elshi.db")
    (workspace / "calendar.csv").write_text(
        "id,date,time,audiences,text\nspring,2027-03-20,10:00,public,Hallo\n", encoding="utf-8"
    )
    result = run("campaign", "import", "calendar.csv", "--campaign-file", "base.yaml", expect=2)
    assert "calendar.csv:row 1: missing required column 'category'" in result.output
    assert "nothing was written" in result.output
    assert not (workspace / "calendar.yaml").exists()
    assert fingerprint(workspace / "elshi.db") == before


def test_import_does_not_overwrite_without_force(run: Run, workspace: Path) -> None:
    (workspace / "calendar.csv").write_text(SHEET, encoding="utf-8")
    (workspace / "calendar.yaml").write_text("mine", encoding="utf-8")
    run("campaign", "import", "calendar.csv", expect=2)
    assert (workspace / "calendar.yaml").read_text() == "mine"
    run("campaign", "import", "calendar.csv", "--force")
    assert "FILL-IN" in (workspace / "calendar.yaml").read_text()


def test_a_broken_campaign_file_is_reported_with_its_line(run: Run, workspace: Path) -> None:
    (workspace / "calendar.csv").write_text(SHEET, encoding="utf-8")
    (workspace / "base.yaml").write_text("campaign: [\n", encoding="utf-8")
    result = run("campaign", "import", "calendar.csv", "--campaign-file", "base.yaml", expect=2)
    assert "base.yaml:2:1:" in result.output
