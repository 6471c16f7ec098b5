"""Campaign rules that depend on where a post goes: alt texts per language, WeChat articles,
Weibo's share rules and platforms that cannot reply — all reported before anything is sent."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from campaigns import textrules
from campaigns.validation import load_campaign
from tests.connectors.files import png

CHANNELS = {"de-bluesky": "bluesky", "cn-weibo": "weibo", "cn-wechat": "wechat"}
OPTIONS = {"cn-weibo": {"safe_domain": "gov.kz"}}


def load(tmp_path: Path, posts: str, *, campaign: str = "", channels: str = "[de-bluesky]") -> Any:
    png(tmp_path / "flag.png", 16, 9)
    png(tmp_path / "cover.png", 9, 5)
    text = textwrap.dedent(
        """\
        campaign:
          id: rules
          title: Rules
          country: DE
          narrative: partner
          starts: 2027-01-01
          ends: 2027-12-31
          timezone: Europe/Berlin
          hashtags: ["#Kasachstan"]
        {campaign}
        audiences:
          - id: public
            name: Public
            group: general_public
            languages: [de, en]
            channels: {channels}
        posts:
        {posts}
        """
    ).format(
        campaign=textwrap.indent(campaign, "  "),
        channels=channels,
        posts=textwrap.indent(posts, ""),
    )
    path = tmp_path / "campaign.yaml"
    path.write_text(text, encoding="utf-8")
    return load_campaign(path, channels=CHANNELS, channel_options=OPTIONS)


def messages(loaded: Any, severity: str | None = None) -> list[str]:
    return [p.message for p in loaded.problems if severity is None or p.severity == severity]


POST = """\
  - id: p1
    category: cultural_event
    audiences: [public]
    when: "2027-03-01 10:00"
"""


def test_each_delivery_gets_the_alt_text_in_its_own_language(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        POST
        + """\
    media:
      - file: flag.png
        alt: {de: "Die Flagge Kasachstans", en: "The flag of Kazakhstan"}
    text: {de: "Hallo", en: "Hello"}
""",
    )

    (delivery,) = loaded.desired.deliveries
    assert delivery.language == "de"
    assert delivery.alt == ("Die Flagge Kasachstans",)
    assert messages(loaded) == []


def test_a_missing_alt_text_is_a_warning_naming_the_language(tmp_path: Path) -> None:
    loaded = load(tmp_path, POST + '    media: [flag.png]\n    text: {de: "Hallo"}\n')

    (warning,) = messages(loaded, "warning")
    assert "flag.png has no alt text in de" in warning
    assert loaded.ok


def test_require_alt_makes_a_missing_alt_text_an_error(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        POST + '    media: [{file: flag.png, alt: {en: "A flag"}}]\n    text: {de: "Hallo"}\n',
        campaign="require_alt: true",
    )

    assert not loaded.ok
    assert any("no alt text in de" in m for m in messages(loaded, "error"))


def test_one_alt_text_for_every_language_is_accepted(tmp_path: Path) -> None:
    loaded = load(
        tmp_path, POST + '    media: [{file: flag.png, alt: "Eine Flagge"}]\n    text: "Hallo"\n'
    )

    assert loaded.desired.deliveries[0].alt == ("Eine Flagge",)


def test_a_wechat_delivery_carries_its_article_in_the_delivery_language(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        POST
        + """\
    link: https://www.gov.kz/a
    article:
      title: {de: "Nauryz in Berlin", en: "Nauryz in Berlin"}
      content: {de: "Erster Absatz.\\n\\nZweiter Absatz."}
      cover: cover.png
      author: Presse
    text: {de: "Kurzfassung"}
