"""``elshi outcomes import``: outcomes from CSV beside the platform figures (AMEC ladder);
errors name the line and column, exit 2 and leave the database unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import Run, fingerprint
from tests.reports.conftest import build_fixed

AT = "2027-03-10T12:00"
GOOD = """campaign,audience,date,metric,value,source
de,public,2027-03-05,event_registrations,120,Eventbrite
de,thinktanks,2027-03-06,event_registrations,35,Eventbrite
de,,2027-03-07,survey_awareness,0.31,Embassy survey
"""


@pytest.fixture
def store(workspace: Path) -> Path:
    from campaigns.store import make_engine, upgrade

    engine = make_engine(f"sqlite:///{workspace / 'elshi.db'}")
    upgrade(engine)
    build_fixed(engine)
    engine.dispose()
    return workspace


def test_outcomes_are_imported_and_appear_beside_the_audience_in_the_report(
    store: Path, run: Run
) -> None:
    (store / "o.csv").write_text(GOOD, encoding="utf-8")
    assert "3 added, 0 updated" in run("outcomes", "import", "o.csv").output
    text = run("report", "--as-of", AT, "--format", "md").output
    assert "event registrations 120" in text
    ladder = text.split("### Evaluation ladder", 1)[1]
    assert "event\\_registrations 35" in next(  # Markdown-escaped
        line for line in ladder.splitlines() if line.startswith("| Think tanks · de")
    )


def test_importing_the_same_file_twice_changes_nothing(store: Path, run: Run) -> None:
    (store / "o.csv").write_text(GOOD, encoding="utf-8")
    run("outcomes", "import", "o.csv")
    assert "0 added, 0 updated, 3 unchanged" in run("outcomes", "import", "o.csv").output
    (store / "o.csv").write_text(GOOD.replace(",120,", ",125,"), encoding="utf-8")
    assert "0 added, 1 updated, 2 unchanged" in run("outcomes", "import", "o.csv").output


def test_semicolon_separated_files_from_german_spreadsheets_are_read(store: Path, run: Run) -> None:
    (store / "o.csv").write_text(GOOD.replace(",", ";"), encoding="utf-8-sig")
    assert "3 added" in run("outcomes", "import", "o.csv").output


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("de,public,05.03.2027,event_registrations,1,x", "o.csv:3: column 'date'"),
        ("de,nobody,2027-03-05,event_registrations,1,x", "o.csv:3: column 'audience'"),
        ("xx,public,2027-03-05,event_registrations,1,x", "o.csv:3: column 'campaign'"),
        ("de,public,2027-03-05,Event Registrations,1,x", "o.csv:3: column 'metric'"),
        ('de,public,2027-03-05,event_registrations,"1,5",x', "o.csv:3: column 'value'"),
    ],
)
def test_a_bad_row_names_line_and_column_exits_2_and_changes_nothing(
    store: Path, run: Run, line: str, expected: str
) -> None:
    header, first = GOOD.splitlines()[:2]
    (store / "o.csv").write_text(f"{header}\n{first}\n{line}\n", encoding="utf-8")
    before = fingerprint(store / "elshi.db")
    result = run("outcomes", "import", "o.csv", expect=2)
    assert expected in result.output
    assert "nothing was imported" in result.output
    assert fingerprint(store / "elshi.db") == before


def test_an_unknown_column_is_named(store: Path, run: Run) -> None:
    (store / "o.csv").write_text("campaign,date,metric,value,comment\n", encoding="utf-8")
    assert (
        "o.csv:1: column 'comment' is unknown"
        in run("outcomes", "import", "o.csv", expect=2).output
    )


def test_campaign_can_come_from_the_option(store: Path, run: Run) -> None:
    (store / "o.csv").write_text(
        "audience,date,metric,value\npublic,2027-03-05,scholarship_applications,4\n",
        encoding="utf-8",
    )
    assert "1 added" in run("outcomes", "import", "o.csv", "--campaign", "de").output


def test_a_channels_report_leaves_outcomes_out_and_says_so(store: Path, run: Run) -> None:
    """Outcomes belong to a campaign or an audience, never to one channel."""
    (store / "o.csv").write_text(GOOD, encoding="utf-8")
    run("outcomes", "import", "o.csv")
    text = run("report", "--as-of", AT, "--channel", "de-x", "--format", "md").output
    assert "event registrations 120" not in text
    assert "outcomes are not per channel" in text
    assert (
        "event registrations 120"
        in run("report", "--as-of", AT, "--country", "de", "--format", "md").output
    )


def test_an_unknown_channel_or_country_is_named(store: Path, run: Run) -> None:
    result = run("report", "--channel", "de-tiktok", expect=2)
    assert "no channel 'de-tiktok' (known: de-mastodon, de-x)" in result.output
    result = run("report", "--country", "FR", expect=2)
    assert "no campaign for country 'FR' (campaigns are for: DE)" in result.output


def test_the_stored_outcomes_are_read_once_per_import_not_once_per_row(store: Path) -> None:
    """A query (and an autoflush) per row made a 200,000-row file take 80 s; the number of
    SELECTs must not grow with the rows (time itself: not asserted here)."""
    from datetime import UTC, datetime

    from sqlalchemy import event

    from campaigns.store import make_engine, session_factory
    from reports.outcomes import import_outcomes, read_outcomes

    lines = "".join(f"de,public,2027-03-05,metric_{n},{n},survey\n" for n in range(300))
    (store / "o.csv").write_text("campaign,audience,date,metric,value,source\n" + lines, "utf-8")
    engine = make_engine(f"sqlite:///{store / 'elshi.db'}")
    selects: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    with session_factory(engine)() as session:
        rows = read_outcomes(store / "o.csv", session)
        event.listen(engine, "before_cursor_execute", count)
        stats = import_outcomes(session, rows, imported_from="o.csv", now=datetime.now(UTC))
        event.remove(engine, "before_cursor_execute", count)
        session.commit()
    engine.dispose()
    assert stats.added == 300
    assert len(selects) <= 2, len(selects)
