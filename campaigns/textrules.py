"""How each platform counts the length of a post, and its limits.

One implementation, used by the campaign validator (to refuse a post before it is scheduled) and
by the platform emulators in ``connectors.testing`` (which stand in for the platforms). The rules
follow the platforms' own counters:

* X: weighted length (twitter-text v3): code points in Latin, Cyrillic, Greek and the common
  punctuation ranges weigh 1, everything else (CJK, Kazakh in Arabic script, ...) 2; an emoji
  sequence weighs 2; every URL counts as 23 (t.co). Limit 280.
* Mastodon: grapheme clusters, every URL counts as 23, a mention ``@user@domain`` counts as
  ``@user``. Limit 500 (instances may raise it: ``max_characters`` in the channel options).
* Bluesky: grapheme clusters, limit 300 (and 3000 UTF-8 bytes).
* Telegram: UTF-16 code units, limit 4096 for a message and 1024 for a media caption.
* Weibo (``statuses/share``): Weibo's own count, in which a CJK or other full-width character
  counts 1 and a Latin letter, digit or other half-width character counts ½ (rounded up), and
  every URL counts 10 (Weibo shortens it to a t.cn link); limit 140. The text must also carry
  a link to the app's registered ("safe") domain and no ``#topic#`` (`weibo_problems`).
* WeChat: a post is an article (`ARTICLE_PLATFORMS`): a title of at most 32 characters and a
  body under 20,000 (`wechat_article_problems`); the post's text is its summary, which WeChat
  shows cut to 128 characters.
* LinkedIn: the post's commentary, at most 3000 characters (code points).
* Threads: at most 500 characters, each emoji counting its UTF-8 bytes, and at most 5 links.
* sandbox: no limit of its own beyond 10,000 characters.

Alt text (an image's description) has limits of its own (`ALT_LIMITS`, `check_alt`): X 1,000
characters (``media/metadata/create``), Mastodon 1,500 characters (a media attachment's
``description``; each instance sets its own, ``OWN_LIMITS``), Threads 1,000 characters (``alt_text``), LinkedIn 4,086 characters
(``altText``), Bluesky 2,000 graphemes (the limit its app documents and enforces; the lexicon
has none). Telegram and Weibo take no alt text; WeChat's is an HTML attribute of the article.

`PLATFORMS` is the list of platforms the campaign format knows (the connector registry has the
same names; a test keeps them in step).
"""

from __future__ import annotations

from dataclasses import dataclass

import regex

URL_RE = regex.compile(r"https?://[^\s<>\"'）)]+[^\s<>\"'.,;:!?）)]")
_GRAPHEME_RE = regex.compile(r"\X")
_PICTOGRAPHIC = regex.compile(r"[\p{Extended_Pictographic}\p{Regional_Indicator}]")
_MASTODON_MENTION = regex.compile(r"(?<=^|[^\w/])@(\w+)@[\w.-]+\w", regex.UNICODE)

X_URL_LENGTH = 23
MASTODON_URL_LENGTH = 23
# twitter-text v3 configuration: ranges of weight 100 (count 1); every other code point is 200.
_X_LIGHT_RANGES = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))


@dataclass(frozen=True)
class Limit:
    platform: str
    maximum: int
    unit: str

    def describe(self, length: int) -> str:
        return f"{length} {self.unit} (limit on {self.platform}: {self.maximum})"


LIMITS: dict[str, Limit] = {
    "x": Limit("x", 280, "weighted characters"),
    "weibo": Limit("weibo", 140, "characters as Weibo counts them"),
    "wechat": Limit("wechat", 20_000, "characters of the article's body"),
    "wechat-title": Limit("wechat", 32, "characters of the article's title"),
    "wechat-content": Limit("wechat", 20_000, "characters of the article's body"),
    "linkedin": Limit("linkedin", 3000, "characters"),
    "threads": Limit("threads", 500, "characters (an emoji counts its UTF-8 bytes)"),
    "mastodon": Limit("mastodon", 500, "characters"),
    "bluesky": Limit("bluesky", 300, "graphemes"),
    "telegram": Limit("telegram", 4096, "UTF-16 units"),
    "telegram-caption": Limit("telegram", 1024, "UTF-16 units of a media caption"),
    "sandbox": Limit("sandbox", 10_000, "characters"),
}


