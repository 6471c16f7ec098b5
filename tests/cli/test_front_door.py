"""The front door through the CLI: every broken input of the corpus (tests/front_door.py) ends in
exit code 2 with a located message, no traceback, nothing written, and the database file byte
for byte as before; and so does any byte string given to ``campaign apply``."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings

from elshi.cli import cli
from tests.campaigns.test_bad_input import GOOD
from tests.cli.conftest import Run, fingerprint
from tests.front_door import GOOD_CAMPAIGN, Case, damaged, prepare

# A hang guard, not a timing: time and memory are measured by bench/front_door.py.
pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def corpus(workspace: Path, run: Run) -> list[Case]:
    cases = prepare(workspace, GOOD)
    run("campaign", "apply", GOOD_CAMPAIGN)
    return cases


def test_every_broken_input_is_refused_located_and_changes_nothing(
    corpus: list[Case], workspace: Path, run: Run
) -> None:
    database = workspace / "elshi.db"
    before = fingerprint(database)
    failures = []
    for case in corpus:
        result = run(*case.args, expect=None)
        output = result.output
        if result.exit_code != 2:
            failures.append(f"{case.name}: exit {result.exit_code}: {output[-300:]}")
        elif "Traceback" in output or not case.located(output):
            failures.append(f"{case.name}: not located ({case.where}): {output[:300]}")
        elif (workspace / "x.yaml").exists():
            failures.append(f"{case.name}: wrote x.yaml")
    assert not failures, "\n".join(failures)
    assert fingerprint(database) == before
    assert len(corpus) > 70


def test_the_corpus_covers_every_class_of_the_issue(corpus: list[Case]) -> None:
    names = {c.located_in for c in corpus}
    for needed in (
        "billion-laughs.yaml",
        "deep-nesting.yaml",
        "too-large.yaml",
        "impossible-date.yaml",
        "rrule-dtstart.yaml",
        "rrule-secondly.yaml",
        "offset-astronomical.yaml",
        "huge-text.yaml",
        "latin1.yaml",
        "nul-escape.yaml",
        "sheet-xxe.xlsx",
        "sheet-entity-bomb.xlsx",
        "sheet-junk-rows.csv",
        "sheet-many-errors.csv",
        "outcomes-unterminated.csv",
        "outcomes-multiline.csv",
        "utm-format-spec.yaml",
        "javascript-link.yaml",
        "media-absolute.yaml",
        "media-text-as-png.yaml",
        "sheet-ambiguous-date.csv",
        "tab-indent.yaml",
        "unquoted-colon.yaml",
        "pipe.yaml",
        "device.yaml",
        "sheet-pipe.csv",
        "outcomes-device.csv",
        "rrule-april-31.yaml",
        "cron-february-30.yaml",
        "lookalike-nbsp.yaml",
        "lookalike-fullwidth-colon.yaml",
        "line-separator.yaml",
        "sheet-line-separator.csv",
        "timezone-localtime.yaml",
        "sheet-formula-no-value.xlsx",
        "sheet-alt-without-media.csv",
        "sheet-alt-lines.csv",
        "media-symlink-out.yaml",
    ):
        assert needed in names, needed


def test_the_commonest_slips_say_how_to_fix_them(corpus: list[Case], run: Run) -> None:
    tab = run("campaign", "validate", "tab-indent.yaml", expect=2).output
    assert "tab-indent.yaml:23:1: a tab character in the indentation: indent with spaces" in tab
    colon = run("campaign", "validate", "unquoted-colon.yaml", expect=2).output
    assert "unquoted-colon.yaml:23:17:" in colon and "put the text in quotes" in colon
    many = run(
        "campaign", "import", "sheet-many-errors.csv", "--campaign-file", GOOD_CAMPAIGN, expect=2
    ).output
    assert "... and 250 more problems" in many and "300 problem(s)" in many
    for name, said in (
        ("lookalike-nbsp.yaml", ":3:9: could not find expected ':'"),
        ("lookalike-fullwidth-colon.yaml", ":23:9: could not find expected ':'"),
    ):
        out = run("campaign", "validate", name, expect=2).output
        assert said in out and "type it again as an ordinary" in out, out
    formula = run(
        "campaign",
        "import",
        "sheet-formula-no-value.xlsx",
        "--campaign-file",
        GOOD_CAMPAIGN,
        expect=2,
    ).output
    assert ":row 2:col F (text): formula without a computed value" in formula, formula


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(raw=damaged(GOOD))
def test_any_bytes_given_to_apply_end_in_success_or_a_located_refusal(
    workspace: Path, raw: bytes
) -> None:
    database = workspace / "elshi.db"
    path = workspace / "fuzz.yaml"
    path.write_bytes(raw)
    before = fingerprint(database) if database.exists() else None
    result = CliRunner().invoke(cli, ["campaign", "apply", "fuzz.yaml"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 2:
        assert "Traceback" not in result.output
        assert Case("fuzz", (), "line", "fuzz.yaml").located(result.output), result.output
        if before is not None:
            assert fingerprint(database) == before


def test_a_configured_media_folder_confines_every_campaign_file(workspace: Path, run: Run) -> None:
    from tests.connectors.files import png

    config = workspace / "elshi.toml"
    config.write_text(
        config.read_text(encoding="utf-8") + '\n[workspace]\nmedia_dir = "library"\n', "utf-8"
    )
    (workspace / "library").mkdir()
    png(workspace / "library" / "yurt.png")
    (workspace / "campaigns").mkdir()
    png(workspace / "campaigns" / "beside.png")
    text = GOOD.replace(
        "    text: Hallo aus Astana.", "    text: Hallo aus Astana.\n    media: [yurt.png]"
    )
    (workspace / "campaigns" / "ok.yaml").write_text(text, encoding="utf-8")
    run("campaign", "validate", "campaigns/ok.yaml")
    beside = text.replace("[yurt.png]", "[../campaigns/beside.png]")
    (workspace / "campaigns" / "beside.yaml").write_text(beside, encoding="utf-8")
    refused = run("campaign", "validate", "campaigns/beside.yaml", expect=2).output
    assert "media must be inside the media folder" in refused
