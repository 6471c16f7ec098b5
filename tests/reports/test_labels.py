"""Defect class 5: labels that are true. "Raw rate (ratio of sums)" is a ratio of sums even
when a group spans platforms; README, docs/metrics.md and the connectors agree on which
platform gives impressions; a sandbox channel names the platform it imitates."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.reports.awkward import (
    T0,
    D,
    H,
    building,
    one,
    report_of,
    sqlite_engine,  # noqa: F401  (SQLite only)
)

AS_OF = T0 + 10 * D


@pytest.fixture
def two_platforms(engine: Any) -> Any:
    """Narrative "n" on X (10, 20, 30 engagements of 1,000 impressions) and on a sandbox
    channel imitating nothing, which gives impressions too (5, 6, 7 of 100). Snapshots at
    exactly 7 d. Follower samples on both."""
    with building(engine) as b:
        b.campaign("c")
        x, sb = b.channel("x", "x"), b.channel("sb", "sandbox")
        everyone = b.audience("c", "all", name="All", channels=[x, sb])
        rows = [
            (x, 10, 1000),
            (x, 20, 1000),
            (x, 30, 1000),
            (sb, 5, 100),
            (sb, 6, 100),
            (sb, 7, 100),
        ]
        for i, (channel, k, n) in enumerate(rows):
            post = b.post("c", audiences=[everyone], key=f"p{i}", narrative="n")
            delivery = b.delivery(post, channel, due_at=T0 + i * H)
            b.snapshot(
                delivery,
                T0 + i * H + 7 * D,
                impressions=n,
                likes=k,
                reposts=0,
                replies=0,
                quotes=0,
                followers=5000,
            )
        b.followers(x, T0, 5000)
        b.followers(sb, T0, 800)
    return engine


def test_the_raw_rate_of_a_group_on_several_platforms_is_its_ratio_of_sums(
    two_platforms: Any,
) -> None:
    board = report_of(two_platforms, AS_OF).table("leaderboard_narrative")
    row = one(board, narrative="n")
    assert row["raw"] == pytest.approx((10 + 20 + 30 + 5 + 6 + 7) / (3000 + 300))
    assert row["posts"] == 6


def test_a_sandbox_channel_names_the_platform_it_imitates(two_platforms: Any) -> None:
    report = report_of(two_platforms, AS_OF, options={"imitates": {"sb": "telegram"}})
    assert set(report.table("by_platform").frame["platform_label"]) == {
        "x",
        "sandbox imitating telegram",
    }
    assert "sandbox imitating telegram" in set(report.table("platform_counters").frame["platform"])
    growth = one(report.table("follower_growth"), channel="sb")
    assert growth["platform"] == "sandbox imitating telegram"


def _readme_impressions() -> dict[str, bool]:
    """Platform → whether README's "What each platform reports" table says it gives
    impressions."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## What each platform reports", 1)[1].split("\n## ", 1)[0]
    out = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) > 2 and cells[0] and not set(cells[0]) <= {"-"} and cells[0] != "platform":
            out[cells[0].split(" (")[0].lower()] = not cells[1].startswith("—")
    return out


def test_readme_metrics_doc_and_connectors_agree_on_who_gives_impressions() -> None:
    from connectors.bluesky import BlueskyConnector
    from connectors.mastodon import MastodonConnector
    from connectors.telegram import TelegramConnector
    from connectors.x import XConnector

    gives = {
        name: "impressions" in connector.capabilities.metrics
        for name, connector in (
            ("x", XConnector),
            ("mastodon", MastodonConnector),
            ("bluesky", BlueskyConnector),
            ("telegram", TelegramConnector),
        )
    }
    readme = _readme_impressions()
    assert {k: readme[k] for k in gives} == gives
    metrics = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    headline = re.search(r"\*\*The headline figure\*\* on ([^(.]+)", metrics)
    assert headline is not None
    named = {w.strip().lower() for w in re.split(r",| and ", headline.group(1)) if w.strip()}
    assert named == {name for name, given in gives.items() if given}
