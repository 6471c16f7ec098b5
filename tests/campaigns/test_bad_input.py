"""Bad campaign files: every problem is found in one run, each with the line and column of the
YAML node it is about and a message that says what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaigns.validation import load_campaign, load_campaigns
from tests.campaigns.factory import CHANNELS

GOOD = """\
campaign:
  id: de-test
  title: Test
  country: DE
  narrative: gateway
  starts: 2027-01-01
  ends: 2027-12-31
  timezone: Europe/Berlin
  hashtags: ["#Kasachstan"]
events:
  nauryz: 2027-03-21
audiences:
  - id: public
    name: German public
    group: general_public
    languages: [de, en]
    channels: [de-x, de-mastodon]
posts:
  - id: hello
    category: cultural_event
    audiences: [public]
    when: "2027-04-15 10:00"
    text: Hallo aus Astana.
  - id: second
    category: education
    audiences: [public]
    when: {event: nauryz, offset: "-1d 10:00"}
    text: Zweiter Beitrag.
"""


def broken(old: str, new: str) -> str:
    assert GOOD.count(old) == 1, old
    return GOOD.replace(old, new)


# (replace this, with this) -> (line, column, words the message must contain)
CASES = {
    "an empty text and no media (a spreadsheet's empty cell is refused too)": (
        ("text: Hallo aus Astana.", "text: '  '"),
        (23, 11, ["the text in de is empty and the post has no media"]),
    ),
    "wrong type: a number for the country": (
        ("country: DE", "country: 49"),
        (4, 12, ["country: expected text, found the number 49"]),
    ),
    "wrong type: a string for a list": (
        ("languages: [de, en]", "languages: de"),
        (16, 16, ["languages: expected a list, e.g. [a, b], found 'de'"]),
    ),
    "wrong type: a number for when": (
        ('when: "2027-04-15 10:00"', "when: 12"),
        (22, 11, ["12 is not a date-time", "2027-03-22 10:00"]),
    ),
    "a date without a time of day": (
        ('when: "2027-04-15 10:00"', "when: 2027-04-15"),
        (22, 11, ["no time of day", '"2027-04-15 10:00"']),
    ),
    "unknown key in a post": (
        ("    text: Hallo aus Astana.", "    txt: Hallo aus Astana."),
        (23, 5, ["unknown key 'txt'", "did you mean 'text'"]),
    ),
    "unknown key in the campaign": (
        ('  hashtags: ["#Kasachstan"]', '  hashtag: ["#Kasachstan"]'),
        (9, 3, ["unknown key 'hashtag'", "did you mean 'hashtags'"]),
    ),
    "unknown key in an event offset": (
        ('{event: nauryz, offset: "-1d 10:00"}', '{event: nauryz, ofset: "-1d 10:00"}'),
        (27, 27, ["unknown key 'ofset'", "did you mean 'offset'"]),
    ),
    "unknown time zone": (
        ("timezone: Europe/Berlin", "timezone: Europe/Berlln"),
        (8, 13, ["unknown time zone 'Europe/Berlln'", "IANA"]),
    ),
    "a date outside the campaign": (
        ('when: "2027-04-15 10:00"', 'when: "2028-01-05 10:00"'),
        (22, 11, ["outside the campaign", "2027-01-01 to 2027-12-31"]),
    ),
    "a local time in the DST gap": (
        ('when: "2027-04-15 10:00"', 'when: "2027-03-28 02:15"'),
        (22, 11, ["does not exist in Europe/Berlin", "01:59", "03:00"]),
    ),
    "text over the X limit": (
        ("text: Hallo aus Astana.", "text: " + "Hallo " * 50),
        (23, 11, ["for channel 'de-x'", "limit on x: 280"]),
    ),
    "a missing media file": (
        ("    text: Hallo aus Astana.", "    text: Hallo aus Astana.\n    media: [nowhere.png]"),
        (24, 13, ["nowhere.png: no such file"]),
    ),
    "a channel not in the configuration": (
        ("channels: [de-x, de-mastodon]", "channels: [de-x, de-mastadon]"),
        (17, 22, ["'de-mastadon' is not in the configuration", "did you mean 'de-mastodon'"]),
    ),
    "a duplicate post id": (
        ("  - id: second", "  - id: hello"),
        (24, 9, ["duplicate post id 'hello'", "first at line 19"]),
    ),
    "an unknown audience": (
        ("    audiences: [public]\n    when: {", "    audiences: [publik]\n    when: {"),
        (26, 17, ["unknown audience 'publik'", "did you mean 'public'"]),
    ),
    "an unknown event": (
        ("{event: nauryz,", "{event: nauruz,"),
        (27, 19, ["unknown event 'nauruz'", "did you mean 'nauryz'"]),
    ),
    "malformed YAML": (
        ("text: Hallo aus Astana.", "text: Hallo: aus Astana."),
        (23, 16, ["mapping values are not allowed here"]),
    ),
    "a duplicate YAML key": (
        ("    text: Hallo aus Astana.", "    text: Hallo aus Astana.\n    text: Noch einmal."),
        (24, 5, ["duplicate key 'text'"]),
    ),
    "a media item that is neither a file name nor a mapping": (
        ("    text: Hallo aus Astana.", "    text: Hallo\n    media: [5]"),
        (24, 13, ["media: expected text or a mapping, found the number 5"]),
    ),
    "a media mapping without its file": (
        ("    text: Hallo aus Astana.", "    text: Hallo\n    media: [{alt: Jurte}]"),
        (24, 13, ["missing required key 'file'"]),
    ),
    "approval neither yes/no nor a list": (
        ('  hashtags: ["#Kasachstan"]', '  hashtags: ["#Kasachstan"]\n  approval: 5'),
        (10, 13, ["approval: expected true or false or a list, found the number 5"]),
    ),
    "an approval step that is not a mapping": (
        ('  hashtags: ["#Kasachstan"]', '  hashtags: ["#Kasachstan"]\n  approval: [5]'),
        (10, 14, ["approval: expected a mapping"]),
    ),
    "an empty list of languages": (
        ("languages: [de, en]", "languages: []"),
        (16, 16, ["languages: needs at least 1 item, found none"]),
    ),
    "a language listed twice": (
        ("languages: [de, en]", "languages: [de, en, de]"),
        (16, 16, ["languages: 'de' is listed twice"]),
    ),
    "a channel listed twice": (
        ("channels: [de-x, de-mastodon]", "channels: [de-x, de-mastodon, de-x]"),
        (17, 15, ["channels: 'de-x' is listed twice"]),
    ),
    # characters that look like what YAML needs and are not: pasted from a word processor or a
    # web page, typed with a Chinese input method; YAML's own error names something else
    "a no-break space after a key's colon": (
        ("  title: Test", "  title:\u00a0Test"),
        (3, 9, ["U+00A0 (a no-break space) at column 9 looks like an ordinary space"]),
    ),
    "a full-width colon": (
        ("    text: Hallo aus Astana.", "    text\uff1aHallo aus Astana."),
        (23, 9, ["U+FF1A (a colon of another script) at column 9", "ordinary colon ':'"]),
    ),
    "an ideographic space after the colon": (
        ("    text: Hallo aus Astana.", "    text:\u3000Hallo aus Astana."),
        (23, 10, ["U+3000 (an ideographic (full-width) space)"]),
    ),
    "a no-break space in the indentation": (
        ("  title: Test", "\u00a0 title: Test"),
        (3, 1, ["U+00A0 (a no-break space) in the key '\\xa0 title'"]),
    ),
    "a dash of another kind for a list item": (
        ("  - id: second", "  \u2013 id: second"),
        (24, 3, ["U+2013 (a dash of another kind) at column 3", "ordinary dash '-'"]),
    ),
    # ... where YAML reads no syntax error: a key with the character, a 'key： value' read as
    # one text (found by tests/front_door_fuzz.py)
    "an ideographic space in a key": (
        ("  nauryz: 2027-03-21", "  \u3000nauryz: 2027-03-21"),
        (11, 3, ["U+3000 (an ideographic (full-width) space) in the key '\\u3000nauryz'"]),
    ),
    "a full-width colon where a mapping is expected": (
        ("  nauryz: 2027-03-21", "  nauryz\uff1a 2027-03-21"),
        (11, 3, ["expected a mapping", "U+FF1A (a colon of another script) after 'nauryz'"]),
    ),
    "a full-width comma in a list of ids": (
        ("languages: [de, en]", "languages: [de\uff0cen]"),
        (16, 17, ["is not a language code", "U+FF0C (a comma of another script) in 'de\uff0cen'"]),
    ),
    # YAML reads U+2028/U+2029 as line breaks, editors do not: every line number after one was
    # off by one, and a text pasted with one broke where nobody saw it
    "a line separator in a quoted text": (
        ("title: Test", 'title: "Te\u2028st"'),
        (3, 13, ["U+2028 (LINE SEPARATOR, a line break most editors do not show)"]),
    ),
    "a paragraph separator as an escape": (
        ("text: Hallo aus Astana.", 'text: "Hallo\\Paus Astana."'),
        (23, 11, ["U+2029 (PARAGRAPH SEPARATOR"]),
    ),
    # zoneinfo loads these files of the zone folder, but none is a zone a person means: the
    # machine's own zone (another on the server than on the author's laptop), the database's
    # "unknown" placeholder, a copy under another name
    "the machine's own time zone": (
        ("timezone: Europe/Berlin", "timezone: localtime"),
        (8, 13, ["'localtime' is this machine's own time zone", "use an IANA name"]),
    ),
    "the tz database's placeholder zone": (
        ("timezone: Europe/Berlin", "timezone: Factory"),
        (8, 13, ["'Factory' is the time zone database's placeholder"]),
    ),
    "a copy of a zone under right/": (
        ("timezone: Europe/Berlin", "timezone: right/Europe/Berlin"),
        (8, 13, ["'right/Europe/Berlin' is a copy of 'Europe/Berlin'"]),
    ),
    # The tz database's fixed offsets have the POSIX sign, inverted against what people mean:
    # Etc/GMT-5 is five hours ahead of UTC (Tashkent), Etc/GMT+5 five hours behind (Bogota).
    "a fixed offset whose sign is inverted, written for UTC+5": (
        ("timezone: Europe/Berlin", "timezone: Etc/GMT-5"),
        (
            8,
            13,
            [
                "'Etc/GMT-5' means UTC+5, 5 hours ahead of UTC",
                "Etc/GMT names is inverted",
                "a city, such as Asia/Tashkent (UTC+5 all year)",
            ],
        ),
    ),
    "a fixed offset whose sign is inverted, written for UTC-5": (
        ("timezone: Europe/Berlin", "timezone: Etc/GMT+5"),
        (8, 13, ["'Etc/GMT+5' means UTC-5, 5 hours behind UTC", "America/Bogota"]),
    ),
    "a file of the tz database": (
        ("timezone: Europe/Berlin", "timezone: posixrules"),
        (8, 13, ["'posixrules' is a file of the time zone database"]),
    ),
    "a limit out of range": (
        ('when: "2027-04-15 10:00"', 'when: {rrule: "FREQ=DAILY;BYHOUR=10", limit: 5000}'),
        (22, 50, ["limit: 5000 is too large: at most 1000"]),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_located_and_explained(tmp_path: Path, case: str) -> None:
    (old, new), (line, column, words) = CASES[case]
    path = tmp_path / "campaign.yaml"
    path.write_text(broken(old, new), encoding="utf-8")
    loaded = load_campaign(path, channels=CHANNELS)
    assert loaded.desired is None
    found = [p for p in loaded.errors if (p.line, p.column) == (line, column)]
    assert found, [str(p) for p in loaded.errors]
    message = " ".join(p.message for p in found)
    for word in words:
        assert word in message, message
    assert str(found[0]).startswith(f"{path}:{line}:{column}: ")


def test_the_good_file_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "campaign.yaml"
    path.write_text(GOOD, encoding="utf-8")
    loaded = load_campaign(path, channels=CHANNELS)
    assert loaded.ok, [str(p) for p in loaded.problems]


def test_every_problem_is_reported_in_one_run(tmp_path: Path) -> None:
    text = broken("country: DE", "country: de")
    text = text.replace("timezone: Europe/Berlin", "timezone: Europe/Berlin\n  colour: blue")
    text = text.replace('when: "2027-04-15 10:00"', 'when: "2027-03-28 02:30"')
    text = text.replace("{event: nauryz,", "{event: nowruz,")
    path = tmp_path / "campaign.yaml"
    path.write_text(text, encoding="utf-8")
    messages = [p.message for p in load_campaign(path, channels=CHANNELS).errors]
    assert len(messages) == 4, messages
    assert any("country" in m for m in messages)
    assert any("unknown key 'colour'" in m for m in messages)
    assert any("does not exist" in m for m in messages)  # found although the campaign block is bad
    assert any("unknown event" in m for m in messages)


def test_an_unknown_key_suggests_only_keys_valid_at_that_place(tmp_path: Path) -> None:
    # 'titel' is close to the campaign's 'title', but a post has no title.
    path = tmp_path / "campaign.yaml"
    path.write_text(broken("    text: Zweiter Beitrag.", "    text: Zweiter.\n    titel: x"))
    [problem] = load_campaign(path, channels=CHANNELS).errors
    assert problem.message == "unknown key 'titel'"


def test_a_number_for_an_event_time_is_not_read_as_seconds(tmp_path: Path) -> None:
    path = tmp_path / "campaign.yaml"
    path.write_text(broken("nauryz: 2027-03-21", "nauryz: {date: 2027-03-21, time: 1080}"))
    [problem] = load_campaign(path, channels=CHANNELS).errors
    assert "1080 is not a time of day" in problem.message


def test_a_campaign_id_used_by_two_files_is_an_error(tmp_path: Path) -> None:
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text(GOOD)
    second.write_text(GOOD)
    loaded = load_campaigns([first, second], channels=CHANNELS)
    assert not loaded[0].errors
    assert [p.message for p in loaded[1].errors] == [
        f"campaign id 'de-test' is also used by {first}"
    ]


def test_without_a_configuration_channels_are_not_checked_but_that_is_said(
    tmp_path: Path,
) -> None:
    path = tmp_path / "campaign.yaml"
    path.write_text(broken("channels: [de-x, de-mastodon]", "channels: [anything]"))
    loaded = load_campaign(path, channels=None)
    assert loaded.ok
    assert any("no elshi.toml" in p.message for p in loaded.problems)


def test_event_timed_posts_are_still_checked_when_something_else_is_wrong(
    tmp_path: Path,
) -> None:
    text = broken('{event: nauryz, offset: "-1d 10:00"}', '{event: nauryz, offset: "+7d 02:30"}')
    text = text.replace("nauryz: 2027-03-21", "nauryz: 2027-03-21\n  other: {}")
    path = tmp_path / "campaign.yaml"
    path.write_text(text, encoding="utf-8")
    messages = [p.message for p in load_campaign(path, channels=CHANNELS).errors]
    assert any("missing required key 'date'" in m for m in messages)
    assert any("2027-03-28 02:30 does not exist" in m for m in messages)


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("timezone: Europe/Berlin", "timezone: Europe", "unknown time zone 'Europe'"),
        ("narrative: gateway", "narrative: []", "narrative: expected text, found a list"),
        ("nauryz: 2027-03-21", "nauryz: {}", "missing required key 'date'"),
    ],
)
def test_odd_values_found_by_fuzzing_are_problems_not_crashes(
    tmp_path: Path, old: str, new: str, words: str
) -> None:
    path = tmp_path / "campaign.yaml"
    path.write_text(broken(old, new), encoding="utf-8")
    messages = [p.message for p in load_campaign(path, channels=CHANNELS).errors]
    assert any(words in m for m in messages), messages


THREAD = """\
  - id: reply
    category: education
    audiences: [public]
    when: "2027-04-16 10:00"
    reply_to: hello
    text: Antwort.
