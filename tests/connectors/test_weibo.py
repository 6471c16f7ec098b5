"""What only the Weibo connector does (the shared behaviour is in test_contract.py): the share
API's rules, Weibo's permalinks, token expiry, and finding a status whose links Weibo shortened."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors._limits import DEFAULT_WAIT
from connectors.base import AuthError, ChannelSettings, DuplicateError, OutgoingPost, RejectedError
from connectors.testing.weibo import DEFAULT_TOKEN, WeiboEmulator
from connectors.weibo import WeiboConnector, base62_to_mid, mid_to_base62
from tests.connectors.cases import NOW
from tests.connectors.files import png

LINK = "https://www.kz-embassy.cn/zh/visa?utm_source=cn-weibo"


@pytest.fixture(scope="module")
def server() -> Iterator[WeiboEmulator]:
    with WeiboEmulator(clock=NOW.timestamp) as running:
        assert isinstance(running, WeiboEmulator)
        yield running


@pytest.fixture
def emulator(server: WeiboEmulator) -> WeiboEmulator:
    server.settle()
    server.reset()
    return server


def settings(emulator: WeiboEmulator, **options: Any) -> ChannelSettings:
    return ChannelSettings(
        name="cn-weibo",
        platform="weibo",
        api_base_url=emulator.url,
        options={
            "access_token_env": "ELSHI_WEIBO_TOKEN",
            "safe_domain": "kz-embassy.cn",
            "user_ip": "203.0.113.7",
            **options,
        },
        secrets={"access_token": DEFAULT_TOKEN},
    )


@pytest.fixture
def weibo(emulator: WeiboEmulator) -> Iterator[WeiboConnector]:
    connector = WeiboConnector(settings(emulator), clock=lambda: NOW)
    yield connector
    connector.close()


def post(text: str, key: str = "d-1", **kwargs: Any) -> OutgoingPost:
    return OutgoingPost(text=text, idempotency_key=key, **kwargs)


def test_share_sends_the_text_the_users_ip_and_the_token_in_the_form_body(
    weibo: WeiboConnector, emulator: WeiboEmulator
) -> None:
    weibo.publish(post(f"免签入境哈萨克斯坦 {LINK}"))

    (share,) = [r for r in emulator.requests if r.path.endswith("statuses/share.json")]
    form = share.form()
    assert form["status"] == f"免签入境哈萨克斯坦 {LINK}"
    assert form["rip"] == "203.0.113.7"
    assert form["access_token"] == DEFAULT_TOKEN
    assert "access_token" not in share.query  # never in a URL, where logs would show it


def test_the_permalink_names_the_account_and_the_status_in_base62(
    weibo: WeiboConnector, emulator: WeiboEmulator
) -> None:
    published = weibo.publish(post(f"纳吾肉孜节快乐 {LINK}"))

    assert published.url == (
        f"https://weibo.com/{emulator.uid}/{mid_to_base62(int(published.remote_id))}"
    )


@pytest.mark.parametrize("status_id", [3_501_756_485_200_075, 4_987_654_321_000_583, 1234])
def test_base62_status_ids_convert_both_ways(status_id: int) -> None:
    assert base62_to_mid(mid_to_base62(status_id)) == status_id


def test_a_known_permalink_code_decodes_to_its_status_id() -> None:
    assert base62_to_mid("z0JH2lOMb") == 3_501_756_485_200_075


def test_a_text_without_a_safe_domain_link_is_refused_naming_the_domain(
    weibo: WeiboConnector, emulator: WeiboEmulator
) -> None:
    with pytest.raises(RejectedError, match=r"kz-embassy\.cn"):
        weibo.publish(post("没有链接的文本 https://example.org/a"))

    assert emulator.live_posts() == []


def test_a_repeated_text_is_a_duplicate_so_the_scheduler_reconciles(
    weibo: WeiboConnector,
) -> None:
    weibo.publish(post(f"同样的话 {LINK}", "d-1"))

    with pytest.raises(DuplicateError, match="reconcile"):
        weibo.publish(post(f"同样的话 {LINK}", "d-2"))


def test_the_rate_limit_waits_until_weibos_hourly_reset(
    weibo: WeiboConnector, emulator: WeiboEmulator
) -> None:
    from connectors.base import RateLimitedError

    for n in range(30):
        emulator.add_post(f"已发 {n} {LINK}")
        emulator._shares.append(NOW.timestamp())  # the hour's shares are used up

    with pytest.raises(RateLimitedError) as limited:
        weibo.publish(post(f"第三十一条 {LINK}"))

    assert limited.value.retry_after == pytest.approx(3600, abs=2)


def test_a_rate_limit_whose_reset_cannot_be_read_still_waits(
    weibo: WeiboConnector, emulator: WeiboEmulator
) -> None:
    """rate_limit_status is itself refused (an IP limit, 10022 in Weibo's list): the channel
    waits connectors._limits' default instead of not at all."""
    from connectors.base import RateLimitedError

    emulator.inject("rate_limit", path="share")
    emulator.inject("rate_limit", path="rate_limit_status")

    with pytest.raises(RateLimitedError) as limited:
        weibo.publish(post(f"太快了 {LINK}"))

    assert limited.value.retry_after == DEFAULT_WAIT
    assert emulator.posts == []


def test_reconcile_finds_a_status_whose_link_weibo_shortened(
    weibo: WeiboConnector, emulator: WeiboEmulator
) -> None:
    emulator.inject("drop_after", path="share")
    with pytest.raises(Exception):  # noqa: B017 - the ambiguity itself is the contract's
        weibo.publish(post(f"丝绸之路 {LINK}"))
    (status,) = emulator.live_posts()

    found = weibo.reconcile(post(f"丝绸之路 {LINK}"), since=NOW - timedelta(minutes=5))

    assert found is not None and found.remote_id == status["idstr"]
    timeline = [r for r in emulator.requests if "user_timeline" in r.path]
    assert timeline  # Weibo shows the text with a t.cn link; it still matched


def test_reconcile_ignores_the_same_text_posted_before_the_claim(
    weibo: WeiboConnector, emulator: WeiboEmulator
) -> None:
    emulator.add_post(f"旧文 {LINK}", age=3 * 3600)

    assert weibo.reconcile(post(f"旧文 {LINK}"), since=NOW - timedelta(hours=1)) is None


def test_whoami_reports_when_the_token_expires(weibo: WeiboConnector) -> None:
    identity = weibo.whoami()

    assert identity.handle == "哈萨克斯坦驻华大使馆"
    assert identity.expires_at is not None
    assert identity.expires_at - NOW == timedelta(days=30)


def test_two_pictures_or_a_reply_are_refused_before_anything_is_sent(
    weibo: WeiboConnector, emulator: WeiboEmulator, tmp_path: Path
) -> None:
    images = (png(tmp_path / "a.png"), png(tmp_path / "b.png"))

    with pytest.raises(RejectedError, match="1 picture"):
        weibo.publish(post(f"两张图 {LINK}", media=images))
    with pytest.raises(RejectedError, match="cannot reply"):
        weibo.publish(post(f"回复 {LINK}", reply_to="4987654321000583"))

    assert emulator.requests == []


@pytest.mark.parametrize("missing", ["user_ip", "safe_domain"])
def test_a_channel_without_its_required_option_names_it(
    emulator: WeiboEmulator, missing: str
) -> None:
    config = settings(emulator)
    options = {k: v for k, v in config.options.items() if k != missing}

    with pytest.raises(AuthError, match=f"option {missing} is not set"):
        WeiboConnector(
            ChannelSettings(
                config.name, config.platform, config.api_base_url, options, config.secrets
            )
        )
