"""From a ``[notify.NAME]`` table (plain values, secrets already read from the environment by
the caller) to a `Notifier`; each kind's module, and its client library, is imported only when
a notifier of that kind is opened."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from notify.base import KINDS, Notifier, NotifierConfigError


def _text(options: Mapping[str, Any], key: str) -> str | None:
    value = options.get(key)
    return None if value is None else str(value)


def open_notifier(
    name: str, kind: str, options: Mapping[str, Any], secrets: Mapping[str, str]
) -> Notifier:
    """``secrets`` maps a secret's name (``password``, ``token``, ``secret``, ``url``...: the
    key without ``_env``) to its value."""
    timeout = float(options.get("timeout", 30 if kind != "webhook" else 10))
    if kind == "email":
        from notify.email import EmailNotifier

        host, sender = _text(options, "smtp_host"), _text(options, "from")
        if not host or not sender:
            raise NotifierConfigError(
                f"notifier {name!r}: e-mail needs smtp_host and from in [notify.{name}]"
            )
        port = options.get("smtp_port")
        return EmailNotifier(
            name,
            host=host,
            sender=sender,
            to=[str(a) for a in options.get("to", [])],
            port=int(port) if port is not None else None,
            security=str(options.get("security", "starttls")),
            username=secrets.get("username") or _text(options, "username"),
            password=secrets.get("password"),
            ca_file=_text(options, "ca_file"),
            timeout=timeout,
        )
    if kind == "telegram":
        from notify.telegram import TelegramNotifier

        return TelegramNotifier(
            name,
            token=secrets.get("token", ""),
            chat_id=_text(options, "chat_id") or "",
            api_base_url=_text(options, "api_base_url"),
            timeout=timeout,
        )
    if kind == "webhook":
        from notify.webhook import WebhookNotifier

        url = secrets.get("url") or _text(options, "url")
        if not url:
            raise NotifierConfigError(f"notifier {name!r}: set url (or url_env) in [notify.{name}]")
        return WebhookNotifier(
            name,
            url=url,
            secret=secrets.get("secret", ""),
            timeout=timeout,
            url_is_secret="url" in secrets,
        )
    raise NotifierConfigError(f"notifier {name!r}: kind {kind!r} is not one of {', '.join(KINDS)}")
