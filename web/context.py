"""What a request handler reaches for: the database session of this request, the clock, the
settings, and the viewer's time zone. One `Runtime` per application."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from babel import localedata
from flask import current_app, g, request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from campaigns.zones import is_zone
from web.settings import WebSettings

TZ_COOKIE = "elshi_tz"
LANG_COOKIE = "elshi_lang"
LANGUAGES = ("en", "ru")


@dataclass(frozen=True)
class Runtime:
    settings: WebSettings
    engine: Engine
    sessions: sessionmaker[Session]
    """Sessions for reading (GET)."""
    writers: sessionmaker[Session]
    """Sessions for requests that change something: on SQLite each transaction takes the write
    lock at its start, so concurrent writers queue instead of failing."""
    clock: Callable[[], datetime]


def runtime() -> Runtime:
    found = current_app.extensions["elshi"]
    assert isinstance(found, Runtime)
    return found


def db() -> Session:
    """This request's database session (closed, rolled back if not committed, at its end); a
    writer's for anything but GET and HEAD."""
    if "db" not in g:
        r = runtime()
        g.db = (r.sessions if request.method in ("GET", "HEAD") else r.writers)()
    session = g.db
    assert isinstance(session, Session)
    return session


@contextmanager
def writing() -> Iterator[Session]:
    """A short writer's session of its own, for a GET that must record something (an expired
    session, a sign-in by the single sign-on header, an API token's last use)."""
    with runtime().writers() as session:
        yield session


def close_db(_exc: BaseException | None = None) -> None:
    session = g.pop("db", None)
    if session is not None:
        session.close()


def now() -> datetime:
    return runtime().clock()


def settings() -> WebSettings:
    return runtime().settings


def viewer_zone_name() -> str:
    """The viewer's chosen time zone (a cookie), else the office's."""
    chosen = request.cookies.get(TZ_COOKIE, "")
    if chosen and is_zone(chosen):  # not a forged cookie: a folder, too long, 'localtime'
        return chosen
    return settings().timezone


def viewer_zone() -> ZoneInfo:
    return ZoneInfo(viewer_zone_name())


def viewer_locale() -> str:
    """The viewer's language (a cookie, else the browser's choice among ours), with the region
    the browser names for it when there is one (``en_GB``: day first and a 24-hour clock;
    ``en_US``: month first, 12-hour): translations follow the language, dates and numbers the
    whole locale."""
    chosen = request.cookies.get(LANG_COOKIE, "")
    language = (
        chosen
        if chosen in LANGUAGES
        else request.accept_languages.best_match(LANGUAGES) or LANGUAGES[0]
    )
    for value, _quality in request.accept_languages:
        tag, _sep, region = value.replace("_", "-").partition("-")
        if tag.lower() == language and region.isalpha() and len(region) == 2:
            regional = f"{language}_{region.upper()}"
            if localedata.exists(regional):  # a made-up region is the language alone
                return regional
    return language
