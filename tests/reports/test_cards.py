"""The audience cards, hand-computed on the fixed history of conftest.py (on SQLite and
PostgreSQL): every figure is the engagement table's, with its notes."""

from __future__ import annotations

from typing import Any

import pytest


def _card(report: Any, title: str) -> Any:
    return next(card for card in report.cards if card.title == title)


def _figure(card: Any, label: str) -> Any:
    return next(f for f in card.figures if f.label == label)


def test_the_public_card_by_hand(fixed_report: Any) -> None:
    card = _card(fixed_report, "Public")
    published = _figure(card, "Posts published")
    assert (published.value, published.note) == (3, "1 missed · 1 failed")
    reach = _figure(card, "Reach (impressions)")
    assert (reach.value, reach.note) == (3750, "2 of 3 posts give impressions")
    impressions = _figure(card, "Engagement rate by impressions")
    assert impressions.value == pytest.approx(70 / 3750)
    assert impressions.low is None and impressions.high is None  # 2 messages
    median = (40 / 2000 + 30 / 1750) / 2 * 100
    assert (
        impressions.note == f"2 posts · too few posts for an interval · median post {median:.2f}%"
    )
    assert impressions.trend == "too few posts for a trend"
    followers = _figure(card, "Engagement rate by followers at posting")
    assert followers.value == pytest.approx(12 / 2000)
    assert card.subtitle.startswith("de · general public")


def test_the_think_tank_card_counts_the_deleted_post(fixed_report: Any) -> None:
    card = _card(fixed_report, "Think tanks")
    published = _figure(card, "Posts published")
    assert (published.value, published.note) == (3, "0 missed · 0 failed · 1 deleted later")
    assert [f.label for f in card.figures] == [
        "Posts published",
        "Reach (impressions)",
        "Engagement rate by impressions",  # no post rated by followers: no such figure
    ]
    rate = _figure(card, "Engagement rate by impressions")
    assert rate.value == pytest.approx((40 + 2) / (2000 + 80))