"""


def test_ends_before_starts_points_at_ends(tmp_path: Path) -> None:
    path = tmp_path / "campaign.yaml"
    path.write_text(broken("ends: 2027-12-31", "ends: 2026-12-31"), encoding="utf-8")
    [problem] = load_campaign(path, channels=CHANNELS).errors
    assert (problem.line, problem.column) == (7, 9)
    assert "ends: 2026-12-31 is before the campaign starts (2027-01-01)" in problem.message


@pytest.mark.parametrize("ends", ["2026-12-31", "2027-02-30", "31.12.2027", "12"])
def test_a_bad_ends_does_not_hide_a_dst_error_elsewhere(tmp_path: Path, ends: str) -> None:
    text = broken("ends: 2027-12-31", f"ends: {ends}")
    text = text.replace('when: "2027-04-15 10:00"', 'when: "2027-03-28 02:30"')
    path = tmp_path / "campaign.yaml"
    path.write_text(text, encoding="utf-8")
    errors = load_campaign(path, channels=CHANNELS).errors
    assert [p.line for p in errors] == [7, 22], [str(p) for p in errors]
    assert "does not exist in Europe/Berlin" in errors[1].message


@pytest.mark.parametrize(
    ("old", "new", "line"),
    [
        ("  - id: second", "  - id: hello", 24),  # a duplicate id
        (
            '    audiences: [public]\n    when: "2027-04-15',
            '    audiences: [publik]\n    when: "2027-04-15',
            21,
        ),
        (
            "    text: Hallo aus Astana.",
            "    text: Hallo aus Astana.\n    channels: [de-x, de-bluesky]",
            24,
        ),
    ],
)
def test_a_broken_post_does_not_also_produce_thread_errors(
    tmp_path: Path, old: str, new: str, line: int
) -> None:
    path = tmp_path / "campaign.yaml"
    path.write_text(broken(old, new) + THREAD, encoding="utf-8")
    errors = load_campaign(path, channels=CHANNELS).errors
    assert len(errors) == 1, [str(p) for p in errors]
    assert errors[0].line == line
    assert "reply" not in errors[0].message


def test_a_text_too_long_suggests_the_per_platform_override(tmp_path: Path) -> None:
    path = tmp_path / "campaign.yaml"
    path.write_text(broken("text: Hallo aus Astana.", "text: " + "Hallo " * 50), encoding="utf-8")
    messages = [p.message for p in load_campaign(path, channels=CHANNELS).errors]
    assert any("give x its own shorter text: de: {default: ..., x: ...}" in m for m in messages)


def test_the_fixed_zones_without_an_offset_are_zones() -> None:
    from campaigns.zones import zone_problem

    for name in ("UTC", "Etc/UTC", "Etc/GMT", "Etc/GMT+0", "Etc/GMT-0"):
        assert zone_problem(name) is None, name
