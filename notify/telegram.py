"""Telegram: each message is one ``sendMessage`` to a chat, through python-telegram-bot's `Bot`.

Configuration (``[notify.NAME]`` with ``kind = "telegram"``): ``token_env`` (the variable holding
the bot token from @BotFather), ``chat_id`` (a user, group or channel the bot may write to: its
numeric id or ``@username``), ``api_base_url`` (a local Bot API server instead of
``https://api.telegram.org``), ``timeout`` (seconds, default 30).

The text is sent as plain text (no parse mode, so nothing in an alert can break the markup) and
cut to Telegram's 4096 UTF-16 units with a note of what was left out. The Bot API has no
idempotency key: a message sent again after a crash between sending and recording arrives twice.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from notify.base import (
    Message,
    Notifier,
    NotifierConfigError,
    NotifyError,
    RejectedNotifyError,
    TransientNotifyError,
)

MESSAGE_LIMIT = 4096
_CUT_NOTE = "\n… (cut: the full list is in the e-mail, the webhook or elshi status)"


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def fit(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` cut at a line end to fit Telegram's limit, saying so."""
    if _utf16(text) <= limit:
        return text
    budget = limit - _utf16(_CUT_NOTE)
    kept: list[str] = []
    used = 0
    for line in text.splitlines():
        if used + _utf16(line) + 1 > budget:
            break
        kept.append(line)
        used += _utf16(line) + 1
    if not kept:
        cut = text[:budget]
        while _utf16(cut) > budget:
            cut = cut[:-1]
        kept = [cut]
    return "\n".join(kept) + _CUT_NOTE


class TelegramNotifier(Notifier):
    kind: ClassVar[str] = "telegram"

    def __init__(
        self,
        name: str,
        *,
        token: str,
        chat_id: str,
        api_base_url: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        super().__init__(name, secrets=[token])
        if not token:
            raise NotifierConfigError(
                f"notifier {name!r}: no bot token; set token_env in [notify.{name}] and export "
                "that variable"
            )
        if not chat_id:
            raise NotifierConfigError(f"notifier {name!r}: set chat_id in [notify.{name}]")
        self._token = token
        self.chat: int | str = int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id
        self.base = (api_base_url or "https://api.telegram.org").rstrip("/")
        self.timeout = timeout

    def send(self, message: Message) -> None:
        try:
            asyncio.run(self._send(fit(message.text)))
        except Exception as exc:
            error = self._translate(exc)
        else:
            return
        raise error

    async def _send(self, text: str) -> None:
        from telegram import Bot, LinkPreviewOptions
        from telegram.request import HTTPXRequest

        request = HTTPXRequest(
            connection_pool_size=1,
            connect_timeout=self.timeout,
            read_timeout=self.timeout,
            write_timeout=self.timeout,
            pool_timeout=self.timeout,
        )
        bot = Bot(self._token, base_url=self.base + "/bot", request=request)
        async with bot:
            await bot.send_message(
                self.chat, text, link_preview_options=LinkPreviewOptions(is_disabled=True)
            )

    def _translate(self, exc: Exception) -> NotifyError:
        from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter

        where = f"notifier {self.name!r} (chat {self.chat})"
        reason = self.safe(str(exc) or type(exc).__name__)[:300]
        if isinstance(exc, RetryAfter):
            retry: Any = exc.retry_after
            seconds = retry.total_seconds() if hasattr(retry, "total_seconds") else float(retry)
            return TransientNotifyError(f"{where}: flood control ({reason})", retry_after=seconds)
        if isinstance(exc, InvalidToken):
            return NotifierConfigError(
                f"{where}: Telegram refused the bot token ({reason}); export the current token "
                "from @BotFather in the variable named by token_env"
            )
        if isinstance(exc, Forbidden):
            return NotifierConfigError(
                f"{where}: {reason}; start a chat with the bot or add it to the group/channel"
            )
        if isinstance(exc, BadRequest):
            if "chat not found" in reason.lower():
                return NotifierConfigError(f"{where}: {reason}; check chat_id")
            return RejectedNotifyError(f"{where}: Telegram refused it: {reason}")
        return TransientNotifyError(f"{where}: {type(exc).__name__}: {reason}")
