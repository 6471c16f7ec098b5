"""The contract every connector keeps, run over every (connector, emulator) pair in
`tests.connectors.cases.CASES`: publishing, media, threads, each fault class mapped to the right
error, idempotent retry, reconciliation, metrics with NULLs, secrets never in logs. What only
one platform does is tested beside this, in ``test_<platform>.py``."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterator
from datetime import timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from campaigns import textrules
from connectors import redaction
from connectors.base import (
    METRIC_FIELDS,
    AmbiguousError,
    AuthError,
    ConnectorError,
    OutgoingPost,
    Published,
    RateLimitedError,
    RejectedError,
    TransientError,
)
from tests.connectors.cases import CASES, CLOCK, NOW, Case, World, epoch
from tests.connectors.files import png

SINCE = NOW - timedelta(hours=1)
TEXTS = (
    "Grüße aus Köln: Äpfel, Öl und Süßes für alle – heute um 12 Uhr.",
    "外交部新闻发布会今天下午三点举行，欢迎各位记者参加。",
    "Сәлем, Қазақстан! Ғылым, өнер және әдебиет күні.",
    "Willkommen 🇩🇪🇰🇿🇨🇳 👩🏽‍💻 🎉",
)


@pytest.fixture(scope="module", params=CASES, ids=[case.platform for case in CASES])
def running(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    case: Case = request.param
    with case.running(tmp_path_factory.mktemp(case.platform)) as world:
        yield world
        world.reset()


@pytest.fixture
def world(running: World, tmp_path: Path) -> Iterator[World]:
    global _LINK, _COVER
    running.reset()
    _LINK = running.case.link
    _COVER = png(tmp_path / "cover.png", 9, 5) if running.case.cover else None
    yield running
    _LINK, _COVER = "", None


def only(keep: Callable[[Case], bool]) -> pytest.MarkDecorator:
    """Run a test over the cases it applies to (a fault needs a network to fail; a thread, a
    platform that has threads), so what does not apply is not collected rather than skipped."""
    cases = [case for case in CASES if keep(case)]
    return pytest.mark.parametrize(
        "running", cases, indirect=True, ids=[case.platform for case in cases]
    )


networked = only(lambda case: case.start is not None)


_LINK = ""
"""The link every text of the platform under test must carry (Weibo: one to its safe domain,
as campaign validation makes sure); set by the `world` fixture."""
_COVER: Path | None = None
"""The image every post of the platform under test must carry (a WeChat article's cover)."""


def post(text: str = "Pressemitteilung: Neue Förderrichtlinie.", key: str = "d-1", **kw: object):  # type: ignore[no-untyped-def]
    full = f"{text} {_LINK}" if _LINK else text
    if _COVER is not None and not kw.get("media"):
        kw["media"] = (_COVER,)
    return OutgoingPost(text=full, idempotency_key=key, **kw)  # type: ignore[arg-type]


# --- publishing ---------------------------------------------------------------------------------


def test_publishing_creates_exactly_one_post_and_returns_its_id(world: World) -> None:
    published = world.connect().publish(post())

    (stored,) = world.live()
    assert published.remote_id == stored.id
    assert stored.text == post().text
    assert (published.url is not None) == world.case.permalink
    assert published.published_at.tzinfo is not None


def test_unicode_texts_arrive_intact(world: World) -> None:
    connector = world.connect()
    for n, text in enumerate(TEXTS):
        connector.publish(post(text, f"d-{n}"))

    assert sorted(p.text for p in world.live()) == sorted(post(t).text for t in TEXTS)


@only(lambda case: case.media)
def test_an_image_is_attached_to_the_post(world: World, tmp_path: Path) -> None:
    image = png(tmp_path / "flagge.png", 4, 3)

    published = world.connect().publish(post(media=(image,)))

    (stored,) = world.live()
    assert stored.id == published.remote_id
    assert stored.media == 1


@only(lambda case: case.alt)
def test_each_image_carries_its_alt_text_where_the_platform_takes_one(
    world: World, tmp_path: Path
) -> None:
    images = (png(tmp_path / "steppe.png", 6, 2), png(tmp_path / "yurt.png", 3, 3))
    alts = ("Die Steppe im Frühling", "Eine Jurte, innen")

    world.connect().publish(post(media=images, alt_texts=alts))

    (stored,) = world.live()
    # An article's first image is its cover, which carries no description; the rest go in the body.
    expected = list(alts[1:] if world.case.cover else alts)
    assert [a for a in stored.alt if a] == expected


@only(lambda case: case.alt and case.platform in textrules.ALT_LIMITS)
def test_alt_text_at_the_validators_limit_goes_and_one_past_it_is_the_platforms_refusal(
    world: World, tmp_path: Path
) -> None:
    """The validator's alt limit (campaigns.textrules.ALT_LIMITS) is the platform's: as long as
    it allows arrives whole (X cut it to 1,000 before), one more is refused by the platform as
    a RejectedError and nothing is posted. Bluesky's lexicon has no limit (its app has)."""
    limit = textrules.ALT_LIMITS[world.case.platform].maximum
    image = png(tmp_path / "steppe.png", 6, 2)
    fits = "Ä" * limit
    assert textrules.check_alt(world.case.platform, fits) is None
    assert textrules.check_alt(world.case.platform, fits + "a") is not None

    world.connect().publish(post(media=(image,), alt_texts=(fits,)))
    (stored,) = world.live()
    assert stored.alt[-1] == fits

    if world.case.platform == "bluesky":
        return
    world.reset()
    with pytest.raises(RejectedError):
        world.connect().publish(post(key="d-2", media=(image,), alt_texts=(fits + "a",)))
    assert world.live() == []


@only(lambda case: case.threads)
def test_a_reply_goes_under_the_post_it_answers(world: World) -> None:
    connector = world.connect()
    parent = connector.publish(post("Erster Teil.", "d-1"))

    child = connector.publish(post("Zweiter Teil.", "d-2", reply_to=parent.remote_id))

    stored = {p.id: p for p in world.live()}
    assert stored[child.remote_id].reply_to == parent.remote_id


def test_whoami_names_the_account(world: World) -> None:
    identity = world.connect().whoami()

    assert identity.handle
    assert identity.account_id


# --- faults -------------------------------------------------------------------------------------


@networked
@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("rate_limit", RateLimitedError),
        ("server_error", TransientError),
        ("unavailable", TransientError),
        ("auth", AuthError),
        ("reject", RejectedError),
    ],
)
def test_each_refusal_on_publish_maps_to_its_error_and_posts_nothing(
    world: World, fault: str, error: type[ConnectorError]
) -> None:
    connector = world.connect()
    connector.whoami()  # logged in: the fault meets the publishing call itself
    # Refused credentials stay refused (a connector may renew its session and try once more).
    world.inject(fault, retry_after=42, times=10 if fault == "auth" else 1)

    if fault in world.case.unsure_faults:
        error = AmbiguousError  # the platform may have acted and cannot be asked afterwards
    with pytest.raises(error) as raised:
        connector.publish(post())

    assert type(raised.value) is error
    if fault == "rate_limit":
        assert isinstance(raised.value, RateLimitedError)
        assert raised.value.retry_after is not None and raised.value.retry_after > 0
    assert world.live() == []


