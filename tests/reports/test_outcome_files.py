"""Outcome CSVs that are not well-formed: a field that never ends, quoted fields spanning
lines, control characters — each is a clean error at the line it starts on, exit 2, nothing
changed."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Run, fingerprint
from tests.reports.test_outcomes import GOOD, store

__all__ = ["store"]


def refused(store: Path, run: Run, content: str | bytes) -> str:
    path = store / "o.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    before = fingerprint(store / "elshi.db")
    result = run("outcomes", "import", "o.csv", expect=2)
    assert "Traceback" not in result.output
    assert fingerprint(store / "elshi.db") == before
    return result.output


def test_a_quote_that_never_closes_is_reported_at_its_line(store: Path, run: Run) -> None:
    text = GOOD + 'de,public,2027-03-08,event_registrations,5,"Eventbrite\n' + "x" * 200_000 + "\n"
    output = refused(store, run, text)
    assert "o.csv:5: not valid CSV" in output and "never closed" in output


def test_a_quoted_field_spanning_lines_keeps_later_lines_right(store: Path, run: Run) -> None:
    text = GOOD + 'de,public,2027-03-08,event_registrations,5,"Event\nbrite"\n'
    text += "de,public,2027-03-09,event_registrations,many,Eventbrite\n"
    output = refused(store, run, text)
    assert "o.csv:7: column 'value': 'many' is not a number" in output


def test_a_nul_character_is_located(store: Path, run: Run) -> None:
    text = GOOD + "de,public,2027-03-08,event_registrations,5,Event\x00brite\n"
    assert "o.csv:5: a control character (U+0000)" in refused(store, run, text)


def test_bad_bytes_are_located(store: Path, run: Run) -> None:
    raw = (GOOD + "de,public,2027-03-08,event_registrations,5,Caf\xe9\n").encode("latin-1")
    assert "o.csv:5: not UTF-8 text" in refused(store, run, raw)


def test_many_problems_end_in_a_count(store: Path, run: Run) -> None:
    text = GOOD + "".join(f"de,public,2027-03-08,m{n},x,s\n" for n in range(200))
    output = refused(store, run, text)
    assert "... and 150 more problems" in output
