"""Alembic environment: runs migrations on the engine the application passes in
(``config.attributes["engine"]``), or on ``sqlalchemy.url`` when run by the alembic command."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from campaigns.schema import Base
from campaigns.store import make_engine

config = context.config
engine = config.attributes.get("engine")
if not isinstance(engine, Engine):
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///elshi.db")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # One transaction for every migration of the run, SQLite included (alembic's default
        # there is one per migration, as if its DDL were not transactional: it is). Two
        # processes migrating a new store at once then go one after the other: the second
        # waits for the first's write lock and reads the revision after its commit. With a
        # commit per migration the second could take the lock between two of the first's
        # migrations and run the next one too ("index ... already exists").
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
