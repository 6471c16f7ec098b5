"""The application factory: Flask with signed session cookies, CSRF protection on every form,
gettext (English, Russian), the security headers, and the pages and API as blueprints."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, render_template, request
from flask.sessions import SecureCookieSessionInterface
from flask_babel import Babel
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy import Engine
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from web import context, wording
from web.filters import MAX_ID, BadAddress
from web.settings import WebSettings

HERE = Path(__file__).resolve().parent
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
"""The largest request body (a campaign file with its media)."""

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'; frame-src 'self'"
)
REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)
"""The report document is self-contained (inline CSS and SVG, no script): it is shown in a frame
of the Reports page and gets a stricter policy of its own."""


def create_app(
    settings: WebSettings,
    engine: Engine,
    *,
    clock: Callable[[], datetime] | None = None,
    testing: bool = False,
) -> Flask:
    from campaigns.store import session_factory, writer_factory
    from web import api, auth, views

    app = Flask(
        "web",
        template_folder=str(HERE / "templates"),
        static_folder=str(HERE / "static"),
        static_url_path="/static",
    )
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_NAME="elshi_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=settings.session_lifetime,
        SESSION_REFRESH_EACH_REQUEST=True,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session that holds it
        WTF_CSRF_SSL_STRICT=settings.secure_cookies,
        MAX_CONTENT_LENGTH=MAX_UPLOAD_BYTES,
        BABEL_TRANSLATION_DIRECTORIES=str(HERE / "translations"),
        BABEL_DEFAULT_LOCALE="en",
        TESTING=testing,
        PREFERRED_URL_SCHEME="https" if settings.secure_cookies else "http",
        SEND_FILE_MAX_AGE_DEFAULT=3600,
    )
    # Every <int:...> in a route: a number the databases can store (a larger one is a 404,
    # not an overflow inside the query).
    app.url_map.converters["int"] = _RowId
    app.session_interface = _Sessions()
    app.extensions["elshi"] = context.Runtime(
        settings=settings,
        engine=engine,
        sessions=session_factory(engine),
        writers=writer_factory(engine),
        clock=clock or (lambda: datetime.now(UTC)),
    )
    Babel(
        app,
        locale_selector=context.viewer_locale,
        timezone_selector=context.viewer_zone_name,
    )
    csrf = CSRFProtect(app)
    auth.setup(app)
    views.register(app)
    app.register_blueprint(auth.blueprint)
    app.register_blueprint(api.blueprint)
    csrf.exempt(
        api.blueprint
    )  # the API takes no cookies: a bearer token cannot be forged cross-site
    app.teardown_appcontext(context.close_db)
    app.before_request(_refuse_nul)
    app.after_request(_security_headers)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
    from web import formatting, forms

    formatting.install(app)
    forms.install(app)
    wording.install(app)
    app.context_processor(_pause_banner)
    return app


class _RowId(IntegerConverter):
    def __init__(self, url_map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def _pause_banner() -> dict[str, Any]:
    """The kill switch is on every page while something is paused."""
    from flask_login import current_user

    if not current_user.is_authenticated:
        return {}
    from campaigns import pauses

    active = pauses.active(context.db())
    text = "; ".join(f"{pauses.describe(p)} ({p.reason})" for p in active)
    return {"pause_banner": text}


def _security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    frame = (
        "SAMEORIGIN" if "frame-ancestors 'self'" in headers["Content-Security-Policy"] else "DENY"
    )
    headers.setdefault("X-Frame-Options", frame)
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "same-origin"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    if context.settings().secure_cookies:
        headers["Strict-Transport-Security"] = "max-age=31536000"
    if not request.path.startswith("/static/"):
        # Set, not defaulted: send_file's own (public, an hour) made downloaded reports public.
        headers["Cache-Control"] = _cache_control(response)
    return response


class _Sessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, except that a private answer does not vary by cookie.

    The session cookie changes with every answer (its last-seen time, `web.auth`), so a copy
    the browser kept that varies by cookie is never shown again: Back after a form's answer
    was "Confirm Form Resubmission" however it was cached. No shared cache keeps a private
    answer, and the browser's own copies go at logging out (`web.auth.forget_pages`)."""

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        super().save_session(app, session, response)
        if response.headers.get("Cache-Control", "").startswith("private"):
            kept = [v for v in response.vary if v.lower() != "cookie"]
            response.vary.clear()
            response.vary.update(kept)