""",
        channels="[cn-wechat]",
    )

    (delivery,) = loaded.desired.deliveries
    assert delivery.article["title"] == "Nauryz in Berlin"
    assert delivery.article["body"] == "Erster Absatz.\n\nZweiter Absatz."
    cover = loaded.desired.media[delivery.article["cover"]]  # stored with the campaign's media
    assert cover.written == "cover.png" and cover.kind == "image/png"
    assert delivery.article["source_url"] == "https://www.gov.kz/a"
    assert delivery.text == "Kurzfassung"  # the summary: no link, no hashtags appended


def test_a_wechat_article_without_a_cover_or_image_is_an_error(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        POST + '    article: {title: "Titel"}\n    text: {de: "Text"}\n',
        channels="[cn-wechat]",
    )

    assert any("needs a cover image" in m for m in messages(loaded, "error"))


def test_a_wechat_title_over_32_characters_is_an_error(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        POST
        + f'    media: [flag.png]\n    article: {{title: "{"长" * 33}"}}\n    text: {{de: "Text"}}\n',
        channels="[cn-wechat]",
    )

    assert any("title is 33" in m for m in messages(loaded, "error"))


def test_weibo_needs_a_link_to_the_safe_domain_and_no_topics(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        POST + '    link: https://example.org/a\n    text: {de: "Siehe #Nauryz# heute"}\n',
        channels="[cn-weibo]",
    )

    errors = messages(loaded, "error")
    assert any("no link to gov.kz" in m for m in errors)
    assert any("#Nauryz#" in m for m in errors)


def test_brand_hashtags_are_not_appended_on_weibo(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        POST + '    link: https://www.gov.kz/a\n    text: {de: "Hallo"}\n',
        channels="[cn-weibo]",
    )

    (delivery,) = loaded.desired.deliveries
    assert "#Kasachstan" not in delivery.text
    assert loaded.ok


def test_a_reply_cannot_go_to_a_platform_that_cannot_reply(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        POST
        + '    link: https://www.gov.kz/a\n    text: {de: "Erster"}\n'
        + POST.replace("p1", "p2").replace("10:00", "10:05")
        + '    reply_to: p1\n    link: https://www.gov.kz/b\n    text: {de: "Zweiter"}\n',
        channels="[cn-weibo]",
    )

    assert any("cannot publish replies" in m for m in messages(loaded, "error"))


def test_weibo_counts_latin_letters_as_half_and_links_as_ten() -> None:
    assert textrules.weibo_length("哈萨克斯坦") == 5
    assert textrules.weibo_length("Kazakhstan") == 5
    assert textrules.weibo_length("Kazakhstan!") == 6  # half-width characters round up
    assert textrules.weibo_length("https://www.gov.kz/memleket/entities/mfa-beijing?lang=zh") == 10
    assert textrules.check("weibo", "字" * 140) is None
    assert textrules.check("weibo", "字" * 141) is not None


def test_threads_counts_an_emoji_as_its_utf8_bytes() -> None:
    assert textrules.threads_length("Hallo 🎉") == 6 + 4
    assert textrules.check("threads", "a" * 500) is None
    assert textrules.check("threads", "a" * 497 + "🎉") is not None


def _long_alt(tmp_path: Path, alt: str, channels: str) -> Any:
    return load(
        tmp_path,
        POST + f'    media:\n      - file: flag.png\n        alt: {{de: "{alt}"}}\n'
        '    text: {de: "Hallo"}\n',
        channels=channels,
    )


def test_alt_text_past_the_platforms_limit_is_refused_at_its_line(tmp_path: Path) -> None:
    """Alt text was not measured at all: 5,000 characters validated and failed (or was cut,
    on X) only when publishing. Each platform's limit, counted its way, at the alt text."""
    channels = {"de-x": "x", "de-mastodon": "mastodon", "de-bluesky": "bluesky"}
    CHANNELS.update(channels)
    try:
        for alt, over in (("a" * 1001, {"de-x"}), ("a" * 1501, {"de-x", "de-mastodon"})):
            loaded = _long_alt(tmp_path, alt, "[de-x, de-mastodon, de-bluesky]")
            errors = [p for p in loaded.problems if p.severity == "error"]
            assert {e.message.split("'")[1] for e in errors} == over, errors
            assert all(str(e).startswith(f"{tmp_path / 'campaign.yaml'}:24:") for e in errors), [
                str(e) for e in errors
            ]
            size = len(alt)
            assert (
                f"for channel 'de-x': the alt text is {size} characters (limit on x: 1000), "
                f"{size - 1000} over; shorten it" in [e.message for e in errors]
            )
        # Bluesky counts graphemes: 2,000 flags of two code points each fit, 2,001 do not.
        flag = "\U0001f1f0\U0001f1ff"
        assert _long_alt(tmp_path, flag * 2000, "[de-bluesky]").ok
        loaded = _long_alt(tmp_path, flag * 2001, "[de-bluesky]")
        assert (
            "the alt text is 2001 graphemes (limit on bluesky: 2000), 1 over"
            in messages(loaded, "error")[0]
        )
    finally:
        for name in channels:
            CHANNELS.pop(name)


