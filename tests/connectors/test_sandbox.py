"""The sandbox connector: an outbox written exactly once per key, seeded faults, and an
engagement model that is deterministic, grows with age and has the shape the docstring claims."""

from __future__ import annotations

import json
import multiprocessing
import statistics
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from connectors.base import (
    AuthError,
    ChannelSettings,
    OutgoingPost,
    Published,
    RejectedError,
    TransientError,
)
from connectors.registry import open_connector
from connectors.sandbox import (
    BANNER,
    MODEL,
    SandboxConnector,
    final_counts,
    mark_deleted,
    read_outbox,
    remote_id_for,
    variant_effect,
)

START = datetime(2027, 3, 20, 9, 0, tzinfo=UTC)
COUNTERS = ("impressions", "likes", "reposts", "replies", "quotes", "bookmarks", "link_clicks")
META = {
    "category": "cultural_event",
    "audience": "public-de",
    "variant": "",
    "language": "de",
    "local_hour": "11",
    "weekday": "1",
}


class FakeClock:
    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


Make = Callable[..., SandboxConnector]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def outbox(tmp_path: Path) -> Path:
    return tmp_path / "outbox"


@pytest.fixture
def make(outbox: Path, clock: FakeClock) -> Make:
    def build(
        name: str = "de-x", clock_: Callable[[], datetime] = clock, **options: object
    ) -> SandboxConnector:
        settings = ChannelSettings(
            name=name, platform="sandbox", options={"outbox": str(outbox), **options}
        )
        return SandboxConnector(settings, clock=clock_)

    return build


def post(
    key: str = "delivery-1",
    text: str = "Nauryz in Berlin",
    *,
    media: tuple[Path, ...] = (),
    reply_to: str | None = None,
) -> OutgoingPost:
    return OutgoingPost(
        text=text, idempotency_key=key, media=media, reply_to=reply_to, language="de", meta=META
    )


# --- publishing -------------------------------------------------------------------------------


def test_publish_writes_a_page_and_a_record_and_returns_no_permalink(
    make: Make, outbox: Path, clock: FakeClock
) -> None:
    """The page's file:// URI is in the record; the post has no web address to give."""
    published = make().publish(post())
    page = outbox / "de-x" / f"{published.remote_id}.html"
    record = json.loads((outbox / "de-x" / f"{published.remote_id}.json").read_text())
    assert page.is_file() and record["url"] == page.resolve().as_uri()
    assert published.url is None
    assert published.published_at == clock.now
    assert record["text"] == "Nauryz in Berlin"
    assert record["idempotency_key"] == "delivery-1"
    assert record["published_at"] == "2027-03-20T09:00:00+00:00"
    assert record["simulated"] is True


def test_page_says_it_is_simulated_and_shows_text_media_language_and_time(
    make: Make, outbox: Path, tmp_path: Path
) -> None:
    image = tmp_path / "yurt.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n")
    published = make().publish(post(text="Jurten & <Steppe>", media=(image,)))
    page = (outbox / "de-x" / f"{published.remote_id}.html").read_text(encoding="utf-8")
    assert BANNER in page
    assert "Jurten &amp; &lt;Steppe&gt;" in page
    assert "yurt.png" in page and 'lang="de"' in page and "2027-03-20 09:00:00 UTC" in page


def test_published_at_comes_from_the_injected_clock(make: Make, clock: FakeClock) -> None:
    clock.advance(days=400)
    assert make().publish(post()).published_at == START + timedelta(days=400)


def test_remote_id_is_derived_from_the_idempotency_key(make: Make) -> None:
    assert make().publish(post("k-7")).remote_id == remote_id_for("k-7")