ALT_LIMITS: dict[str, Limit] = {
    "x": Limit("x", 1000, "characters"),
    "mastodon": Limit("mastodon", 1500, "characters"),
    "threads": Limit("threads", 1000, "characters"),
    "linkedin": Limit("linkedin", 4086, "characters"),
    "bluesky": Limit("bluesky", 2000, "graphemes"),
}


def alt_length(platform: str, alt: str) -> int:
    """``alt``'s length in the unit ``platform`` counts alt text in (see `ALT_LIMITS`)."""
    return graphemes(alt) if platform == "bluesky" else len(alt)


OWN_LIMITS: dict[str, dict[str, str]] = {
    "mastodon": {"text": "max_characters", "alt": "max_alt_characters"}
}
"""The platforms whose limits each server sets, and the channel options that say a server's
(a Mastodon instance's admin may raise both: ``max_characters`` is its post length,
``max_alt_characters`` its media description length, which Mastodon 4.4+ reports as
``configuration.media_attachments.description_limit``; the defaults are Mastodon's own)."""


def check_alt(platform: str, alt: str, *, maximum: int | None = None) -> str | None:
    """None when the alt text ``alt`` fits ``platform`` (``maximum``: the server's own limit,
    where the platform lets each server set one), else a message saying by how much it is over
    (platforms without a limit of their own: None)."""
    limit = ALT_LIMITS.get(platform)
    if limit is None:
        return None
    if maximum is not None:
        limit = Limit(limit.platform, maximum, limit.unit)
    if len(alt) > MAX_TEXT_CHARS:
        return f"the alt text is {len(alt):,} characters (limit on {platform}: {limit.maximum:,})"
    size = alt_length(platform, alt)
    if size > limit.maximum:
        return f"the alt text is {limit.describe(size)}, {size - limit.maximum} over"
    return None


MAX_TEXT_CHARS = 20_000
"""Above every platform's limit whatever a URL or a grapheme counts for: such a text is refused
without being counted."""
PLATFORMS: tuple[str, ...] = (
    "x",
    "telegram",
    "mastodon",
    "bluesky",
    "weibo",
    "wechat",
    "linkedin",
    "threads",
    "sandbox",
)
NO_REPLIES = frozenset({"weibo", "wechat", "linkedin"})
"""Platforms whose publishing API cannot post a reply, so a thread cannot go there."""
NO_APPENDED_TAGS = frozenset({"weibo", "wechat"})
"""Platforms where the campaign's brand hashtags are not appended: Weibo's share API refuses
#topics#, and a WeChat article's summary has no hashtags."""
ARTICLE_PLATFORMS = frozenset({"wechat"})
"""Platforms that publish a post as an article (title, body, cover; the text is its summary
and the link its "read more")."""
WEIBO_URL_LENGTH = 10
THREADS_MAX_LINKS = 5
_WEIBO_TOPIC = regex.compile(r"#[^#\n]+#")
_EAST_ASIAN_WIDE = regex.compile(r"[\p{East_Asian_Width=W}\p{East_Asian_Width=F}]")


def graphemes(text: str) -> int:
    return len(_GRAPHEME_RE.findall(text))


def x_length(text: str) -> int:
    """Weighted length as X counts it (each unit here is one of X's 280)."""
    import unicodedata

    text = unicodedata.normalize("NFC", text)
    total = 0
    pos = 0
    for match in URL_RE.finditer(text):
        total += _x_weight(text[pos : match.start()])
        total += X_URL_LENGTH * 100
        pos = match.end()
    total += _x_weight(text[pos:])
    return total // 100


def _x_weight(chunk: str) -> int:
    weight = 0
    for cluster in _GRAPHEME_RE.findall(chunk):
        if _PICTOGRAPHIC.search(cluster):
            weight += 200
            continue
        for char in cluster:
            code = ord(char)
            light = any(lo <= code <= hi for lo, hi in _X_LIGHT_RANGES)
            weight += 100 if light else 200
    return weight


def mastodon_length(text: str) -> int:
    text = URL_RE.sub("x" * MASTODON_URL_LENGTH, text)
    text = _MASTODON_MENTION.sub(r"@\1", text)
    return graphemes(text)


def weibo_length(text: str) -> int:
    """Length as Weibo counts it: full-width characters 1, half-width ½, a URL 10."""
    halves = 0
    pos = 0
    for match in URL_RE.finditer(text):
        halves += _weibo_halves(text[pos : match.start()]) + 2 * WEIBO_URL_LENGTH
        pos = match.end()
    halves += _weibo_halves(text[pos:])
    return (halves + 1) // 2