def test_a_mastodon_servers_own_limits_come_from_the_channels_options(tmp_path: Path) -> None:
    """Each Mastodon instance sets its post and alt text lengths (500 and 1,500 by default).
    The channel's max_characters / max_alt_characters are its instance's: validation checked
    every Mastodon channel against the defaults, refusing what a larger instance takes; without
    them, a refusal says it used the default and which option to set."""
    channels = {
        "big": "mastodon",
        "small": "mastodon",
        "plain": "mastodon",
        "imitation": "mastodon",
    }
    options: dict[str, dict[str, Any]] = {
        "big": {"max_characters": 5000, "max_alt_characters": 3000},
        "small": {"max_characters": 100, "max_alt_characters": 50},
        "plain": {},
        "imitation": {"mimic": "mastodon"},  # a sandbox channel imitating Mastodon
    }
    CHANNELS.update(channels)
    OPTIONS.update(options)
    try:
        text = "Hallo " * 100  # 600 characters
        loaded = load(
            tmp_path,
            POST + '    media:\n      - file: flag.png\n        alt: {de: "' + "a" * 2000 + '"}\n'
            f'    text: {{de: "{text}"}}\n',
            channels="[big, small, plain, imitation]",
        )
        errors = sorted(messages(loaded, "error"))
        assert not any("'big'" in e for e in errors), errors
        hint = (
            " (the mastodon default: if the server of channel 'plain' takes more, set {} in "
            "[channels.plain])"
        )
        assert errors == sorted(
            [
                # once per limit: 'imitation' has the same as 'plain'
                "for channel 'plain': the alt text is 2000 characters (limit on mastodon: "
                f"1500), 500 over{hint.format('max_alt_characters')}; shorten it",
                "for channel 'small': the alt text is 2000 characters (limit on mastodon: 50), "
                "1950 over; shorten it",
                *(
                    f"for channel {name!r}: text is {length} characters (limit on mastodon: "
                    f"{limit}), {length - limit} over (with the link and hashtags appended)"
                    f"{extra}; shorten it, or give mastodon its own shorter text: "
                    "de: {default: ..., mastodon: ...}"
                    for name, limit, extra, length in (
                        ("imitation", 500, "", 612),
                        ("plain", 500, hint.format("max_characters"), 612),
                        ("small", 100, "", 612),
                    )
                ),
            ]
        ), errors
    finally:
        for name in channels:
            CHANNELS.pop(name)
            OPTIONS.pop(name)


def test_a_long_text_for_an_instance_that_takes_it_is_counted_not_refused_unread() -> None:
    """A Mastodon instance may take up to 100,000 characters (max_characters); a text past
    the guard against counting megabytes (20,000) was refused 'no platform takes more than
    10,000' without being counted."""
    assert textrules.check("mastodon", "a" * 30_000, maximum=50_000) is None
    assert textrules.check("mastodon", "a" * 50_001, maximum=50_000) == (
        "text is 50001 characters (limit on mastodon: 50000), 1 over"
    )
    assert textrules.check("mastodon", "a" * 200_001, maximum=50_000) == (
        "text is 200,001 characters (limit on mastodon: 50,000)"
    )
    assert "no platform takes more than" in str(textrules.check("mastodon", "a" * 20_001))
