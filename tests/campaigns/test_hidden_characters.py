"""Invisible characters in post texts (campaign files and spreadsheets): bidirectional controls
that make the text shown differ from the text written are refused at their text and character
(a closed embedding or isolate is a warning); a byte-order mark inside a text is a warning and a
spreadsheet cell's leading one is dropped; zero-width characters are counted as each platform
counts them."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaigns import textrules
from campaigns.spreadsheet import SheetError, import_sheet
from campaigns.validation import load_campaign
from tests.campaigns.factory import CHANNELS, write
from tests.campaigns.test_bad_input import GOOD

TEXT = "text: Hallo aus Astana."  # line 23, the value at column 11


def campaign(tmp_path: Path, text_line: str) -> object:
    assert GOOD.count(TEXT) == 1
    return load_campaign(
        write(tmp_path / "c.yaml", GOOD.replace(TEXT, text_line)), channels=CHANNELS
    )


@pytest.mark.parametrize(
    ("written", "character", "words"),
    [
        # "Visit exe.evil/moc.elgoog" shown as "Visit google.com/live.exe".
        ('"Visit \\u202Eexe.evil/moc.elgoog"', 7, "U+202E (RIGHT-TO-LEFT OVERRIDE) at character 7"),
        ('"ab \\u202Dcd\\u202C ef"', 4, "U+202D (LEFT-TO-RIGHT OVERRIDE) at character 4"),
        (
            '"Astana \\u2067قازاقستان"',
            8,
            "U+2067 (RIGHT-TO-LEFT ISOLATE) at character 8 is not closed",
        ),
        ('"Astana \\u202Bقازاقستان\\nnext line\\u202C"', 8, "is not closed by U+202C"),
        (
            '"Astana\\u2069 twice"',
            7,
            "U+2069 (POP DIRECTIONAL ISOLATE) at character 7 closes nothing",
        ),
    ],
)
def test_a_bidi_control_that_disguises_the_text_is_refused_at_its_character(
    tmp_path: Path, written: str, character: int, words: str
) -> None:
    loaded = campaign(tmp_path, f"text: {written}")
    assert loaded.desired is None  # type: ignore[attr-defined]
    errors = loaded.errors  # type: ignore[attr-defined]
    assert {(p.line, p.column) for p in errors} == {(23, 11)}
    # The first is the character named (an embedding left open in its paragraph is one problem,
    # and its closer in the next paragraph another).
    assert words in errors[0].message and f"character {character}" in errors[0].message


def test_a_closed_isolate_is_accepted_with_a_warning_naming_it(tmp_path: Path) -> None:
    loaded = campaign(
        tmp_path, 'text: "Die Hauptstadt heißt \\u2067قازاقستان\\u2069 auf Kasachisch."'
    )
    assert loaded.ok  # type: ignore[attr-defined]
    [warning] = [p for p in loaded.problems if "U+2067" in p.message]  # type: ignore[attr-defined]
    assert warning.severity == "warning" and warning.line == 23
    assert "at character 22 (closed at character 32)" in warning.message


def test_a_text_per_language_and_platform_is_checked_at_its_own_line(tmp_path: Path) -> None:
    loaded = campaign(
        tmp_path,
        'text:\n      de: Hallo.\n      en: {default: Hello., x: "Hi \\u202E!"}',
    )
    [problem] = loaded.errors  # type: ignore[attr-defined]
    assert problem.line == 25 and problem.path == ("posts", 0, "text", "en", "x")
    assert "U+202E (RIGHT-TO-LEFT OVERRIDE) at character 4" in problem.message


def test_a_byte_order_mark_inside_a_text_is_a_warning_with_its_character(tmp_path: Path) -> None:
    loaded = campaign(tmp_path, 'text: "Hallo\\uFEFF aus Astana."')
    assert loaded.ok  # type: ignore[attr-defined]
    [warning] = [p for p in loaded.problems if "U+FEFF" in p.message]  # type: ignore[attr-defined]
    assert warning.severity == "warning" and "at character 6" in warning.message


def test_a_spreadsheet_cells_leading_byte_order_mark_is_dropped(tmp_path: Path) -> None:
    sheet = tmp_path / "calendar.csv"
    sheet.write_text(
        "id,date,time,category,audiences,text\n"
        "\ufeffspring,2027-03-20,10:00,cultural_event,\ufeffpublic,\ufeffFrühling in Astana\n",
        encoding="utf-8",
    )
    base = write(tmp_path / "base.yaml", GOOD)
    text, count = import_sheet(sheet, campaign_file=base, channels=CHANNELS)
    assert count == 1 and "\ufeff" not in text
    assert "id: spring" in text and "text: Frühling in Astana" in text


def test_a_spreadsheet_text_with_an_override_is_refused_at_its_cell(tmp_path: Path) -> None:
    sheet = tmp_path / "calendar.csv"
    sheet.write_text(
        "id,date,time,category,audiences,text\n"
        "spring,2027-03-20,10:00,cultural_event,public,Frühling \u202eamaz\n",
        encoding="utf-8",
    )
    base = write(tmp_path / "base.yaml", GOOD)
    with pytest.raises(SheetError) as caught:
        import_sheet(sheet, campaign_file=base, channels=CHANNELS)
    [problem] = caught.value.problems
    assert problem.startswith(f"{sheet}:row 2:col F (text): U+202E (RIGHT-TO-LEFT OVERRIDE)")
    assert "at character 10" in problem


@pytest.mark.parametrize(
    ("text", "counts"),
    [
        # U+200B (zero-width space): its own grapheme; in twitter-text's weight-1 range.
        ("a\u200bb", {"x": 3, "mastodon": 3, "bluesky": 3, "telegram": 3}),
        # U+200D (zero-width joiner) joins the grapheme before it; weight 1 on X.
        ("a\u200db", {"x": 3, "mastodon": 2, "bluesky": 2, "telegram": 3}),
        # U+2060 (word joiner) and U+FEFF: their own graphemes, weight 2 on X (outside the range).
        ("a\u2060b", {"x": 4, "mastodon": 3, "bluesky": 3, "telegram": 3}),
        ("a\ufeffb", {"x": 4, "mastodon": 3, "bluesky": 3, "telegram": 3}),
        # An emoji ZWJ sequence is one emoji: 2 on X, one grapheme, 5 UTF-16 units.
        ("👩\u200d💻", {"x": 2, "mastodon": 1, "bluesky": 1, "telegram": 5}),
    ],
)
def test_zero_width_characters_are_counted_as_each_platform_counts_them(
    text: str, counts: dict[str, int]
) -> None:
    assert {p: textrules.length(p, text) for p in counts} == counts


def test_an_alt_text_with_an_override_is_refused_at_its_language(tmp_path: Path) -> None:
    from tests.connectors.files import png_bytes

    (tmp_path / "yurt.png").write_bytes(png_bytes(16, 9))
    loaded = campaign(
        tmp_path,
        "text: Hallo aus Astana.\n"
        '    media: [{file: yurt.png, alt: {de: "Eine Jurte", en: "A \\u202Etruy"}}]',
    )
    [problem] = loaded.errors  # type: ignore[attr-defined]
    assert problem.path == ("posts", 0, "media", 0, "alt", "en") and problem.line == 24
    assert "U+202E (RIGHT-TO-LEFT OVERRIDE) at character 3" in problem.message
