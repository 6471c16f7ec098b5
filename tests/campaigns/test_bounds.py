"""Every expansion is bounded: recurrences by the campaign's dates and a count (whatever the rule
says of its own start, end or frequency), offsets and durations by sane sizes, texts by a size
above which they are refused without being counted. Each refusal names the rule or value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from campaigns import textrules
from campaigns.expansion import MAX_DELIVERIES
from campaigns.validation import Loaded
from tests.campaigns.factory import audience, doc, load, post

# A hang guard, not a timing: the bound on time is measured by bench/front_door.py.
pytestmark = pytest.mark.timeout(120)


def timed_load(tmp_path: Path, document: Any) -> Loaded:
    return load(tmp_path, document)


def messages(loaded: Loaded) -> list[str]:
    return [str(p) for p in loaded.errors]


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ("DTSTART:19000101T000000\nRRULE:FREQ=DAILY;BYHOUR=10", "carries its own start (DTSTART)"),
        ("FREQ=DAILY;DTSTART=19000101T000000;BYHOUR=10", "carries its own start (DTSTART)"),
        ("FREQ=SECONDLY;BYHOUR=10", "FREQ=SECONDLY would post every second"),
        ("FREQ=MINUTELY;BYHOUR=10", "FREQ=MINUTELY would post every minute"),
        ("FREQ=DAILY;INTERVAL=99999999999999999999;BYHOUR=10", "INTERVAL must be a whole number"),
        ("FREQ=DAILY;COUNT=99999999999;BYHOUR=10", "COUNT must be a whole number"),
        ("FREQ=DAILY;INTERVAL=7;BYDAY=TU;BYHOUR=10", "cannot also limit BYDAY"),
        ("FREQ=MONTHLY;INTERVAL=12;BYMONTH=3;BYHOUR=10", "cannot also limit BYMONTH"),
        ("FREQ=DAILY;BYSETPOS=2;BYHOUR=10", "BYSETPOS goes with FREQ=MONTHLY"),
        ("FREQ=DAILY;EXDATE=20270101;BYHOUR=10", "is not a rule part"),
        ("FREQ=DAILY;BYHOUR=10;UNTIL=20271345", "UNTIL"),
    ],
)
def test_a_rule_that_would_escape_its_bounds_is_refused_by_name(
    tmp_path: Path, rule: str, words: str
) -> None:
    loaded = timed_load(tmp_path, doc(posts=[post(when={"rrule": rule})]))
    found = messages(loaded)
    assert any(words in m for m in found), found
    assert any(":31:" in m or ":32:" in m for m in found), found  # at the rule


def test_a_rule_until_the_year_9999_stays_within_the_campaign(tmp_path: Path) -> None:
    rule = "FREQ=WEEKLY;BYDAY=MO;BYHOUR=10;BYMINUTE=0;UNTIL=99991231T000000Z"
    loaded = timed_load(tmp_path, doc(posts=[post(when={"rrule": rule})]))
    assert loaded.ok, messages(loaded)
    assert loaded.desired is not None
    days = [d.local_due.date() for d in loaded.desired.deliveries]
    assert len(days) == 52 and min(days).year == max(days).year == 2027


def test_a_rule_that_can_never_fire_after_the_campaign_ends_is_still_fast(tmp_path: Path) -> None:
    # Six Mondays in a month never happen; dateutil alone would search up to the year 9999.
    rule = "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=6;BYHOUR=10"
    posts = [post(f"p{n}", when={"rrule": rule}) for n in range(20)]
    found = messages(timed_load(tmp_path, doc(posts=posts)))
    assert len(found) == 20 and all("has no occurrence" in m for m in found), found


def test_a_recurrence_past_its_limit_names_the_rule(tmp_path: Path) -> None:
    rule = "FREQ=DAILY;BYHOUR=9,12,15,18;BYMINUTE=0"
    found = messages(timed_load(tmp_path, doc(posts=[post(when={"rrule": rule, "limit": 1000})])))
    assert any(f"rrule {rule!r} gives more than 1000 posts" in m for m in found), found


@pytest.mark.parametrize(
    "offset", ["-99999999999999999999d 10:00", "+400d", "-9000000h", "+" + "9" * 5000 + "d"]
)
def test_an_astronomical_offset_is_refused(tmp_path: Path, offset: str) -> None:
    when = {"event": "nauryz", "offset": offset}
    found = messages(timed_load(tmp_path, doc(posts=[post(when=when)])))
    assert any("offset" in m and ("too large" in m or "not understood" in m) for m in found)
    assert all(len(m) < 500 for m in found)


@pytest.mark.parametrize("grace", ["99999999999d", "30d", -5, 10**30])
def test_a_grace_beyond_a_week_is_refused(tmp_path: Path, grace: Any) -> None:
    document = doc()
    document["campaign"]["grace"] = grace
    found = messages(timed_load(tmp_path, document))
    assert any("grace" in m for m in found), found


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "1850-03-01"])
def test_dates_outside_plausible_years_are_refused(tmp_path: Path, day: str) -> None:
    document = doc(events={"nauryz": day})
    document["posts"] = [post(when={"event": "nauryz", "offset": "-1d 10:00"})]
    found = messages(timed_load(tmp_path, document))
    assert any("not a plausible date" in m for m in found), found


def test_a_twenty_megabyte_text_is_refused_without_being_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    counted: list[int] = []
    real = textrules.length
    monkeypatch.setattr(textrules, "length", lambda *a, **k: counted.append(1) or real(*a, **k))
    problem = textrules.check("x", "Kasachstan " * 2_000_000)
    assert problem is not None and "no platform takes more than 10,000" in problem
    assert counted == []
    assert textrules.check("x", "Kasachstan") is None and counted == [1]


def test_a_file_asking_for_too_many_deliveries_is_refused(tmp_path: Path) -> None:
    channels = ["de-x", "de-mastodon", "de-bluesky", "de-telegram", "cn-weibo", "cn-wechat"]
    rule = {"rrule": "FREQ=DAILY;BYHOUR=9,15;BYMINUTE=0", "limit": 1000}
    document = doc(
        audiences=[audience("public", channels)],
        posts=[post(f"p{n}", when=rule, text="Hallo") for n in range(5)],
    )
    found = messages(timed_load(tmp_path, document))
    assert any(f"more than {MAX_DELIVERIES:,} deliveries" in m for m in found), found
