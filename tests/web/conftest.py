"""Fixtures for the web workspace: an application on a real database (SQLite; PostgreSQL too
where a test asks for ``ws_any``) with the Germany example applied, one user per role, a fake
clock, and Flask test clients logged in as any of them. The database is built once per test
session as a template and each test gets a copy of its own (a file copy on SQLite, ``CREATE
DATABASE ... TEMPLATE`` on PostgreSQL): building it took ~1 s a test."""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from tests.conftest import EXAMPLES, FakeClock, _pg_execute

PASSWORD = "correct horse battery"
PEOPLE = {
    "admin": ("Aigerim Admin", ["admin"]),
    "anna": ("Anna Author", ["author"]),
    "pavel": ("Pavel Press-Secretary", ["approver"]),
    "amir": ("Amir Ambassador", ["approver"]),
    "olga": ("Olga Operator", ["operator"]),
    "marat": ("Marat Manager", ["manager"]),
}
CHANNELS = {
    "de-x": "x",
    "de-mastodon": "mastodon",
    "de-bluesky": "bluesky",
    "de-telegram": "telegram",
    "cn-weibo": "sandbox",
    "cn-wechat": "sandbox",
    "cn-x": "x",
}
"""The starter configuration's channels and the platform whose text rules each follows."""


def make_settings(**overrides: Any) -> Any:
    from web.settings import WebSettings

    values: dict[str, Any] = {
        "secret_key": b"k" * 32,
        "base_url": "http://localhost",
        "session_lifetime": timedelta(hours=1),
        "timezone": "Europe/Berlin",
        "channel_platforms": {name: "sandbox" for name in CHANNELS},
        "text_platforms": CHANNELS,
        "metrics_schedule": (3600.0,),
    }
    values.update(overrides)
    return WebSettings(**values)


def add_people(engine: Engine, now: datetime) -> None:
    from campaigns import people
    from campaigns.store import session_factory

    with session_factory(engine)() as session:
        first = people.add_user(
            session,
            "admin",
            display_name=PEOPLE["admin"][0],
            roles=["admin"],
            password=PASSWORD,
            by=people.Person.local("setup"),
            now=now,
        )
        admin = people.Person.of(first)
        for name, (full, roles) in PEOPLE.items():
            if name != "admin":
                people.add_user(
                    session,
                    name,
                    display_name=full,
                    roles=roles,
                    password=PASSWORD,
                    by=admin,
                    now=now,
                )
        session.commit()


def apply_example(engine: Engine, name: str, now: datetime) -> str:
    from campaigns.planning import apply_campaign
    from campaigns.store import session_factory
    from campaigns.validation import load_campaign

    loaded = load_campaign(EXAMPLES / name, channels=CHANNELS, now=now)
    assert loaded.ok and loaded.desired is not None, [str(p) for p in loaded.errors]
    with session_factory(engine)() as session:
        apply_campaign(
            session,
            loaded.desired,
            platforms=make_settings().channel_platforms,
            actor="user:anna",
            now=now,
        )
        session.commit()
    return loaded.desired.spec.id


@dataclass
class Workspace:
    app: Flask
    engine: Engine
    clock: FakeClock

    def client(self, username: str | None = None) -> FlaskClient:
        client = self.app.test_client()
        if username is not None:
            login(client, username)
        return client


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(client: FlaskClient, username: str, password: str = PASSWORD, **kw: Any) -> Any:
    token = csrf_token(client)
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        **kw,
    )


def post_form(
    client: FlaskClient, path: str, data: dict[str, Any], *, page: str = "/calendar", **kw: Any
) -> Any:
    """POST a form the way a browser does: with the CSRF token of a page it has open."""
    return client.post(path, data={**data, "csrf_token": csrf_token(client, page)}, **kw)


def build(engine: Engine, clock: FakeClock, **overrides: Any) -> Flask:
    from web.app import create_app

    return create_app(make_settings(**overrides), engine, clock=clock, testing=True)


