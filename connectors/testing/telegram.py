"""A Telegram Bot API emulator: one bot and one channel, as python-telegram-bot sees them.

It owns the wire format of the Bot API methods the Telegram connector uses
(``POST /bot<token>/<method>``, form-encoded or multipart, answered with the ``{"ok": ...}``
envelope and real ``Message``/``Chat``/``Update`` shapes): getMe, getChat, getChatMember,
getChatMemberCount, sendMessage, sendPhoto, sendVideo, sendDocument, sendMediaGroup and getUpdates
(``message_reaction_count`` updates queued with `add_reactions`, confirmed by ``offset`` as
Telegram does). It enforces the token (401 for a wrong or expired one, 404 for a malformed one),
the bot's membership of the channel (403), the length limits in UTF-16 units (4096 for a message,
1024 for a caption, via campaigns.textrules), photo contents and upload size, and renders every
fault of `Emulator` in the Bot API's own format. It keeps every accepted message in `posts`; it is
a test double and must not be imported by the product.
"""

from __future__ import annotations

import html
import json
import math
import re
import struct
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from campaigns import textrules
from connectors.testing.server import Emulator, Fault, Request, Response, StoredPost

DEFAULT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
"""A token in the format @BotFather issues (``<bot id>:<35 characters>``)."""

_TOKEN_SHAPE = re.compile(r"\d+:[A-Za-z0-9_-]{30,}")
_HTML_TAG = re.compile(r"<[^>]+>")
_MESSAGE_TOO_LONG = "Bad Request: message is too long"
_CAPTION_TOO_LONG = "Bad Request: message caption is too long"


def _ok(result: Any) -> Response:
    return Response(200, {"ok": True, "result": result})


def _error(status: int, description: str, **parameters: Any) -> Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    headers: dict[str, str] = {}
    if parameters:
        body["parameters"] = parameters
        if "retry_after" in parameters:
            headers["Retry-After"] = str(parameters["retry_after"])
    return Response(status, body, headers)


def _image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG, JPEG or WebP image, None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return 512, 512
    if data.startswith(b"\xff\xd8"):
        pos = 2
        while pos + 9 < len(data):
            if data[pos] != 0xFF:
                return None
            marker = data[pos + 1]
            (size,) = struct.unpack(">H", data[pos + 2 : pos + 4])
            if marker in (0xC0, 0xC1, 0xC2):
                height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
                return int(width), int(height)
            pos += 2 + size
    return None


