"""From a validated campaign definition to the deliveries it asks for.

`expand` turns a `CampaignFile` into a `DesiredCampaign`: for each post, one `DesiredDelivery` per
channel (and per occurrence of a recurrence) with its language, time zone, UTC due time and the
final text as it will be published (brand hashtags and the UTM-tagged link appended). Everything
that can only be checked at this level — a language no audience reads, text over a platform's
limit, a DST gap, a date outside the campaign, a reply that would precede its parent — is
reported through the ``report`` callback with the path of the offending YAML node.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from campaigns import mediarules, textrules
from campaigns.definition import (
    AtEvent,
    AudienceSpec,
    CampaignFile,
    CampaignSpec,
    EventSpec,
    MediaItem,
    PostSpec,
    Recurrence,
)
from campaigns.links import fill_template
from campaigns.media import MediaError, MediaFile, MediaSource
from campaigns.timing import TimingError, event_time, is_ambiguous, recurrence_times, to_utc

Report = Callable[[Sequence[str | int], str], None]


@dataclass(frozen=True)
class DesiredDelivery:
    post: str
    channel: str
    occurrence: int
    audience: str
    language: str
    timezone: str
    local_due: datetime
    due_at: datetime
    text: str
    media: tuple[str, ...]
    """References into the media store (``<sha256>/<name>``), in the post's order."""
    idempotency_key: str
    alt: tuple[str, ...] = ()
    """The alt text of each media item in this delivery's language ("" where none)."""
    article: Mapping[str, str] | None = None
    """On article platforms (WeChat): title, body, cover (a media reference), author and
    source_url."""

    @property
    def content_hash(self) -> str:
        said: list[Any] = [self.text, list(self.media), self.language]
        if any(self.alt):
            said.append(list(self.alt))
        if self.article:
            said.append(dict(self.article))
        return _hash(said)

    @property
    def local_label(self) -> str:
        return self.local_due.strftime("%Y-%m-%dT%H:%M")


@dataclass(frozen=True)
class DesiredPost:
    key: str
    category: str
    narrative: str
    variant: str | None
    reply_to: str | None
    audiences: tuple[str, ...]
    schedule: dict[str, Any]
    content: dict[str, Any]
    deliveries: tuple[DesiredDelivery, ...]

    @property
    def content_hash(self) -> str:
        """What the post says: a change here needs approval again. Its time zone and channels
        (when and where it goes out) are left out, like its schedule."""
        said = {k: v for k, v in self.content.items() if k not in ("timezone", "channels")}
        return _hash([self.category, self.narrative, self.variant, self.reply_to, said])


@dataclass(frozen=True)
class DesiredCampaign:
    spec: CampaignSpec
    audiences: tuple[AudienceSpec, ...]
    posts: tuple[DesiredPost, ...]
    source: str
    definition_hash: str
    narratives: dict[str, str] = field(default_factory=dict)
    media: dict[str, MediaFile] = field(default_factory=dict)
    """The media files its deliveries refer to, by reference (``campaigns.media``)."""

    @property
    def deliveries(self) -> list[DesiredDelivery]:
        return [d for p in self.posts for d in p.deliveries]


def _hash(value: Any) -> str:
    blob = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def idempotency_key(campaign: str, post: str, channel: str, occurrence: int) -> str:
    """Stable for one delivery forever: the same campaign, post, channel and occurrence always
    give the same key, so even a re-created database cannot publish it twice where the platform
    honours keys."""
    digest = hashlib.sha256(f"{campaign}/{post}/{channel}/{occurrence}".encode()).hexdigest()
    return f"elshi-{digest[:32]}"


def normalize_text(spec: PostSpec, first_language: str) -> dict[str, dict[str, str]]:
    """``text`` as ``{language: {"default": ..., platform: ...}}``."""
    text = spec.text
    if isinstance(text, str):
        return {first_language: {"default": text}}
    if all(isinstance(v, str) for v in text.values()) and "default" in text:
        return {first_language: {k: str(v) for k, v in text.items()}}
    out: dict[str, dict[str, str]] = {}
    for language, variants in text.items():
        out[language] = {"default": variants} if isinstance(variants, str) else dict(variants)
    return out


