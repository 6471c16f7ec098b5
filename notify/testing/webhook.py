"""A webhook receiver on 127.0.0.1 for tests: a real HTTP server that checks each request's
HMAC-SHA256 signature the way the operator guide tells a receiver to (written here on its own,
not with ``notify.webhook``), records every request, and can answer the next requests with an
error (an outage) or hold its answer after recording one (so a test can kill the sender between
the receiver's acceptance and the sender's record of it). A test double."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from connectors.testing.server import QuietHTTPServer


@dataclass
class Call:
    headers: dict[str, str]
    body: bytes = field(repr=False)
    signature_ok: bool
    status: int

    @property
    def key(self) -> str:
        return self.headers.get("idempotency-key", "")

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    def __init__(self, secret: str, *, tolerance: float = 300.0) -> None:
        self.secret = secret
        self.tolerance = tolerance
        self.calls: list[Call] = []
        self.hold_seconds = 0.0
        self._errors: list[tuple[int, dict[str, str | None]]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks/elshi"

    def fail_next(
        self, count: int, status: int = 503, *, headers: dict[str, str | None] | None = None
    ) -> None:
        """Answer the next ``count`` requests with ``status`` and ``headers`` (a ``Date`` among
        them replaces the server's own; ``"Date": None`` sends none)."""
        with self._lock:
            self._errors.extend([(status, dict(headers or {}))] * count)

    def accepted(self) -> list[Call]:
        """Calls answered 2xx with a valid signature, one per idempotency key (what a receiver
        that dedupes keeps)."""
        with self._lock:
            seen: dict[str, Call] = {}
            for call in self.calls:
                if call.status == 200 and call.signature_ok:
                    seen.setdefault(call.key, call)
            return list(seen.values())

    def _verify(self, headers: dict[str, str], body: bytes) -> bool:
        timestamp = headers.get("elshi-timestamp", "")
        given = headers.get("elshi-signature", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > self.tolerance:
            return False
        expected = hmac.new(
            self.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        return hmac.compare_digest(given, "v1=" + expected)

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                ok = receiver._verify(headers, body)
                with receiver._lock:
                    status, extra = (
                        receiver._errors.pop(0) if receiver._errors else (200 if ok else 401, {})
                    )
                    receiver.calls.append(Call(headers, body, ok, status))
                    hold = receiver.hold_seconds if status == 200 else 0.0
                if hold:
                    time.sleep(hold)
                payload = b'{"ok": true}' if status == 200 else b'{"error": "refused"}'
                if "Date" in extra:
                    self.send_response_only(status)
                else:
                    self.send_response(status)  # with the Date of this host's clock
                for name, value in extra.items():
                    if value is not None:
                        self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = QuietHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
