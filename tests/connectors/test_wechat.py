"""What only the WeChat connector does (the shared behaviour is in test_contract.py): articles
through the draft box and free publishing, the shared access token, the asynchronous
publication, a crash between draft and submit, and the data cube's next-day counters."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.base import (
    AmbiguousError,
    Article,
    AuthError,
    ChannelSettings,
    MemorySessionStore,
    OutgoingPost,
    RejectedError,
)
from connectors.testing.wechat import WeChatEmulator
from connectors.wechat import WeChatConnector
from tests.conftest import FakeClock
from tests.connectors.cases import NOW
from tests.connectors.files import png


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture(scope="module")
def server() -> Iterator[WeChatEmulator]:
    with WeChatEmulator() as running:
        assert isinstance(running, WeChatEmulator)
        yield running


@pytest.fixture
def emulator(server: WeChatEmulator, clock: FakeClock) -> WeChatEmulator:
    server.settle()
    server._initial = (18_500, 1, lambda: clock().timestamp())
    server.reset()
    return server


@pytest.fixture
def store() -> MemorySessionStore:
    return MemorySessionStore()


def connect(
    emulator: WeChatEmulator, store: MemorySessionStore, clock: FakeClock, **options: Any
) -> WeChatConnector:
    return WeChatConnector(
        ChannelSettings(
            name="cn-wechat",
            platform="wechat",
            api_base_url=emulator.url,
            options={
                "appid": emulator.appid,
                "appsecret_env": "ELSHI_WECHAT_SECRET",
                "publish_wait": 5,
                **options,
            },
            secrets={"appsecret": emulator.secret},
        ),
        clock=clock,
        sessions=store,
    )


@pytest.fixture
def cover(tmp_path: Path) -> Path:
    return png(tmp_path / "cover.png", 9, 4)


def article_post(cover: Path, key: str = "d-1", **kwargs: Any) -> OutgoingPost:
    kwargs.setdefault("media", (cover,))
    return OutgoingPost(
        text="哈萨克斯坦共和国驻华大使馆祝大家纳吾肉孜节快乐！",
        idempotency_key=key,
        article=Article(
            title="纳吾肉孜节快乐",
            body="3月21日是纳吾肉孜节。\n\n人们共享<纳吾肉孜粥>，祈愿五谷丰登。",
            cover=cover,
            author="使馆新闻处",
            source_url="https://www.kz-embassy.cn/zh/nauryz",
        ),
        **kwargs,
    )


def test_an_article_goes_through_the_draft_box_and_is_published(
    emulator: WeChatEmulator, store: MemorySessionStore, clock: FakeClock, cover: Path
) -> None:
    published = connect(emulator, store, clock).publish(article_post(cover))

    (article,) = emulator.articles
    assert published.remote_id == article["article_id"]
    assert published.url == article["url"]
    assert article["title"] == "纳吾肉孜节快乐" and article["author"] == "使馆新闻处"
    assert article["digest"] == "哈萨克斯坦共和国驻华大使馆祝大家纳吾肉孜节快乐！"
    assert (
        article["content"]
        == "<p>3月21日是纳吾肉孜节。</p><p>人们共享&lt;纳吾肉孜粥&gt;，祈愿五谷丰登。</p>"
    )
    assert article["content_source_url"] == "https://www.kz-embassy.cn/zh/nauryz"
    assert article["thumb_media_id"] in emulator.materials  # a permanent image
    assert emulator.drafts == {}


def test_further_images_go_into_the_body_with_their_alt_text(
    emulator: WeChatEmulator,
    store: MemorySessionStore,
    clock: FakeClock,
    cover: Path,
    tmp_path: Path,
) -> None:
    extra = png(tmp_path / "jurte.png")
    post = article_post(cover, media=(cover, extra), alt_texts=("", "草原上的毡房"))
    post = OutgoingPost(
        **{**post.__dict__, "media": (cover, extra), "alt_texts": ("", "草原上的毡房")}
    )

    connect(emulator, store, clock).publish(post)

    (article,) = emulator.articles
    assert f'<img src="{emulator.body_images[0]}" alt="草原上的毡房"/>' in article["content"]


def test_publication_is_polled_until_wechat_reports_success(
    emulator: WeChatEmulator, store: MemorySessionStore, clock: FakeClock, cover: Path
) -> None:
    emulator.publish_polls = 3

    connect(emulator, store, clock).publish(article_post(cover))

    polls = [r for r in emulator.requests if r.path.endswith("freepublish/get")]
    assert len(polls) == 3
    assert len(emulator.articles) == 1


def test_a_failed_publication_is_rejected_with_wechats_status(
    emulator: WeChatEmulator, store: MemorySessionStore, clock: FakeClock, cover: Path
) -> None:
    emulator.fail_next = True

    with pytest.raises(RejectedError, match="publish_status 3"):
        connect(emulator, store, clock).publish(article_post(cover))

    assert emulator.articles == []


def test_a_publication_still_running_is_left_to_reconcile_and_never_submitted_twice(
    emulator: WeChatEmulator, store: MemorySessionStore, clock: FakeClock, cover: Path
) -> None:
    emulator.publish_polls = 10_000
    impatient = connect(emulator, store, clock, publish_wait=0.2)
    with pytest.raises(AmbiguousError, match="never submitted twice"):
        impatient.publish(article_post(cover))
    emulator.publish_polls = 1

    found = connect(emulator, store, clock).reconcile(
        article_post(cover), since=NOW - timedelta(minutes=5)
    )

    assert found is not None and found.remote_id == emulator.articles[0]["article_id"]
    assert len([r for r in emulator.requests if r.path.endswith("freepublish/submit")]) == 1


def test_a_crash_between_draft_and_submit_publishes_the_draft_once(
    emulator: WeChatEmulator, store: MemorySessionStore, clock: FakeClock, cover: Path
) -> None:
    emulator.inject("drop_before", path="freepublish/submit")  # the process died: no submit
    with pytest.raises(AmbiguousError):
        connect(emulator, store, clock).publish(article_post(cover))
    assert len(emulator.drafts) == 1 and emulator.articles == []

    restarted = connect(emulator, store, clock)  # another process, the same database
    assert restarted.reconcile(article_post(cover), since=NOW - timedelta(minutes=5)) is None
    published = restarted.publish(article_post(cover))

    assert [a["article_id"] for a in emulator.articles] == [published.remote_id]
    assert len([r for r in emulator.requests if r.path.endswith("draft/add")]) == 1
    assert emulator.drafts == {}


def test_a_lost_submit_answer_is_found_without_submitting_again(
    emulator: WeChatEmulator, store: MemorySessionStore, clock: FakeClock, cover: Path
) -> None:
    emulator.publish_polls = 0
    emulator.inject("drop_after", path="freepublish/submit")
    with pytest.raises(AmbiguousError):
        connect(emulator, store, clock).publish(article_post(cover))

    found = connect(emulator, store, clock).reconcile(
        article_post(cover), since=NOW - timedelta(minutes=5)
    )

    assert found is not None and found.remote_id == emulator.articles[0]["article_id"]
    assert len([r for r in emulator.requests if r.path.endswith("freepublish/submit")]) == 1


def test_daemons_share_one_access_token(
    emulator: WeChatEmulator, store: MemorySessionStore, clock: FakeClock, cover: Path
) -> None:
    first, second = connect(emulator, store, clock), connect(emulator, store, clock)

    first.whoami()
    second.whoami()

    assert len(emulator.issued_tokens) == 1


@pytest.mark.parametrize("expiry", ["auth", "expire"])
def test_a_refused_token_is_fetched_anew_once_and_the_call_succeeds(
    emulator: WeChatEmulator, store: MemorySessionStore, clock: FakeClock, cover: Path, expiry: str
) -> None:
    connector = connect(emulator, store, clock)
    connector.whoami()
    if expiry == "auth":
        emulator.inject("auth", path="draft/add")  # 40001
    else:
        emulator.expire_token()  # 42001

    connector.publish(article_post(cover))

    assert len(emulator.issued_tokens) == 2
    assert len(emulator.articles) == 1


def test_a_daemon_takes_the_token_another_daemon_renewed_instead_of_fetching_its_own(
    emulator: WeChatEmulator, store: MemorySessionStore, clock: FakeClock
) -> None:
    first, second = connect(emulator, store, clock), connect(emulator, store, clock)
    first.whoami()
    second.whoami()
    emulator.expire_token()

    first.whoami()  # renews and stores the new token
    second.whoami()  # refused, finds the newer token in the store

    assert len(emulator.issued_tokens) == 2


def test_an_ip_not_on_the_allow_list_is_an_auth_error_saying_so(
    emulator: WeChatEmulator, store: MemorySessionStore, clock: FakeClock
) -> None:
    emulator.allowed_ip = False

    with pytest.raises(AuthError, match="IP allow-list"):
        connect(emulator, store, clock).whoami()


def test_reads_shares_and_favourites_come_the_next_day_and_are_null_before(
    emulator: WeChatEmulator, store: MemorySessionStore, clock: FakeClock, cover: Path
) -> None:
    connector = connect(emulator, store, clock)
    published = connector.publish(article_post(cover))
    emulator.set_metrics(published.remote_id, impressions=1200, reposts=35, bookmarks=18)

    (today,) = connector.fetch_metrics([published.remote_id])
    clock.advance(days=1)
    (tomorrow,) = connector.fetch_metrics([published.remote_id])

    assert (today.impressions, today.reposts, today.bookmarks) == (None, None, None)
    assert (tomorrow.impressions, tomorrow.reposts, tomorrow.bookmarks) == (1200, 35, 18)
    assert tomorrow.likes is None and tomorrow.replies is None
    assert tomorrow.followers == 18_500


def test_a_post_without_an_article_becomes_one_from_its_text_and_first_image(
    emulator: WeChatEmulator, store: MemorySessionStore, clock: FakeClock, cover: Path
) -> None:
    connect(emulator, store, clock).publish(
        OutgoingPost(text="签证便利化\n\n中哈互免签证。", idempotency_key="k", media=(cover,))
    )

    (article,) = emulator.articles
    assert article["title"] == "签证便利化"
