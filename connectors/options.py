"""What each platform's ``[channels.NAME]`` table may hold, as plain data: option names, kinds,
ranges, which are required and which are secrets. The configuration loader validates every
channel table against this when ``elshi.toml`` is loaded, so a connector receives options that
are already the right type and in range, and a mistake is reported at its line, before any
connector (or client library) is imported.

This module imports nothing but the standard library. Adding a platform: one ``Platform(...)``
entry in `PLATFORMS` beside its line in ``connectors.registry``.

Kinds (the loader's parser turns each into a checked value):

* ``text``: a string (``pattern``: a regular expression it must match);
* ``id``: a string or a whole number (ids such as ``-1001234`` or ``"@channel"``);
* ``integer`` / ``number``: a whole / any number within ``minimum`` .. ``maximum``;
* ``seconds``: a duration (``30``, ``"30s"``, ``"5m"``) within ``minimum`` .. ``maximum`` seconds;
* ``flag``: ``true`` or ``false``;
* ``choice``: one of ``choices``;
* ``words``: a list of strings (or one comma-separated string);
* ``url``: an http(s) URL without credentials, query or fragment;
* ``path``: a file or folder, relative to the configuration file's folder.

A ``secret`` option is never written in the file: the table names the environment variable
that holds it, as ``NAME_env = "VARIABLE"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal[
    "text", "id", "integer", "number", "seconds", "flag", "choice", "words", "url", "path"
]


@dataclass(frozen=True)
class Option:
    name: str
    kind: Kind
    doc: str
    default: object = None
    required: bool = False
    secret: bool = False
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    pattern: str | None = None


@dataclass(frozen=True)
class Platform:
    name: str
    options: tuple[Option, ...]
    credentials: tuple[tuple[str, ...], ...] = ()
    """Alternative sets of secrets, one of which must be configured in full (empty: no rule
    beyond the options' own ``required``)."""
    api_base_url: Literal["optional", "required"] = "optional"
    api_base_url_doc: str = "the platform's API endpoint (default: the platform's own)"

    def option(self, name: str) -> Option | None:
        return next((o for o in self.options if o.name == name), None)


def _timeout(default: float = 30.0) -> Option:
    return Option(
        "timeout",
        "seconds",
        "how long to wait for one answer from the platform",
        default=default,
        minimum=1,
        maximum=600,
    )


PLATFORMS: dict[str, Platform] = {
    "x": Platform(
        "x",
        (
            Option("consumer_key", "text", "the app's API key (OAuth 1.0a)", secret=True),
            Option("consumer_secret", "text", "the app's API key secret", secret=True),
            Option("access_token", "text", "the account's access token", secret=True),
            Option("access_token_secret", "text", "the account's access token secret", secret=True),
            Option(
                "token",
                "text",
                "an OAuth 2.0 user token instead of the four above (text posts only)",
                secret=True,
            ),
            Option(
                "private_metrics",
                "flag",
                "also read link clicks (non-public metrics; OAuth 1.0a only)",
                default=False,
            ),
            _timeout(),
        ),
        credentials=(
            ("consumer_key", "consumer_secret", "access_token", "access_token_secret"),
            ("token",),
        ),
        api_base_url_doc="a stand-in for X's hosts (tests); default X's own",
    ),
    "telegram": Platform(
        "telegram",
        (
            Option("token", "text", "the bot token from @BotFather", secret=True, required=True),
            Option(
                "chat_id",
                "id",
                "the channel: its @username or numeric id (-100...); the bot must be an admin",
                required=True,
                pattern=r"@?[A-Za-z][A-Za-z0-9_]{3,}|-?[0-9]+",
            ),
            Option(
                "parse_mode",
                "choice",
                "how Telegram reads the text (default: plain text)",
                choices=("HTML", "MarkdownV2"),
            ),
            Option("disable_link_preview", "flag", "no preview card under links", default=False),
            _timeout(),
        ),
        api_base_url_doc="a local Bot API server; default https://api.telegram.org",
    ),
    "mastodon": Platform(
        "mastodon",
        (
            Option("token", "text", "the application's access token", secret=True, required=True),
            Option(
                "visibility",
                "choice",
                "who sees the posts",
                default="public",
                choices=("public", "unlisted", "private"),
            ),
            Option(
                "max_characters",
                "integer",
                "the instance's post length limit",
                default=500,
                minimum=1,
                maximum=100_000,
            ),
            Option(
                "max_alt_characters",
                "integer",
                "the instance's alt text (media description) limit; Mastodon 4.4+ reports it "
                "as description_limit",
                default=1500,
                minimum=1,
                maximum=100_000,
            ),
            _timeout(),
            Option(
                "media_wait",
                "seconds",
                "how long to wait for the instance to process an upload",
                default=60.0,
                minimum=1,
                maximum=3600,
            ),
        ),
        api_base_url="required",
        api_base_url_doc="the instance, e.g. https://social.bund.de",
    ),
    "bluesky": Platform(
        "bluesky",
        (
            Option(
                "handle",
                "text",
                "the account, e.g. name.bsky.social",
                required=True,
                pattern=r"@?[A-Za-z0-9][A-Za-z0-9.-]*\.[A-Za-z0-9-]+|did:[a-z]+:[A-Za-z0-9._:%-]+",
            ),
            Option(
                "password",
                "text",
                "an App Password (never the main one)",
                secret=True,
                required=True,
            ),
            _timeout(),
        ),
        api_base_url_doc="the account's PDS; default https://bsky.social",
    ),
    "weibo": Platform(
        "weibo",
        (
            Option(
                "access_token",
                "text",
                "the account's OAuth 2 access token for the app",
                secret=True,
                required=True,
            ),
            Option(
                "safe_domain",
                "text",
                "the app's registered safe domain, e.g. kazembassy.cn; every text must link to it",
                required=True,
                pattern=r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+",
            ),
            Option(
                "user_ip",
                "text",
                "the public IP address of the office that publishes (sent as rip)",
                required=True,
                pattern=r"[0-9.]{7,15}|[0-9A-Fa-f:]{2,39}",
            ),
            _timeout(),
        ),
        api_base_url_doc="default https://api.weibo.com",
    ),
    "threads": Platform(
        "threads",
        (
            Option(
                "access_token",
                "text",
                "a long-lived Threads user access token",
                secret=True,
                required=True,
            ),
            Option(
                "media_base_url",
                "url",
                "where the office serves its media over HTTPS (Threads fetches images itself)",
            ),
            _timeout(),
        ),
        api_base_url_doc="default https://graph.threads.net",
    ),
    "linkedin": Platform(
        "linkedin",
        (
            Option(
                "organization",
                "id",
                "the page's numeric id or URN, e.g. urn:li:organization:123",
                required=True,
                pattern=r"(urn:li:organization:)?[0-9]+",
            ),
            Option(
                "access_token",
                "text",
                "a member access token of a page administrator",
                secret=True,
                required=True,
            ),
            Option("refresh_token", "text", "to refresh the access token", secret=True),
            Option("client_id", "text", "the app's client id (for refreshing)", secret=True),
            Option("client_secret", "text", "the app's client secret", secret=True),
            Option(
                "linkedin_version",
                "text",
                "the LinkedIn-Version header, YYYYMM",
                default="202611",
                pattern=r"20[0-9]{2}(0[1-9]|1[0-2])",
            ),
            _timeout(),
        ),
        api_base_url_doc="a stand-in for LinkedIn's hosts (tests); default LinkedIn's own",
    ),
    "wechat": Platform(
        "wechat",
        (
            Option(
                "appid",
                "text",
                "the Official Account's AppID (公众平台 → 设置与开发 → 基本配置)",
                required=True,
                pattern=r"wx[0-9a-f]{16}",
            ),
            Option(
                "appsecret",
                "text",
                "the account's AppSecret (this server's IP must be on its allow-list)",
                secret=True,
                required=True,
            ),
            Option(
                "author",
                "text",
                "the articles' author line, at most 16 characters",
                pattern=r".{1,16}",
            ),
            Option("open_comment", "flag", "open the articles for comments", default=False),
            Option(
                "publish_wait",
                "seconds",
                "how long to follow a publication before leaving it to reconciliation",
                default=60.0,
                minimum=1,
                maximum=3600,
            ),
            _timeout(),
        ),
        api_base_url_doc="default https://api.weixin.qq.com",
    ),
    "sandbox": Platform(
        "sandbox",
        (
            Option(
                "mimic",
                "choice",
                "count text and report metrics like this platform",
                choices=(
                    "x",
                    "telegram",
                    "mastodon",
                    "bluesky",
                    "weibo",
                    "wechat",
                    "linkedin",
                    "threads",
                ),
            ),
            Option("outbox", "path", "folder the posts go to (default: [sandbox] outbox)"),
            Option(
                "followers",
                "integer",
                "simulated followers",
                default=2000,
                minimum=0,
                maximum=1_000_000_000,
            ),
            Option("seed", "id", "seed of the simulated engagement", default=0),
            Option(
                "fail_rate",
                "number",
                "share of calls that fail as a simulated outage",
                default=0.0,
                minimum=0,
                maximum=1,
            ),
            Option(
                "latency",
                "seconds",
                "simulated answer time",
                default=0.0,
                minimum=0,
                maximum=60,
            ),
            Option("reject_words", "words", "posts containing these words are refused"),
            Option(
                "safe_domain",
                "text",
                "with mimic = weibo: the domain every text must link to, as on Weibo",
                pattern=r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+",
            ),
        ),
        api_base_url_doc="not used",
    ),
}
