"""For test modules whose rules are plain Python over a few rows: run on SQLite only, except
the tests marked `BOTH` (the ones whose SQL differs per database). Import ``db_url`` from here
to override the conftest fixture that runs every test on both. Each SQLite test gets a copy of
one database migrated once per session (running the migrations per test costs ~0.5 s)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

BOTH = pytest.mark.parametrize(
    "db_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from campaigns.store import make_engine, upgrade

    path = tmp_path_factory.mktemp("template") / "elshi.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path, migrated_sqlite: Path) -> str:
    if getattr(request, "param", "sqlite") == "sqlite":
        shutil.copy(migrated_sqlite, tmp_path / "elshi.db")
        return f"sqlite:///{tmp_path / 'elshi.db'}"
    return str(request.getfixturevalue("pg_url"))