def _weibo_halves(chunk: str) -> int:
    total = 0
    for cluster in _GRAPHEME_RE.findall(chunk):
        wide = _EAST_ASIAN_WIDE.search(cluster) or _PICTOGRAPHIC.search(cluster)
        total += 2 if wide else 1
    return total


def weibo_problems(text: str, *, safe_domain: str | None) -> list[str]:
    """What ``statuses/share`` would refuse besides length: a ``#topic#`` in the text, and a
    text without a link to the app's safe domain (``safe_domain`` None: not configured)."""
    problems = []
    topic = _WEIBO_TOPIC.search(text)
    if topic:
        problems.append(
            f"contains the topic {topic.group(0)!r}: Weibo's share API refuses #topics# "
            "(write the words without the # signs)"
        )
    if safe_domain is not None and not any(
        _on_domain(url, safe_domain) for url in URL_RE.findall(text)
    ):
        problems.append(
            f"has no link to {safe_domain} (the Weibo app's safe domain): Weibo's share API "
            "refuses texts without one; add the post's `link` or a URL on that domain"
        )
    return problems


def _on_domain(url: str, domain: str) -> bool:
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    domain = domain.lower().strip(".")
    return host == domain or host.endswith("." + domain)


def threads_length(text: str) -> int:
    """Length as Threads counts it: characters, an emoji counting its UTF-8 bytes."""
    total = 0
    for cluster in _GRAPHEME_RE.findall(text):
        if _PICTOGRAPHIC.search(cluster):
            total += len(cluster.encode("utf-8"))
        else:
            total += len(cluster)
    return total


def wechat_article_problems(title: str, content: str) -> list[str]:
    """What ``draft/add`` would refuse in an article's title and body."""
    problems = []
    if not title.strip():
        problems.append("the WeChat article has no title")
    elif len(title) > LIMITS["wechat-title"].maximum:
        problems.append(
            f"the WeChat article's title is {LIMITS['wechat-title'].describe(len(title))}"
        )
    if len(content) >= LIMITS["wechat-content"].maximum:
        problems.append(
            f"the WeChat article's body is {LIMITS['wechat-content'].describe(len(content))}"
        )
    elif len(content.encode("utf-8")) >= 1_000_000:
        problems.append("the WeChat article's body is over 1 MB (limit on wechat: under 1 MB)")
    return problems


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def length(platform: str, text: str, *, caption: bool = False) -> int:
    """``text``'s length in the unit ``platform`` counts (see `LIMITS`)."""
    if platform == "x":
        return x_length(text)
    if platform == "mastodon":
        return mastodon_length(text)
    if platform == "bluesky":
        return graphemes(text)
    if platform == "telegram":
        return utf16_length(text)
    if platform == "weibo":
        return weibo_length(text)
    if platform == "threads":
        return threads_length(text)
    return len(text)


def limit_for(platform: str, *, caption: bool = False, maximum: int | None = None) -> Limit:
    key = "telegram-caption" if platform == "telegram" and caption else platform
    limit = LIMITS.get(key, LIMITS["sandbox"])
    if maximum is not None:
        limit = Limit(limit.platform, maximum, limit.unit)
    return limit


def check(
    platform: str, text: str, *, caption: bool = False, maximum: int | None = None
) -> str | None:
    """None when ``text`` fits, else a message saying by how much it is over. A text far
    longer than the limit is refused before it is counted (counting megabytes takes seconds):
    past `MAX_TEXT_CHARS`, or past four times a server's own larger limit (a Mastodon instance
    may take up to 100,000 characters; a link counts less than it is long)."""
    limit = limit_for(platform, caption=caption, maximum=maximum)
    ceiling = max(MAX_TEXT_CHARS, 4 * maximum) if maximum is not None else MAX_TEXT_CHARS
    if len(text) > ceiling:
        if maximum is not None:
            return f"text is {len(text):,} characters (limit on {platform}: {maximum:,})"
        return (
            f"text is {len(text):,} characters; no platform takes more than "
            f"{LIMITS['sandbox'].maximum:,}"
        )
    size = length(platform, text, caption=caption)
    if platform == "bluesky" and len(text.encode("utf-8")) > 3000:
        return f"text is {len(text.encode('utf-8'))} bytes in UTF-8 (limit on bluesky: 3000)"
    if platform == "threads" and len(URL_RE.findall(text)) > THREADS_MAX_LINKS:
        return f"text has {len(URL_RE.findall(text))} links (limit on threads: {THREADS_MAX_LINKS})"
    if size > limit.maximum:
        return f"text is {limit.describe(size)}, {size - limit.maximum} over"
    return None


