"""The emulator base: a threaded HTTP server on 127.0.0.1 with routing, recorded requests and
fault injection. Platform emulators subclass `Emulator`, register routes, and render the
platform's own error bodies in `error_response`.

Faults (see `Fault`) apply to the next matching requests:

* ``status`` kinds rendered by the platform: ``rate_limit`` (429 with the platform's retry-after
  headers/body), ``server_error`` (500), ``unavailable`` (503), ``auth`` (expired/invalid token),
  ``reject`` (content refused);
* ``delay``: hold the response for ``seconds`` (the client's timeout decides what happens);
* ``drop_after``: run the handler (so a post is stored) and then close the connection without an
  answer: the ambiguous case;
* ``drop_before``: close the connection before handling: nothing was stored.
* ``unavailable_after``: run the handler (so a post is stored) and then answer as ``unavailable``
  (a gateway that gave up on a backend which went on and did the work).
* ``server_error_after``: run the handler (so a post is stored) and then answer as
  ``server_error`` (a server that failed after it acted).

Every answer carries a ``Date`` header from `Emulator.server_time` (the emulator's clock), as a
real server's does; a fault's ``headers`` replace the rendered answer's own (another server
software's or a proxy's headers; ``{"Date": None}`` removes it).
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

FAULT_KINDS = (
    "rate_limit",
    "server_error",
    "unavailable",
    "auth",
    "reject",
    "delay",
    "drop_after",
    "drop_before",
    "unavailable_after",
    "server_error_after",
)


class Headers(dict[str, str]):
    """Request headers, looked up without regard to case (as HTTP compares their names)."""

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self._lower: dict[str, str] = {}
        for key, value in (items or {}).items():
            self[key] = value

    def __setitem__(self, key: str, value: str) -> None:
        super().__setitem__(key, value)
        self._lower[key.lower()] = value

    def __getitem__(self, key: str) -> str:
        return self._lower[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._lower

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return self._lower.get(key.lower(), default)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)
    """Named groups of the route pattern."""

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        ctype = self.headers.get("Content-Type", "")
        if ctype.startswith("multipart/form-data"):
            return {k: v for k, v in self.multipart().items() if isinstance(v, str)}
        return {k: v[-1] for k, v in self.form_lists().items()}

    def form_lists(self) -> dict[str, list[str]]:
        """A form-encoded body with every value of repeated keys (``media_ids[]=1&...=2``)."""
        return parse_qs(self.body.decode("utf-8"), keep_blank_values=True)

    def multipart(self) -> dict[str, str | bytes]:
        """Fields of a multipart/form-data body: text fields as str, files as bytes."""
        from email.parser import BytesParser
        from email.policy import HTTP

        ctype = self.headers.get("Content-Type", "")
        msg = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + self.body
        )
        out: dict[str, str | bytes] = {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not isinstance(name, str):
                continue
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            out[name] = data if part.get_filename() else data.decode("utf-8")
        return out

    def arg(self, name: str) -> str | None:
        """A query-string argument, then a form or JSON body field."""
        if name in self.query:
            return self.query[name][-1]
        ctype = self.headers.get("Content-Type", "")
        if "json" in ctype:
            body = self.json()
            if isinstance(body, dict) and name in body:
                value = body[name]
                return value if isinstance(value, str) else json.dumps(value)
            return None
        if self.body:
            return self.form().get(name)
        return None


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    content_type: str = "application/json"
    dated: bool = True
    """Whether the answer carries a ``Date`` header of the emulator's clock (unless ``headers``
    hold one)."""

    def encode(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.body is None:
            return b""
        return json.dumps(self.body, ensure_ascii=False).encode("utf-8")


@dataclass
class Fault:
    kind: str
    path: str = ""
    """Regular expression searched in the request path; empty matches every request."""
    method: str | None = None
    times: int = 1
    seconds: float = 0.0
    retry_after: float = 1.0
    message: str | None = None
    headers: Mapping[str, str | None] = field(default_factory=dict)
    """Headers set on the rendered answer over the platform's own (a None value removes one,
    any letter case): another server software's or a proxy's way of saying the same thing."""
    body: bytes | None = None
    """A body sent instead of the platform's rendering (a proxy's HTML page), as
    ``content_type``."""
    content_type: str = "text/html"

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.kind!r}; known: {', '.join(FAULT_KINDS)}")

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return re.search(self.path, path) is not None


@dataclass(frozen=True)
class StoredPost:
    """One post as an emulated platform keeps it, in the one shape every emulator gives (the
    contract suite compares connectors through it)."""

    id: str
    """The id the connector must return as the post's remote id."""
    text: str
    alt: tuple[str, ...] = ()
    """One entry per attached media item: its description ("" without one)."""
    reply_to: str | None = None
    """The remote id of the post this one answers."""
    deleted: bool = False

    @property
    def media(self) -> int:
        return len(self.alt)


