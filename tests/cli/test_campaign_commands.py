"""``elshi campaign validate|plan|apply|list|show``, ``elshi post approve|reject`` and
``elshi calendar export`` against a real SQLite file."""

from __future__ import annotations

import csv
import gc
import io
import json
import re
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from tests.campaigns.test_bad_input import CASES, GOOD
from tests.cli.conftest import Run, fingerprint

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture
def good(workspace: Path) -> Path:
    path = workspace / "campaign.yaml"
    path.write_text(GOOD, encoding="utf-8")
    return path


@pytest.fixture
def applied(run: Run, good: Path, workspace: Path) -> Path:
    run("campaign", "apply", "campaign.yaml", "--by", "tester")
    return workspace / "elshi.db"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def sql(database: Path, statement: str, *args: object) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(database)) as conn:
        rows = conn.execute(statement, args).fetchall()
        conn.commit()
    return rows


def test_validate_says_ok_with_exit_code_0(run: Run, good: Path) -> None:
    result = run("campaign", "validate", "campaign.yaml")
    assert "campaign.yaml: ok — campaign de-test, 2 posts, 4 deliveries" in result.output


def test_validate_checks_every_file_given(run: Run, workspace: Path) -> None:
    result = run("campaign", "validate", str(FIXTURES / "germany-small.yaml"))
    assert "ok — campaign de-test, 4 posts, 17 deliveries" in result.output


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_file_is_located_exits_2_and_leaves_the_database_unchanged(
    run: Run, good: Path, applied: Path, case: str
) -> None:
    (old, new), (line, column, words) = CASES[case]
    edit(good, old, new)
    before = fingerprint(applied)
    result = run("campaign", "apply", "campaign.yaml", expect=2)
    assert f"campaign.yaml:{line}:{column}: " in result.stdout
    assert "nothing was changed" in result.output
    assert words[0] in result.stdout
    assert fingerprint(applied) == before
    run("campaign", "validate", "campaign.yaml", expect=2)


def test_second_apply_changes_nothing_not_even_a_byte(
    run: Run, applied: Path, workspace: Path
) -> None:
    before = fingerprint(applied)
    audit = sql(applied, "SELECT count(*) FROM audit_log")
    result = run("campaign", "apply", "campaign.yaml")
    assert "campaign de-test: up to date, nothing to apply" in result.output
    assert sql(applied, "SELECT count(*) FROM audit_log") == audit
    assert fingerprint(applied) == before


def _open_handles(database: Path) -> list[str]:
    """The paths of this process's open files that are the database or its -wal/-shm."""
    names = {str(database.with_name(database.name + s)) for s in ("", "-wal", "-shm")}
    found = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = str(fd.readlink())
        except OSError:  # the directory's own descriptor, closed by now
            continue
        if target in names:
            found.append(target)
    return found


def test_a_command_closes_its_database_connections_when_it_ends(
    run: Run, good: Path, workspace: Path
) -> None:
    """However it ends (done, refused with exit 2), a command leaves no connection open in the
    process that ran it, without the garbage collector's help: the fingerprints of these
    tests, and any script driving the CLI in-process, rely on it."""
    database = workspace / "elshi.db"
    enabled = gc.isenabled()
    gc.disable()  # an automatic pass would close a forgotten engine's connections
    try:
        run("campaign", "apply", "campaign.yaml")
        assert _open_handles(database) == []
        run("campaign", "list")
        assert _open_handles(database) == []
        run("campaign", "show", "nope", expect=2)
        assert _open_handles(database) == []
        run("db", "current")
        assert _open_handles(database) == []
    finally:
        if enabled:
            gc.enable()


def test_plan_shows_additions_changes_removals_and_the_timeline_and_changes_nothing(
    run: Run, good: Path, applied: Path
) -> None:
    edit(good, "text: Hallo aus Astana.", "text: Hallo aus Almaty.")
    edit(good, "  - id: second", "  - id: third")
    before = fingerprint(applied)
    result = run("campaign", "plan", "campaign.yaml")
    out = result.stdout
    assert "campaign de-test: 3 to add, 3 to change, 3 to remove" in out
    assert "+ post de-test/third" in out
    assert "~ delivery hello@de-x: text" in out
    assert "- post de-test/second: removed from the file" in out
    assert "- delivery second@de-x: cancelled" in out
    assert "Timeline (UTC and local time" in out
    assert re.search(r"2027-04-15 08:00\s+2027-04-15 10:00\s+Europe/Berlin\s+de-mastodon", out)
    assert fingerprint(applied) == before


def test_plan_says_a_published_delivery_will_not_be_rewritten(
    run: Run, good: Path, applied: Path
) -> None:
    sql(applied, "UPDATE delivery SET state = 'published'")
    edit(good, "text: Hallo aus Astana.", "text: Hallo aus Almaty.")
    before = fingerprint(applied)
    result = run("campaign", "plan", "campaign.yaml", "--no-timeline")
    assert "! delivery hello@de-x: is published; change to text not applied" in result.stdout
    assert "2 refused" in result.stdout
    assert fingerprint(applied) == before
    run("campaign", "apply", "campaign.yaml")
    texts = sql(applied, "SELECT DISTINCT text FROM delivery WHERE text LIKE 'Hallo%'")
    assert texts == [("Hallo aus Astana.\n\n#Kasachstan",)]