_WAIT_HINTS = (
    "Retry-After",
    "x-rate-limit-limit",
    "x-rate-limit-remaining",
    "x-rate-limit-reset",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "ratelimit-policy",
    "X-Business-Use-Case-Usage",
    "X-App-Usage",
)


@networked
def test_a_rate_limit_without_any_wait_header_still_blocks_the_channel(world: World) -> None:
    """A 429 whose headers say nothing about when (a proxy's, a server software's that sends
    none) still gives a wait: with retry_after None or 0 the scheduler does not block the
    channel, and its next posts meet the same limit at once."""
    connector = world.connect()
    connector.whoami()
    world.inject("rate_limit", headers=dict.fromkeys(_WAIT_HINTS))

    with pytest.raises(RateLimitedError) as raised:
        connector.publish(post())

    assert raised.value.retry_after is not None and raised.value.retry_after > 0
    assert world.live() == []


_SERVER_WAITS = {
    "seconds": "120",
    "http-date": format_datetime(NOW + timedelta(seconds=120), usegmt=True),
}


@networked
@pytest.mark.parametrize("on", ["publish", "read"])
@pytest.mark.parametrize("form", sorted(_SERVER_WAITS))
def test_a_server_error_that_says_when_to_come_back_carries_that_wait(
    world: World, on: str, form: str
) -> None:
    """A 503 with Retry-After (a server in maintenance, a proxy shedding load), in seconds or
    as an HTTP date measured on the answer's Date: a transient error whose retry_after is that
    wait, so the scheduler neither retries the delivery nor calls the channel before then."""
    connector = world.connect()
    published = connector.publish(post(key="d-0")) if on == "read" else None
    connector.whoami()
    world.inject("unavailable", on=on, headers={"Retry-After": _SERVER_WAITS[form]})

    with pytest.raises(TransientError) as raised:
        if published is None:
            connector.publish(post())
        else:
            connector.fetch_metrics([published.remote_id])

    assert type(raised.value) is TransientError
    assert raised.value.retry_after == 120


