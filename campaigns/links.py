"""Web addresses and the UTM templates that tag them: the one check every URL passes before it
is stored, and the closed set of placeholders a template may use.

`web_url` is the only definition of an acceptable address (a post's link, a published post's
permalink from a platform or an operator, a link in an export): http or https, a host, no user
name or password, no spaces or control characters, at most 2,000 characters. Anything else
(``javascript:``, ``data:``, a URL with CR/LF that would break an iCalendar line) is refused
with `UnsafeUrl`. ``campaigns.schema`` applies it to every URL column, so no path can store
another kind.

UTM templates are filled by `fill_template`, never by Python string formatting: only the names
in `PLACEHOLDERS` are known, and `check_template` says which one was meant by a slip.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2000


class UnsafeUrl(ValueError):
    """Not an address Elshi stores or publishes; the message says why."""


_CONTROL = re.compile(r"[\x00-\x20\x7f-\x9f\\\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")
"""Control characters, spaces, backslashes, and the invisible or direction-changing marks that
make an address read differently from where it goes."""


def web_url(url: str) -> str:
    """``url`` when it is an http(s) address Elshi may store and publish; else `UnsafeUrl`."""
    shown = url if len(url) <= 80 else url[:79] + "…"
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUrl(f"the address is {len(url):,} characters long (at most {MAX_URL_LENGTH})")
    bad = _CONTROL.search(url)
    if bad is not None:
        what = {" ": "a space", "\\": "a backslash"}.get(
            bad.group(), f"a control character (U+{ord(bad.group()):04X})"
        )
        raise UnsafeUrl(f"{shown!r} contains {what}; a web address has none")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl(f"{shown!r} is not a web address ({exc})") from None
    if parts.scheme.lower() not in ("http", "https") or not url.lower().startswith(
        ("http://", "https://")
    ):
        raise UnsafeUrl(f"{shown!r} is not a web address: it must start with https:// or http://")
    if not parts.hostname:
        raise UnsafeUrl(f"{shown!r} has no host name after {parts.scheme}://")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl(f"{shown!r} carries a user name or password; leave them out")
    if port == 0:
        raise UnsafeUrl(f"{shown!r} names port 0")
    return url


def is_web_url(url: str | None) -> bool:
    if not url:
        return False
    try:
        web_url(url)
    except UnsafeUrl:
        return False
    return True


PLACEHOLDERS = ("campaign", "post", "platform", "channel", "audience", "variant", "language")
"""What a UTM template may name, as ``{name}``; each is filled per delivery."""

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def check_template(template: str) -> str:
    """``template`` when every ``{...}`` in it is one of `PLACEHOLDERS`; else a ValueError
    naming the first that is not (with the closest known name)."""
    if len(template) > 200:
        raise ValueError(f"the template is {len(template)} characters long (at most 200)")
    for match in _PLACEHOLDER.finditer(template):
        name = match.group(1)
        if name not in PLACEHOLDERS:
            close = difflib.get_close_matches(name.strip().lower(), PLACEHOLDERS, n=1)
            hint = f" (did you mean {{{close[0]}}}?)" if close else ""
            shown = name if len(name) <= 30 else name[:29] + "…"
            raise ValueError(
                f"unknown placeholder {{{shown}}}{hint}; a template may use "
                + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
            )
    rest = _PLACEHOLDER.sub("", template)
    if "{" in rest or "}" in rest:
        raise ValueError(
            "a '{' or '}' without its partner; placeholders are written {campaign}, {post}, ..."
        )
    return template


def fill_template(template: str, values: Mapping[str, str]) -> str:
    """``template`` with each known placeholder replaced by its value (see `check_template`)."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)
