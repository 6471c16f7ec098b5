"""Two audiences of one campaign with the same name are refused: every report table and page
names an audience by its name, so the two would read as one. Names are compared as a reader
sees them (NFKC, case folded, white space collapsed); the problem names the file, the line and
the line of the first audience of that name, and nothing is changed (validate, apply and the
spreadsheet import all use the same validation)."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaigns.validation import load_campaign, name_key
from tests.campaigns.factory import CHANNELS, write
from tests.campaigns.test_bad_input import GOOD

SECOND = """\
  - id: press
    name: {name}
    group: media
    languages: [de]
    channels: [de-x]
posts:"""


def with_second(name: str) -> str:
    return GOOD.replace("posts:", SECOND.format(name=name), 1)


@pytest.mark.parametrize(
    "name",
    [
        "German public",
        "german PUBLIC",
        "  German   public ",
        "'German\u3000public'",  # an ideographic space, as a Chinese input method types it
        "Ｇｅｒｍａｎ ｐｕｂｌｉｃ",  # full-width letters
    ],
)
def test_a_second_audience_of_the_same_name_is_refused_at_its_line(
    tmp_path: Path, name: str
) -> None:
    path = write(tmp_path / "c.yaml", with_second(name))
    loaded = load_campaign(path, channels=CHANNELS)
    assert loaded.desired is None
    [problem] = [p for p in loaded.errors if "audience name" in p.message]
    # The first audience's name is on line 14, the second's on line 19.
    assert (problem.file, problem.line) == (str(path), 19)
    assert "already the name of audience 'public' at line 14" in problem.message
    assert len(loaded.errors) == 1


def test_names_that_only_look_alike_to_a_program_are_different_names(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", with_second("German press"))
    assert load_campaign(path, channels=CHANNELS).ok
    assert name_key("Straße") == name_key("STRASSE")
    assert name_key("Think\ttanks") == name_key("think tanks")
    assert name_key("Public") != name_key("Publik")
