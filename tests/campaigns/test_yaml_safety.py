"""Reading a campaign file cannot hang, exhaust memory or crash: aliases, depth, size, bytes,
characters, tags and dates YAML would convert by itself all end in one located problem, and the
commonest slips say how to fix them."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.validation import Loaded, load_campaign
from campaigns.yamlsource import LIMITS, YamlError, parse_yaml
from tests.campaigns.factory import CHANNELS
from tests.campaigns.test_bad_input import GOOD, broken
from tests.front_door import damaged

# A hang guard, not a timing: the bound on time is measured by bench/front_door.py.
pytestmark = pytest.mark.timeout(120)


def validate(tmp_path: Path, content: str | bytes) -> Loaded:
    path = tmp_path / "campaign.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", errors="surrogatepass")
    return load_campaign(path, channels=CHANNELS)


def only_error(loaded: Loaded) -> str:
    assert loaded.desired is None
    assert len(loaded.errors) == 1, [str(p) for p in loaded.errors]
    return str(loaded.errors[0])


def laughs(levels: int, width: int = 10) -> str:
    lines = ['a0: &a0 "lol"']
    for n in range(1, levels):
        lines.append(f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def test_alias_expansion_is_refused_at_the_alias_that_exceeds_the_budget(tmp_path: Path) -> None:
    message = only_error(validate(tmp_path, laughs(9)))
    assert "campaign.yaml:" in message
    assert "aliases" in message or "values" in message


def test_a_few_aliases_are_still_fine() -> None:
    data, _ = parse_yaml("base: &b [de-x, de-mastodon]\nother: *b\n", "t.yaml")
    assert data == {"base": ["de-x", "de-mastodon"], "other": ["de-x", "de-mastodon"]}


def test_merge_keys_fill_in_what_a_mapping_does_not_say() -> None:
    data, locator = parse_yaml(
        "defaults: &d {group: media, languages: [de]}\naudience:\n  <<: *d\n  group: business\n",
        "t.yaml",
    )
    assert data["audience"] == {"group": "business", "languages": ["de"]}
    assert locator.position(("audience", "group")) == (4, 10)


def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    with pytest.raises(YamlError, match="refers to the value it is inside"):
        parse_yaml("a: &a [1, *a]\n", "t.yaml")


@pytest.mark.parametrize("opener", ["[", "{a: "])
def test_deep_nesting_is_refused_with_its_line(tmp_path: Path, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    message = only_error(validate(tmp_path, "x: " + opener * 100_000 + closer * 100_000))
    assert ":1:" in message and "nested more than" in message and "levels deep" in message


def test_a_block_nested_too_deep_is_refused(tmp_path: Path) -> None:
    text = "".join("  " * n + f"k{n}:\n" for n in range(60)) + "  " * 60 + "v\n"
    assert "nested more than 32 levels" in only_error(validate(tmp_path, text))


def test_a_huge_file_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    text = GOOD + "# " + "x" * LIMITS.max_bytes + "\n"
    message = only_error(validate(tmp_path, text))
    assert "larger than" in message and "KiB" in message


def test_too_many_values_are_refused(tmp_path: Path) -> None:
    text = "x: [" + ", ".join(["1"] * (LIMITS.max_nodes + 10)) + "]\n"
    assert "more than 100,000 values" in only_error(validate(tmp_path, text))


def test_an_impossible_unquoted_date_is_a_located_problem(tmp_path: Path) -> None:
    loaded = validate(tmp_path, broken("starts: 2027-01-01", "starts: 2027-02-30"))
    [problem] = loaded.errors
    assert (problem.line, problem.column) == (6, 11)
    assert "'2027-02-30' is not a date" in problem.message


def test_an_impossible_event_date_does_not_hide_the_other_problems(tmp_path: Path) -> None:
    text = broken("nauryz: 2027-03-21", "nauryz: 2027-13-01")
    text = text.replace("country: DE", "country: de")
    messages = [p.message for p in validate(tmp_path, text).errors]
    assert any("2027-13-01" in m for m in messages)
    assert any("country" in m for m in messages)


def test_a_date_far_outside_any_campaign_is_refused(tmp_path: Path) -> None:
    loaded = validate(tmp_path, broken("ends: 2027-12-31", "ends: 9999-12-31"))
    assert any(
        "years from 2000 to 2199" in p.message or "year from" in p.message for p in loaded.errors
    )


def test_an_enormous_number_is_refused_with_its_place(tmp_path: Path) -> None:
    message = only_error(validate(tmp_path, broken("country: DE", "country: " + "9" * 5000)))
    assert ":4:12:" in message and "digits" in message


def test_bytes_that_are_not_utf8_are_located(tmp_path: Path) -> None:
    raw = broken("title: Test", "title: Caf\xe9").encode("utf-8").replace(b"\xc3\xa9", b"\xe9")
    message = only_error(validate(tmp_path, raw))
    assert ":3:13:" in message and "0xE9 is not UTF-8" in message


def test_a_utf16_file_is_named_as_such(tmp_path: Path) -> None:
    assert "UTF-16" in only_error(validate(tmp_path, GOOD.encode("utf-16")))


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("text: Hallo\x00 aus Astana.", ":23:16:"),  # raw NUL
        ('text: "Hallo\\0 aus Astana."', ":23:11:"),  # an escape that makes a NUL
        ('text: "Hallo\\e[31m"', ":23:11:"),  # a terminal escape
        ('text: "Hallo\\ud800"', ":23:"),  # half a surrogate pair
        ("text: Hallo\x1b[2J", ":23:16:"),
    ],
)
def test_control_characters_are_located(tmp_path: Path, text: str, where: str) -> None:
    message = only_error(validate(tmp_path, broken("text: Hallo aus Astana.", text)))
    assert where in message and ("U+" in message or "Unicode" in message)


@pytest.mark.parametrize(
    "tagged",
    [
        'title: !!python/object/apply:os.system ["true"]',
        "title: !custom Test",
        "title: !!binary aGk=",
    ],
)
def test_yaml_tags_are_refused(tmp_path: Path, tagged: str) -> None:
    message = only_error(validate(tmp_path, broken("title: Test", tagged)))
    assert ":3:" in message and "tag" in message


def test_a_second_document_is_refused(tmp_path: Path) -> None:
    message = only_error(validate(tmp_path, GOOD + "---\nmore: 1\n"))
    assert "a second YAML document" in message


def test_a_complex_key_is_refused(tmp_path: Path) -> None:
    assert "a key must be plain text" in only_error(validate(tmp_path, "? [a, b]\n: 1\n"))


def test_a_tab_in_the_indentation_says_indent_with_spaces(tmp_path: Path) -> None:
    message = only_error(validate(tmp_path, broken("    text: Hallo aus Astana.", "\ttext: Hallo")))
    assert "indent with spaces" in message


def test_an_unquoted_colon_in_a_text_says_put_it_in_quotes(tmp_path: Path) -> None:
    message = only_error(
        validate(tmp_path, broken("text: Hallo aus Astana.", "text: Astana: die Hauptstadt"))
    )
    assert ":23:17:" in message and "put the text in quotes" in message


def test_long_values_are_clipped_in_messages(tmp_path: Path) -> None:
    message = only_error(validate(tmp_path, broken("country: DE", "country: " + "D" * 5000)))
    assert len(message) < 400


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    raw=st.one_of(
        damaged(GOOD, max_size=300),
        st.builds(
            lambda cut, noise: (GOOD[:cut] + noise + GOOD[cut:]).encode("utf-8", "surrogatepass"),
            st.integers(min_value=0, max_value=len(GOOD)),
            st.sampled_from(
                ["&a ", "*a", "!!str ", "<<: ", "\t", "\\0", '"\\x00"', "[" * 50, ": "]
            ),
        ),
    )
)
def test_any_bytes_give_located_problems_or_success(tmp_path: Path, raw: bytes) -> None:
    loaded = validate(tmp_path, raw)
    if loaded.desired is None:
        assert loaded.errors
    for problem in loaded.errors:
        assert problem.message and problem.line >= 0
        assert "Traceback" not in problem.message


TEXT = "    text: Hallo aus Astana."
SLIPS = {
    "a value starting with @": (
        "    text: @botschaft Hallo",
        (23, 11),
        'put the whole text in quotes: text: "@botschaft Hallo"',
    ),
    "a value starting with a backtick": ("    text: `Hallo` aus Astana", (23, 11), "in quotes"),
    "a value starting with *": ("    text: *Neu* aus Astana", (23, 15), "alias"),
    "a value starting with [": (
        "    text: [Eilmeldung] Hallo",
        (23, 24),
        "is read as a list or mapping; put the whole text in quotes",
    ),
    "quotes inside quotes": (
        '    text: "Hallo "aus" Astana"',
        (23, 19),
        'with the other kind around it: text: \'"Hallo "aus" Astana"\'',
    ),
    "a text starting with a dash": ("    text: - Hallo", (23, 11), 'needs quotes: text: "- Hallo"'),
    "a key indented one space too far": (
        "     text: Hallo aus Astana.",
        (23, 6),
        "indented 5 spaces, the line above 4",
    ),
    "no space after the colon": ("    text:Hallo aus Astana.", (23, 5), "space after the colon"),
    "a text continued on a line of its own": (
        "    text: Hallo aus Astana.\n    Zweite Zeile.",
        (24, 5),
        "if it continues the text above, indent it further",
    ),
    "no space after a list dash": (TEXT + "\n  -id: third", (24, 3), "space after its dash"),
}


@pytest.mark.parametrize("slip", list(SLIPS))
def test_the_commonest_slips_say_how_to_fix_them(tmp_path: Path, slip: str) -> None:
    new, (line, column), words = SLIPS[slip]
    message = only_error(validate(tmp_path, broken(TEXT, new)))
    assert message.startswith(f"{tmp_path / 'campaign.yaml'}:{line}:{column}: "), message
    assert words in message, message


def test_a_hashtag_yaml_takes_for_a_comment_is_a_warning_at_its_place(tmp_path: Path) -> None:
    loaded = validate(tmp_path, broken(TEXT, "    text: Hallo aus Astana #Kasachstan"))
    assert loaded.desired is not None  # valid: YAML's reading is legal, only surprising
    [warning] = [p for p in loaded.problems if not p.is_error and "#Kasachstan" in p.message]
    assert (warning.line, warning.column) == (23, 28)  # at the '#'
    assert "put the whole text in quotes" in warning.message
    quoted = validate(tmp_path, broken(TEXT, '    text: "Hallo aus Astana #Kasachstan"'))
    assert not [p for p in quoted.problems if "comment" in p.message]
    other = validate(tmp_path, broken("  timezone: Europe/Berlin", "  timezone: Europe/Berlin #x"))
    assert not [p for p in other.problems if "comment" in p.message]
