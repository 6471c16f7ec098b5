"""The pages, one module each (a blueprint per module)."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    from web.views import (
        audit,
        calendar,
        campaigns,
        operations,
        posts,
        prefs,
        queue,
        reports,
        users,
    )

    for module in (audit, calendar, campaigns, operations, posts, prefs, queue, reports, users):
        app.register_blueprint(module.blueprint)
