"""connectors._limits.wait_seconds on each format a server or proxy uses (the connectors' own
tests run the same answers through the real client libraries against the emulators)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors._limits import DEFAULT_WAIT, MIN_WAIT, wait_seconds

NOW = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
EPOCH = int(NOW.timestamp())
RESETS = [("x-ratelimit-reset", "x-ratelimit-remaining")]


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"X-RateLimit-Reset": str(EPOCH + 42)}, 42),  # X, Bluesky, GoToSocial: epoch seconds
        ({"X-RateLimit-Reset": "2026-11-30T16:05:00.000000Z"}, 300),  # Mastodon: ISO 8601
        ({"X-RateLimit-Reset": "2026-11-30 16:05:00"}, 300),  # naive: UTC
        ({"X-RateLimit-Reset": "90"}, 90),  # the IETF draft's RateLimit-Reset: seconds from now
        ({"X-RateLimit-Reset": str((EPOCH + 30) * 1000)}, 30),  # JavaScript milliseconds
        ({"X-RateLimit-Reset": "Mon, 30 Nov 2026 16:02:00 GMT"}, 120),  # an HTTP date
        ({"Retry-After": "17"}, 17),
        ({"retry-after": "Mon, 30 Nov 2026 16:03:00 GMT"}, 180),
        ({"Retry-After": "5", "X-RateLimit-Reset": str(EPOCH + 60)}, 60),  # the longest wins
        ({"X-RateLimit-Reset": str(EPOCH + 60), "X-RateLimit-Remaining": "12"}, DEFAULT_WAIT),
        ({"X-RateLimit-Reset": str(EPOCH + 60), "X-RateLimit-Remaining": "0"}, 60),
        ({"X-RateLimit-Reset": str(EPOCH - 3)}, MIN_WAIT),  # already past: the window rolled
        ({"X-RateLimit-Reset": "soon", "Retry-After": "never"}, DEFAULT_WAIT),
        ({}, DEFAULT_WAIT),
    ],
)
def test_each_format_gives_the_wait_it_means(headers: dict[str, str], wait: float) -> None:
    assert wait_seconds(headers, NOW, resets=RESETS) == wait


def test_an_absolute_reset_is_measured_on_the_answers_date_not_on_our_clock() -> None:
    server_ahead = {
        "Date": "Mon, 30 Nov 2026 16:05:00 GMT",
        "X-RateLimit-Reset": "2026-11-30T16:05:42.000000Z",
    }

    assert wait_seconds(server_ahead, NOW, resets=RESETS) == 42


def test_a_platforms_own_default_replaces_the_general_one() -> None:
    assert wait_seconds({}, NOW, resets=RESETS, default=3600) == 3600


def test_a_server_errors_wait_is_its_retry_after_or_none() -> None:
    """A 5xx is read with ``default=None``: its Retry-After (seconds or a date on its Date), or
    no wait at all when it has none or an unreadable one (then retried as any server error)."""
    date = {"Date": "Mon, 30 Nov 2026 16:00:00 GMT"}
    assert wait_seconds({**date, "Retry-After": "30"}, NOW, default=None) == 30
    later = {**date, "Retry-After": "Mon, 30 Nov 2026 16:05:00 GMT"}
    assert wait_seconds(later, NOW, default=None) == 300
    assert wait_seconds(date, NOW, default=None) is None
    assert wait_seconds({**date, "Retry-After": "later"}, NOW, default=None) is None