def test_many_threads_publishing_the_same_keys_create_one_record_each(
    make: Make, outbox: Path
) -> None:
    keys = [f"race-{i}" for i in range(30)]
    barrier = threading.Barrier(8)
    results: dict[int, list[Published]] = {}

    def worker(n: int) -> None:
        # Each thread is its own daemon: its own connector and a clock a little apart.
        connector = make(clock_=lambda: START + timedelta(seconds=n))
        barrier.wait()
        results[n] = [connector.publish(post(key)) for key in keys]

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(results[n] == results[0] for n in range(8))
    assert sorted(r["idempotency_key"] for r in read_outbox(outbox, "de-x")) == sorted(keys)
    assert not list((outbox / "de-x").glob(".tmp-*"))


def _publish_in_process(
    outbox: str, offset: int, keys: list[str], barrier: Barrier, queue: Queue[list[str]]
) -> None:
    settings = ChannelSettings(name="de-x", platform="sandbox", options={"outbox": outbox})
    connector = SandboxConnector(settings, clock=lambda: START + timedelta(seconds=offset))
    barrier.wait()
    queue.put([repr(connector.publish(post(key))) for key in keys])


def test_two_processes_publishing_the_same_keys_create_one_record_each(outbox: Path) -> None:
    context = multiprocessing.get_context("fork")
    keys = [f"proc-{i}" for i in range(40)]
    barrier, queue = context.Barrier(2), context.Queue()
    processes = [
        context.Process(target=_publish_in_process, args=(str(outbox), n, keys, barrier, queue))
        for n in range(2)
    ]
    for p in processes:
        p.start()
    answers = [queue.get(timeout=20) for _ in processes]
    for p in processes:
        p.join(timeout=20)
    assert answers[0] == answers[1]
    assert sorted(r["idempotency_key"] for r in read_outbox(outbox, "de-x")) == sorted(keys)


def test_a_reply_records_its_parent(make: Make, outbox: Path) -> None:
    connector = make()
    parent = connector.publish(post("thread-1"))
    child = connector.publish(post("thread-2", text="Part two", reply_to=parent.remote_id))
    record = json.loads((outbox / "de-x" / f"{child.remote_id}.json").read_text())
    assert record["reply_to"] == parent.remote_id


def test_a_posts_replies_count_its_own_thread_continuations_like_a_platform(
    make: Make, outbox: Path, clock: FakeClock
) -> None:
    connector = make()
    parent = connector.publish(post("thread-1")).remote_id
    [before] = connector.fetch_metrics([parent])
    clock.advance(hours=1)
    first = connector.publish(post("thread-2", text="Part two", reply_to=parent)).remote_id
    connector.publish(post("thread-3", text="Part three", reply_to=parent))
    [after] = connector.fetch_metrics([parent])
    assert before.replies == 0
    assert after.replies is not None and after.replies >= 2
    mark_deleted(outbox, "de-x", first)
    [later] = connector.fetch_metrics([parent])
    assert later.replies == after.replies - 1  # a deleted reply no longer counts


def test_a_reply_to_an_unknown_post_is_rejected(make: Make) -> None:
    with pytest.raises(RejectedError, match="reply_to"):
        make().publish(post(reply_to="sbx-0000000000000000"))


def test_missing_media_is_rejected(make: Make, tmp_path: Path) -> None:
    with pytest.raises(RejectedError, match="does not exist"):
        make().publish(post(media=(tmp_path / "gone.png",)))


@pytest.mark.parametrize(
    "text",
    [
        "Grüße aus Astana: Straße, Bär, Öl und Übermaß 🇰🇿",
        "哈萨克斯坦欢迎您！纳吾鲁孜节快乐 🌷",
        "Наурыз құтты болсын! Әз-Наурыз, ғажап, қуаныш, өнер, ұлт, үміт, һәм ізгі ниет 🎉",
    ],
)
def test_unicode_text_is_stored_and_shown_intact(make: Make, outbox: Path, text: str) -> None:
    published = make().publish(post(text=text))
    [record] = read_outbox(outbox, "de-x")
    assert record["text"] == text
    assert text in (outbox / "de-x" / f"{published.remote_id}.html").read_text(encoding="utf-8")


