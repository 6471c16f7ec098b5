"""Two audiences of one campaign with the same name (tests/campaigns/test_audience_names.py)
through the CLI: `validate` and `apply` refuse the file and change nothing; the spreadsheet
import names the campaign file's own lines."""

from __future__ import annotations

from pathlib import Path

from tests.campaigns.factory import write
from tests.campaigns.test_audience_names import with_second
from tests.campaigns.test_bad_input import GOOD
from tests.cli.conftest import Run, fingerprint


def test_validate_and_apply_refuse_it_and_change_nothing(run: Run, workspace: Path) -> None:
    write(workspace / "c.yaml", GOOD)
    run("campaign", "apply", "c.yaml")
    before = fingerprint(workspace / "elshi.db")
    write(workspace / "c.yaml", with_second("GERMAN PUBLIC"))
    for command in ("validate", "apply"):
        result = run("campaign", command, "c.yaml", expect=2)
        assert "c.yaml:19:11: audience name 'GERMAN PUBLIC' is already the name" in result.output
    assert fingerprint(workspace / "elshi.db") == before


def test_the_spreadsheet_import_refuses_it_at_the_campaign_files_lines(
    run: Run, workspace: Path
) -> None:
    # Comment lines above the audiences, and the posts block before them: the campaign file's
    # own lines are named, not those of the file the import would write (which has its posts
    # last).
    text = with_second("german public")
    head, rest = text.split("\naudiences:\n", 1)
    audiences, posts = rest.split("posts:\n", 1)
    write(
        workspace / "base.yaml",
        f"{head}\nposts:\n{posts}# who\n# we reach\naudiences:\n{audiences}",
    )
    (workspace / "calendar.csv").write_text(
        "id,date,time,category,audiences,text\n"
        "spring,2027-03-20,10:00,cultural_event,public,Frühling!\n",
        encoding="utf-8",
    )
    result = run("campaign", "import", "calendar.csv", "--campaign-file", "base.yaml", expect=2)
    assert (
        "base.yaml:32:11: audience name 'german public' is already the name of audience "
        "'public' at line 27" in result.output
    )
    assert not (workspace / "calendar.yaml").exists()