def _cache_control(response: Response) -> str:
    """What a browser may keep of an answer (docs/web.md, "What the browser keeps").

    A page is ``private, no-cache``: no shared cache (a proxy) keeps it, a new visit asks the
    server again, and the Back button shows the page as it was, with what was typed into its
    forms (``no-store`` made Back ask the server again: an empty form, or "document expired"
    after a form's answer). ``no-store`` stays where a copy must not outlive the answer: a page
    showing a secret once (a one-time password, a new API token: flashed as "secret"), a file
    downloaded (an attachment: the person keeps the copy they chose to save), and the JSON API
    (programs with bearer tokens, no Back button). Logging out clears what the browser kept
    (``Clear-Site-Data``, `web.auth.forget_pages`)."""
    from flask.globals import request_ctx

    shown = request_ctx.flashes or []
    secret = any(category == "secret" for category, _message in shown)
    attachment = response.headers.get("Content-Disposition", "").startswith("attachment")
    if secret or attachment or request.path.startswith("/api/"):
        return "no-store"
    return "private, no-cache"


_KEPT_ON_REFUSAL = ("comment", "reason", "username", "display_name", "email", "url", "remote_id")
"""Free-text fields a page's refused form (no valid CSRF token) shows back to be copied:
never a password or a token."""


def _csrf_error(error: CSRFError) -> Any:
    if request.path.startswith("/api/"):
        return {"error": "csrf", "message": error.description}, 403
    from flask_babel import gettext as _

    message = _(
        "This form was not accepted: it belongs to a page opened before your session ended (or "
        "before you logged in again). Open the page again and send the form once more."
    )
    unsent = [(name, request.form[name]) for name in _KEPT_ON_REFUSAL if request.form.get(name)]
    return render_template("error.html", code=403, message=message, unsent=unsent), 403


def _refuse_nul() -> None:
    """A NUL character in a field of the address or of a form is refused (400) before any
    view runs: no text Elshi keeps or looks up has one, and PostgreSQL cannot take one in a
    query (it would be a 500 there, and a silent miss on SQLite). The JSON API's fields are
    checked where it reads them (`web.api`); its answer stays in English, as all its messages."""
    from flask import abort
    from flask_babel import gettext as _

    api = request.path.startswith("/api/")
    for source, what in ((request.args, "the address"), (request.form, "the form")):
        for name, value in source.items(multi=True):
            if "\x00" in name or "\x00" in value:
                shown = name.replace("\x00", "\\0")[:40]
                if api:
                    abort(400, f"{what}: the field {shown!r} holds a NUL character (U+0000)")
                if source is request.args:
                    raise BadAddress(
                        _(
                            "The address holds a NUL character (U+0000) in the field "
                            "“%(name)s”: no text in Elshi has one.",
                            name=shown,
                        ),
                        name,
                    )
                abort(
                    400,
                    _(
                        "The form holds a NUL character (U+0000) in the field “%(name)s”: no "
                        "text in Elshi has one.",
                        name=shown,
                    ),
                )


def _http_error(error: HTTPException) -> Any:
    code = error.code or 500
    if request.path.startswith("/api/"):
        return {"error": error.name.lower().replace(" ", "_"), "message": error.description}, code
    if code == 401:  # a page sends people to the log-in form instead (auth.unauthorized)
        code = 403
    back = None
    if isinstance(error, BadAddress):  # the same page without the argument that was wrong
        kept = [(k, v) for k, v in request.args.items(multi=True) if k not in error.fields]
        back = request.path + (f"?{urlencode(kept)}" if kept else "")
    return render_template("error.html", code=code, message=error.description, back=back), code