Handler = Callable[[Request], Response]


class _DropConnection(Exception):
    pass


class Emulator:
    """Base of the platform emulators. Use as a context manager or call start()/stop()."""

    name = "emulator"

    def __init__(self, *, latency: float = 0.0) -> None:
        self.latency = latency
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._faults: list[Fault] = []
        self._chaos: list[tuple[Fault, dict[str, float], Any]] = []
        self._lock = threading.RLock()
        self.requests: list[Request] = []
        self._inflight = 0
        self._idle = threading.Condition(self._lock)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.routes()

    # --- to override ------------------------------------------------------------------------

    def routes(self) -> None:
        """Register the platform's endpoints with `route`."""

    def server_time(self) -> float:
        """The emulated server's clock (epoch seconds), stamped on every answer as its ``Date``
        header, as a real server's own clock is: emulators with an injected clock override it,
        so an absolute rate-limit reset and the answer's ``Date`` come from one clock."""
        return time.time()

    def error_response(self, fault: Fault, request: Request) -> Response:
        """The platform's own rendering of ``fault`` (rate_limit, server_error, unavailable,
        auth, reject)."""
        status = {
            "rate_limit": 429,
            "server_error": 500,
            "unavailable": 503,
            "auth": 401,
            "reject": 400,
        }[fault.kind]
        return Response(status, {"error": fault.message or fault.kind})

    # --- what every emulator offers tests ----------------------------------------------------

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until no request is being handled (a delayed answer still in a server thread
        would otherwise store its post after the next test's `reset`)."""
        with self._idle:
            self._idle.wait_for(lambda: self._inflight == 0, timeout=timeout)

    def reset(self) -> None:
        """Forget posts, sessions, faults and recorded requests (one server, many tests)."""
        raise NotImplementedError

    def stored(self) -> list[StoredPost]:
        """Every post the platform accepted, in order (deleted ones flagged)."""
        raise NotImplementedError

    def set_metrics(self, post_id: str, **counters: int) -> None:
        """Set a post's counters by Elshi's names (``likes``, ``reposts``, ...); a counter the
        platform does not have is ignored."""
        raise NotImplementedError

    def delete_post(self, post_id: str) -> None:
        """Delete a post as its author would in the platform's app."""
        raise NotImplementedError

    def expire_token(self) -> None:
        """The credentials in use stop working (the connector must renew them or fail with an
        auth error)."""
        raise NotImplementedError

    # --- plumbing ---------------------------------------------------------------------------

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method.upper(), re.compile(pattern + r"\Z"), handler))

    def inject(self, kind: str, **kwargs: Any) -> Fault:
        fault = Fault(kind, **kwargs)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._chaos.clear()

    def chaos(
        self,
        rates: dict[str, float],
        *,
        path: str = "",
        method: str | None = None,
        seed: int = 0,
    ) -> None:
        """Random faults from now on: each matching request gets fault ``kind`` with probability
        ``rates[kind]`` (seeded, so a run can be repeated). For crash tests and benchmarks."""
        import random

        for kind in rates:
            Fault(kind)  # validates the kind
        with self._lock:
            self._chaos.append(
                (Fault("delay", path=path, method=method), dict(rates), random.Random(seed))
            )

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
            for matcher, rates, rng in self._chaos:
                if matcher.matches(method, path):
                    draw = rng.random()
                    for kind, rate in rates.items():
                        if draw < rate:
                            return Fault(kind, retry_after=1.0, seconds=3.0)
                        draw -= rate
        return None

    @property
    def url(self) -> str:
        assert self._server is not None, "emulator not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Emulator:
        emulator = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; without this each answer waits ~40 ms
            # for the client's delayed ACK.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                emulator._serve(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        self._server = QuietHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self.name}-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _dispatch(self, request: Request) -> Response:
        for method, pattern, handler in self._routes:
            if method != request.method:
                continue
            match = pattern.match(request.path)
            if match:
                request.params = {k: v for k, v in match.groupdict().items() if v is not None}
                return handler(request)
        return Response(404, {"error": f"no route for {request.method} {request.path}"})

    def _serve(self, http: BaseHTTPRequestHandler) -> None:
        split = urlsplit(http.path)
        length = int(http.headers.get("Content-Length") or 0)
        body = http.rfile.read(length) if length else b""
        request = Request(
            method=http.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers=Headers(dict(http.headers.items())),
            body=body,
        )
        with self._lock:
            self.requests.append(request)
            self._inflight += 1
        try:
            self._answer(http, request)
        finally:
            with self._idle:
                self._inflight -= 1
                self._idle.notify_all()

    def _answer(self, http: BaseHTTPRequestHandler, request: Request) -> None:
        if self.latency:
            time.sleep(self.latency)
        fault = self._take_fault(request.method, request.path)
        try:
            if fault is None:
                response = self._dispatch(request)
            elif fault.kind == "delay":
                time.sleep(fault.seconds)
                response = self._dispatch(request)
            elif fault.kind == "drop_before":
                raise _DropConnection
            elif fault.kind == "drop_after":
                self._dispatch(request)
                raise _DropConnection
            elif fault.kind in ("unavailable_after", "server_error_after"):
                self._dispatch(request)
                response = self.error_response(Fault(fault.kind.removesuffix("_after")), request)
            else:
                response = self.error_response(fault, request)
                _override(response, fault.headers)
                if fault.body is not None:
                    response.raw, response.content_type = fault.body, fault.content_type
        except _DropConnection:
            self._drop(http)
            return
        payload = response.encode()
        try:
            http.send_response_only(response.status)
            http.send_header("Server", http.version_string())
            if response.dated and "date" not in (key.lower() for key in response.headers):
                http.send_header("Date", formatdate(self.server_time(), usegmt=True))
            http.send_header("Content-Type", response.content_type)
            http.send_header("Content-Length", str(len(payload)))
            for key, value in response.headers.items():
                http.send_header(key, value)
            http.end_headers()
            http.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout): nothing to answer

    @staticmethod
    def _drop(http: BaseHTTPRequestHandler) -> None:
        http.close_connection = True
        try:
            http.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            http.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _override(response: Response, changes: Mapping[str, str | None]) -> None:
    headers = response.headers
    for name, value in changes.items():
        for key in [key for key in headers if key.lower() == name.lower()]:
            del headers[key]
        if value is not None:
            headers[name] = value
        elif name.lower() == "date":
            response.dated = False


_log = logging.getLogger("elshi.emulator")


class QuietHTTPServer(ThreadingHTTPServer):
    """A test HTTP server (the emulators', the webhook receiver's) whose failed requests (a
    client that hung up mid-answer, a handler's exception) go to the log, not to
    ``sys.stderr``: socketserver prints them there, and a test capturing a command's output
    (click's runner swaps ``sys.stderr``) would read another thread's traceback, even one of
    a server an earlier test left answering late, as the command's output."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        _log.debug("request from %s failed", client_address, exc_info=True)