@networked
def test_a_server_error_without_retry_after_carries_no_wait(world: World) -> None:
    """Without Retry-After a 5xx is retried on the scheduler's backoff as before: no default
    wait (a rate limit's), and a rate-limit reset header on it is not read as one."""
    connector = world.connect()
    connector.whoami()
    world.inject(
        "unavailable",
        headers={"Retry-After": None, "X-RateLimit-Reset": str(int(epoch()) + 900)},
    )

    with pytest.raises(TransientError) as raised:
        connector.publish(post())

    assert type(raised.value) is TransientError
    assert raised.value.retry_after is None
    assert world.live() == []


@networked
def test_a_failed_read_is_transient(world: World) -> None:
    connector = world.connect()
    published = connector.publish(post())
    world.inject("server_error", on="read", times=5)

    with pytest.raises(TransientError):
        connector.fetch_metrics([published.remote_id])


@networked
def test_a_lost_answer_after_sending_is_ambiguous_and_the_post_exists(world: World) -> None:
    connector = world.connect()
    connector.whoami()
    world.inject("drop_after")

    with pytest.raises(AmbiguousError):
        connector.publish(post())

    assert len(world.live()) == 1


@networked
def test_no_answer_within_the_timeout_after_sending_is_ambiguous(world: World) -> None:
    connector = world.connect(timeout=0.3)
    connector.whoami()
    world.inject("delay", seconds=1.0)

    with pytest.raises(AmbiguousError):
        connector.publish(post())


@networked
def test_a_connection_dropped_before_handling_is_ambiguous_on_publish(world: World) -> None:
    """From the client's side a connection closed before or after the server acted look the
    same: only reconciling can tell."""
    connector = world.connect()
    connector.whoami()
    world.inject("drop_before")

    with pytest.raises(AmbiguousError):
        connector.publish(post())

    assert world.live() == []


@networked
def test_no_answer_within_the_timeout_on_a_read_is_transient(world: World) -> None:
    connector = world.connect(timeout=0.3)
    published = connector.publish(post())
    world.inject("delay", on="read", seconds=1.0)

    with pytest.raises(TransientError):
        connector.fetch_metrics([published.remote_id])


@networked
def test_credentials_that_stopped_working_are_an_auth_error(world: World) -> None:
    assert world.emulator is not None
    connector = world.connect()
    connector.whoami()
    world.case.revoke(world.emulator)

    with pytest.raises(AuthError):
        connector.whoami()
    with pytest.raises(AuthError):
        connector.publish(post())
    assert world.live() == []


@networked
def test_a_refused_connection_is_transient_even_on_publish(world: World) -> None:

    with pytest.raises(TransientError):
        world.unreachable().publish(post())


# --- exactly once -------------------------------------------------------------------------------


@networked
def test_after_a_lost_answer_no_second_post_is_made(world: World) -> None:
    """Idempotent platforms return the first post when the delivery is sent again; the others
    find it by reconciling (or say they cannot tell), so the scheduler never sends it twice."""
    connector = world.connect()
    connector.whoami()
    world.inject("drop_after")
    with pytest.raises(AmbiguousError):
        connector.publish(post())
    (original,) = world.live()

    if connector.capabilities.idempotent_publish:
        again = connector.publish(post())
        assert again.remote_id == original.id
    elif connector.capabilities.can_reconcile:
        found = connector.reconcile(post(), since=SINCE)
        assert found is not None and found.remote_id == original.id
    else:
        with pytest.raises(AmbiguousError):
            connector.reconcile(post(), since=SINCE)
    assert len(world.live()) == 1


