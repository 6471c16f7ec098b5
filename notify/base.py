"""The notifier interface, the plain values it takes, and its error taxonomy.

Errors (what the sender does about each):

    NotifyError                 any failure; the message stays queued
    ├── TransientNotifyError    network trouble, a timeout, a busy or failing server: retry soon
    ├── RejectedNotifyError     the receiver refused this message (a bad address, a 4xx): retry
    │                           slowly, it may be fixed in the configuration
    └── NotifierConfigError     credentials refused or a setting missing: retry slowly and say
                                which setting to fix

No error drops a message: an alert that cannot be sent now is sent when the problem is gone.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

KINDS = ("email", "telegram", "webhook")


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    """``type/subtype``, e.g. ``text/html``."""
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class Message:
    """One message to send. ``key`` is fixed before the first try and is the same on every
    retry: the e-mail Message-ID, the webhook's ``Idempotency-Key``, so a receiver can tell a
    message sent again after a crash from a new one."""

    key: str
    subject: str
    text: str
    html: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)
    """The structured form (webhooks send it as JSON)."""
    attachments: tuple[Attachment, ...] = ()
    recipients: tuple[str, ...] = ()
    """E-mail only: send to these instead of the notifier's own ``to``."""


class NotifyError(Exception):
    """Base of the taxonomy. Messages are safe to log and store: they never contain a secret."""

    kind: ClassVar[str] = "error"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class TransientNotifyError(NotifyError):
    kind = "transient"


class RejectedNotifyError(NotifyError):
    kind = "rejected"


class NotifierConfigError(NotifyError):
    kind = "config"


class Notifier(ABC):
    """One configured destination (``[notify.NAME]``). ``send`` either returns (the receiver
    accepted the message) or raises a `NotifyError`. One instance is used by one thread at a
    time."""

    kind: ClassVar[str]

    def __init__(self, name: str, *, secrets: Iterable[str] = ()) -> None:
        from connectors import redaction

        self.name = name
        # The one redaction mechanism: these values are hidden from every log line and message
        # of this process from now on, and client libraries' loggers (httpx, telegram) filter.
        redaction.register(secrets)
        redaction.install()

    @abstractmethod
    def send(self, message: Message) -> None:
        """Deliver ``message`` once (as far as the receiver's protocol allows)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release network resources."""

    def safe(self, text: str) -> str:
        """``text`` without any known secret (for messages built from a library's error)."""
        from connectors import redaction

        return redaction.redact(text)
