"""The Telegram connector: posts to one channel through a bot, with python-telegram-bot's `Bot`.

This module owns publishing to a Telegram channel over the Bot API (text, a photo/video/document,
albums, replies), reading what the Bot API tells about those posts, and mapping every
python-telegram-bot error to the connector taxonomy; it must not read or write the database.

Configuration (``[channels.NAME]`` with ``platform = "telegram"``):

* secret ``token`` (``token_env = "TELEGRAM_TOKEN"``): the bot token ``123456:ABC...`` that
  @BotFather gives with ``/newbot`` (``/token`` shows it again, ``/revoke`` replaces a leaked one).
  The bot must be an administrator of the channel with the right "Post messages".
* option ``chat_id`` (required): the channel as ``@username`` (public channels; a bare
  ``username`` is taken as ``@username``) or its numeric id ``-100...`` (private channels).
* option ``parse_mode``: ``"HTML"`` or ``"MarkdownV2"`` to format the text; plain text when unset.
* option ``disable_link_preview`` (bool, default false): no preview card under a text's first link.
* option ``timeout`` (seconds, default 30): connect, read, write and pool timeouts of each request.
* ``api_base_url``: a local Bot API server (or an emulator) instead of ``https://api.telegram.org``.

Publishing: a text is one ``sendMessage``; one media file is ``sendPhoto`` / ``sendVideo`` /
``sendDocument`` (by file suffix) with the text as caption when it fits 1024 UTF-16 units, else the
media goes first and the text follows as a reply to it; several files are one album
(``sendMediaGroup``, at most 10, caption on the first item). The remote id is the first message's
``message_id``; the permalink is ``https://t.me/<username>/<id>`` for a public channel and
``https://t.me/c/<internal id>/<id>`` for a private one. The Bot API has no idempotency key and a
bot cannot read a channel's history, so a publish that timed out or lost its connection after
sending raises `AmbiguousError`, and `reconcile` always raises it too: a person checks the channel
and records the outcome with ``elshi deliveries resolve``. So does a send answered with a server
error that may come after the message went out (500, 504, and any 5xx but 502 and 503, which
say the request was not handled: those are retried).

Metrics: a Bot API ``Message`` carries no views or forwards (those need an MTProto client such as
Telethon logged in as a user, which is out of scope here), and deleted messages cannot be detected
(the Bot API sends no event for them), so samples are never ``deleted``. What the Bot API gives is
reaction counts, as ``message_reaction_count`` updates from ``getUpdates`` (the bot must be a
channel administrator; Telegram groups and delays these updates by minutes). `fetch_metrics` reads
one page (100) of pending updates per call and keeps each message's latest total in memory, shared
by every connector of the same bot in this process; it confirms the updates it read (by passing
the next offset) only on its following call, so if the caller crashes between reading and storing,
the updates are read again (they are cumulative totals, so re-reading is harmless). Each sample
has ``likes`` = the sum of all reaction counts when Telegram reported any for that message (else
None), ``followers`` = the channel's member count, and every other counter None. Totals confirmed
before a restart for messages not asked for since are lost until the next reaction on them. A bot
used this way must not be polled by other software nor have a webhook set (Telegram then answers
``getUpdates`` with 409 Conflict), and should serve a single Elshi process.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import re
import threading
import warnings
from collections.abc import Coroutine, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import httpx
from telegram import (
    Bot,
    Chat,
    ChatFullInfo,
    InputMediaDocument,
    InputMediaPhoto,
    InputMediaVideo,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
)
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from connectors._limits import DEFAULT_WAIT, wait_seconds
from connectors.base import (
    AmbiguousError,
    AuthError,
    Capabilities,
    ChannelSettings,
    Clock,
    Connector,
    ConnectorError,
    Identity,
    MetricSample,
    OutgoingPost,
    Published,
    RateLimitedError,
    RejectedError,
    SessionStore,
    TransientError,
    system_clock,
)

T = TypeVar("T")

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
ALBUM_LIMIT = 10
UPDATES_PAGE = 100
PARSE_MODES = ("HTML", "MarkdownV2")
PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".m4v"})

# BadRequest descriptions that are about the channel setup rather than the post: failing each
# delivery for them would burn the whole campaign, so they pause the channel (AuthError) instead.
_SETUP_PROBLEMS = (
    "chat not found",
    "not enough rights",
    "administrator rights",
    "chat_admin_required",
    "have no rights",
)


def utf16_length(text: str) -> int:
    """Length as Telegram counts it (connectors may not import campaigns.textrules)."""
    return len(text.encode("utf-16-le")) // 2


@dataclass
class _ReactionLedger:
    """Reaction totals read from one bot's ``getUpdates`` in this process; shared because the
    update queue belongs to the bot, not to one connector instance."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    next_offset: int | None = None
    totals: dict[tuple[int, int], int] = field(default_factory=dict)


