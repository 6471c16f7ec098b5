"""A sample of the generated broken inputs (tests/front_door_fuzz.py) in the suite, in-process:
look-alike characters and odd line breaks on the lines of a campaign file, and seeded random
damage (bit flips, truncation, UTF-16 and Latin-1, mixed line ends, NUL, repeated and swapped
lines, a damaged part of a workbook) to each input a person gives: campaign files (validate and
apply), CSV and XLSX calendars, outcome files and elshi.toml. Each case ends accepted (exit 0)
or refused with exit 2, a message naming its file and where in it, no traceback, no secret, the
database as before. The full run (``python -m tests.front_door_fuzz --only
lookalikes,mutations --count 300``) takes minutes; this sample a few seconds."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path

import pytest

from tests.campaigns.test_bad_input import GOOD
from tests.front_door_fuzz import (
    Case,
    check,
    lookalike_cases,
    mutation_cases,
    workspace,
)

# A hang guard, not a timing.
pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def generated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    for name in ("ELSHI_CONFIG", "ELSHI_DATABASE_URL", "ELSHI_USER", "ELSHI_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ELSHI_FUZZ_TOKEN", "")  # set by workspace(); undone after
    base = files("elshi").joinpath("templates/elshi.toml").read_text(encoding="utf-8")
    yield workspace(tmp_path, GOOD, base)


def _sample() -> list[Case]:
    base = files("elshi").joinpath("templates/elshi.toml").read_text(encoding="utf-8")
    looks = list(lookalike_cases(GOOD))
    return [*looks[::3], *mutation_cases(GOOD, base, seed=0, count=8)]


def test_generated_broken_inputs_are_accepted_or_refused_at_their_place(
    generated: Path, tmp_path: Path
) -> None:
    cases = _sample()
    failures = []
    codes = []
    for case in cases:
        wrong, output, code = check(case, tmp_path, generated)
        codes.append(code)
        if wrong:
            failures.append(f"{case.name}: {'; '.join(wrong)}: {output[-300:]}")
    assert not failures, "\n".join(failures)
    assert len(cases) > 60 and codes.count(2) > len(cases) // 2, codes
