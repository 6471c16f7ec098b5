"""Serving the application with gunicorn (a production WSGI server: pre-forked worker
processes, graceful restarts on SIGHUP, stops on SIGTERM), never Flask's development server.

The application is built once in the master process and inherited by the workers (``preload``),
so a session-signing key generated at start-up is the same in every worker; each worker then
opens its own database connections (the engine's pool is reset after the fork)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from sqlalchemy import Engine


class _Server(BaseApplication):  # type: ignore[misc]
    def __init__(self, app: Flask, engine: Engine, options: dict[str, Any]):
        self.application = app
        self.engine = engine
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        engine = self.engine

        def post_fork(_server: Any, _worker: Any) -> None:
            engine.dispose(close=False)  # connections opened before the fork stay the master's

        self.cfg.set("post_fork", post_fork)

    def load(self) -> Flask:
        return self.application


def _control_socket_off() -> dict[str, Any]:
    """gunicorn 24+ opens a control socket in $HOME; Elshi does not use it (and a hardened
    service has no writable home)."""
    from gunicorn.config import KNOWN_SETTINGS

    return (
        {"control_socket_disable": True}
        if any(s.name == "control_socket_disable" for s in KNOWN_SETTINGS)
        else {}
    )


class AddressError(Exception):
    """`check_address`: the server could not listen there. ``lasting`` is True when the address
    itself is wrong (no such host name, no interface of this machine has it), False when it is
    a running condition (the port is taken, the account may not use it)."""

    def __init__(self, message: str, *, lasting: bool) -> None:
        super().__init__(message)
        self.lasting = lasting


def check_address(bind: str) -> None:
    """Bind a socket to ``bind`` (HOST:PORT) the way gunicorn will, and close it; `AddressError`
    saying why it cannot. gunicorn tries a bind five times a second apart and then stops with
    exit code 1 and a log line per try; this check fails at once with one sentence."""
    import errno
    import socket

    from gunicorn.util import is_ipv6, parse_address

    host, port = parse_address(bind)
    family = socket.AF_INET6 if is_ipv6(host) else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn does
            probe.bind((host, port))
    except socket.gaierror:
        raise AddressError(
            f"no such host name {host!r} (use an address of this machine, e.g. 127.0.0.1 or "
            "0.0.0.0 for all of them)",
            lasting=True,
        ) from None
    except OSError as exc:
        known = {
            errno.EADDRNOTAVAIL: (
                f"no network interface of this machine has the address {host} (use one it has, "
                "e.g. 127.0.0.1, or 0.0.0.0 for all of them)",
                True,
            ),
            errno.EADDRINUSE: (
                f"port {port} on {host} is already in use (another elshi web, or another "
                "program, listens there); stop it or choose another port",
                False,
            ),
            errno.EACCES: (
                f"not allowed to listen on port {port} (ports below 1024 need privileges; use "
                "8080, or a reverse proxy in front)",
                False,
            ),
        }
        if exc.errno in known:
            message, lasting = known[exc.errno]
            raise AddressError(message, lasting=lasting) from None
        raise AddressError(
            f"cannot listen there ({exc.strerror or exc})", lasting=exc.errno == errno.EAFNOSUPPORT
        ) from None


def serve(
    app: Flask,
    engine: Engine,
    *,
    bind: str,
    workers: int,
    threads: int = 4,
    access_log: bool = True,
) -> None:
    """Run until SIGTERM/SIGINT."""
    _Server(
        app,
        engine,
        {
            "bind": bind,
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            "preload_app": True,
            "timeout": 120,
            "graceful_timeout": 30,
            "keepalive": 5,
            "accesslog": "-" if access_log else None,
            "errorlog": "-",
            "forwarded_allow_ips": "",
            "proc_name": "elshi-web",
        }
        | _control_socket_off(),
    ).run()
