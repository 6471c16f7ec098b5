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
* sandbox: no limit of its own beyond 10,000 characters.
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
    "mastodon": Limit("mastodon", 500, "characters"),
    "bluesky": Limit("bluesky", 300, "graphemes"),
    "telegram": Limit("telegram", 4096, "UTF-16 units"),
    "telegram-caption": Limit("telegram", 1024, "UTF-16 units of a media caption"),
    "sandbox": Limit("sandbox", 10_000, "characters"),
}


MAX_TEXT_CHARS = 20_000
"""Above every platform's limit whatever a URL or a grapheme counts for: such a text is refused
without being counted."""


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
    """None when ``text`` fits, else a message saying by how much it is over. A text longer
    than any platform takes is refused before it is counted (counting megabytes takes seconds)."""
    limit = limit_for(platform, caption=caption, maximum=maximum)
    if len(text) > MAX_TEXT_CHARS:
        return (
            f"text is {len(text):,} characters; no platform takes more than "
            f"{LIMITS['sandbox'].maximum:,}"
        )
    size = length(platform, text, caption=caption)
    if platform == "bluesky" and len(text.encode("utf-8")) > 3000:
        return f"text is {len(text.encode('utf-8'))} bytes in UTF-8 (limit on bluesky: 3000)"
    if size > limit.maximum:
        return f"text is {limit.describe(size)}, {size - limit.maximum} over"
    return None
