"""For test modules whose rules are plain Python over a few rows: run on SQLite only, except
the tests marked `BOTH` (the ones whose SQL differs per database). Import ``db_url`` from here
to override the conftest fixture that runs every test on both. Each test gets a database of its
own already migrated to head (`tests.conftest.migrated_db_url`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import migrated_db_url

BOTH = pytest.mark.parametrize(
    "db_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return migrated_db_url(request, tmp_path, getattr(request, "param", "sqlite"))
