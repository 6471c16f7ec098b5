"""A real SMTP server on 127.0.0.1 for tests (aiosmtpd): it records every message it accepts,
can require a login and STARTTLS, refuse the next messages with a chosen reply (an outage), or
hold its answer to DATA after recording the message (so a test can kill the sender between the
server's acceptance and the sender's record of it). A test double: the product never imports
it."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes = field(repr=False)
    at: float

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""

    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        return part.get_content() if part is not None else ""

    def attachments(self) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for part in self.message.iter_attachments():
            data = part.get_payload(decode=True)
            out[str(part.get_filename())] = data if isinstance(data, bytes) else b""
        return out


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SMTPServer:
    """``with SMTPServer() as smtp: ... smtp.messages``."""

    def __init__(
        self,
        *,
        login: tuple[str, str] | None = None,
        tls_context: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
    ) -> None:
        """``tls_context`` with ``implicit_tls``: TLS from the first byte ("SMTPS", port 465
        style); without it: STARTTLS, required."""
        self.login = login
        self.tls_context = tls_context
        self.implicit_tls = implicit_tls
        self.messages: list[Received] = []
        self.refused_logins = 0
        self._refusals: list[str] = []
        self.hold_seconds = 0.0
        self._lock = threading.Lock()
        self._controller: Any = None
        self.port = 0

    # --- test API ---------------------------------------------------------------------------

    def refuse_next(self, count: int, reply: str = "451 4.3.0 Try again later") -> None:
        """Answer the next ``count`` messages' DATA with ``reply`` instead of accepting them."""
        with self._lock:
            self._refusals.extend([reply] * count)

    def message_ids(self) -> list[str]:
        with self._lock:
            return [m.message_id for m in self.messages]

    # --- server -----------------------------------------------------------------------------

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            if self._refusals:
                return self._refusals.pop(0)
            self.messages.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content, time.time())
            )
            hold = self.hold_seconds
        if hold:
            await asyncio.sleep(hold)
        return "250 2.0.0 Message accepted for delivery"

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any):  # type: ignore[no-untyped-def]
        from aiosmtpd.smtp import AuthResult, LoginPassword

        ok = (
            self.login is not None
            and isinstance(data, LoginPassword)
            and (data.login.decode(), data.password.decode()) == self.login
        )
        if not ok:
            self.refused_logins += 1
        return AuthResult(success=ok, handled=False)

    def start(self) -> SMTPServer:
        from aiosmtpd.controller import Controller

        self.port = self.port or free_port()
        kwargs: dict[str, Any] = {}
        if self.login is not None:
            # Without TLS the login is offered and checked but not demanded (aiosmtpd warns
            # about demanding it in clear text).
            kwargs.update(
                authenticator=self._authenticate,
                auth_required=self.tls_context is not None,
                auth_require_tls=self.tls_context is not None,
            )
        if self.tls_context is not None and self.implicit_tls:
            kwargs.update(ssl_context=self.tls_context)
        elif self.tls_context is not None:
            kwargs.update(tls_context=self.tls_context, require_starttls=True)
        self._controller = Controller(
            self, hostname="127.0.0.1", port=self.port, ready_timeout=10, **kwargs
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SMTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def self_signed(folder: Any) -> tuple[ssl.SSLContext, str]:
    """A server TLS context with a fresh self-signed certificate for 127.0.0.1, and the path of
    that certificate (for the client's ``ca_file``)."""
    import datetime as dt
    import ipaddress
    from pathlib import Path

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = Path(folder)
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context, str(cert_path)
