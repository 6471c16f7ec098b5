"""A form the rules refuse comes back as it was typed.

A view whose action is refused (a user name that exists, a step someone else has just
approved, a pause target that is gone) answers with its own page again, status 422, the reason
in the flash and the fields filled with what was sent: nobody types a comment or a new
person's details twice. Redirecting instead would lose the text (and a copy in the signed
session cookie could outgrow what a browser keeps). Templates read the sent values with
``typed(name)`` and ``typed_all(name)``; password fields never call them."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, flash, g, request

from web import context

_SENT = "elshi_typed"


def refused(message: str, page: Callable[[], str]) -> tuple[str, int]:
    """Roll back, say why, and render ``page`` (the form's own page) with the sent values."""
    context.db().rollback()
    flash(message, "error")
    setattr(g, _SENT, True)
    return page(), 422


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
    app.jinja_env.globals.update(typed=typed, typed_all=typed_all)
