"""The Telegram connector against the Bot API emulator, with the real python-telegram-bot client."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors._limits import DEFAULT_WAIT
from connectors.base import (
    AmbiguousError,
    AuthError,
    ChannelSettings,
    OutgoingPost,
    RateLimitedError,
    RejectedError,
    TransientError,
)
from connectors.telegram import TelegramConnector
from connectors.testing.telegram import TelegramEmulator
from tests.connectors.files import png_bytes as _png

GERMAN = "Grüße aus Köln: Äpfel, Öl und Süßes für alle Bürger!"
CHINESE = "新闻发布会将于明天上午十点举行，欢迎各位记者参加。"
KAZAKH = "Құрметті әріптестер! Бүгін ғылым, өнер және ұлттық құндылықтар һәм іс-шаралар туралы."


def _token() -> str:
    """A fresh bot per test: a bot's update queue (and so the connector's reaction ledger) is
    per token."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
    return f"{random.randint(10**8, 10**10)}:AAH{''.join(random.choices(alphabet, k=32))}"


@pytest.fixture(scope="module")
def server() -> Iterator[TelegramEmulator]:
    with TelegramEmulator() as running:
        assert isinstance(running, TelegramEmulator)
        yield running


@pytest.fixture
def emulator(server: TelegramEmulator) -> TelegramEmulator:
    server.reset(token=_token())
    return server


def _settings(emulator: TelegramEmulator, **options: object) -> ChannelSettings:
    return ChannelSettings(
        name="press-telegram",
        platform="telegram",
        api_base_url=emulator.url,
        options={"chat_id": "@elshi_press", "token_env": "ELSHI_TELEGRAM_TOKEN", **options},
        secrets={"token": emulator.token},
    )


@pytest.fixture
def connector(emulator: TelegramEmulator) -> Iterator[TelegramConnector]:
    opened = TelegramConnector(_settings(emulator, timeout=2))
    yield opened
    opened.close()


@pytest.fixture
def impatient(emulator: TelegramEmulator) -> Iterator[TelegramConnector]:
    opened = TelegramConnector(_settings(emulator, timeout=0.3))
    yield opened
    opened.close()


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "press-photo.png"
    path.write_bytes(_png())
    return path


def _post(text: str = "Pressemitteilung", **kwargs: object) -> OutgoingPost:
    return OutgoingPost(text=text, idempotency_key="delivery-1", **kwargs)  # type: ignore[arg-type]


def _sends(emulator: TelegramEmulator) -> list[str]:
    return [r.path.rsplit("/", 1)[-1] for r in emulator.requests if "/send" in r.path]


# --- publishing -------------------------------------------------------------------------------


def test_text_is_published_as_one_message_with_its_permalink(
    connector: TelegramConnector, emulator: TelegramEmulator
) -> None:
    published = connector.publish(_post("Press conference at 10:00"))

    assert [p["text"] for p in emulator.posts] == ["Press conference at 10:00"]
    assert published.remote_id == emulator.posts[0]["id"]
    assert published.url == f"https://t.me/elshi_press/{published.remote_id}"
    assert published.published_at.tzinfo is not None


def test_private_channel_permalink_uses_the_internal_id(tmp_path: Path) -> None:
    with TelegramEmulator(token=_token(), username=None, chat_id=-1009876543210) as emulator:
        assert isinstance(emulator, TelegramEmulator)
        connector = TelegramConnector(_settings(emulator, chat_id="-1009876543210"))
        try:
            published = connector.publish(_post())
        finally:
            connector.close()

    assert published.url == f"https://t.me/c/9876543210/{published.remote_id}"


def test_parse_mode_and_link_preview_option_are_sent(emulator: TelegramEmulator) -> None:
    connector = TelegramConnector(_settings(emulator, parse_mode="HTML", disable_link_preview=True))
    try:
        connector.publish(_post("<b>Heute</b> &amp; morgen: https://example.org"))
    finally:
        connector.close()

    [post] = emulator.posts
    assert post["text"] == "Heute & morgen: https://example.org"
    assert post["parse_mode"] == "HTML"
    assert post["link_preview_disabled"] is True