def test_read_outbox_lists_posts_oldest_first_with_deleted_marked(
    make: Make, outbox: Path, clock: FakeClock
) -> None:
    connector = make()
    first = connector.publish(post("b-key"))
    clock.advance(hours=1)
    connector.publish(post("a-key"))
    mark_deleted(outbox, "de-x", first.remote_id)
    records = read_outbox(outbox, "de-x")
    assert [(r["idempotency_key"], r["deleted"]) for r in records] == [
        ("b-key", True),
        ("a-key", False),
    ]
    assert read_outbox(outbox, "nobody") == []


# --- reconcile --------------------------------------------------------------------------------


# --- faults -----------------------------------------------------------------------------------


def _outage_pattern(make: Make, seed: int) -> list[bool]:
    connector = make(fail_rate=0.3, seed=seed)
    failed = []
    for i in range(200):
        try:
            connector.publish(post(f"k-{i}"))
        except TransientError as exc:
            assert "simulated outage" in str(exc)
            failed.append(True)
        else:
            failed.append(False)
    return failed


def test_fail_rate_fails_about_that_share_of_attempts_deterministically(
    tmp_path: Path, clock: FakeClock
) -> None:
    def build(outbox: Path) -> Make:
        def make(**options: object) -> SandboxConnector:
            settings = ChannelSettings(
                name="de-x", platform="sandbox", options={"outbox": str(outbox), **options}
            )
            return SandboxConnector(settings, clock=clock)

        return make

    first = _outage_pattern(build(tmp_path / "one"), seed=7)
    again = _outage_pattern(build(tmp_path / "two"), seed=7)
    other_seed = _outage_pattern(build(tmp_path / "three"), seed=8)
    assert first == again
    assert first != other_seed
    assert 40 <= sum(first) <= 80
    assert len(read_outbox(tmp_path / "one", "de-x")) == 200 - sum(first)


def test_a_post_that_met_an_outage_goes_out_once_on_a_later_attempt(
    make: Make, outbox: Path
) -> None:
    connector = make(fail_rate=0.5, seed=1)
    errors = 0
    for _ in range(30):
        try:
            published = connector.publish(post())
            break
        except TransientError:
            errors += 1
    else:
        pytest.fail("never published")
    assert connector.publish(post()) == published
    assert len(read_outbox(outbox, "de-x")) == 1
    assert len(list((outbox / "de-x" / ".attempts").iterdir())) == errors + 1


def test_a_text_with_a_rejected_word_is_refused(make: Make, outbox: Path) -> None:
    connector = make(reject_words=["Propaganda", "spam"])
    with pytest.raises(RejectedError, match=r"(?i)propaganda"):
        connector.publish(post(text="No propaganda here"))
    assert read_outbox(outbox, "de-x") == []
    connector.publish(post(text="Culture and steppe"))


def test_reject_words_may_be_a_comma_separated_string(make: Make) -> None:
    with pytest.raises(RejectedError):
        make(reject_words="foo, bar").publish(post(text="a BAR b"))


@pytest.mark.parametrize(
    ("option", "value"),
    [("fail_rate", 1.5), ("followers", "many"), ("latency", -1), ("mimic", "myspace")],
)
def test_a_bad_option_is_reported_naming_it(make: Make, option: str, value: object) -> None:
    with pytest.raises(AuthError, match=option):
        make(**{option: value})


# --- metrics ----------------------------------------------------------------------------------


def test_metrics_are_zero_at_publication_and_grow_with_age(make: Make, clock: FakeClock) -> None:
    connector = make(followers=20000)
    rid = connector.publish(post(text="Nauryz https://example.org/n")).remote_id
    [at_once] = connector.fetch_metrics([rid])
    clock.advance(hours=1)
    [hour] = connector.fetch_metrics([rid])
    clock.advance(days=3)
    [later] = connector.fetch_metrics([rid])
    assert all(getattr(at_once, c) == 0 for c in COUNTERS)
    assert hour.impressions is not None and later.impressions is not None
    assert 0 < hour.impressions < later.impressions
    assert later.likes is not None and later.likes > 0