class TelegramEmulator(Emulator):
    """One bot administering one channel. ``username=None`` makes the channel private (reachable
    only by its numeric id). ``bot_is_member=False`` / ``bot_can_post=False`` stand for a bot that
    was removed from the channel or lacks the right to post."""

    name = "telegram"

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        chat_id: int = -1001234567890,
        username: str | None = "elshi_press",
        title: str = "Elshi Press Office",
        members: int = 1200,
        bot_username: str = "elshi_press_bot",
        max_upload_bytes: int = 50 * 1024 * 1024,
        clock: Callable[[], float] = time.time,
        latency: float = 0.0,
    ) -> None:
        self.chat_id = chat_id
        self.username = username
        self.title = title
        self.members = members
        self.bot_username = bot_username
        self.clock = clock
        self._max_upload_bytes = max_upload_bytes
        self.posts: list[dict[str, Any]] = []
        super().__init__(latency=latency)
        self.reset(token=token)

    # --- test API ---------------------------------------------------------------------------

    def reset(self, *, token: str | None = None) -> None:
        """Forgets every message, update, fault and recorded request, as a new bot (``token``)
        in the same channel would see it, so one running server can serve many tests. Requests
        still in flight with the old token are answered 401 and change nothing."""
        with self._lock:
            if token is not None:
                self.token = token
                self.bot_id = int(token.split(":", 1)[0])
            self.bot_is_member = True
            self.bot_can_post = True
            self.max_upload_bytes = self._max_upload_bytes
            self.posts = []
            self.requests.clear()
            self._faults.clear()
            self._token_valid = True
            self._next_message_id = 1
            self._next_update_id = 700_000_000
            self._next_file = 1
            self._updates: list[dict[str, Any]] = []
            self._allowed_updates: list[str] = []
            self._reactions: dict[int, dict[str, int]] = {}

    def expire_token(self) -> None:
        """Every later call answers 401, as after ``/revoke`` in @BotFather."""
        with self._lock:
            self._token_valid = False

    def add_reactions(self, message_id: int | str, reactions: Mapping[str, int]) -> None:
        """Adds ``reactions`` (emoji -> count) to a message and queues the
        ``message_reaction_count`` update carrying its new totals."""
        with self._lock:
            totals = self._reactions.setdefault(int(message_id), {})
            for emoji, count in reactions.items():
                totals[emoji] = totals.get(emoji, 0) + count
            self._queue_reaction_update(int(message_id))

    def set_metrics(self, post_id: str, **counters: int) -> None:
        """Sets a message's reactions to ``likes`` 👍 (queued as an update). Views, forwards and
        other counters are not visible to a bot, so they are accepted and ignored."""
        likes = counters.get("likes")
        if likes is None:
            return
        with self._lock:
            self._reactions[int(post_id)] = {"👍": likes}
            self._queue_reaction_update(int(post_id))

    def delete_post(self, post_id: str) -> None:
        """Deletes a message, as an administrator would in the app (no update tells the bot)."""
        with self._lock:
            for post in self.posts:
                if post["message_id"] == int(post_id):
                    post["deleted"] = True

    def stored(self) -> list[StoredPost]:
        """Messages as posts: an album is one post (its first message) with all its media."""
        with self._lock:
            out: list[StoredPost] = []
            albums: dict[str, int] = {}
            for post in self.posts:
                group = post["media_group_id"]
                if group is not None and group in albums:
                    first = out[albums[group]]
                    out[albums[group]] = replace(first, alt=(*first.alt, ""))
                    continue
                if group is not None:
                    albums[group] = len(out)
                out.append(
                    StoredPost(
                        id=post["id"],
                        text=post["text"],
                        alt=("",) * len(post["media"]),
                        reply_to=post["reply_to"],
                        deleted=post["deleted"],
                    )
                )
            return out

    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by a getUpdates ``offset``."""
        with self._lock:
            return list(self._updates)

    def live_posts(self) -> list[dict[str, Any]]:
        with self._lock:
            return [post for post in self.posts if not post["deleted"]]

    # --- wire format ------------------------------------------------------------------------

    def server_time(self) -> float:
        return self.clock()

    def routes(self) -> None:
        for method in ("GET", "POST"):
            self.route(method, r"/bot(?P<token>[^/]+)/(?P<method>[A-Za-z]+)", self._handle)

    def error_response(self, fault: Fault, request: Request) -> Response:
        if fault.kind == "rate_limit":
            seconds = max(1, math.ceil(fault.retry_after))
            return _error(429, f"Too Many Requests: retry after {seconds}", retry_after=seconds)
        if fault.kind == "server_error":
            return _error(500, fault.message or "Internal Server Error")
        if fault.kind == "unavailable":
            # What the nginx in front of api.telegram.org answers when the backend is down.
            page = (
                "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
                "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>"
                "\r\n</body>\r\n</html>\r\n"
            )
            return Response(502, raw=page.encode(), content_type="text/html")
        if fault.kind == "auth":
            return _error(401, "Unauthorized")
        return _error(400, fault.message or _MESSAGE_TOO_LONG)

    def _handle(self, request: Request) -> Response:
        token = request.params["token"]
        if not _TOKEN_SHAPE.fullmatch(token):
            return _error(404, "Not Found")
        with self._lock:
            if token != self.token or not self._token_valid:
                return _error(401, "Unauthorized")
            if len(request.body) > self.max_upload_bytes:
                return _error(413, "Request Entity Too Large")
            method = request.params["method"].lower()
            handler = self._methods().get(method)
            if handler is None:
                return _error(404, "Not Found")
            fields: dict[str, str | bytes] = (
                request.multipart() if self._is_multipart(request) else {**request.form()}
            )
            return handler(fields)

    def _methods(self) -> dict[str, Callable[[dict[str, str | bytes]], Response]]:
        return {
            "getme": self._get_me,
            "getchat": self._get_chat,
            "getchatmember": self._get_chat_member,
            "getchatmembercount": self._get_chat_member_count,
            "sendmessage": self._send_message,
            "sendphoto": lambda f: self._send_file(f, "photo"),
            "sendvideo": lambda f: self._send_file(f, "video"),
            "senddocument": lambda f: self._send_file(f, "document"),
            "sendmediagroup": self._send_media_group,
            "getupdates": self._get_updates,
        }

    @staticmethod
    def _is_multipart(request: Request) -> bool:
        return request.headers.get("Content-Type", "").startswith("multipart/form-data")

    # --- reads ------------------------------------------------------------------------------

    def _get_me(self, fields: dict[str, str | bytes]) -> Response:
        return _ok(
            {
                "id": self.bot_id,
                "is_bot": True,
                "first_name": "Elshi",
                "username": self.bot_username,
                "can_join_groups": False,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
                "can_connect_to_business": False,
                "has_main_web_app": False,
            }
        )

    def _get_chat(self, fields: dict[str, str | bytes]) -> Response:
        missing = self._check_chat(fields, reading=True)
        if missing:
            return missing
        info: dict[str, Any] = {
            **self._chat_json(),
            "accent_color_id": 1,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }
        return _ok(info)

    def _get_chat_member(self, fields: dict[str, str | bytes]) -> Response:
        missing = self._check_chat(fields, reading=True)
        if missing:
            return missing
        if str(fields.get("user_id")) != str(self.bot_id):
            return _error(400, "Bad Request: user not found")
        user = {"id": self.bot_id, "is_bot": True, "first_name": "Elshi"}
        user["username"] = self.bot_username
        if not self.bot_is_member:
            return _ok({"status": "left", "user": user})
        rights = {
            name: True
            for name in (
                "can_be_edited",
                "can_manage_chat",
                "can_delete_messages",
                "can_manage_video_chats",
                "can_restrict_members",
                "can_change_info",
                "can_invite_users",
                "can_post_stories",
                "can_edit_stories",
                "can_delete_stories",
                "can_edit_messages",
            )
        }
        return _ok(
            {
                "status": "administrator",
                "user": user,
                "is_anonymous": False,
                "can_promote_members": False,
                "can_post_messages": self.bot_can_post,
                **rights,
            }
        )

    def _get_chat_member_count(self, fields: dict[str, str | bytes]) -> Response:
        missing = self._check_chat(fields, reading=True)
        return missing or _ok(self.members)

    def _get_updates(self, fields: dict[str, str | bytes]) -> Response:
        offset = int(str(fields.get("offset") or 0))
        limit = min(max(int(str(fields.get("limit") or 100)), 1), 100)
        if "allowed_updates" in fields:
            self._allowed_updates = json.loads(str(fields["allowed_updates"]))
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        # An empty allowed_updates means Telegram's default, which leaves reaction counts out.
        wanted = [u for u in self._updates if "message_reaction_count" in self._allowed_updates]
        return _ok(wanted[:limit])

    # --- sends ------------------------------------------------------------------------------

    def _send_message(self, fields: dict[str, str | bytes]) -> Response:
        refused = self._check_chat(fields, reading=False)
        if refused:
            return refused
        parse_mode = str(fields.get("parse_mode") or "") or None
        text = self._visible(str(fields.get("text") or ""), parse_mode)
        if not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if textrules.check("telegram", text):
            return _error(400, _MESSAGE_TOO_LONG)
        reply_to = self._reply_to(fields)
        if isinstance(reply_to, Response):
            return reply_to
        preview = json.loads(str(fields.get("link_preview_options") or "{}"))
        message = self._store(
            kind="text",
            text=text,
            media=[],
            reply_to=reply_to,
            parse_mode=parse_mode,
            link_preview_disabled=bool(preview.get("is_disabled")),
        )
        return _ok(self._message_json(message))

    def _send_file(self, fields: dict[str, str | bytes], kind: str) -> Response:
        refused = self._check_chat(fields, reading=False)
        if refused:
            return refused
        parse_mode = str(fields.get("parse_mode") or "") or None
        caption = self._visible(str(fields.get("caption") or ""), parse_mode)
        if textrules.check("telegram", caption, caption=True):
            return _error(400, _CAPTION_TOO_LONG)
        media = self._upload(fields, kind, fields.get(kind))
        if isinstance(media, Response):
            return media
        reply_to = self._reply_to(fields)
        if isinstance(reply_to, Response):
            return reply_to
        message = self._store(
            kind=kind, text=caption, media=[media], reply_to=reply_to, parse_mode=parse_mode
        )
        return _ok(self._message_json(message))

    def _send_media_group(self, fields: dict[str, str | bytes]) -> Response:
        refused = self._check_chat(fields, reading=False)
        if refused:
            return refused
        items = json.loads(str(fields.get("media") or "[]"))
        if not 2 <= len(items) <= 10:
            return _error(400, "Bad Request: wrong number of media in the album")
        kinds = {item["type"] for item in items}
        if "document" in kinds and kinds != {"document"}:
            return _error(400, "Bad Request: document can't be mixed with other media types")
        reply_to = self._reply_to(fields)
        if isinstance(reply_to, Response):
            return reply_to
        prepared = []
        for item in items:
            parse_mode = item.get("parse_mode")
            caption = self._visible(item.get("caption") or "", parse_mode)
            if textrules.check("telegram", caption, caption=True):
                return _error(400, _CAPTION_TOO_LONG)
            media = self._upload(fields, item["type"], item["media"])
            if isinstance(media, Response):
                return media
            prepared.append((item["type"], caption, media, parse_mode))
        group_id = str(13_000_000_000_000_000 + self._next_message_id)
        messages = [
            self._store(
                kind=kind,
                text=caption,
                media=[media],
                reply_to=reply_to,
                parse_mode=parse_mode,
                media_group_id=group_id,
            )
            for kind, caption, media, parse_mode in prepared
        ]
        return _ok([self._message_json(message) for message in messages])

    # --- helpers (called with the lock held) --------------------------------------------------

    def _check_chat(self, fields: Mapping[str, str | bytes], *, reading: bool) -> Response | None:
        requested = str(fields.get("chat_id") or "")
        by_name = self.username is not None and requested.lower() == "@" + self.username.lower()
        if not by_name and requested != str(self.chat_id):
            return _error(400, "Bad Request: chat not found")
        if not self.bot_is_member:
            if reading and self.username is not None:
                return None
            if reading:
                return _error(400, "Bad Request: chat not found")
            return _error(403, "Forbidden: bot is not a member of the channel chat")
        if not reading and not self.bot_can_post:
            return _error(400, "Bad Request: need administrator rights in the channel chat")
        return None

    @staticmethod
    def _visible(text: str, parse_mode: str | None) -> str:
        """The text as readers see it; Telegram counts limits after parsing the markup (only
        HTML is parsed here; MarkdownV2 is counted as sent)."""
        if parse_mode == "HTML":
            return html.unescape(_HTML_TAG.sub("", text))
        return text

    def _reply_to(self, fields: Mapping[str, str | bytes]) -> int | Response | None:
        target: int | None = None
        if fields.get("reply_parameters"):
            target = int(json.loads(str(fields["reply_parameters"]))["message_id"])
        elif fields.get("reply_to_message_id"):
            target = int(str(fields["reply_to_message_id"]))
        if target is None:
            return None
        if not any(p["message_id"] == target and not p["deleted"] for p in self.posts):
            return _error(400, "Bad Request: message to be replied not found")
        return target

    def _upload(
        self, fields: Mapping[str, str | bytes], kind: str, reference: str | bytes | None
    ) -> dict[str, Any] | Response:
        if isinstance(reference, str) and reference.startswith("attach://"):
            reference = fields.get(reference.removeprefix("attach://"))
        if not isinstance(reference, bytes):
            return _error(400, "Bad Request: wrong file identifier/HTTP URL specified")
        media: dict[str, Any] = {"type": kind, "size": len(reference), "data": reference}
        if kind == "photo":
            size = _image_size(reference)
            if size is None:
                return _error(400, "Bad Request: IMAGE_PROCESS_FAILED")
            media["width"], media["height"] = size
        return media

    def _store(
        self,
        *,
        kind: str,
        text: str,
        media: list[dict[str, Any]],
        reply_to: int | None,
        parse_mode: str | None,
        media_group_id: str | None = None,
        link_preview_disabled: bool = False,
    ) -> dict[str, Any]:
        message_id = self._next_message_id
        self._next_message_id += 1
        post = {
            "id": str(message_id),
            "message_id": message_id,
            "chat_id": self.chat_id,
            "date": int(self.clock()),
            "kind": kind,
            "text": text,
            "media": media,
            "reply_to": None if reply_to is None else str(reply_to),
            "media_group_id": media_group_id,
            "parse_mode": parse_mode,
            "link_preview_disabled": link_preview_disabled,
            "deleted": False,
        }
        self.posts.append(post)
        return post

    def _chat_json(self) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": self.chat_id, "type": "channel", "title": self.title}
        if self.username is not None:
            chat["username"] = self.username
        return chat

    def _file_json(self, media: dict[str, Any]) -> dict[str, Any]:
        number = self._next_file
        self._next_file += 1
        return {
            "file_id": f"AgACAgQAAx0C{number:08d}",
            "file_unique_id": f"AQAD{number:08d}",
            "file_size": media["size"],
        }

    def _message_json(self, post: Mapping[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": post["message_id"],
            "sender_chat": self._chat_json(),
            "chat": self._chat_json(),
            "date": post["date"],
        }
        if post["media_group_id"]:
            message["media_group_id"] = post["media_group_id"]
        if post["reply_to"] is not None:
            original = next(p for p in self.posts if p["id"] == post["reply_to"])
            message["reply_to_message"] = self._message_json({**original, "reply_to": None})
        if post["kind"] == "text":
            message["text"] = post["text"]
            return message
        if post["text"]:
            message["caption"] = post["text"]
        media = post["media"][0]
        if post["kind"] == "photo":
            width, height = media["width"], media["height"]
            scale = min(1.0, 90 / max(width, height, 1))
            thumb = {
                **self._file_json(media),
                "width": max(1, int(width * scale)),
                "height": max(1, int(height * scale)),
            }
            message["photo"] = [thumb, {**self._file_json(media), "width": width, "height": height}]
        elif post["kind"] == "video":
            message["video"] = {
                **self._file_json(media),
                "width": 1280,
                "height": 720,
                "duration": 1,
                "mime_type": "video/mp4",
            }
        else:
            message["document"] = {
                **self._file_json(media),
                "mime_type": "application/octet-stream",
            }
        return message

    def _queue_reaction_update(self, message_id: int) -> None:
        reactions = [
            {"type": {"type": "emoji", "emoji": emoji}, "total_count": count}
            for emoji, count in self._reactions[message_id].items()
            if count > 0
        ]
        self._updates.append(
            {
                "update_id": self._next_update_id,
                "message_reaction_count": {
                    "chat": self._chat_json(),
                    "message_id": message_id,
                    "date": int(self.clock()),
                    "reactions": reactions,
                },
            }
        )
        self._next_update_id += 1