def test_photo_carries_the_text_as_caption(
    connector: TelegramConnector, emulator: TelegramEmulator, photo: Path
) -> None:
    published = connector.publish(_post("Bild des Tages", media=(photo,)))

    [post] = emulator.posts
    assert _sends(emulator) == ["sendPhoto"]
    assert post["kind"] == "photo"
    assert post["text"] == "Bild des Tages"
    assert post["media"][0]["data"] == photo.read_bytes()
    assert published.remote_id == post["id"]


def test_text_too_long_for_a_caption_follows_the_media_as_a_reply(
    connector: TelegramConnector, emulator: TelegramEmulator, photo: Path
) -> None:
    text = "ü" * 1025

    published = connector.publish(_post(text, media=(photo,)))

    media, message = emulator.posts
    assert (media["kind"], media["text"]) == ("photo", "")
    assert (message["kind"], message["text"]) == ("text", text)
    assert message["reply_to"] == media["id"]
    assert published.remote_id == media["id"]


def test_caption_of_exactly_1024_utf16_units_stays_a_caption(
    connector: TelegramConnector, emulator: TelegramEmulator, photo: Path
) -> None:
    text = "😀" * 512

    connector.publish(_post(text, media=(photo,)))

    assert [(p["kind"], p["text"]) for p in emulator.posts] == [("photo", text)]


def test_several_files_form_one_album_with_the_caption_on_the_first(
    connector: TelegramConnector, emulator: TelegramEmulator, tmp_path: Path
) -> None:
    files = []
    for number in range(3):
        path = tmp_path / f"photo-{number}.png"
        path.write_bytes(_png(width=number + 1))
        files.append(path)

    published = connector.publish(_post("Album", media=tuple(files)))

    assert _sends(emulator) == ["sendMediaGroup"]
    assert [p["text"] for p in emulator.posts] == ["Album", "", ""]
    assert len({p["media_group_id"] for p in emulator.posts}) == 1
    assert [p["media"][0]["width"] for p in emulator.posts] == [1, 2, 3]
    assert published.remote_id == emulator.posts[0]["id"]


def test_video_and_document_are_chosen_by_file_suffix(
    connector: TelegramConnector, emulator: TelegramEmulator, tmp_path: Path
) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF-1.4\n")

    connector.publish(_post("Video", media=(video,)))
    connector.publish(_post("Bericht", media=(report,)))

    assert _sends(emulator) == ["sendVideo", "sendDocument"]
    assert [p["kind"] for p in emulator.posts] == ["video", "document"]


def test_missing_media_file_is_rejected_before_anything_is_sent(
    connector: TelegramConnector, emulator: TelegramEmulator, tmp_path: Path
) -> None:
    with pytest.raises(RejectedError, match="does not exist"):
        connector.publish(_post(media=(tmp_path / "gone.png",)))

    assert emulator.requests == []


def test_photo_that_is_no_image_is_rejected_with_telegrams_reason(
    connector: TelegramConnector, emulator: TelegramEmulator, tmp_path: Path
) -> None:
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"not an image")

    with pytest.raises(RejectedError, match=r"(?i)image_process_failed"):
        connector.publish(_post(media=(fake,)))

    assert emulator.posts == []


def test_upload_over_the_size_limit_is_rejected(
    connector: TelegramConnector, emulator: TelegramEmulator, tmp_path: Path
) -> None:
    emulator.max_upload_bytes = 1000
    big = tmp_path / "big.pdf"
    big.write_bytes(b"%PDF" + b"0" * 5000)

    with pytest.raises(RejectedError, match="Too Large"):
        connector.publish(_post(media=(big,)))


# --- text and length --------------------------------------------------------------------------


def test_chinese_text_of_4096_utf16_units_is_accepted(
    connector: TelegramConnector, emulator: TelegramEmulator
) -> None:
    text = ("新闻" * 2048)[:4094] + "😀"  # an emoji is two UTF-16 units

    connector.publish(_post(text))

    assert emulator.posts[0]["text"] == text


