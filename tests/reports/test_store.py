"""The store's side of reporting: bulk snapshot inserts (`campaigns.bulk`) and the outcome
table's migration, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from campaigns.schema import MetricSnapshot
from tests.reports.conftest import AS_OF, Fixed


def _rows(fixed: Fixed, count: int) -> list[dict[str, Any]]:
    at = datetime(2027, 3, 11, tzinfo=UTC)
    return [
        {"delivery_id": fixed.d["d1"], "collected_at": at, "likes": i, "simulated": True}
        for i in range(count)
    ]


def test_bulk_insert_writes_every_row_and_keeps_missing_counters_null(fixed: Fixed) -> None:
    from campaigns.bulk import insert_snapshots

    with fixed.engine.begin() as conn:
        assert insert_snapshots(conn, _rows(fixed, 2500)) == 2500
    with fixed.engine.connect() as conn:
        new = select(MetricSnapshot).where(MetricSnapshot.collected_at > AS_OF)
        rows = conn.execute(new.where(MetricSnapshot.delivery_id == fixed.d["d1"])).all()
    assert len(rows) == 2500
    assert {r.impressions for r in rows} == {None}
    assert {r.collected_at for r in rows} == {datetime(2027, 3, 11, tzinfo=UTC)}
    assert all(r.simulated and not r.deleted for r in rows)


def test_bulk_insert_runs_in_the_callers_transaction(fixed: Fixed) -> None:
    from sqlalchemy.orm import Session

    from campaigns.bulk import insert_snapshots

    def count() -> int:
        with fixed.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(MetricSnapshot)).scalar())

    before = count()
    with Session(fixed.engine) as session:
        insert_snapshots(session, _rows(fixed, 10))
        session.rollback()
    assert count() == before


def test_bulk_insert_refuses_naive_times_and_unknown_columns(fixed: Fixed) -> None:
    from campaigns.bulk import insert_snapshots

    with fixed.engine.begin() as conn, pytest.raises(ValueError, match="aware"):
        insert_snapshots(conn, [{"delivery_id": 1, "collected_at": datetime(2027, 3, 1)}])
    with fixed.engine.begin() as conn, pytest.raises(ValueError, match="likez"):
        insert_snapshots(conn, [{"delivery_id": 1, "collected_at": AS_OF, "likez": 3}])


def test_migrated_schema_matches_the_models(engine: Any) -> None:
    import warnings

    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import text

    from campaigns.schema import Base

    with engine.connect() as conn, warnings.catch_warnings():
        # SQLite cannot reflect expression indexes; their presence is checked by name below.
        warnings.filterwarnings("ignore", message=".*expression-based index")
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        names = set(
            conn.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'index'")
                if conn.dialect.name == "sqlite"
                else text("SELECT indexname FROM pg_indexes")
            ).scalars()
        )
    assert diff == []
    assert {"ix_delivery_due_instant", "ix_delivery_channel_due_instant"} <= names


def test_outcome_migration_downgrades_and_upgrades_again(engine: Any) -> None:
    from alembic import command
    from sqlalchemy import inspect

    from campaigns.store import alembic_config, upgrade

    command.downgrade(alembic_config(engine), "0001")
    assert "outcome" not in inspect(engine).get_table_names()
    upgrade(engine, "head")
    assert "outcome" in inspect(engine).get_table_names()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # SQLite's plan
def test_the_snapshot_seeks_of_a_report_read_sqlites_index_alone_in_its_order(
    fixed: Fixed,
) -> None:
    """Every step of the report's snapshot query that touches metric_snapshot reads an index
    that covers it, in the index's own order (no sort), or finds a row by its id. Before
    migration 0015 the half-life scan, which compares the engagement counters of every snapshot
    it passes, read the table's row for each index entry."""
    from sqlalchemy import text

    from reports.data import InScope, Scope
    from reports.seeks import snapshot_rows_query

    query = snapshot_rows_query(InScope(Scope(as_of=AS_OF)), AS_OF, "sqlite")
    compiled = query.compile(fixed.engine, compile_kwargs={"literal_binds": True})
    with fixed.engine.connect() as conn:
        plan = [row[-1] for row in conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))]
    seeks = [step for step in plan if step.startswith("SEARCH metric_snapshot")]
    assert len(seeks) >= 8, plan
    assert all("USING COVERING INDEX" in step for step in seeks), "\n".join(seeks)
    assert not [step for step in plan if "TEMP B-TREE" in step], "\n".join(plan)


