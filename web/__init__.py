"""The web workspace: the office's way into Elshi without a terminal.

A server-rendered Flask application (``create_app``) on the same database as the daemon: the
calendar, posts with their text as each channel will publish it, the approval queue, campaign
uploads, operations with the kill switch, live reports, users and the audit log; and the same
actions as a JSON API under ``/api/v1``.

What this package must not do: decide who may do what (the rules in ``campaigns`` decide; a page
asks them), change a delivery's state itself (it calls the functions the CLI calls), call a
platform (publishing is the daemon's job), or read ``elshi.toml`` (``elshi`` hands it plain
`WebSettings`).
"""

from web.settings import WebSettings

__all__ = ["WebError", "WebSettings", "create_app"]


class WebError(Exception):
    """The root of the web workspace's own errors."""


def create_app(*args: object, **kwargs: object) -> object:
    """The Flask application (see `web.app.create_app`); imported lazily so ``import web`` does
    not load Flask."""
    from web.app import create_app as _create

    return _create(*args, **kwargs)  # type: ignore[arg-type]
