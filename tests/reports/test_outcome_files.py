"""Outcome CSVs that are not well-formed: a field that never ends, quoted fields spanning
lines, control characters — each is a clean error at the line it starts on, exit 2, nothing
changed."""

from __future__ import annotations

from pathlib import Path

import pytest

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


# Values Python's float() took but no one writes, and counts that cannot be (negative, or part
# of a registration): each refused at its line and column with what a valid value looks like.
ODD_VALUES = [
    ("event_registrations", "-5", "is negative, but event_registrations counts things"),
    ("event_registrations", "2.5", "is not whole, but event_registrations counts things"),
    ("scholarship_applications", "-0.5", "is negative"),
    ("event_registrations", "inf", "is not a number"),
    ("event_registrations", "nan", "is not a number"),
    ("event_registrations", "1e3", "is not a number"),
    ("event_registrations", "1_000", "is not a number (write the digits without separators)"),
    ("event_registrations", " 12 ", "has spaces around the number; write '12'"),
    ("event_registrations", "\u0661\u0662", "is not a number"),
    ("event_registrations", "1" * 400, "has too many digits"),
    # more significant digits than the store's double keeps: it was stored changed, silently
    (
        "event_registrations",
        "99999999999999999999999999",
        "has more significant digits than are kept (about 15); it would be stored as 1e+26",
    ),
    ("survey_awareness", "0.12345678901234567", "has more significant digits than are kept"),
    ("survey_awareness", "1e-1", "is not a number: write a number such as 12 or 0.35"),
    ("survey_awareness", "Infinity", "is not a number"),
]


@pytest.mark.parametrize(("metric", "value", "words"), ODD_VALUES)
def test_odd_values_are_refused_at_their_line_and_column(
    store: Path, run: Run, metric: str, value: str, words: str
) -> None:
    text = GOOD + f'de,public,2027-03-08,{metric},"{value}",Eventbrite\n'
    output = refused(store, run, text)
    assert f"o.csv:5: column 'value': {value!r} {words}" in output, output
    if "spaces" not in words:
        assert ("a whole number such as 12" in output) == (not metric.startswith("survey_"))


def test_levels_may_be_fractional_or_negative_and_counts_whole(store: Path, run: Run) -> None:
    """What the docs allow stays allowed: a dot for decimals (a level), a sign on a level
    (a net score), a whole count, a leading zero."""
    text = GOOD + (
        "de,public,2027-03-08,net_sentiment_score,-0.25,Survey\n"
        "de,public,2027-03-08,survey_trust,.5,Survey\n"
        "de,public,2027-03-08,event_registrations,007,Eventbrite\n"
        "de,public,2027-03-09,event_registrations,0,Eventbrite\n"
    )
    (store / "o.csv").write_text(text, encoding="utf-8")
    result = run("outcomes", "import", "o.csv")
    assert "Traceback" not in result.output


def test_full_width_digits_are_read_as_digits(store: Path, run: Run) -> None:
    """A Chinese input method types digits full-width: 120 registrations on 5 March 2027."""
    (store / "o.csv").write_text(
        "campaign,audience,date,metric,value,source\n"
        "de,public,２０２７－０３－０５,event_registrations,１２０,Eventbrite\n"
        "de,,２０２７-０３-０７,survey_awareness,０．３１,Embassy survey\n",
        encoding="utf-8",
    )
    assert "2 added, 0 updated" in run("outcomes", "import", "o.csv").output
    text = run("report", "--as-of", "2027-03-10T12:00", "--format", "md").output
    assert "event registrations 120" in text  # the audience's card
    assert "| survey\\_awareness 0.31 |" in text  # the ladder's whole-campaign row