def test_migrated_indexes_are_the_models_as_written(engine: Any, tmp_path: Any) -> None:
    """Every index the migrations leave is the one the models declare, with its expressions and
    the predicate of a partial index (`compare_metadata` above compares neither), and on
    PostgreSQL the table storage options (the delivery table's fillfactor): the models'
    `create_all` into a schema beside the migrated one, each database's own rendering compared."""
    from sqlalchemy import text

    from campaigns.schema import Base

    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(f"ATTACH DATABASE '{tmp_path / 'model.db'}' AS model")
        else:
            conn.exec_driver_sql("CREATE SCHEMA model")
        Base.metadata.create_all(conn.execution_options(schema_translate_map={None: "model"}))

        def indexes(schema: str) -> dict[str, str]:
            if conn.dialect.name == "sqlite":
                rows = conn.execute(
                    text(f"SELECT name, sql FROM {schema}.sqlite_master WHERE type = 'index'")
                )
                found = {n: s for n, s in rows if s is not None}  # not the automatic ones
                return {n: " ".join(s.replace("model.", "").split()) for n, s in found.items()}
            rows = conn.execute(
                text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = :s"),
                {"s": schema},
            )
            return {n: d.replace(f" {schema}.", " ") for n, d in rows}

        migrated, modelled = (
            indexes("main" if conn.dialect.name == "sqlite" else "public"),
            (indexes("model")),
        )
        if conn.dialect.name != "sqlite":
            options = text(
                "SELECT c.relname, c.reloptions FROM pg_class c JOIN pg_namespace n"
                " ON n.oid = c.relnamespace WHERE n.nspname = :s AND c.relkind = 'r'"
                " AND c.relname != 'alembic_version'"
            )
            assert dict(conn.execute(options, {"s": "public"}).all()) == dict(
                conn.execute(options, {"s": "model"}).all()
            )
            assert dict(conn.execute(options, {"s": "public"}).all())["delivery"] == [
                "fillfactor=90"
            ]
        migrated.pop("alembic_version_pkc", None)
    assert migrated == modelled
    assert "WHERE" in migrated["ix_delivery_due_instant"]
    assert "ix_delivery_channel_state" not in migrated


def test_slimmer_delivery_indexes_downgrade_and_upgrade_again(engine: Any) -> None:
    """Migration 0017 down and up: the index it dropped comes back and the partial ones become
    whole again (and PostgreSQL's fillfactor its default), then the head's set once more."""
    from alembic import command
    from sqlalchemy import text

    from campaigns.store import alembic_config, upgrade

    def state() -> tuple[set[str], str, object]:
        with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                sql = conn.scalar(
                    text("SELECT sql FROM sqlite_master WHERE name = 'ix_delivery_due_instant'")
                )
                options = None
            else:
                sql = conn.scalar(
                    text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"),
                    {"n": "ix_delivery_due_instant"},
                )
                options = conn.scalar(
                    text("SELECT reloptions FROM pg_class WHERE relname = :n"), {"n": "delivery"}
                )
            names = set(
                conn.execute(
                    text("SELECT name FROM sqlite_master WHERE tbl_name = 'delivery'")
                    if conn.dialect.name == "sqlite"
                    else text("SELECT indexname FROM pg_indexes WHERE tablename = 'delivery'")
                ).scalars()
            )
        return names, str(sql), options

    head = state()
    pg = engine.dialect.name == "postgresql"
    assert "ix_delivery_channel_state" not in head[0] and "WHERE" in head[1]
    assert head[2] == (["fillfactor=90"] if pg else None)
    command.downgrade(alembic_config(engine), "0016")
    names, sql, options = state()
    assert names == head[0] | {"ix_delivery_channel_state"}
    assert "WHERE" not in sql and options is None
    upgrade(engine, "head")
    assert state() == head