def test_chinese_text_one_unit_over_4096_is_rejected_with_telegrams_reason(
    connector: TelegramConnector, emulator: TelegramEmulator
) -> None:
    text = ("新闻" * 2048)[:4095] + "😀"

    with pytest.raises(RejectedError, match=r"(?i)message is too long"):
        connector.publish(_post(text))

    assert emulator.posts == []


def test_text_too_long_for_a_message_is_refused_before_its_media_goes_out(
    connector: TelegramConnector, emulator: TelegramEmulator, photo: Path
) -> None:
    with pytest.raises(RejectedError, match="4097 UTF-16 units"):
        connector.publish(_post("ä" * 4097, media=(photo,)))

    assert emulator.requests == []


# --- metrics ----------------------------------------------------------------------------------


def test_metrics_sum_reactions_and_leave_what_bots_cannot_see_none(
    connector: TelegramConnector, emulator: TelegramEmulator
) -> None:
    ids = [connector.publish(_post(f"Post {n}")).remote_id for n in range(3)]
    emulator.add_reactions(ids[0], {"👍": 3, "❤": 1})
    emulator.add_reactions(ids[0], {"👍": 2})
    emulator.add_reactions(ids[2], {"🔥": 7})

    samples = connector.fetch_metrics(ids)

    assert [s.remote_id for s in samples] == ids
    assert [s.likes for s in samples] == [6, None, 7]
    assert {s.followers for s in samples} == {1200}
    for sample in samples:
        assert sample.impressions is sample.reposts is sample.replies is None
        assert sample.quotes is sample.bookmarks is sample.link_clicks is None
        assert sample.deleted is False


def test_reaction_totals_are_remembered_between_calls(
    connector: TelegramConnector, emulator: TelegramEmulator
) -> None:
    remote_id = connector.publish(_post()).remote_id
    emulator.add_reactions(remote_id, {"👍": 4})
    connector.fetch_metrics([remote_id])

    [sample] = connector.fetch_metrics([remote_id])

    assert sample.likes == 4


def test_updates_are_confirmed_only_on_the_next_call(
    connector: TelegramConnector, emulator: TelegramEmulator
) -> None:
    remote_id = connector.publish(_post()).remote_id
    emulator.add_reactions(remote_id, {"👍": 1})

    connector.fetch_metrics([remote_id])
    # A crash here loses nothing: Telegram still holds the update for the next reader.
    assert len(emulator.pending_updates()) == 1

    connector.fetch_metrics([remote_id])
    assert emulator.pending_updates() == []


def test_more_updates_than_one_page_arrive_over_successive_calls(
    connector: TelegramConnector, emulator: TelegramEmulator
) -> None:
    ids = [str(n) for n in range(1, 151)]
    for remote_id in ids:
        emulator.add_reactions(remote_id, {"👍": int(remote_id)})

    first = connector.fetch_metrics(ids)
    second = connector.fetch_metrics(ids)

    assert sum(s.likes is not None for s in first) == 100
    assert [s.likes for s in second] == list(range(1, 151))


def test_capabilities_say_what_a_bot_can_and_cannot_do() -> None:
    capabilities = TelegramConnector.capabilities

    assert capabilities.metrics == {"likes", "followers"}
    assert capabilities.idempotent_publish is False
    assert capabilities.can_reconcile is False


# --- whoami -----------------------------------------------------------------------------------


def test_whoami_names_the_channel_and_its_followers(connector: TelegramConnector) -> None:
    identity = connector.whoami()

    assert identity.handle == "@elshi_press"
    assert identity.account_id == "-1001234567890"
    assert identity.display_name == "Elshi Press Office"
    assert identity.followers == 1200
    assert identity.url == "https://t.me/elshi_press"


def test_whoami_refuses_a_bot_that_may_not_post(
    connector: TelegramConnector, emulator: TelegramEmulator
) -> None:
    emulator.bot_can_post = False

    with pytest.raises(AuthError, match="Post messages"):
        connector.whoami()


# --- faults -----------------------------------------------------------------------------------