def test_metrics_never_decrease_and_repeat_at_the_same_instant(
    make: Make, clock: FakeClock
) -> None:
    connector = make()
    rids = [connector.publish(post(f"p-{i}")).remote_id for i in range(20)]
    previous = connector.fetch_metrics(rids)
    for _ in range(40):
        clock.advance(minutes=37)
        current = connector.fetch_metrics(rids)
        assert connector.fetch_metrics(rids) == current
        for before, after in zip(previous, current, strict=True):
            for counter in ("impressions", "likes", "reposts", "replies", "quotes", "bookmarks"):
                assert getattr(after, counter) >= getattr(before, counter)
        previous = current


def test_metrics_before_publication_are_zero(make: Make, clock: FakeClock) -> None:
    connector = make()
    rid = connector.publish(post()).remote_id
    clock.advance(hours=-2)
    [sample] = connector.fetch_metrics([rid])
    assert sample.impressions == 0 and sample.likes == 0


def test_metrics_are_deterministic_for_a_seed(tmp_path: Path, clock: FakeClock) -> None:
    def week_later(folder: str, seed: int) -> list[tuple[int | None, ...]]:
        settings = ChannelSettings(
            name="de-x",
            platform="sandbox",
            options={"outbox": str(tmp_path / folder), "seed": seed},
        )
        connector = SandboxConnector(settings, clock=clock)
        rids = [connector.publish(post(f"p-{i}")).remote_id for i in range(10)]
        clock.advance(days=7)
        samples = connector.fetch_metrics(rids)
        clock.advance(days=-7)
        return [tuple(getattr(s, c) for c in COUNTERS) for s in samples]

    assert week_later("a", seed=3) == week_later("b", seed=3)
    assert week_later("c", seed=3) != week_later("d", seed=4)


def test_every_sample_and_the_capabilities_say_simulated(make: Make, clock: FakeClock) -> None:
    connector = make()
    rid = connector.publish(post()).remote_id
    clock.advance(hours=5)
    samples = connector.fetch_metrics([rid, "sbx-ffffffffffffffff"])
    assert all(s.simulated for s in samples)
    assert connector.capabilities.simulated


@pytest.mark.parametrize(
    ("mimic", "given"),
    [
        ("x", {"impressions", "likes", "reposts", "replies", "quotes", "bookmarks"}),
        ("mastodon", {"likes", "reposts", "replies", "quotes"}),
        ("bluesky", {"likes", "reposts", "replies", "quotes", "bookmarks"}),
        ("telegram", {"likes"}),
        (None, set(COUNTERS)),
    ],
)
def test_mimic_gives_only_the_counters_that_platform_gives(
    make: Make, clock: FakeClock, mimic: str | None, given: set[str]
) -> None:
    connector = make(followers=50000, **({"mimic": mimic} if mimic else {}))
    rid = connector.publish(post(text="Visit https://example.org/kz")).remote_id
    clock.advance(days=2)
    [sample] = connector.fetch_metrics([rid])
    assert {c for c in COUNTERS if getattr(sample, c) is not None} == given
    assert sample.followers is not None


def test_link_clicks_are_none_when_the_text_has_no_link(make: Make, clock: FakeClock) -> None:
    connector = make()
    rid = connector.publish(post(text="No link at all")).remote_id
    clock.advance(days=1)
    [sample] = connector.fetch_metrics([rid])
    assert sample.link_clicks is None and sample.impressions is not None