def test_json_output_of_list_show_and_plan_parses(run: Run, applied: Path) -> None:
    listed = json.loads(run("campaign", "list", "--json").stdout)
    assert [(c["id"], c["posts"], c["deliveries"]) for c in listed] == [("de-test", 2, 4)]
    shown = json.loads(run("campaign", "show", "de-test", "--json").stdout)
    assert shown["campaign"]["timezone"] == "Europe/Berlin"
    assert {d["due_at"] for d in shown["deliveries"]} >= {"2027-04-15T08:00:00+00:00"}
    planned = json.loads(run("campaign", "plan", "campaign.yaml", "--json").stdout)
    assert planned["changes"] == {"de-test": []}
    assert len(planned["timeline"]) == 4


def test_show_of_an_unknown_campaign_exits_2(run: Run, applied: Path) -> None:
    result = run("campaign", "show", "nope", expect=2)
    assert "no campaign 'nope'" in result.output


def test_approve_all_records_who_and_releases_the_deliveries(run: Run, applied: Path) -> None:
    result = run("post", "approve", "--campaign", "de-test", "--all", "--by", "A. Nurlanovna")
    assert "de-test/hello" in result.output
    shown = json.loads(run("campaign", "show", "de-test", "--json").stdout)
    assert {(p["approval"], p["approved_by"]) for p in shown["posts"]} == {
        ("approved", "user:A. Nurlanovna")
    }
    assert {d["state"] for d in shown["deliveries"]} == {"approved"}
    actors = sql(applied, "SELECT DISTINCT actor FROM audit_log WHERE reason = 'approved'")
    assert actors == [("user:A. Nurlanovna",)]


def test_approve_all_without_a_campaign_is_refused(run: Run, applied: Path) -> None:
    result = run("post", "approve", "--all", expect=2)
    assert "--all needs --campaign" in result.output


def test_reject_cancels_and_records_the_reason(run: Run, applied: Path) -> None:
    run("post", "reject", "de-test/hello", "--reason", "tone", "--by", "B")
    rows = sql(
        applied,
        "SELECT d.state, d.last_error FROM delivery d JOIN post p ON p.id = d.post_id "
        "WHERE p.key = 'hello'",
    )
    assert set(rows) == {("cancelled", "rejected by user:B: tone")}


def test_approving_an_unknown_post_exits_2(run: Run, applied: Path) -> None:
    result = run("post", "approve", "de-test/nope", expect=2)
    assert "no post 'de-test/nope'" in result.output


def unfold(text: str) -> list[str]:
    return text.replace("\r\n ", "").split("\r\n")


def test_calendar_export_ics_is_valid_icalendar(run: Run, applied: Path, workspace: Path) -> None:
    run("calendar", "export", "--format", "ics", "--out", "schedule.ics")
    raw = (workspace / "schedule.ics").read_bytes()
    assert raw.endswith(b"\r\n")
    physical = raw.split(b"\r\n")[:-1]
    assert all(len(line) <= 75 for line in physical)
    assert b"\n" not in raw.replace(b"\r\n", b"")
    lines = unfold(raw.decode("utf-8"))[:-1]
    stack: list[str] = []
    for line in lines:
        if line.startswith("BEGIN:"):
            stack.append(line[6:])
        elif line.startswith("END:"):
            assert stack.pop() == line[4:]
    assert stack == []
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-1] == "END:VCALENDAR"
    starts = [line for line in lines if line.startswith("DTSTART")]
    assert len(starts) == 4
    assert all(re.fullmatch(r"DTSTART:\d{8}T\d{6}Z", line) for line in starts)
    assert "DTSTART:20270415T080000Z" in starts
    assert sum(line == "BEGIN:VEVENT" for line in lines) == 4
    assert len({line for line in lines if line.startswith("UID:")}) == 4


def test_calendar_export_folds_long_multibyte_lines_without_splitting_characters(
    run: Run, good: Path, workspace: Path
) -> None:
    edit(good, "text: Hallo aus Astana.", "text: " + "哈萨克斯坦欢迎您" * 8)
    run("campaign", "apply", "campaign.yaml")
    result = run("calendar", "export", "--format", "ics")
    raw = result.stdout_bytes
    assert all(len(line) <= 75 for line in raw.split(b"\r\n"))
    assert "哈萨克斯坦欢迎您" * 8 in "".join(unfold(raw.decode("utf-8")))


def test_calendar_export_csv_lists_every_delivery(run: Run, applied: Path) -> None:
    result = run("calendar", "export", "--format", "csv", "--campaign", "de-test")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 4
    first = rows[0]
    assert (first["post"], first["due_at_utc"], first["timezone"]) == (
        "second",
        "2027-03-20T09:00:00Z",
        "Europe/Berlin",
    )


def test_calendar_export_of_an_unknown_campaign_exits_2(run: Run, applied: Path) -> None:
    run("calendar", "export", "--campaign", "nope", expect=2)