def tag_link(url: str, spec: CampaignSpec, values: Mapping[str, str]) -> str:
    if spec.utm is None:
        return url
    params = {
        "utm_source": spec.utm.source,
        "utm_medium": spec.utm.medium,
        "utm_campaign": spec.utm.campaign,
        "utm_content": spec.utm.content,
        "utm_term": spec.utm.term,
    }
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    for name, template in params.items():
        if template is not None and name not in query:
            query[name] = fill_template(template, values)
    return urlunsplit(parts._replace(query=urlencode(query)))


def render(
    spec: CampaignSpec, post: PostSpec, base: str, *, link: str | None, platform: str = ""
) -> str:
    """The text as published: the post's text, its link, then missing brand hashtags (not on
    the platforms in `textrules.NO_APPENDED_TAGS`; on article platforms the link is the
    article's "read more" instead)."""
    parts = [base.rstrip()]
    article = platform in textrules.ARTICLE_PLATFORMS
    if link and post.link and post.link not in base and not article:
        parts.append(link)
    if spec.append_hashtags and post.hashtags and platform not in textrules.NO_APPENDED_TAGS:
        lowered = base.lower()
        missing = [tag for tag in spec.hashtags if tag.lower() not in lowered]
        if missing:
            parts.append(" ".join(missing))
    return "\n\n".join(parts)


def local_times(
    post: PostSpec,
    spec: CampaignSpec,
    events: Mapping[str, EventSpec],
    report: Report,
    index: int,
    *,
    window_known: bool = True,
) -> list[datetime]:
    """The local times of ``post``; problems are reported and give no times. With
    ``window_known`` False (the campaign's dates are wrong, and said so) a time is not held
    against the dates, and a recurrence is expanded only within its own from/until."""
    where = ("posts", index, "when")
    when = post.when
    if isinstance(when, datetime):
        if when.tzinfo is not None:
            report(
                where,
                "write the local time without a UTC offset (the zone comes from the "
                "audience or the post's 'timezone')",
            )
            return []
        times = [when]
    elif isinstance(when, AtEvent):
        event = events.get(when.event)
        if event is None:
            return []  # reported by the reference checks
        try:
            times = [event_time(event, when)]
        except TimingError as exc:
            report((*where, "offset"), str(exc))
            return []
    else:
        assert isinstance(when, Recurrence)
        return _recurrence(when, spec, report, where, window_known=window_known)
    if window_known:
        for moment in times:
            if not spec.starts <= moment.date() <= spec.ends:
                report(
                    where,
                    f"{moment:%Y-%m-%d %H:%M} is outside the campaign "
                    f"({spec.starts} to {spec.ends})",
                )
                return []
    return times


def _recurrence(
    when: Recurrence,
    spec: CampaignSpec,
    report: Report,
    where: tuple[str | int, ...],
    *,
    window_known: bool,
) -> list[datetime]:
    key = "rrule" if when.rrule is not None else "cron"
    rule = f"{key} {when.rrule or when.cron!r}"
    if when.rrule is not None and "BYHOUR" not in when.rrule.upper():
        report(
            (*where, "rrule"),
            f"{rule} has no BYHOUR (and BYMINUTE): without them every "
            "post would go out at midnight; add e.g. ;BYHOUR=10;BYMINUTE=0",
        )
        return []
    if window_known:
        first, last = spec.starts, spec.ends
    elif when.start is not None and when.until is not None:
        first, last = when.start, when.until
    else:
        return []
    try:
        times = recurrence_times(when, first, last)
    except TimingError as exc:
        report((*where, key), str(exc))
        return []
    if not times:
        report(
            where,
            f"{rule} has no occurrence between {max(first, when.start or first)} and "
            f"{min(last, when.until or last)}"
            + (" (the campaign's dates and the rule's from/until)" if window_known else ""),
        )
    elif len(times) > when.limit:
        report(
            where,
            f"{rule} gives more than {when.limit} posts; narrow it with "
            "'from'/'until' or raise 'limit' (at most 1000)",
        )
        return []
    return times


MAX_DELIVERIES = 20_000
"""Deliveries one campaign file may ask for (a year of daily posts on ten channels is 3,650)."""


