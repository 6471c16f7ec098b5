"""E-mail through an SMTP server, with the standard library's ``smtplib``.

Configuration (``[notify.NAME]`` with ``kind = "email"``):

* ``smtp_host`` (required), ``smtp_port`` (default 587 with ``security = "starttls"``, 465 with
  ``"tls"``, 25 with ``"none"``);
* ``security``: ``"starttls"`` (default: plain connection upgraded with STARTTLS, refused if the
  server does not offer it), ``"tls"`` (TLS from the first byte, "SMTPS"), or ``"none"`` (only
  for a relay on the same machine);
* ``ca_file``: a PEM file of certificate authorities to trust instead of the system's (a private
  mail server);
* ``username_env``, ``password_env``: the environment variables holding the login (no login
  when unset);
* ``from`` (required) and ``to`` (a list of addresses; report e-mails may name others);
* ``timeout`` (seconds, default 30).

Each message is one e-mail: plain text, an HTML alternative when the message has one, and its
attachments. Its ``Message-ID`` is built from the message's key, so a message sent again after
a crash carries the same Message-ID as the first copy.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate
from typing import ClassVar

from notify.base import (
    Message,
    Notifier,
    NotifierConfigError,
    NotifyError,
    RejectedNotifyError,
    TransientNotifyError,
)

SECURITY = ("starttls", "tls", "none")
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}


class EmailNotifier(Notifier):
    kind: ClassVar[str] = "email"

    def __init__(
        self,
        name: str,
        *,
        host: str,
        sender: str,
        to: Sequence[str],
        port: int | None = None,
        security: str = "starttls",
        username: str | None = None,
        password: str | None = None,
        ca_file: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        super().__init__(name, secrets=[password or ""])
        if security not in SECURITY:
            raise NotifierConfigError(
                f"notifier {name!r}: security {security!r} is not one of {', '.join(SECURITY)}"
            )
        self.host = host
        self.port = port or DEFAULT_PORTS[security]
        self.security = security
        self.sender = sender
        self.to = tuple(to)
        self._username = username
        self._password = password
        self._ca_file = ca_file
        self.timeout = timeout

    def build(self, message: Message) -> EmailMessage:
        """The e-mail for ``message`` (also used by tests and ``elshi notify test``)."""
        recipients = message.recipients or self.to
        if not recipients:
            raise NotifierConfigError(
                f"notifier {self.name!r}: no recipients; set to = [...] in [notify.{self.name}]"
            )
        mail = EmailMessage()
        mail["Subject"] = message.subject
        mail["From"] = self.sender
        mail["To"] = ", ".join(recipients)
        mail["Date"] = formatdate(localtime=False, usegmt=True)
        domain = self.sender.rpartition("@")[2].strip(" >") or "elshi.invalid"
        mail["Message-ID"] = f"<{message.key}@{domain}>"
        mail["X-Elshi-Message"] = message.key
        mail.set_content(message.text)
        if message.html is not None:
            mail.add_alternative(message.html, subtype="html")
        for item in message.attachments:
            maintype, _, subtype = item.content_type.partition("/")
            mail.add_attachment(
                item.data,
                maintype=maintype,
                subtype=subtype or "octet-stream",
                filename=item.filename,
            )
        return mail

    def send(self, message: Message) -> None:
        mail = self.build(message)
        try:
            self._deliver(mail)
        except NotifyError:
            raise
        except Exception as exc:
            error = self._translate(exc)
        else:
            return
        raise error

    def _deliver(self, mail: EmailMessage) -> None:
        context = ssl.create_default_context(cafile=self._ca_file)
        smtp: smtplib.SMTP
        if self.security == "tls":
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            smtp.ehlo()
            if self.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise NotifierConfigError(
                        f"notifier {self.name!r}: {self.host}:{self.port} does not offer "
                        'STARTTLS; use its TLS port with security = "tls", or fix the server'
                    )
                smtp.starttls(context=context)
                smtp.ehlo()
            if self._username:
                smtp.login(self._username, self._password or "")
            smtp.send_message(mail)

    def _translate(self, exc: Exception) -> NotifyError:
        where = f"notifier {self.name!r} ({self.host}:{self.port})"
        reason = self.safe(str(exc) or type(exc).__name__)[:300]
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return NotifierConfigError(
                f"{where}: the server refused the login of {self._username!r} ({reason}); "
                "check the variables named by username_env and password_env"
            )
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return NotifierConfigError(f"{where}: {reason}")
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            return RejectedNotifyError(f"{where}: recipients refused: {reason}")
        if isinstance(exc, smtplib.SMTPSenderRefused):
            return RejectedNotifyError(f"{where}: sender {self.sender!r} refused: {reason}")
        if isinstance(exc, smtplib.SMTPResponseException) and 500 <= exc.smtp_code < 600:
            return RejectedNotifyError(f"{where}: refused: {reason}")
        if isinstance(exc, ssl.SSLCertVerificationError):
            return NotifierConfigError(
                f"{where}: the server's certificate is not trusted ({reason}); set ca_file in "
                f"[notify.{self.name}] for a private certificate authority"
            )
        if isinstance(exc, smtplib.SMTPException | OSError | socket.timeout):
            return TransientNotifyError(f"{where}: {type(exc).__name__}: {reason}")
        return TransientNotifyError(f"{where}: unexpected {type(exc).__name__}: {reason}")