_BIDI_NAMES = {
    0x202A: "LEFT-TO-RIGHT EMBEDDING",
    0x202B: "RIGHT-TO-LEFT EMBEDDING",
    0x202C: "POP DIRECTIONAL FORMATTING",
    0x202D: "LEFT-TO-RIGHT OVERRIDE",
    0x202E: "RIGHT-TO-LEFT OVERRIDE",
    0x2066: "LEFT-TO-RIGHT ISOLATE",
    0x2067: "RIGHT-TO-LEFT ISOLATE",
    0x2068: "FIRST STRONG ISOLATE",
    0x2069: "POP DIRECTIONAL ISOLATE",
}
_OVERRIDES = frozenset({0x202D, 0x202E})
_OPENERS = {
    0x202A: 0x202C,
    0x202B: 0x202C,
    0x202D: 0x202C,
    0x202E: 0x202C,
    0x2066: 0x2069,
    0x2067: 0x2069,
    0x2068: 0x2069,
}
"""Each embedding, override and isolate, and the character that closes it."""
_BIDI_RE = regex.compile(r"[\u202a-\u202e\u2066-\u2069]|\n")


@dataclass(frozen=True)
class Hidden:
    """An invisible character of a post's text that changes how the text reads
    (`hidden_characters`): where (``at``, 1-based), what, and whether it is refused."""

    at: int
    message: str
    refused: bool


def hidden_characters(text: str) -> list[Hidden]:
    """The bidirectional controls of ``text`` (U+202A-U+202E, U+2066-U+2069), which make the
    text shown differ from the text written: an override (U+202D, U+202E) shows the letters
    after it in the other order ("Trojan Source"; a link or a name can be made to read as
    another) and is refused; so is an embedding or isolate left open at the end of its
    paragraph (the link and hashtags appended after the text would be turned too) and a closing
    one without an opening. A closed embedding or isolate (right-to-left words inside a
    left-to-right text) is allowed with a warning. Zero-width characters are not here: the
    platforms count them (`length`) and emoji sequences and scripts need them."""
    found: list[Hidden] = []
    open_: list[tuple[int, int]] = []  # (index, code) of the embeddings and isolates open

    def name(code: int) -> str:
        return f"U+{code:04X} ({_BIDI_NAMES[code]})"

    def close_paragraph() -> None:
        for index, code in open_:
            if code in _OVERRIDES:
                continue  # refused where it is
            found.append(
                Hidden(
                    index + 1,
                    f"{name(code)} at character {index + 1} is not closed by "
                    f"U+{_OPENERS[code]:04X} before the end of its paragraph: everything after "
                    "it (the link and hashtags appended too) would be shown in its direction; "
                    "close it or delete it",
                    True,
                )
            )
        open_.clear()

    for match in _BIDI_RE.finditer(text):
        char = match.group()
        if char == "\n":
            close_paragraph()
            continue
        code, index = ord(char), match.start()
        if code in _OVERRIDES:
            found.append(
                Hidden(
                    index + 1,
                    f"{name(code)} at character {index + 1} shows the text after it in the "
                    "other order, so the post would read differently from what is written (a "
                    "known way to disguise a text or a link); delete it",
                    True,
                )
            )
            open_.append((index, code))
        elif code in _OPENERS:
            open_.append((index, code))
        else:
            # A closer ends the innermost open run it can close (PDF an embedding or
            # override, PDI an isolate and whatever was opened inside it).
            match_at = next(
                (i for i in range(len(open_) - 1, -1, -1) if _OPENERS[open_[i][1]] == code), None
            )
            if match_at is None:
                found.append(
                    Hidden(
                        index + 1,
                        f"{name(code)} at character {index + 1} closes nothing (no embedding "
                        "or isolate is open before it); delete it",
                        True,
                    )
                )
                continue
            opened, opener = open_[match_at]
            del open_[match_at:]
            if opener not in _OVERRIDES:
                found.append(
                    Hidden(
                        opened + 1,
                        f"{name(opener)} at character {opened + 1} (closed at character "
                        f"{index + 1}) changes the direction the words between are shown in; "
                        "check that the post reads as intended",
                        False,
                    )
                )
    close_paragraph()
    return sorted(found, key=lambda h: h.at)