def test_a_batch_larger_than_the_platform_batch_answers_every_id(
    make: Make, clock: FakeClock
) -> None:
    connector = make()
    rids = [connector.publish(post(f"b-{i}")).remote_id for i in range(130)]
    clock.advance(hours=6)
    samples = connector.fetch_metrics([*rids, "sbx-0123456789abcdef", "../../etc/passwd"])
    assert connector.capabilities.metrics_batch_size == 100
    assert [s.remote_id for s in samples[:130]] == rids
    assert not any(s.deleted for s in samples[:130])
    assert samples[130].deleted and samples[131].deleted


# --- the model's shape ------------------------------------------------------------------------


def _mean(counter: str, n: int = 400, **meta: str) -> float:
    """The counter's mean over ``n`` distinct posts labelled ``meta``."""
    counts = [
        final_counts(
            remote_id_for(f"{sorted(meta.items())}-{i}"),
            text="see https://example.org",
            meta=dict(META, **meta),
            language="de",
            followers=8500,
        )
        for i in range(n)
    ]
    return statistics.fmean(float(getattr(c, counter)) for c in counts)


def test_late_morning_and_evening_outperform_three_am() -> None:
    night = _mean("impressions", local_hour="3")
    assert _mean("impressions", local_hour="11") > 4 * night
    assert _mean("impressions", local_hour="19") > 4 * night
    assert _mean("likes", local_hour="19") > 4 * _mean("likes", local_hour="3")


def test_culture_and_tourism_outreach_economic_forums_which_are_shared_more_than_liked() -> None:
    for popular in ("cultural_event", "tourism"):
        assert _mean("impressions", category=popular) > _mean(
            "impressions", category="economic_forum"
        )
        assert _mean("likes", category=popular) > 2 * _mean("likes", category="economic_forum")
    forum_shares = _mean("reposts", category="economic_forum") / _mean(
        "likes", category="economic_forum"
    )
    culture_shares = _mean("reposts", category="cultural_event") / _mean(
        "likes", category="cultural_event"
    )
    assert forum_shares > 2 * culture_shares


def test_the_diaspora_engages_more_than_think_tanks() -> None:
    def like_rate(audience: str) -> float:
        return _mean("likes", audience=audience) / _mean("impressions", audience=audience)

    assert like_rate("diaspora") > 2 * like_rate("think-tanks")
    assert like_rate("diaspora") > like_rate("public-de")


def test_variants_with_different_effects_differ_on_average() -> None:
    effects = {tag: variant_effect(tag) for tag in "ABCDEFGH"}
    assert all(abs(e - 1) <= MODEL.variant_spread for e in effects.values())
    best, worst = max(effects, key=effects.__getitem__), min(effects, key=effects.__getitem__)

    def engagement_rate(tag: str) -> float:
        likes = _mean("likes", n=800, variant=tag)
        return likes / _mean("impressions", n=800, variant=tag)

    assert effects[best] - effects[worst] > 0.05
    assert engagement_rate(best) > engagement_rate(worst)


# --- the account ------------------------------------------------------------------------------


def test_whoami_names_the_sandbox_account_and_its_followers_grow_with_the_clock(
    make: Make, clock: FakeClock
) -> None:
    connector = make(followers=5000)
    first = connector.whoami()
    clock.advance(days=100)
    later = connector.whoami()
    assert first.handle == "@de-x (sandbox)"
    assert first.display_name is not None and "SIMULATED" in first.display_name
    assert first.followers == 5000
    assert later.followers is not None and 5400 < later.followers < 5600


def test_each_post_brings_a_few_followers(make: Make) -> None:
    connector = make(followers=10000)
    before = connector.whoami().followers
    for i in range(10):
        connector.publish(post(f"f-{i}"))
    after = connector.whoami().followers
    assert before is not None and after is not None and after == before + 50


def test_the_registry_opens_a_sandbox_channel(outbox: Path, clock: FakeClock) -> None:
    settings = ChannelSettings(name="cn-weibo", platform="sandbox", options={"outbox": str(outbox)})
    connector = open_connector(settings, clock=clock)
    assert isinstance(connector, SandboxConnector)
    assert connector.publish(post()).remote_id.startswith("sbx-")