def test_rate_limit_gives_telegrams_retry_after(
    connector: TelegramConnector, emulator: TelegramEmulator
) -> None:
    emulator.inject("rate_limit", retry_after=5)

    with pytest.raises(RateLimitedError) as caught:
        connector.publish(_post())

    assert caught.value.retry_after == 5.0
    assert emulator.posts == []


def test_retry_after_as_a_timedelta_is_read_in_seconds(
    connector: TelegramConnector, emulator: TelegramEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """python-telegram-bot 22 gives RetryAfter.retry_after as a timedelta under
    PTB_TIMEDELTA=true (the coming default), as an int otherwise."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    emulator.inject("rate_limit", retry_after=7)

    with pytest.raises(RateLimitedError) as caught:
        connector.publish(_post())

    assert caught.value.retry_after == 7.0


NGINX_429 = (
    b"<html>\r\n<head><title>429 Too Many Requests</title></head>\r\n<body>\r\n"
    b"<center><h1>429 Too Many Requests</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


def test_a_proxys_429_page_is_a_rate_limit_not_a_server_error(
    connector: TelegramConnector, emulator: TelegramEmulator
) -> None:
    """python-telegram-bot raises RetryAfter only for a body with parameters.retry_after; a
    429 page of a proxy in front of the Bot API (or of a local Bot API server) was a
    NetworkError, retried as transient with no wait."""
    emulator.inject("rate_limit", body=NGINX_429)

    with pytest.raises(RateLimitedError) as caught:
        connector.publish(_post())

    assert caught.value.retry_after == DEFAULT_WAIT
    assert emulator.posts == []


def test_a_429_without_parameters_waits_what_its_description_says(
    connector: TelegramConnector, emulator: TelegramEmulator
) -> None:
    body = b'{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 9"}'
    emulator.inject("rate_limit", body=body, content_type="application/json")

    with pytest.raises(RateLimitedError) as caught:
        connector.publish(_post())

    assert caught.value.retry_after == 9.0


def test_missing_token_names_the_variable_to_export(emulator: TelegramEmulator) -> None:
    settings = _settings(emulator)
    connector = TelegramConnector(
        ChannelSettings(
            name=settings.name,
            platform="telegram",
            api_base_url=settings.api_base_url,
            options=settings.options,
        )
    )

    with pytest.raises(AuthError, match="ELSHI_TELEGRAM_TOKEN"):
        connector.publish(_post())


def test_rejected_content_carries_telegrams_reason(
    connector: TelegramConnector, emulator: TelegramEmulator
) -> None:
    emulator.inject("reject")

    with pytest.raises(RejectedError, match=r"(?i)message is too long"):
        connector.publish(_post())


def test_bot_removed_from_the_channel_is_an_auth_error(
    connector: TelegramConnector, emulator: TelegramEmulator
) -> None:
    emulator.bot_is_member = False

    with pytest.raises(AuthError, match="not a member"):
        connector.publish(_post())


def test_unknown_chat_is_a_setup_problem_not_a_rejected_post(
    emulator: TelegramEmulator,
) -> None:
    """Failing each delivery for a wrong chat_id would burn the whole campaign; an AuthError
    pauses the channel until the operator fixes the setting."""
    connector = TelegramConnector(_settings(emulator, chat_id="@no_such_channel"))
    try:
        with pytest.raises(AuthError, match="chat_id"):
            connector.publish(_post())
    finally:
        connector.close()


def test_connection_dropped_on_a_read_is_transient(
    connector: TelegramConnector, emulator: TelegramEmulator
) -> None:
    emulator.inject("drop_before")

    with pytest.raises(TransientError):
        connector.fetch_metrics(["1"])


def test_failed_text_after_sent_media_is_ambiguous(
    connector: TelegramConnector, emulator: TelegramEmulator, photo: Path
) -> None:
    emulator.inject("server_error", path="sendMessage")

    with pytest.raises(AmbiguousError, match="media went out"):
        connector.publish(_post("x" * 2000, media=(photo,)))

    assert [p["kind"] for p in emulator.posts] == ["photo"]


# --- reconcile --------------------------------------------------------------------------------


# --- secrets ----------------------------------------------------------------------------------