def expand(
    definition: CampaignFile,
    *,
    source: str,
    media: MediaSource,
    channels: Mapping[str, str] | None,
    report: Report,
    warn: Report,
    definition_hash: str,
    unsure: frozenset[str] = frozenset(),
    window_known: bool = True,
    channel_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> DesiredCampaign:
    """Build the desired state. ``channels`` maps configured channel names to platforms (None:
    no configuration, so channel names and platform limits are not checked). ``unsure`` names
    posts whose references were already reported broken, and ``window_known`` is False when the
    campaign's dates were: checks that would only repeat those problems (threads, dates
    outside the campaign) are left out, so every message is about a problem of its own.
    ``channel_options`` (each channel's options from the configuration) give the rules that
    depend on the account: Weibo's safe domain."""
    troubled = set(unsure)
    current: list[str] = [""]

    def report_post(where: Sequence[str | int], message: str) -> None:
        troubled.add(current[0])
        report(where, message)

    spec = definition.campaign
    audiences = {a.id: a for a in definition.audiences}
    events = {
        key: value if isinstance(value, EventSpec) else EventSpec(date=value)
        for key, value in definition.events.items()
    }
    narratives = dict(spec.narratives) or {spec.narrative: spec.title}
    posts: list[DesiredPost] = []
    delivered: dict[str, dict[str, list[DesiredDelivery]]] = {}
    total = 0
    used: dict[str, MediaFile] = {}
    for index, post in enumerate(definition.posts):
        current[0] = post.id
        targeted = [audiences[a] for a in post.audiences if a in audiences]
        if not targeted:
            continue
        texts = normalize_text(post, targeted[0].languages[0])
        kept = _media(post, media, index, report_post)
        files = tuple(f for f, _ in kept)
        used.update((f.reference, f) for f in files)
        checked_media: set[tuple[str, str]] = set()
        alt_checked: set[str] = set()
        times = local_times(post, spec, events, report_post, index, window_known=window_known)
        # channel -> audiences of this post that it reaches, in the post's order
        reach: dict[str, list[AudienceSpec]] = {}
        for audience in targeted:
            for channel in audience.channels:
                if post.channels is None or channel in post.channels:
                    reach.setdefault(channel, []).append(audience)
        deliveries: list[DesiredDelivery] = []
        gaps_reported: set[str] = set()
        empty_reported: set[tuple[str, str]] = set()
        for channel, reached in reach.items():
            language = _language(texts, reached)
            if language is None:
                wanted = sorted({lang for a in reached for lang in a.languages})
                report_post(
                    ("posts", index, "text"),
                    f"no text in a language that audience "
                    f"{reached[0].id!r} reads ({', '.join(wanted)}) for channel {channel!r}; "
                    f"the post has {', '.join(sorted(texts))}",
                )
                continue
            primary = next(a for a in reached if language in a.languages)
            zone = post.timezone or primary.timezone or spec.timezone
            platform = channels.get(channel, "sandbox") if channels is not None else "sandbox"
            variants = texts[language]
            base = variants.get(platform, variants["default"])
            values = {
                "campaign": spec.id,
                "post": post.id,
                "platform": platform,
                "channel": channel,
                "audience": primary.id,
                "variant": post.variant or "",
                "language": language,
            }
            link = tag_link(post.link, spec, values) if post.link else None
            text = render(spec, post, base, link=link, platform=platform)
            text_at: tuple[str | int, ...] = ("posts", index, "text")
            if not base.strip() and not files and (language, platform) not in empty_reported:
                # A spreadsheet's empty text cell is refused too (campaigns.spreadsheet).
                empty_reported.add((language, platform))
                report_post(
                    text_at,
                    f"the text in {language} is empty and the post has no media: write "
                    "what the post says",
                )
            if channels is not None and channel in channels:
                _media_rules(platform, channel, files, index, report_post, checked_media)
                key = platform if platform in variants else "default"
                if key != "default" or not isinstance(post.text, str):
                    text_at = ("posts", index, "text", language, key)
                options = (channel_options or {}).get(channel, {})
                own = _own_limit(platform, options, "text")
                problem = textrules.check(platform, text, caption=bool(files), maximum=own)
                if problem:
                    report_post(
                        text_at,
                        f"for channel {channel!r}: {problem} (with the link and hashtags "
                        f"appended){_server_hint(platform, channel, options, 'text')}; "
                        f"{_shorter(key, platform, language)}",
                    )
                if platform == "weibo":
                    safe = (channel_options or {}).get(channel, {}).get("safe_domain")
                    rules = textrules.weibo_problems(text, safe_domain=str(safe) if safe else None)
                    for rule in rules:
                        report_post(text_at, f"for channel {channel!r}: the text {rule}")
            alt = _alt_texts(kept, language, spec, index, alt_checked, report_post, warn)
            if channels is not None and channel in channels:
                _alt_limits(
                    post,
                    kept,
                    language,
                    platform,
                    channel,
                    index,
                    alt_checked,
                    report_post,
                    (channel_options or {}).get(channel, {}),
                )
            article: dict[str, str] | None = None
            if platform in textrules.ARTICLE_PLATFORMS:
                found = _article(
                    post, base, kept, media, language, link, channel, index, report_post
                )
                if found is not None:
                    article, cover = found
                    used[cover.reference] = cover
            for occurrence, local in enumerate(times):
                try:
                    due = to_utc(local, zone)
                except TimingError as exc:
                    if zone not in gaps_reported:
                        report_post(
                            ("posts", index, "when"),
                            f"{exc} (time zone of audience {primary.id!r})"
                            if "does not exist" in str(exc)
                            else str(exc),
                        )
                        gaps_reported.add(zone)
                    continue
                if is_ambiguous(local, zone) and zone not in gaps_reported:
                    warn(
                        ("posts", index, "when"),
                        f"{local:%Y-%m-%d %H:%M} happens twice in "
                        f"{zone} (clocks go back); the first one is used "
                        f"({due:%H:%M} UTC)",
                    )
                    gaps_reported.add(zone)
                deliveries.append(
                    DesiredDelivery(
                        post=post.id,
                        channel=channel,
                        occurrence=occurrence,
                        audience=primary.id,
                        language=language,
                        timezone=zone,
                        local_due=local,
                        due_at=due,
                        text=text,
                        media=tuple(f.reference for f in files),
                        idempotency_key=idempotency_key(spec.id, post.id, channel, occurrence),
                        alt=alt,
                        article=article,
                    )
                )
        desired = DesiredPost(
            key=post.id,
            category=post.category.value,
            narrative=post.narrative or spec.narrative,
            variant=post.variant,
            reply_to=post.reply_to,
            audiences=tuple(a.id for a in targeted),
            schedule=_schedule(post),
            content=_content(post, texts, files),
            deliveries=tuple(deliveries),
        )
        total += len(deliveries)
        if total > MAX_DELIVERIES:
            report_post(
                ("posts", index),
                f"the campaign asks for more than {MAX_DELIVERIES:,} deliveries by this post; "
                "split it into several files or narrow its recurrences",
            )
            break
        posts.append(desired)
        delivered[post.id] = {}
        for d in deliveries:
            delivered[post.id].setdefault(d.channel, []).append(d)
    _check_threads(definition, delivered, report, skip=troubled, channels=channels)
    return DesiredCampaign(
        spec,
        tuple(definition.audiences),
        tuple(posts),
        source,
        definition_hash,
        narratives,
        media=used,
    )


def _shorter(key: str, platform: str, language: str) -> str:
    if key == platform:
        return f"shorten the {platform} text"
    return (
        f"shorten it, or give {platform} its own shorter text: "
        f"{language}: {{default: ..., {platform}: ...}}"
    )


def _schedule(post: PostSpec) -> dict[str, Any]:
    when = post.when
    if isinstance(when, datetime):
        return {"at": when.strftime("%Y-%m-%dT%H:%M")}
    if isinstance(when, AtEvent):
        return {"event": when.event, "offset": when.offset}
    return when.model_dump(mode="json", by_alias=True, exclude_none=True)


def _language(texts: Mapping[str, Any], reached: Sequence[AudienceSpec]) -> str | None:
    for audience in reached:
        for language in audience.languages:
            if language in texts:
                return language
    return None


def _content(
    post: PostSpec, texts: Mapping[str, Any], files: Sequence[MediaFile]
) -> dict[str, Any]:
    """What the post says, for its content hash (keys added later are present only when used,
    so the hash of a post that does not use them stays what it was)."""
    content: dict[str, Any] = {
        "text": texts,
        "link": post.link,
        "media": [m if isinstance(m, str) else m.model_dump(exclude_none=True) for m in post.media],
        "media_sha256": [f.sha256 for f in files],
        "hashtags": post.hashtags,
        "channels": post.channels,
        "timezone": post.timezone,
    }
    if post.article is not None:
        content["article"] = post.article.model_dump(exclude_none=True)
    return content


def _media(
    post: PostSpec, source: MediaSource, index: int, report: Report
) -> tuple[tuple[MediaFile, MediaItem | None], ...]:
    """The post's media files that were found, each with its entry (None for a bare path)."""
    files = []
    for n, entry in enumerate(post.media):
        written = entry if isinstance(entry, str) else entry.file
        try:
            files.append((source.find(written), None if isinstance(entry, str) else entry))
        except MediaError as exc:
            where: tuple[str | int, ...] = ("posts", index, "media", n)
            report(where if isinstance(entry, str) else (*where, "file"), str(exc))
    return tuple(files)


def _in_language(value: str | Mapping[str, str] | None, language: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.get(language)


def _alt_texts(
    kept: Sequence[tuple[MediaFile, MediaItem | None]],
    language: str,
    spec: CampaignSpec,
    index: int,
    checked: set[str],
    report: Report,
    warn: Report,
) -> tuple[str, ...]:
    """Each media item's alt text in ``language``; a missing one is reported once per item and
    language: a warning, or an error when the campaign sets ``require_alt``."""
    texts = []
    for n, (file, item) in enumerate(kept):
        alt = _in_language(item.alt if item is not None else None, language)
        texts.append(alt or "")
        if alt or f"{n}/{language}" in checked:
            continue
        checked.add(f"{n}/{language}")
        message = (
            f"{file.written} has no alt text in {language}: people who use a screen reader get "
            f"nothing; write the item as {{file: ..., alt: {{{language}: ...}}}}"
        )
        where = ("posts", index, "media", n)
        if spec.require_alt:
            report(where, message)
        else:
            warn(where, message + " (require_alt: true makes this an error)")
    return tuple(texts)


def _alt_limits(
    post: PostSpec,
    kept: Sequence[tuple[MediaFile, MediaItem | None]],
    language: str,
    platform: str,
    channel: str,
    index: int,
    checked: set[str],
    report: Report,
    options: Mapping[str, Any],
) -> None:
    """Each media item's alt text in ``language`` against the channel's limit
    (`textrules.check_alt`: the platform's, or the server's where the channel's options say it),
    reported once per item, language and limit at the alt text."""
    own = _own_limit(platform, options, "alt")
    for _file, item in kept:
        if item is None or item.alt is None:
            continue
        alt = _in_language(item.alt, language)
        n = next(i for i, entry in enumerate(post.media) if entry is item)
        key = f"{n}/{language}/{platform}/{own}"
        if not alt or key in checked:
            continue
        checked.add(key)
        problem = textrules.check_alt(platform, alt, maximum=own)
        if problem:
            where: tuple[str | int, ...] = ("posts", index, "media", n, "alt")
            if not isinstance(item.alt, str):
                where = (*where, language)
            hint = _server_hint(platform, channel, options, "alt")
            report(where, f"for channel {channel!r}: {problem}{hint}; shorten it")


def _own_limit(platform: str, options: Mapping[str, Any], what: str) -> int | None:
    """The limit a channel's options set for its server (`textrules.OWN_LIMITS`), if any."""
    name = textrules.OWN_LIMITS.get(platform, {}).get(what)
    value = options.get(name) if name else None
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _server_hint(platform: str, channel: str, options: Mapping[str, Any], what: str) -> str:
    """Where a limit is the server's (Mastodon), what to set when the channel's server takes
    more: nothing for a sandbox channel imitating the platform, or one whose option is set."""
    name = textrules.OWN_LIMITS.get(platform, {}).get(what)
    if name is None or "mimic" in options or name in options:
        return ""
    return (
        f" (the {platform} default: if the server of channel {channel!r} takes more, set "
        f"{name} in [channels.{channel}])"
    )


def _article(
    post: PostSpec,
    base: str,
    kept: Sequence[tuple[MediaFile, MediaItem | None]],
    source: MediaSource,
    language: str,
    link: str | None,
    channel: str,
    index: int,
    report: Report,
) -> tuple[dict[str, str], MediaFile] | None:
    """The article a delivery to an article platform publishes, with its cover's file, in ``language``: the post's
    ``article`` where given, else made from its text (first line as title) and first image.
    Its cover is a media reference, stored with the campaign like the post's media."""
    spec = post.article
    where: tuple[str | int, ...] = ("posts", index, "article") if spec else ("posts", index)
    title = _in_language(spec.title, language) if spec else base.strip().split("\n", 1)[0]
    body = _in_language(spec.content, language) if spec and spec.content is not None else base
    if title is None or body is None:
        missing = "title" if title is None else "content"
        report(where, f"the article has no {missing} in {language} (for channel {channel!r})")
        return None
    cover: MediaFile | None = None
    if spec is not None and spec.cover is not None:
        try:
            cover = source.find(spec.cover)
        except MediaError as exc:
            report((*where, "cover"), str(exc))
            return None
    else:
        cover = next((f for f, _ in kept if f.kind.startswith("image/")), None)
    if cover is None or not cover.kind.startswith("image/"):
        report(
            where,
            f"for channel {channel!r}: a WeChat article needs a cover image: add article.cover "
            "or an image to media",
        )
        return None
    hint = "" if spec else " (made from the text's first line: give the post an article)"
    for problem in textrules.wechat_article_problems(title, body):
        report(where, f"for channel {channel!r}: {problem}{hint}")
    article = {"title": title, "body": body, "cover": cover.reference}
    if spec is not None and spec.author:
        article["author"] = spec.author
    if link:
        article["source_url"] = link
    return article, cover


def _media_rules(
    platform: str,
    channel: str,
    files: Sequence[MediaFile],
    index: int,
    report: Report,
    reported: set[tuple[str, str]],
) -> None:
    """What ``platform`` would refuse among the post's media, once per platform and problem."""
    found = mediarules.problems(platform, [(f.written, f.kind, f.size) for f in files])
    for item, message in found:
        if (platform, message) in reported:
            continue
        reported.add((platform, message))
        where: tuple[str | int, ...] = ("posts", index, "media")
        report(where if item is None else (*where, item), f"for channel {channel!r}: {message}")


def _check_threads(
    definition: CampaignFile,
    delivered: Mapping[str, Mapping[str, list[DesiredDelivery]]],
    report: Report,
    *,
    skip: set[str],
    channels: Mapping[str, str] | None = None,
) -> None:
    """Replies against their parents, channel by channel; pairs in which either post had a
    problem of its own are left out (their deliveries are incomplete, not their thread)."""
    for index, post in enumerate(definition.posts):
        if post.reply_to is None or post.reply_to not in delivered:
            continue
        if post.id in skip or post.reply_to in skip:
            continue
        parent = delivered[post.reply_to]
        for channel, items in delivered.get(post.id, {}).items():
            where = ("posts", index, "reply_to")
            platform = (channels or {}).get(channel)
            if platform in textrules.NO_REPLIES:
                report(
                    where,
                    f"channel {channel!r} is on {platform}, which cannot publish replies; "
                    "limit the reply to other channels with `channels:`",
                )
                break
            if channel not in parent:
                report(
                    where,
                    f"replies to {post.reply_to!r}, which is not published on "
                    f"channel {channel!r}; a reply must go to the channels of its parent",
                )
                break
            if len(parent[channel]) != len(items):
                report(
                    where,
                    f"replies to {post.reply_to!r} but has {len(items)} occurrences "
                    f"against its {len(parent[channel])}; a thread's posts repeat together",
                )
                break
            for mine, theirs in zip(items, parent[channel], strict=True):
                if mine.due_at <= theirs.due_at:
                    report(
                        ("posts", index, "when"),
                        f"goes out at {mine.local_label} "
                        f"({channel}), not after the post it replies to "
                        f"({theirs.local_label}); a reply must come later",
                    )
                    return