_LEDGERS: dict[str, _ReactionLedger] = {}
_LEDGERS_LOCK = threading.Lock()


def _ledger_for(token: str) -> _ReactionLedger:
    key = hashlib.sha256(token.encode()).hexdigest()
    with _LEDGERS_LOCK:
        return _LEDGERS.setdefault(key, _ReactionLedger())


def _flag(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _transport_cause(exc: BaseException) -> BaseException | None:
    """The httpx exception under a python-telegram-bot error, None when the server answered."""
    cause = exc.__cause__
    while cause is not None:
        if isinstance(cause, httpx.HTTPError):
            return cause
        cause = cause.__cause__
    return None


UNHANDLED_STATUSES = frozenset({502, 503})
"""Server errors that say the request was not handled (a gateway whose backend is down, a
server that is unavailable); any other 5xx may come after the message went out."""


class _ServerError(NetworkError):
    """A 5xx answer; ``retry_after``: the seconds its ``Retry-After`` asks (None: none)."""

    def __init__(self, message: str, *, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _MaybeHandled(_ServerError):
    """A 5xx answer other than 502/503: the Bot API may have acted before it failed."""


class _Unavailable(_ServerError):
    """A 502/503 with ``Retry-After`` (a proxy shedding load, maintenance); without one,
    python-telegram-bot's own NetworkError stands, as before."""


_answer_headers: ContextVar[httpx.Headers | None] = ContextVar("_answer_headers", default=None)
"""The headers of the last answer the current task received (python-telegram-bot's
``do_request`` returns only the status and the body)."""


async def _keep_headers(response: httpx.Response) -> None:
    _answer_headers.set(response.headers)


class _StatusRequest(HTTPXRequest):
    """python-telegram-bot's HTTPX request, telling apart the server errors that may come
    after the Bot API acted (its own error mapping keeps no status code), keeping a server
    error's ``Retry-After``, and making every 429 a `RetryAfter`: python-telegram-bot raises
    one only for a body with ``parameters.retry_after``; a 429 without it (a proxy's page) was
    a plain NetworkError."""

    def __init__(self, *, clock: Clock, **kwargs: Any) -> None:
        self._clock = clock
        super().__init__(**kwargs)

    def _build_client(self) -> httpx.AsyncClient:
        client = super()._build_client()
        client.event_hooks["response"].append(_keep_headers)
        return client

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        _answer_headers.set(None)
        code, payload = await super().do_request(*args, **kwargs)
        if code >= 500:
            headers = _answer_headers.get()
            wait = None if headers is None else wait_seconds(headers, self._clock(), default=None)
            if code not in UNHANDLED_STATUSES:
                raise _MaybeHandled(f"HTTP {code} from the Bot API", retry_after=wait)
            if wait is not None:
                raise _Unavailable(f"HTTP {code} from the Bot API", retry_after=wait)
        if code == 429:
            seconds = _unstated_flood_wait(payload)
            if seconds is not None:
                raise RetryAfter(seconds)
        return code, payload


_RETRY_AFTER_TEXT = re.compile(r"retry after (\d+)", re.IGNORECASE)


def _unstated_flood_wait(payload: bytes) -> int | None:
    """None when a 429's body is the Bot API's own, with ``parameters.retry_after`` (left to
    python-telegram-bot); else the seconds its text names ("retry after N"), else
    connectors._limits' default."""
    text = payload.decode("utf-8", "replace")
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        parameters = body.get("parameters")
        if isinstance(parameters, dict) and parameters.get("retry_after"):
            return None
    named = _RETRY_AFTER_TEXT.search(text)
    return int(named[1]) if named else math.ceil(DEFAULT_WAIT)


def _never_sent(exc: BaseException) -> bool:
    return isinstance(
        _transport_cause(exc), httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout
    )


def _seconds(retry_after: int | float | timedelta) -> float:
    if isinstance(retry_after, timedelta):
        return retry_after.total_seconds()
    return float(retry_after)


class TelegramConnector(Connector):
    platform: ClassVar[str] = "telegram"
    capabilities: ClassVar[Capabilities] = Capabilities(
        metrics=frozenset({"likes", "followers"}),
        metrics_batch_size=100,
        idempotent_publish=False,
        can_reconcile=False,
        # The Bot FAQ's ceiling for one bot posting into one group; applied to channels alike.
        default_rate_per_minute=20.0,
    )

    def __init__(
        self,
        settings: ChannelSettings,
        *,
        clock: Clock = system_clock,
        sessions: SessionStore | None = None,
    ) -> None:
        super().__init__(settings, clock=clock, sessions=sessions)
        raw_chat = settings.option("chat_id")
        if not raw_chat or not raw_chat.strip():
            raise AuthError(
                f"channel {self.name!r}: option chat_id is not set; set it to the channel's "
                "@username or numeric id (-100...) in [channels." + self.name + "]",
                channel=self.name,
            )
        raw_chat = raw_chat.strip()
        self._chat: int | str
        if raw_chat.lstrip("-").isdigit():
            self._chat = int(raw_chat)
        else:
            self._chat = raw_chat if raw_chat.startswith("@") else "@" + raw_chat
        self._parse_mode = settings.option("parse_mode")
        if self._parse_mode is not None and self._parse_mode not in PARSE_MODES:
            raise AuthError(
                f"channel {self.name!r}: parse_mode {self._parse_mode!r} is not supported; "
                f"use one of {', '.join(PARSE_MODES)} or leave it out for plain text",
                channel=self.name,
            )
        self._no_preview = _flag(settings.options.get("disable_link_preview", False))
        try:
            self._timeout = float(settings.option("timeout") or 30)
        except ValueError:
            raise AuthError(
                f"channel {self.name!r}: option timeout must be a number of seconds, "
                f"not {settings.option('timeout')!r}",
                channel=self.name,
            ) from None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._bot_client: Bot | None = None
        self._requests: tuple[HTTPXRequest, HTTPXRequest] | None = None
        self._chat_info: ChatFullInfo | None = None

    # --- the interface ----------------------------------------------------------------------

    def whoami(self) -> Identity:
        bot = self._bot()
        me = self._run(bot.get_me(), action="check the bot token (getMe)")
        chat = self._chat_full()
        member = self._run(
            bot.get_chat_member(chat.id, me.id), action="check the bot's rights in the channel"
        )
        can_post = member.status == "creator" or (
            member.status == "administrator" and getattr(member, "can_post_messages", None)
        )
        if not can_post:
            raise AuthError(
                f"channel {self.name!r}: bot @{me.username} is {member.status} in "
                f"{self._chat_label(chat)}, not an administrator allowed to post; add it in the "
                "channel's settings > Administrators with the right 'Post messages'",
                channel=self.name,
            )
        followers = self._member_count()
        return Identity(
            account_id=str(chat.id),
            handle=f"@{chat.username}" if chat.username else str(chat.id),
            display_name=chat.title,
            followers=followers,
            url=f"https://t.me/{chat.username}" if chat.username else None,
        )

    def publish(self, post: OutgoingPost) -> Published:
        reply = self._reply_parameters(post.reply_to)
        if not post.media:
            return self._published(self._send_text(post.text, reply))
        files = [self._media_file(path) for path in post.media]
        if len(files) > ALBUM_LIMIT:
            raise RejectedError(
                f"channel {self.name!r}: a Telegram album holds at most {ALBUM_LIMIT} files; "
                f"this post has {len(files)}",
                channel=self.name,
            )
        as_caption = utf16_length(post.text) <= CAPTION_LIMIT
        if not as_caption and self._parse_mode is None and utf16_length(post.text) > MESSAGE_LIMIT:
            # Checked before the media goes out, so a refused text cannot leave half a post.
            raise RejectedError(
                f"channel {self.name!r}: the text is {utf16_length(post.text)} UTF-16 units "
                f"(limit on telegram: {MESSAGE_LIMIT} for a message)",
                channel=self.name,
            )
        caption = post.text if as_caption and post.text else None
        first = self._send_media(files, caption, reply)
        if caption is not None or not post.text:
            return self._published(first)
        published = self._published(first)
        try:
            self._send_text(post.text, ReplyParameters(message_id=first.message_id))
        except ConnectorError as error:
            raise AmbiguousError(
                f"channel {self.name!r}: the media went out as {published.url} but its text, "
                f"sent as a reply because it is too long for a caption, failed ({error.message}); "
                "post the text by hand or delete the media, then record the outcome with "
                "`elshi deliveries resolve`",
                channel=self.name,
            ) from None
        return published

    def fetch_metrics(self, remote_ids: Sequence[str]) -> list[MetricSample]:
        if not remote_ids:
            return []
        chat_id = self._chat_full().id
        followers = self._member_count()
        totals = self._read_reaction_totals()
        now = self.clock()
        samples = []
        for remote_id in remote_ids:
            likes = totals.get((chat_id, int(remote_id))) if remote_id.strip().isdigit() else None
            samples.append(
                MetricSample(
                    remote_id=remote_id, collected_at=now, likes=likes, followers=followers
                )
            )
        return samples

    def reconcile(self, post: OutgoingPost, *, since: datetime) -> Published | None:
        preview = post.text[:40] + ("…" if len(post.text) > 40 else "")
        raise AmbiguousError(
            f"channel {self.name!r}: a Telegram bot cannot read the channel's history, so Elshi "
            f"cannot tell whether the post {preview!r} went out after {since.isoformat()}; look "
            f"at {self._chat} and record the outcome with `elshi deliveries resolve`",
            channel=self.name,
        )

    def remote_id_from_url(self, url: str) -> str:
        """A message id from ``https://t.me/<channel>/<id>`` (public) or
        ``https://t.me/c/<internal id>/<id>`` (private) of this channel."""
        match = re.fullmatch(
            r"https://(?:t\.me|telegram\.me)/(?:c/(?P<internal>\d+)|(?P<user>[A-Za-z0-9_]+))/(?P<id>\d+)/?(?:\?.*)?",
            url.strip(),
        )
        chat = self._chat_full() if match else None
        ours = chat is not None and (
            (match["user"] or "").lower() == (chat.username or "").lower()  # type: ignore[index]
            or match["internal"] == str(chat.id).removeprefix("-100")  # type: ignore[index]
        )
        if match is None or not ours:
            raise RejectedError(
                f"channel {self.name!r}: {url!r} is not the link of a message in {self._chat} "
                "(https://t.me/<channel>/<id>, or https://t.me/c/<id>/<id> when private)",
                channel=self.name,
            )
        return match["id"]

    def close(self) -> None:
        loop, requests = self._loop, self._requests
        self._loop, self._bot_client, self._requests, self._chat_info = None, None, None, None
        if loop is None:
            return
        if requests is not None:
            # Closing must not fail the caller; the sockets die with the loop anyway.
            with contextlib.suppress(Exception):
                loop.run_until_complete(asyncio.gather(*(r.shutdown() for r in requests)))
        loop.close()

    # --- sending ----------------------------------------------------------------------------

    def _send_text(self, text: str, reply: ReplyParameters | None) -> Message:
        return self._run(
            self._bot().send_message(
                self._chat,
                text,
                parse_mode=self._parse_mode,
                link_preview_options=LinkPreviewOptions(is_disabled=True)
                if self._no_preview
                else None,
                reply_parameters=reply,
            ),
            action="send the message",
            sending=True,
        )

    def _send_media(
        self, files: list[Path], caption: str | None, reply: ReplyParameters | None
    ) -> Message:
        bot = self._bot()
        if len(files) > 1:
            album = [self._input_media(path) for path in files]
            messages = self._run(
                bot.send_media_group(
                    self._chat,
                    album,
                    reply_parameters=reply,
                    caption=caption,
                    parse_mode=self._parse_mode,
                ),
                action=f"send an album of {len(files)} files",
                sending=True,
            )
            return messages[0]
        path = files[0]
        suffix = path.suffix.lower()
        common: dict[str, Any] = {
            "caption": caption,
            "parse_mode": self._parse_mode,
            "reply_parameters": reply,
        }
        if suffix in PHOTO_SUFFIXES:
            send = bot.send_photo(self._chat, path, **common)
        elif suffix in VIDEO_SUFFIXES:
            send = bot.send_video(self._chat, path, **common)
        else:
            send = bot.send_document(self._chat, path, **common)
        return self._run(send, action=f"send {path.name}", sending=True)

    def _input_media(self, path: Path) -> InputMediaPhoto | InputMediaVideo | InputMediaDocument:
        # InputMedia takes a path for a local Bot API server's file:// URI, so upload the bytes.
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise RejectedError(
                f"channel {self.name!r}: media file {str(path)!r} cannot be read ({exc.strerror})",
                channel=self.name,
            ) from None
        suffix = path.suffix.lower()
        if suffix in PHOTO_SUFFIXES:
            return InputMediaPhoto(data, filename=path.name)
        if suffix in VIDEO_SUFFIXES:
            return InputMediaVideo(data, filename=path.name)
        return InputMediaDocument(data, filename=path.name)

    def _media_file(self, path: Path) -> Path:
        # python-telegram-bot sends a path that is not a file as a file_id string.
        if not path.is_file():
            raise RejectedError(
                f"channel {self.name!r}: media file {str(path)!r} does not exist or is not a file",
                channel=self.name,
            )
        return path

    def _reply_parameters(self, reply_to: str | None) -> ReplyParameters | None:
        if reply_to is None:
            return None
        if not reply_to.strip().isdigit():
            raise RejectedError(
                f"channel {self.name!r}: reply_to {reply_to!r} is not a Telegram message id",
                channel=self.name,
            )
        return ReplyParameters(message_id=int(reply_to))

    def _published(self, message: Message) -> Published:
        chat = message.chat
        if chat.username:
            url = f"https://t.me/{chat.username}/{message.message_id}"
        else:
            url = f"https://t.me/c/{str(chat.id).removeprefix('-100')}/{message.message_id}"
        return Published(remote_id=str(message.message_id), url=url, published_at=message.date)

    # --- reading ----------------------------------------------------------------------------

    def _chat_full(self) -> ChatFullInfo:
        if self._chat_info is None:
            self._chat_info = self._run(
                self._bot().get_chat(self._chat), action="read the channel (getChat)"
            )
        return self._chat_info

    def _member_count(self) -> int:
        return self._run(
            self._bot().get_chat_member_count(self._chat), action="read the member count"
        )

    def _read_reaction_totals(self) -> dict[tuple[int, int], int]:
        ledger = _ledger_for(self.settings.secret("token"))
        with ledger.lock:
            updates = self._run(
                self._bot().get_updates(
                    offset=ledger.next_offset,
                    limit=UPDATES_PAGE,
                    timeout=0,
                    allowed_updates=["message_reaction_count"],
                ),
                action="read reaction counts (getUpdates)",
            )
            for update in updates:
                counted = update.message_reaction_count
                if counted is not None:
                    key = (counted.chat.id, counted.message_id)
                    ledger.totals[key] = sum(r.total_count for r in counted.reactions)
            if updates:
                ledger.next_offset = updates[-1].update_id + 1
            return dict(ledger.totals)

    # --- plumbing ---------------------------------------------------------------------------

    def _bot(self) -> Bot:
        if self._bot_client is None:
            token = self.settings.secret("token")
            requests = (self._http(pool_size=8), self._http(pool_size=1))
            base = (self.settings.api_base_url or "https://api.telegram.org").rstrip("/")
            self._bot_client = Bot(
                token,
                base_url=base + "/bot",
                base_file_url=base + "/file/bot",
                request=requests[0],
                get_updates_request=requests[1],
            )
            self._requests = requests
        return self._bot_client

    def _http(self, *, pool_size: int) -> HTTPXRequest:
        seconds = self._timeout
        return _StatusRequest(
            clock=self.clock,
            connection_pool_size=pool_size,
            connect_timeout=seconds,
            read_timeout=seconds,
            write_timeout=seconds,
            pool_timeout=seconds,
            media_write_timeout=seconds,
        )

    def _run(self, call: Coroutine[Any, Any, T], *, action: str, sending: bool = False) -> T:
        """Runs ``call`` on this instance's own loop (the Bot's httpx clients are bound to the
        loop they first ran on) and maps every failure to the taxonomy. The error is raised
        outside the ``except`` block so no client exception (whose text may hold the token's
        URL) is chained to it."""
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        try:
            return self._loop.run_until_complete(call)
        except Exception as exc:
            error = self._translate(exc, action=action, sending=sending)
        raise error

    def _translate(self, exc: Exception, *, action: str, sending: bool) -> ConnectorError:
        where = f"channel {self.name!r} ({self._chat}): could not {action}"
        reason = self.safe(str(exc) or type(exc).__name__)[:300]
        channel = self.name
        ambiguous = (
            f"{where}: the request was sent but no answer came ({reason}); the post may be "
            "live. A bot cannot read the channel's history: check the channel and record the "
            "outcome with `elshi deliveries resolve`"
        )
        if isinstance(exc, RetryAfter):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", PTBDeprecationWarning)
                seconds = _seconds(exc.retry_after)
            return RateLimitedError(
                f"{where}: Telegram flood control, retry in {seconds:g} s",
                retry_after=seconds,
                channel=channel,
            )
        if isinstance(exc, ChatMigrated):
            return RejectedError(
                f"{where}: the group became a supergroup; set chat_id = {exc.new_chat_id} in "
                f"[channels.{self.name}]",
                channel=channel,
            )
        if isinstance(exc, InvalidToken):
            env = self.settings.options.get("token_env") or "the variable named by token_env"
            return AuthError(
                f"{where}: Telegram refused the bot token ({reason}); get the current token "
                f"from @BotFather (/token) and export it in {env}",
                channel=channel,
                status=401,
            )
        if isinstance(exc, Forbidden):
            return AuthError(
                f"{where}: {reason}; make the bot an administrator of the channel with the "
                "right 'Post messages'",
                channel=channel,
                status=403,
            )
        if isinstance(exc, BadRequest):
            if any(problem in reason.lower() for problem in _SETUP_PROBLEMS):
                return AuthError(
                    f"{where}: {reason}; check chat_id (the channel's @username or numeric id "
                    "-100...) and that the bot is an administrator of that channel",
                    channel=channel,
                    status=400,
                )
            return RejectedError(
                f"{where}: Telegram refused it: {reason}", channel=channel, status=400
            )
        if isinstance(exc, Conflict):
            return TransientError(
                f"{where}: {reason}; another program is polling this bot's updates or a "
                "webhook is set (deleteWebhook); reaction counts need getUpdates",
                channel=channel,
                status=409,
            )
        if isinstance(exc, _MaybeHandled):
            if sending:
                return AmbiguousError(
                    f"{where}: Telegram answered with a server error ({reason}) that may come "
                    "after the message went out. A bot cannot read the channel's history: check "
                    "the channel and record the outcome with `elshi deliveries resolve`",
                    channel=channel,
                )
            return TransientError(
                f"{where}: Telegram server error ({reason})",
                channel=channel,
                retry_after=exc.retry_after,
            )
        if isinstance(exc, _Unavailable):
            return TransientError(
                f"{where}: Telegram is unavailable ({reason}); retry in {exc.retry_after:g} s",
                channel=channel,
                retry_after=exc.retry_after,
            )
        if isinstance(exc, TimedOut):
            if sending and not _never_sent(exc):
                return AmbiguousError(ambiguous, channel=channel)
            return TransientError(
                f"{where}: timed out after {self._timeout:g} s ({reason})", channel=channel
            )
        if isinstance(exc, NetworkError):
            if _transport_cause(exc) is not None:
                if sending and not _never_sent(exc):
                    return AmbiguousError(ambiguous, channel=channel)
                return TransientError(f"{where}: network error ({reason})", channel=channel)
            if "too large" in reason.lower():
                return RejectedError(
                    f"{where}: Telegram refused it: {reason} (files up to 50 MB)",
                    channel=channel,
                    status=413,
                )
            return TransientError(f"{where}: Telegram server error ({reason})", channel=channel)
        # A 200 answer Telegram's client could not read, or a failure inside the client.
        if sending:
            return AmbiguousError(ambiguous, channel=channel)
        return TransientError(f"{where}: {type(exc).__name__}: {reason}", channel=channel)

    @staticmethod
    def _chat_label(chat: Chat | ChatFullInfo) -> str:
        return f"@{chat.username}" if chat.username else (chat.title or str(chat.id))
