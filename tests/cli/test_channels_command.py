"""`elshi channels check` against an emulated platform: who a channel posts as, and when its
credentials stop working — shown before it happens, and remembered for `elshi status`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result

from connectors.testing.linkedin import LinkedInEmulator
from tests.cli.conftest import Run
from tests.connectors.conftest import only_local_network  # noqa: F401 - the network guard

pytestmark = pytest.mark.usefixtures("only_local_network")


@pytest.fixture
def linkedin(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LinkedInEmulator]:
    with LinkedInEmulator() as emulator:
        assert isinstance(emulator, LinkedInEmulator)
        emulator.access_token, _ = emulator.issue(access_lifetime=5 * 86_400)
        monkeypatch.setenv("ELSHI_LI_TOKEN", emulator.access_token)
        monkeypatch.setenv("ELSHI_LI_ID", emulator.client_id)
        monkeypatch.setenv("ELSHI_LI_SECRET", emulator.client_secret)
        config = workspace / "elshi.toml"
        config.write_text(
            config.read_text(encoding="utf-8")
            + f"""
[channels.de-linkedin]
platform = "linkedin"
api_base_url = "{emulator.url}"
organization = "{emulator.organization}"
access_token_env = "ELSHI_LI_TOKEN"
client_id_env = "ELSHI_LI_ID"
client_secret_env = "ELSHI_LI_SECRET"
""",
            encoding="utf-8",
        )
        yield emulator


def check(run: Run) -> Result:
    return run("channels", "check", "de-linkedin")


def test_check_shows_who_the_channel_posts_as_and_warns_before_the_token_expires(
    run: Run, linkedin: LinkedInEmulator
) -> None:
    result = check(run)

    assert "kazakhstan-embassy-germany" in result.output
    assert "renew soon" in result.output
    assert "ELSHI_SECRET_KEY" in result.output  # logins are kept unencrypted without it


def test_status_check_reports_the_expiry_a_channel_check_found(
    run: Run, linkedin: LinkedInEmulator
) -> None:
    check(run)

    status = run("status", "--check", expect=None)

    assert "token of channel de-linkedin expires in" in status.output
    assert status.exit_code != 0


def test_a_refused_token_fails_the_check_with_the_platforms_reason(
    run: Run, linkedin: LinkedInEmulator
) -> None:
    linkedin.revoke_all()

    result = run("channels", "check", "de-linkedin", expect=1)

    assert "FAILED (auth)" in result.output
    assert linkedin.access_token not in result.output


@pytest.mark.parametrize("version", ["4.4.0", "4.3.0"])
def test_check_notes_a_mastodon_instances_own_limits_that_the_options_do_not_say(
    run: Run, workspace: Path, monkeypatch: pytest.MonkeyPatch, version: str
) -> None:
    """Validation checks a Mastodon channel against its max_characters / max_alt_characters
    (500 and 1,500 unless set); an instance may take more. The check compares them with what
    the instance reports: its post length always, its alt text length from Mastodon 4.4."""
    from connectors.testing.mastodon import MastodonEmulator

    with MastodonEmulator(max_characters=5000, description_limit=3000, version=version) as m:
        monkeypatch.setenv("ELSHI_M_TOKEN", m.token)
        config = workspace / "elshi.toml"
        config.write_text(
            config.read_text(encoding="utf-8")
            + f'\n[channels.de-masto]\nplatform = "mastodon"\napi_base_url = "{m.url}"\n'
            'token_env = "ELSHI_M_TOKEN"\n',
            encoding="utf-8",
        )
        out = run("channels", "check", "de-masto").output
    notes = [line for line in out.splitlines() if line.startswith("note: channel")]
    alt = (
        "note: channel de-masto: the instance takes 3,000 characters in an alt text, "
        "max_alt_characters is 1,500 (validation refuses longer texts the instance would take); "
        "set max_alt_characters = 3000"
    )
    assert notes == [
        "note: channel de-masto: the instance takes 5,000 characters in a post, max_characters "
        "is 500 (validation refuses longer texts the instance would take); set "
        "max_characters = 5000",
        *([alt] if version == "4.4.0" else []),
    ], out
