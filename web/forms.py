"""A form the rules refuse comes back as it was typed.

A view whose action is refused (a user name that exists, a step someone else has just
approved, a pause target that is gone) answers with its own page again, status 422, the reason
in the flash and the fields filled with what was sent: nobody types a comment or a new
person's details twice. Redirecting instead would lose the text (and a copy in the signed
session cookie could outgrow what a browser keeps). Templates read the sent values with
``typed(name)`` and ``typed_all(name)``; password fields never call them.

The page comes back as it was shown, too: a form on a page whose address chooses what it shows
(the filters of the approval queue and of Operations) carries that address in a
hidden field ``back`` (the ``back()`` macro, `origin`), and the refused page is rendered with
the address's arguments as its own (`refused`), so the filters the person had chosen stay. An
accepted form goes back to the same address (`return_to`)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit

from flask import Flask, flash, g, request
from werkzeug.datastructures import ImmutableMultiDict

from web import context

_SENT = "elshi_typed"
ORIGIN = "back"
"""The hidden field holding the address of the page a form was sent from."""


def refused(message: str, page: Callable[[], str]) -> tuple[str, int]:
    """Roll back, say why, and render ``page`` (the form's own page) with the sent values and
    the arguments of the address the form was sent from (its filters)."""
    context.db().rollback()
    flash(message, "error")
    setattr(g, _SENT, True)
    sent_from = _origin()
    if sent_from is not None:
        query = parse_qsl(urlsplit(sent_from).query, keep_blank_values=True)
        request.args = ImmutableMultiDict(query)
    return page(), 422


def local_path(target: str | None) -> str | None:
    """``target`` if it is a path on this site, else None: never another origin (no open
    redirect, see `web.auth.safe_next`)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target or any(ord(c) < 32 for c in target):
        return None
    return target


def _origin() -> str | None:
    return local_path(request.form.get(ORIGIN)) if request.method == "POST" else None


def origin() -> str:
    """The address a form on this page gives as ``back``: the page's own on a page that was
    asked for, the refused form's on a page that answers one (it stays what it was)."""
    if request.method in ("GET", "HEAD"):
        return request.full_path.removesuffix("?")
    return _origin() or ""


def return_to(default: str) -> str:
    """Where an accepted form goes: the page it was sent from, else the ``default`` endpoint's."""
    from flask import url_for

    return _origin() or url_for(default)


def _sent(endpoint: str | None) -> bool:
    return bool(g.get(_SENT)) and endpoint in (None, request.endpoint)


def typed(name: str, endpoint: str | None = None) -> str:
    """What the refused form sent in ``name`` ('' on a page that was not refused). A page with
    two forms that have a field of one name gives the ``endpoint`` each form posts to."""
    return request.form.get(name, "") if _sent(endpoint) else ""


def typed_all(name: str, endpoint: str | None = None) -> list[str]:
    """Every value the refused form sent in ``name`` (ticked boxes)."""
    return request.form.getlist(name) if _sent(endpoint) else []


def install(app: Flask) -> None:
    app.jinja_env.globals.update(typed=typed, typed_all=typed_all, origin=origin)
