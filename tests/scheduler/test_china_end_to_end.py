"""The China example on real WeChat, Weibo and X channels, end to end against the emulators:
it validates and applies, every delivery goes out exactly once over the campaign year (WeChat
articles through the draft box, Weibo shares with the safe-domain link, X posts), the daemon
crashing between a WeChat draft and its submission publishes that article once, and WeChat's
next-day counters arrive with NULL for what it does not give."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import EXAMPLES, FakeClock
from tests.connectors.conftest import only_local_network  # noqa: F401 - the network guard
from tests.scheduler.conftest import X_ENVS, at

WECHAT_ENV = "ELSHI_TEST_WECHAT_SECRET"
WEIBO_ENV = "ELSHI_TEST_WEIBO_TOKEN"

pytestmark = pytest.mark.usefixtures("only_local_network")


@pytest.fixture
def platforms(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> Iterator[dict[str, Any]]:
    from connectors.testing.wechat import WeChatEmulator
    from connectors.testing.weibo import DEFAULT_TOKEN, WeiboEmulator
    from connectors.testing.x import XEmulator

    def epoch() -> float:
        return clock().timestamp()

    wechat = WeChatEmulator(clock=epoch, publish_polls=1)
    weibo = WeiboEmulator(clock=epoch, safe_domain="gov.kz")
    weibo.token_expires_at = at("2028-06-30T00:00:00").timestamp()  # authorised for the year
    x = XEmulator(clock=epoch)
    monkeypatch.setenv(WECHAT_ENV, wechat.secret)
    monkeypatch.setenv(WEIBO_ENV, DEFAULT_TOKEN)
    monkeypatch.setenv(X_ENVS["consumer_key_env"], x.consumer_key)
    monkeypatch.setenv(X_ENVS["consumer_secret_env"], "consumer-secret-for-tests")
    monkeypatch.setenv(X_ENVS["access_token_env"], x.access_token)
    monkeypatch.setenv(X_ENVS["access_token_secret_env"], "access-secret-for-tests")
    with wechat, weibo, x:
        yield {"wechat": wechat, "weibo": weibo, "x": x}


def channels(platforms: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        "cn-wechat": {
            "platform": "wechat",
            "api_base_url": platforms["wechat"].url,
            "appid": platforms["wechat"].appid,
            "appsecret_env": WECHAT_ENV,
            "publish_wait": 5,
            "timeout": 5,
            "rate": "60/m",
        },
        "cn-weibo": {
            "platform": "weibo",
            "api_base_url": platforms["weibo"].url,
            "access_token_env": WEIBO_ENV,
            "safe_domain": "gov.kz",
            "user_ip": "203.0.113.7",
            "timeout": 5,
            "rate": "60/m",
        },
        "cn-x": {
            "platform": "x",
            "api_base_url": platforms["x"].url,
            "timeout": 5,
            "rate": "60/m",
            **X_ENVS,
        },
    }


def apply_china(rig: Any) -> int:
    from campaigns.approval import approve, campaign_posts
    from campaigns.people import Person
    from campaigns.planning import apply_campaign
    from campaigns.validation import load_campaign

    config = rig.config
    loaded = load_campaign(
        EXAMPLES / "china.yaml",
        channels=config.text_platforms,
        channel_options=config.channel_options,
    )
    assert loaded.ok, [str(p) for p in loaded.problems]
    assert loaded.desired is not None
    with rig.sessions() as session:
        apply_campaign(
            session,
            loaded.desired,
            platforms=config.channel_platforms,
            actor="user:test",
            now=rig.clock(),
        )
        session.flush()
        approve(
            session,
            campaign_posts(session, loaded.desired.spec.id),
            by=Person.local("ops"),
            now=rig.clock(),
        )
        session.commit()
    return len(loaded.desired.deliveries)


def test_the_china_example_publishes_once_everywhere_through_a_crash_between_draft_and_submit(
    rig_factory: Any, platforms: dict[str, Any], clock: FakeClock
) -> None:
    from campaigns.schema import Channel, Delivery, MetricSnapshot

    wechat, weibo, x = platforms["wechat"], platforms["weibo"], platforms["x"]
    clock.set(at("2026-12-31T00:00:00"))
    rig = rig_factory(channels(platforms))
    total = apply_china(rig)

    # The first WeChat article's submission never reaches WeChat: the daemon died after
    # saving the draft. Its claim stays in `publishing` until the lease runs out.
    wechat.inject("drop_before", path="freepublish/submit")
    rig.run_until(at("2027-02-06T02:00:00"))  # Spring Festival, 10:00 in Beijing
    assert len(wechat.drafts) == 1 and wechat.articles == []
    rig.dispatcher().close()
    rig._dispatcher = None  # a new daemon process, the same database
    rig.dispatcher(worker_id="restarted")

    rig.run_until(at("2028-01-02T00:00:00"))

    with rig.sessions() as session:
        rows = session.execute(select(Delivery.state, Channel.name).join(Channel)).all()
    assert Counter(state for state, _ in rows) == {"published": total}
    wechat_deliveries = sum(1 for _, name in rows if name == "cn-wechat")
    titles = [a["title"] for a in wechat.articles]
    assert len(titles) == wechat_deliveries == len(set(a["article_id"] for a in wechat.articles))
    submitted = [r for r in wechat.requests if r.path.endswith("draft/add")]
    assert len(submitted) == wechat_deliveries  # the crashed article's draft was not made twice
    assert wechat.drafts == {}
    assert sum(1 for _, name in rows if name == "cn-weibo") == len(weibo.live_posts())
    assert all("gov.kz" in post["text"] for post in weibo.live_posts())
    assert sum(1 for _, name in rows if name == "cn-x") == len(x.live_posts())
    assert len(wechat.issued_tokens) > 1  # tokens expired over the year and were renewed

    # WeChat's counters come from the data cube the day after: reads, shares, favourites.
    first = wechat.articles[0]
    wechat.set_metrics(first["article_id"], impressions=4321, reposts=87, bookmarks=29)
    rig.run(collect=True)
    with rig.sessions() as session:
        snapshot = session.scalars(
            select(MetricSnapshot)
            .join(Delivery)
            .where(Delivery.remote_id == first["article_id"])
            .order_by(MetricSnapshot.collected_at.desc())
        ).first()
    assert snapshot is not None
    assert (snapshot.impressions, snapshot.reposts, snapshot.bookmarks) == (4321, 87, 29)
    assert (snapshot.likes, snapshot.replies, snapshot.quotes) == (None, None, None)