@pytest.fixture
def web_clock() -> FakeClock:
    # Before the Germany example's first post (March 2027), so nothing is missed at apply.
    return FakeClock(datetime(2027, 3, 1, 9, 0, tzinfo=UTC))


def _fill(engine: Engine) -> None:
    """What every workspace test starts from: the people and the Germany example, applied at
    the web clock's start (before the example's first post, so nothing is missed at apply)."""
    start = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
    add_people(engine, start)
    apply_example(engine, "germany.yaml", start)


@pytest.fixture(scope="session")
def _template_db(migrated_sqlite: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file with the schema, the people and the Germany example, made once per test
    session; each test works on its own copy."""
    from argon2 import PasswordHasher

    from campaigns.people import use_hasher
    from campaigns.store import make_engine

    previous = use_hasher(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    path = tmp_path_factory.mktemp("web-template") / "elshi.db"
    shutil.copyfile(migrated_sqlite, path)
    engine = make_engine(f"sqlite:///{path}")
    try:
        _fill(engine)
        with engine.connect() as conn:  # everything in the file itself, none of it in its log
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        engine.dispose()
        use_hasher(previous)
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    return path


@pytest.fixture(scope="session")
def _pg_template_db(_pg_server: str, _pg_migrated_template: tuple[str, Any]) -> Iterator[str]:
    """The same on PostgreSQL: a database made once per test session from the migrated one
    and copied per test (``CREATE DATABASE ... TEMPLATE``; nothing stays connected to it)."""
    from argon2 import PasswordHasher

    from campaigns.people import use_hasher
    from campaigns.store import make_engine

    migrated, _dropper = _pg_migrated_template
    name = f"{migrated}_web"
    _pg_execute(f'CREATE DATABASE "{name}" TEMPLATE "{migrated}"')
    try:
        previous = use_hasher(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
        engine = make_engine(f"{_pg_server}/{name}")
        try:
            _fill(engine)
        finally:
            engine.dispose()
            use_hasher(previous)
        yield name
    finally:
        _pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def ws(_template_db: Path, tmp_path: Path, web_clock: FakeClock) -> Iterator[Workspace]:
    """The workspace on SQLite with the Germany example applied (posts awaiting approval)."""
    from campaigns.store import make_engine

    path = tmp_path / "elshi.db"
    shutil.copyfile(_template_db, path)
    engine = make_engine(f"sqlite:///{path}")
    yield Workspace(build(engine, web_clock), engine, web_clock)
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ws_any(
    request: pytest.FixtureRequest, tmp_path: Path, web_clock: FakeClock
) -> Iterator[Workspace]:
    """The same on SQLite and on PostgreSQL: each test on a copy of the session's template
    database (`_template_db`, `_pg_template_db`), dropped after it."""
    from campaigns.store import make_engine

    if request.param == "sqlite":
        path = tmp_path / "elshi.db"
        shutil.copyfile(request.getfixturevalue("_template_db"), path)
        url = f"sqlite:///{path}"
    else:
        template = request.getfixturevalue("_pg_template_db")
        server = request.getfixturevalue("_pg_server")
        _migrated, dropper = request.getfixturevalue("_pg_migrated_template")
        name = f"{template}_{uuid.uuid4().hex[:8]}"
        _pg_execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        request.addfinalizer(lambda: dropper.names.put(name))
        url = f"{server}/{name}"
    engine = make_engine(url)
    try:
        yield Workspace(build(engine, web_clock), engine, web_clock)
    finally:
        engine.dispose()


def approve_fully(ws: Workspace, post_id: int) -> None:
    """Both steps of the Germany example's chain: the press secretary, then the ambassador."""
    for approver in ("pavel", "amir"):
        done = post_form(ws.client(approver), f"/posts/{post_id}/decide", {"decision": "approve"})
        assert done.status_code == 302