def test_publishing_a_delivery_that_went_out_returns_it_or_is_found(world: World) -> None:
    connector = world.connect()
    first = connector.publish(post())

    if connector.capabilities.idempotent_publish:
        assert connector.publish(post()).remote_id == first.remote_id
        assert len(world.live()) == 1
    elif connector.capabilities.can_reconcile:
        found = connector.reconcile(post(), since=SINCE)
        assert isinstance(found, Published) and found.remote_id == first.remote_id


def test_reconcile_says_none_when_nothing_went_out(world: World) -> None:
    connector = world.connect()
    connector.publish(post("Ein anderer Beitrag.", "other"))

    if connector.capabilities.can_reconcile:
        assert connector.reconcile(post(), since=SINCE) is None
    else:
        with pytest.raises(AmbiguousError):
            connector.reconcile(post(), since=SINCE)
    assert len(world.live()) == 1


# --- metrics ------------------------------------------------------------------------------------


def test_metrics_give_the_platforms_counters_and_none_for_the_rest(world: World) -> None:
    connector = world.connect()
    published = connector.publish(post("Mit Link: https://example.org/a"))
    counters = {
        "impressions": 95,
        "likes": 11,
        "reposts": 3,
        "replies": 2,
        "quotes": 1,
        "bookmarks": 4,
    }
    world.set_metrics(published.remote_id, **counters)
    CLOCK.advance(seconds=world.case.metrics_delay.total_seconds())

    (sample,) = connector.fetch_metrics([published.remote_id])

    given = connector.capabilities.metrics
    assert sample.remote_id == published.remote_id and not sample.deleted
    for name in METRIC_FIELDS:
        value = getattr(sample, name)
        if name not in given:
            assert value is None, f"{name} is not given by {world.platform}: must be NULL"
        elif name in counters and world.emulator is not None:
            assert value == counters[name], name
        else:
            assert value is None or isinstance(value, int), name


def test_a_deleted_post_is_reported_deleted_where_the_platform_shows_it(world: World) -> None:
    connector = world.connect()
    kept = connector.publish(post("Bleibt.", "d-1"))
    gone = connector.publish(post("Verschwindet.", "d-2"))
    world.delete(gone.remote_id)

    samples = {s.remote_id: s for s in connector.fetch_metrics([kept.remote_id, gone.remote_id])}

    assert not samples[kept.remote_id].deleted
    assert samples[gone.remote_id].deleted is world.case.deletion_visible


# --- permalinks --------------------------------------------------------------------------------


@only(lambda case: case.permalink)
def test_the_platforms_permalink_turns_back_into_the_posts_remote_id(world: World) -> None:
    connector = world.connect()
    published = connector.publish(post())
    assert published.url is not None

    assert world.connect().remote_id_from_url(published.url) == published.remote_id


@pytest.mark.parametrize(
    "url",
    ["https://example.org/status/123", "https://x.com/someone", "not a url at all"],
)
def test_a_url_that_is_not_a_post_of_this_platform_is_refused(world: World, url: str) -> None:
    connector = world.connect()
    connector.publish(post())

    with pytest.raises(RejectedError):
        connector.remote_id_from_url(url)


# --- secrets ------------------------------------------------------------------------------------


def test_secrets_never_reach_logs_messages_or_tracebacks(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    connector = world.connect(timeout=0.5)
    connector.publish(post("Protokolliert auf DEBUG.", "ok"))
    texts: list[str] = []
    kinds = ("rate_limit", "server_error", "auth", "reject", "drop_after")
    for n, kind in enumerate(kinds if world.emulator is not None else ()):
        world.inject(kind)
        try:
            connector.publish(post(f"Fehler {kind}.", f"fault-{n}"))
        except ConnectorError as exc:
            texts += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    connector.close()

    everything = "\n".join([caplog.text, *texts])
    for secret in world.secrets():
        for form in redaction.forms(secret):
            assert form not in everything, f"a secret leaked ({len(form)} chars)"
