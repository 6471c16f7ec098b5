"""``elshi init`` as a new user meets it (#9): a workspace whose first campaign (with an image)
validates, applies, is approved and goes out on its own sandbox channels, following the path
init prints; no examples/ folder mentioned; the starter file shows how to add a country."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from elshi.cli import cli
from elshi.commands.init import sample_campaign


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ELSHI_CONFIG", raising=False)
    monkeypatch.delenv("ELSHI_DATABASE_URL", raising=False)
    return tmp_path


def elshi(*args: str, expect: int = 0) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == expect, result.output
    return result.output


def test_init_prints_the_path_and_its_sample_goes_the_whole_way(folder: Path) -> None:
    output = elshi("init")
    assert "examples" not in output
    steps = [
        "elshi campaign validate campaigns/sample.yaml",
        "elshi campaign plan campaigns/sample.yaml",
        "elshi campaign apply campaigns/sample.yaml",
        "elshi post approve --campaign",
        "elshi run",
    ]
    places = [output.find(step) for step in steps]
    assert all(p >= 0 for p in places) and places == sorted(places), output
    assert (folder / "campaigns" / "media" / "sample.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    approve = re.search(r"elshi post approve --campaign (\S+) --all", output)
    assert approve is not None
    assert "ok — campaign" in elshi("campaign", "validate", "campaigns/sample.yaml")
    elshi("campaign", "plan", "campaigns/sample.yaml")
    assert "to add" in elshi("campaign", "apply", "campaigns/sample.yaml")
    elshi("post", "approve", "--campaign", approve.group(1), "--all")
    detail = json.loads(elshi("campaign", "show", approve.group(1), "--json"))
    first = min(d["due_at"] for d in detail["deliveries"])
    with_image = [d for d in detail["deliveries"] if d["due_at"] == first]
    ran = elshi("run", "--once", "--now", first.replace("+00:00", "Z"))
    assert f"{len(with_image)} published" in ran, ran
    pages = list((folder / "outbox").rglob("*.html"))
    assert pages and any("sample" in p.read_text(encoding="utf-8") for p in pages)


def test_init_keeps_what_exists(folder: Path) -> None:
    elshi("init")
    (folder / "campaigns" / "sample.yaml").write_text("# mine\n", encoding="utf-8")
    output = elshi("init")
    assert "keeping it" in output
    assert (folder / "campaigns" / "sample.yaml").read_text(encoding="utf-8") == "# mine\n"


def test_the_starter_files_show_how_to_add_a_country(folder: Path) -> None:
    elshi("init")
    config = (folder / "elshi.toml").read_text(encoding="utf-8")
    sample = (folder / "campaigns" / "sample.yaml").read_text(encoding="utf-8")
    assert "Adding a country" in config and "[channels.fr-x]" in config
    assert "Another country" in sample and "channels: [fr-x, fr-mastodon]" in sample
    assert "examples/" not in config + sample


@pytest.mark.parametrize(
    "today",
    [
        date(2027, 1, 1),
        date(2027, 3, 27),
        date(2027, 10, 30),
        date(2027, 12, 31),
        date(2028, 2, 29),
    ],
)
def test_the_sample_is_valid_whatever_the_day(folder: Path, today: date) -> None:
    """Its dates follow the day init runs: across daylight-saving changes, a year's end and a
    leap day it stays valid and in the future."""
    elshi("init")
    campaign_id, text = sample_campaign(today)
    (folder / "campaigns" / "sample.yaml").write_text(text, encoding="utf-8")
    assert f"campaign {campaign_id}" in elshi("campaign", "validate", "campaigns/sample.yaml")
    assert (today + timedelta(days=1)).isoformat() in text
