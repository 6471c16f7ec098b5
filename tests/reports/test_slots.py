"""Defect class 4: best slots compare posts at the same age (values at 7 days) against an
account baseline taken over one row per delivery (a post reaching two audiences counts once),
and name no best slot when there is nothing to compare."""

from __future__ import annotations

from typing import Any

import pytest

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
MONDAY_10 = T0  # 08:00 UTC = 10:00 in Berlin (summer time)
TUESDAY_15 = T0 + 1 * D + 5 * H


@pytest.fixture
def slots(engine: Any) -> Any:
    """Channel x reaches audiences A and B; channel y reaches C. Rates at 7 days (1,000
    impressions each, a snapshot at exactly 7 d):

    ====  ===========  ===========  ====  ==================================
    post  audiences    local slot   rate
    ====  ===========  ===========  ====  ==================================
    d1    A and B      Mon 10:00    4%    one delivery, two audiences
    d2    A            Mon 10:00    2%
    d3    B            Tue 15:00    1%
    d4    A            Tue 15:00    3.5%
    d5    A            Mon 10:00    —     3 days old: 0.1% so far, left out
    c1,2  C (on y)     Mon 10:00    2%    one slot only
    ====  ===========  ===========  ====  ==================================
    """
    with building(engine) as b:
        b.campaign("c")
        x, y = b.channel("x", "x"), b.channel("y", "x")
        a = b.audience("c", "a", name="A", channels=[x])
        bb = b.audience("c", "b", name="B", channels=[x])
        c = b.audience("c", "cc", name="C", channels=[y])
        plan = [
            ("d1", [a, bb], x, MONDAY_10, 40),
            ("d2", [a], x, MONDAY_10, 20),
            ("d3", [bb], x, TUESDAY_15, 10),
            ("d4", [a], x, TUESDAY_15, 35),
            ("c1", [c], y, MONDAY_10, 20),
            ("c2", [c], y, MONDAY_10, 20),
        ]
        for key, audiences, channel, at, likes in plan:
            post = b.post("c", audiences=audiences, key=key)
            delivery = b.delivery(post, channel, due_at=at)
            b.snapshot(
                delivery,
                at + 7 * D,
                impressions=1000,
                likes=likes,
                reposts=0,
                replies=0,
                quotes=0,
                followers=5000,
            )
        young = b.post("c", audiences=[a], key="d5")
        delivery = b.delivery(young, x, due_at=MONDAY_10 + 7 * D)
        b.snapshot(
            delivery,
            MONDAY_10 + 8 * D,
            impressions=1000,
            likes=1,
            reposts=0,
            replies=0,
            quotes=0,
            followers=5000,
        )
    return engine


def test_the_slot_index_uses_a_baseline_over_one_row_per_delivery(slots: Any) -> None:
    report = report_of(slots, AS_OF)
    baseline = (0.04 + 0.02 + 0.01 + 0.035) / 4  # d1 once, not once per audience; d5 too young
    table = report.table("time_slots")
    monday = one(table, audience_label="A · c", weekday="Mon", hour=10)
    assert monday["index"] == pytest.approx((0.04 / baseline + 0.02 / baseline) / 2)
    assert monday["posts"] == 2  # d5 is left out
    tuesday = one(table, audience_label="A · c", weekday="Tue", hour=15)
    assert tuesday["index"] == pytest.approx(0.035 / baseline)
    b_monday = one(table, audience_label="B · c", weekday="Mon", hour=10)
    assert b_monday["index"] == pytest.approx(0.04 / baseline)


def test_a_card_names_no_best_slot_when_only_one_slot_was_used(slots: Any) -> None:
    report = report_of(slots, AS_OF, options={"thin_cell": 1})
    cards = {card.title: card for card in report.cards}
    assert "only one slot used" in cards["C"].subtitle
    assert "best slots: Tue 15:00 (1.33), Mon 10:00 (1.14)" in cards["A"].subtitle


def test_thin_slots_are_not_named_best(slots: Any) -> None:
    cards = {card.title: card for card in report_of(slots, AS_OF).cards}  # thin below 3 posts
    assert "too few posts per slot to name a best one" in cards["A"].subtitle
