"""The campaign format: every form of `when` lands on the right UTC instant (DST included), the
right text reaches each channel, and each platform's length rules are applied."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from campaigns import textrules
from campaigns.timing import Gap, to_utc
from campaigns.validation import Loaded
from tests.campaigns.factory import BASE, audience, doc, load, post
from tests.connectors.files import png
from tests.workbound import at_most_calls


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def due_times(loaded: Loaded, key: str = "hello", channel: str | None = None) -> list[datetime]:
    assert loaded.ok, [str(p) for p in loaded.problems]
    assert loaded.desired is not None
    return [
        d.due_at
        for d in loaded.desired.deliveries
        if d.post == key and (channel is None or d.channel == channel)
    ]


def texts(loaded: Loaded) -> dict[str, str]:
    assert loaded.ok, [str(p) for p in loaded.problems]
    assert loaded.desired is not None
    return {d.channel: d.text for d in loaded.desired.deliveries}


def errors(loaded: Loaded) -> list[str]:
    return [str(p) for p in loaded.errors]


# --- when: each form ------------------------------------------------------------------------


def test_local_date_time_is_converted_from_the_campaign_zone(tmp_path: Path) -> None:
    loaded = load(tmp_path, doc(posts=[post(when="2027-04-15 10:00")]))
    assert due_times(loaded) == [utc(2027, 4, 15, 8, 0)]


def test_event_offset_with_a_clock_time_is_that_local_time_days_before(tmp_path: Path) -> None:
    loaded = load(tmp_path, doc(posts=[post(when={"event": "nauryz", "offset": "-1d 10:00"})]))
    assert due_times(loaded) == [utc(2027, 3, 20, 9, 0)]  # CET, UTC+1


def test_event_offset_in_hours_counts_from_the_events_own_time(tmp_path: Path) -> None:
    loaded = load(tmp_path, doc(posts=[post(when={"event": "abai-day", "offset": "-3h"})]))
    assert due_times(loaded) == [utc(2027, 8, 10, 13, 0)]  # 15:00 CEST


def test_event_offset_in_days_keeps_the_events_time(tmp_path: Path) -> None:
    loaded = load(tmp_path, doc(posts=[post(when={"event": "abai-day", "offset": "+1d"})]))
    assert due_times(loaded) == [utc(2027, 8, 11, 16, 0)]


def test_event_without_a_time_needs_one_in_the_offset(tmp_path: Path) -> None:
    loaded = load(tmp_path, doc(posts=[post(when={"event": "nauryz", "offset": "-1d"})]))
    assert any("no time of day" in e for e in errors(loaded))


RULE = "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=30"
MONDAYS_ACROSS_SPRING_CHANGE = [
    utc(2027, 3, 22, 8, 30),  # CET
    utc(2027, 3, 29, 7, 30),  # CEST from 28 March
    utc(2027, 4, 5, 7, 30),
]


def test_rrule_repeats_at_the_same_local_time_across_the_dst_change(tmp_path: Path) -> None:
    when = {"rrule": RULE, "from": "2027-03-22", "until": "2027-04-05"}
    loaded = load(tmp_path, doc(posts=[post(when=when)]))
    assert due_times(loaded) == MONDAYS_ACROSS_SPRING_CHANGE


def test_cron_repeats_at_the_same_local_time_across_the_dst_change(tmp_path: Path) -> None:
    when = {"cron": "30 9 * * MON", "from": "2027-03-22", "until": "2027-04-05"}
    loaded = load(tmp_path, doc(posts=[post(when=when)]))
    assert due_times(loaded) == MONDAYS_ACROSS_SPRING_CHANGE


def test_recurrence_is_bounded_by_the_campaign_dates(tmp_path: Path) -> None:
    campaign = {**BASE["campaign"], "starts": "2027-06-01", "ends": "2027-06-03"}
    when = {"cron": "0 12 * * *"}
    loaded = load(tmp_path, doc(campaign=campaign, posts=[post(when=when)]))
    assert due_times(loaded) == [utc(2027, 6, d, 10, 0) for d in (1, 2, 3)]


def test_each_occurrence_of_a_recurrence_is_its_own_delivery(tmp_path: Path) -> None:
    when = {"cron": "0 12 * * *", "from": "2027-06-01", "until": "2027-06-02"}
    loaded = load(tmp_path, doc(posts=[post(when=when)]))
    assert loaded.desired is not None
    keys = {d.idempotency_key for d in loaded.desired.deliveries}
    assert [d.occurrence for d in loaded.desired.deliveries] == [0, 1]
    assert len(keys) == 2


def test_a_rule_without_an_hour_is_refused_rather_than_posting_at_midnight(
    tmp_path: Path,
) -> None:
    loaded = load(tmp_path, doc(posts=[post(when={"rrule": "FREQ=WEEKLY;BYDAY=MO"})]))
    assert any("BYHOUR" in e for e in errors(loaded))


# --- DST and time zones -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        ("2027-03-27 10:00", utc(2027, 3, 27, 9, 0)),  # Saturday before the spring change: CET
        ("2027-03-28 10:00", utc(2027, 3, 28, 8, 0)),  # the change day: already CEST at 10:00
        ("2027-03-29 10:00", utc(2027, 3, 29, 8, 0)),
        ("2027-10-30 10:00", utc(2027, 10, 30, 8, 0)),  # Saturday before the autumn change: CEST
        ("2027-10-31 10:00", utc(2027, 10, 31, 9, 0)),  # the change day: CET again at 10:00
        ("2027-11-01 10:00", utc(2027, 11, 1, 9, 0)),
    ],
)
def test_ten_oclock_in_berlin_on_both_sides_of_each_change(
    tmp_path: Path, local: str, expected: datetime
) -> None:
    loaded = load(tmp_path, doc(posts=[post(when=local)]))
    assert due_times(loaded) == [expected]


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("Asia/Shanghai", utc(2027, 3, 29, 2, 0)),  # UTC+8, no DST
        ("Asia/Almaty", utc(2027, 3, 29, 5, 0)),  # UTC+5 since March 2024
    ],
)
def test_audience_zone_decides_the_instant(tmp_path: Path, zone: str, expected: datetime) -> None:
    far = audience("far", ["de-telegram"], timezone=zone)
    loaded = load(
        tmp_path,
        doc(
            audiences=[*BASE["audiences"], far],
            posts=[post(audiences=["public", "far"], when="2027-03-29 10:00")],
        ),
    )
    assert due_times(loaded, channel="de-telegram") == [expected]
    assert due_times(loaded, channel="de-x") == [utc(2027, 3, 29, 8, 0)]


def test_a_posts_own_timezone_overrides_the_audiences(tmp_path: Path) -> None:
    loaded = load(tmp_path, doc(posts=[post(when="2027-03-29 10:00", timezone="Asia/Shanghai")]))
    assert due_times(loaded) == [utc(2027, 3, 29, 2, 0)]


def test_a_time_in_the_spring_gap_names_the_two_nearest_valid_times(tmp_path: Path) -> None:
    loaded = load(tmp_path, doc(posts=[post(when="2027-03-28 02:30")]))
    [message] = errors(loaded)
    assert "2027-03-28 02:30 does not exist in Europe/Berlin" in message
    assert "2027-03-28 01:59" in message and "2027-03-28 03:00" in message
    with pytest.raises(Gap):
        to_utc(datetime(2027, 3, 28, 2, 0), "Europe/Berlin")


def test_the_repeated_autumn_hour_takes_the_first_one_and_warns(tmp_path: Path) -> None:
    loaded = load(tmp_path, doc(posts=[post(when="2027-10-31 02:30")]))
    assert due_times(loaded) == [utc(2027, 10, 31, 0, 30)]  # still CEST (UTC+2)
    [warning] = [p for p in loaded.problems if not p.is_error]
    assert "happens twice" in warning.message and "first" in warning.message


# --- texts --------------------------------------------------------------------------------------


def test_each_audience_gets_its_first_language_that_the_post_has(tmp_path: Path) -> None:
    diaspora = audience("diaspora", ["de-telegram"], languages=["kk", "ru", "de"])
    loaded = load(
        tmp_path,
        doc(
            audiences=[*BASE["audiences"], diaspora],
            posts=[
                post(
                    audiences=["public", "diaspora"],
                    text={"en": "Hello", "ru": "Привет", "de": "Hallo"},
                    hashtags=False,
                )
            ],
        ),
    )
    assert texts(loaded) == {"de-x": "Hallo", "de-telegram": "Привет"}


def test_a_post_with_no_language_an_audience_reads_is_an_error(tmp_path: Path) -> None:
    loaded = load(tmp_path, doc(posts=[post(text={"zh": "你好"})]))
    assert any("no text in a language" in e for e in errors(loaded))


def test_per_platform_text_goes_to_that_platform_and_default_elsewhere(tmp_path: Path) -> None:
    both = audience("public", ["de-x", "de-mastodon"])
    loaded = load(
        tmp_path,
        doc(
            audiences=[both],
            posts=[post(text={"de": {"default": "Lang", "x": "Kurz"}}, hashtags=False)],
        ),
    )
    assert texts(loaded) == {"de-x": "Kurz", "de-mastodon": "Lang"}


def test_brand_hashtags_are_appended_once(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        doc(
            posts=[
                post("a", text="Hallo"),
                post("b", text="Hallo #kasachstan", when="2027-04-16 10:00"),
            ]
        ),
    )
    assert loaded.desired is not None
    by_post = {d.post: d.text for d in loaded.desired.deliveries}
    assert by_post == {"a": "Hallo\n\n#Kasachstan", "b": "Hallo #kasachstan"}


def test_hashtags_false_leaves_the_text_alone(tmp_path: Path) -> None:
    loaded = load(tmp_path, doc(posts=[post(hashtags=False)]))
    assert texts(loaded) == {"de-x": "Hallo aus Astana."}


def test_links_are_utm_tagged_per_channel_and_audience(tmp_path: Path) -> None:
    campaign = {**BASE["campaign"], "utm": {"source": "{platform}", "medium": "social"}}
    both = audience("public", ["de-x", "de-mastodon"])
    loaded = load(
        tmp_path,
        doc(
            campaign=campaign,
            audiences=[both],
            posts=[post(link="https://example.org/forum?lang=de", hashtags=False)],
        ),
    )
    for channel, text in texts(loaded).items():
        url = text.split("\n\n")[-1]
        query = parse_qs(urlsplit(url).query)
        platform = {"de-x": "x", "de-mastodon": "mastodon"}[channel]
        assert query == {
            "lang": ["de"],
            "utm_source": [platform],
            "utm_medium": ["social"],
            "utm_campaign": ["de-test"],
            "utm_content": ["hello"],
            "utm_term": ["public"],
        }


def test_without_utm_the_link_is_appended_unchanged(tmp_path: Path) -> None:
    loaded = load(tmp_path, doc(posts=[post(link="https://example.org/a", hashtags=False)]))
    assert texts(loaded) == {"de-x": "Hallo aus Astana.\n\nhttps://example.org/a"}


# --- platform limits ----------------------------------------------------------------------------


def test_x_counts_cjk_as_two_and_every_url_as_23() -> None:
    assert textrules.x_length("abc") == 3
    assert textrules.x_length("你好") == 4
    assert textrules.x_length("Hi https://example.org/a/very/long/path/that/is/long") == 3 + 23
    assert textrules.check("x", "你" * 140) is None
    assert (
        textrules.check("x", "你" * 141)
        == "text is 282 weighted characters (limit on x: 280), 2 over"
    )


def test_mastodon_allows_500_characters_with_urls_as_23() -> None:
    assert textrules.check("mastodon", "a" * 500) is None
    assert textrules.check("mastodon", "a" * 501) is not None
    assert textrules.mastodon_length("https://example.org/" + "x" * 100) == 23


def test_bluesky_counts_graphemes_up_to_300() -> None:
    family = "👨‍👩‍👧"  # one grapheme, five code points
    assert textrules.graphemes(family) == 1
    decomposed = "a\u0308"  # ä as a letter and a combining mark: one grapheme
    assert textrules.check("bluesky", decomposed * 300) is None
    assert textrules.check("bluesky", decomposed * 301) == (
        "text is 301 graphemes (limit on bluesky: 300), 1 over"
    )
    assert textrules.check("bluesky", family * 200) is not None  # 3,600 bytes: over 3,000


def test_telegram_allows_4096_for_a_message_and_1024_for_a_caption() -> None:
    assert textrules.check("telegram", "a" * 4096) is None
    assert textrules.check("telegram", "a" * 4097) is not None
    assert textrules.check("telegram", "a" * 1024, caption=True) is None
    assert textrules.check("telegram", "a" * 1025, caption=True) is not None


def test_x_limit_is_checked_on_the_text_as_published(tmp_path: Path) -> None:
    # 270 characters fit alone, but not with the link (23) and the hashtags appended.
    loaded = load(tmp_path, doc(posts=[post(text="a" * 270, link="https://example.org")]))
    [message] = errors(loaded)
    assert "for channel 'de-x'" in message and "limit on x: 280" in message


def test_telegram_caption_limit_applies_when_media_is_attached(tmp_path: Path) -> None:
    png(tmp_path / "photo.png")
    tg = audience("public", ["de-telegram"])
    loaded = load(
        tmp_path,
        doc(audiences=[tg], posts=[post(text="a" * 1100, media=["photo.png"], hashtags=False)]),
    )
    assert any("media caption" in e for e in errors(loaded))


@pytest.mark.parametrize(
    ("when", "words"),
    [
        (
            {"rrule": "FREQ=HOURLY;BYMONTH=4;BYMONTHDAY=31;BYHOUR=10"},
            "never falls on a real date",
        ),
        ({"rrule": "FREQ=DAILY;BYYEARDAY=400;BYHOUR=10"}, "never falls on a real date"),
        ({"cron": "0 10 30 2 *"}, "never falls on a real date"),
        ({"rrule": "FREQ=HOURLY;INTERVAL=5;BYDAY=MO;BYHOUR=10"}, "cannot also limit BYDAY"),
    ],
)
def test_a_rule_that_matches_no_date_is_an_error_found_quickly(
    tmp_path: Path, when: dict[str, str], words: str
) -> None:
    """Quickly in work, not in seconds: a search until the year 9999 (what dateutil does with
    such a rule) takes millions of calls; the checks find it in well under 200,000. The time
    is measured by bench/front_door.py (rrule-never.yaml)."""
    load(tmp_path, doc(posts=[post()]))  # imports and caches outside the count
    with at_most_calls(200_000):
        loaded = load(tmp_path, doc(posts=[post(when=when)]))
    assert any(words in e for e in errors(loaded)), errors(loaded)


def test_a_rule_whose_days_all_fall_outside_the_campaign_says_so(tmp_path: Path) -> None:
    loaded = load(
        tmp_path, doc(posts=[post(when={"rrule": "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYHOUR=10"})])
    )
    assert any("no occurrence between 2027-01-01 and 2027-12-31" in e for e in errors(loaded))
