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
