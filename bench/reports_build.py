"""Time and peak memory to build the full report (reading, figures, rendering) in HTML, XLSX and
JSON, on SQLite and PostgreSQL, for synthetic histories of DELIVERIES:SNAPSHOTS (default 10,000
deliveries with 100,000 and 1,000,000 snapshots, and 50,000 deliveries with 500,000); and, in
the same run, DuckDB computing the same per-audience aggregates (latest snapshot per delivery,
attribution, followers at posting, ratio of sums and mean/median of per-post rates per audience
and basis) from the same data exported to Parquet: the near-limit baseline.

Each measurement runs in a fresh Python process, so its peak RSS is the report's own (the
interpreter and pandas included). Run:

    python bench/reports_build.py [--cases 10000:100000 10000:1000000 50000:500000] \
        [--formats html xlsx json] [--postgres postgresql://postgres@127.0.0.1:5432/test] \
        [--no-postgres] [--keep DIR]

With ``--keep DIR`` the generated SQLite databases and Parquet files stay in DIR and a later run
with the same DIR reuses them (PostgreSQL databases are always made afresh and dropped).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

DELIVERIES = 10_000
TABLES = (
    "campaign",
    "audience",
    "audience_channel",
    "channel",
    "post",
    "post_audience",
    "delivery",
    "metric_snapshot",
    "follower_sample",
)


# --- measured in a child process ---------------------------------------------------------------


def measure_report(url: str, out: str, fmt: str = "html") -> dict[str, Any]:
    from datetime import UTC, datetime

    from campaigns.store import make_engine
    from reports.data import Scope, load
    from reports.figures import build_report
    from reports.render_data import json_bytes
    from reports.render_html import render
    from reports.render_xlsx import write_xlsx

    # Every module is imported before the clock starts, as `duckdb` is in measure_duckdb: the
    # phases time the work, not the imports (a running web workspace has them loaded; on a
    # machine with PYTHONDONTWRITEBYTECODE=1 the renderers were compiled inside the render).
    # XlsxWriter too: `write_xlsx` imports it when called (the CLI starts without it), which
    # put its ~40 modules (30-80 ms) inside the workbook's render.
    if fmt == "xlsx":
        import xlsxwriter  # noqa: F401
    engine = make_engine(url)
    as_of = datetime(2027, 6, 30, tzinfo=UTC)
    started, cpu_started = time.perf_counter(), time.process_time()
    data = load(engine, Scope(as_of=as_of))
    loaded, cpu_loaded = time.perf_counter(), time.process_time()
    report = build_report(data, generated_at=as_of)
    built, cpu_built = time.perf_counter(), time.process_time()
    if fmt == "html":
        Path(out).write_text(render(report), encoding="utf-8")
    elif fmt == "xlsx":
        write_xlsx(report, Path(out))
    else:
        Path(out).write_bytes(json_bytes(report))
    done, cpu_done = time.perf_counter(), time.process_time()
    return {
        "sql": loaded - started,
        # The reading's CPU seconds (both of its threads): what the machine's load inflates
        # least.
        "sql_cpu": cpu_loaded - cpu_started,
        # The same for rendering (the workbook's zip thread included) and the whole report.
        "render_cpu": cpu_done - cpu_built,
        "cpu": cpu_done - cpu_started,
        "figures": built - loaded,
        "render": done - built,
        "total": done - started,
        "peak_mib": peak_mib(),
    }


def peak_mib() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited across
    exec from the parent that generated the data)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


DUCKDB_SQL = """
WITH latest AS (
  SELECT delivery_id, impressions,
         CASE WHEN likes IS NULL AND reposts IS NULL AND replies IS NULL AND quotes IS NULL
              THEN NULL ELSE coalesce(likes,0)+coalesce(reposts,0)+coalesce(replies,0)
                             +coalesce(quotes,0) END AS eng,
         max(CASE WHEN deleted THEN 1 ELSE 0 END) OVER (PARTITION BY delivery_id) AS any_deleted
  FROM read_parquet('{d}/metric_snapshot.parquet')
  WHERE collected_at <= TIMESTAMPTZ '2027-06-30 00:00:00+00'
  QUALIFY row_number() OVER (PARTITION BY delivery_id ORDER BY collected_at DESC, id DESC) = 1
),
dl AS (
  SELECT d.id, d.post_id, d.channel_id, d.state, d.published_at, d.remote_deleted_at
  FROM read_parquet('{d}/delivery.parquet') d
),
foll AS (
  SELECT dl.id, f.followers
  FROM dl ASOF LEFT JOIN read_parquet('{d}/follower_sample.parquet') f
    ON dl.channel_id = f.channel_id AND dl.published_at >= f.sampled_at
),
per_post AS (
  SELECT dl.id, dl.post_id, dl.channel_id, dl.state, l.eng, l.impressions, foll.followers,
         (dl.state = 'published' AND dl.remote_deleted_at IS NULL AND coalesce(l.any_deleted, 0) = 0
          AND l.delivery_id IS NOT NULL) AS measured
  FROM dl LEFT JOIN latest l ON l.delivery_id = dl.id LEFT JOIN foll ON foll.id = dl.id
),
reach AS (
  SELECT p.*, pa.audience_id
  FROM per_post p
  JOIN read_parquet('{d}/post_audience.parquet') pa ON pa.post_id = p.post_id
  JOIN read_parquet('{d}/audience_channel.parquet') ac
    ON ac.audience_id = pa.audience_id AND ac.channel_id = p.channel_id
)
SELECT audience_id,
       count(*) FILTER (WHERE state = 'published') AS published,
       count(*) FILTER (WHERE state = 'missed') AS missed,
       count(*) FILTER (WHERE state = 'failed') AS failed,
       count(*) FILTER (WHERE measured) AS posts,
       sum(impressions) FILTER (WHERE measured) AS impressions,
       sum(eng) FILTER (WHERE measured AND impressions > 0)
         / sum(impressions) FILTER (WHERE measured AND impressions > 0) AS er_impr,
       avg(eng / impressions) FILTER (WHERE measured AND impressions > 0) AS er_impr_mean,
       median(eng / impressions) FILTER (WHERE measured AND impressions > 0) AS er_impr_median,
       sum(eng) FILTER (WHERE measured AND impressions IS NULL AND followers > 0)
         / sum(followers) FILTER (WHERE measured AND impressions IS NULL AND followers > 0)
         AS er_foll,
       avg(eng / followers) FILTER (WHERE measured AND impressions IS NULL AND followers > 0)
         AS er_foll_mean,
       median(eng / followers) FILTER (WHERE measured AND impressions IS NULL AND followers > 0)
         AS er_foll_median
FROM reach GROUP BY audience_id ORDER BY audience_id
"""


def measure_duckdb(folder: str) -> dict[str, Any]:
    import duckdb

    started = time.perf_counter()
    con = duckdb.connect()
    rows = con.execute(DUCKDB_SQL.format(d=folder)).fetchall()
    elapsed = time.perf_counter() - started
    return {
        "total": elapsed,
        "audiences": len(rows),
        "peak_mib": peak_mib(),
        "er_impr": {str(r[0]): r[6] for r in rows},
    }


def _child(kind: str, *args: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, __file__, "--child", kind, *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{kind} failed:\n{result.stderr[-3000:]}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


# --- setting up ---------------------------------------------------------------------------------


def generate(url: str, snapshots: int, deliveries: int = DELIVERIES) -> float:
    from campaigns.store import make_engine, upgrade
    from reports.synthetic import generate_history

    engine = make_engine(url)
    upgrade(engine)
    started = time.perf_counter()
    with engine.begin() as conn:
        generate_history(conn, deliveries=deliveries, snapshots=snapshots, seed=7)
    engine.dispose()
    return time.perf_counter() - started


def upgrade_kept(url: str) -> None:
    """A kept store follows the schema's migrations (an index a migration adds is measured) and
    the write-time summary's version: rows of an older `reports.seeks.SUMMARY_VERSION`, which a
    report ignores (it reads those deliveries by the seek query), are written again, as the
    generator writes them for a new store; else a store kept before a version change measured
    the reading without its summary (10k/100k: 0.32-0.37 s of CPU instead of 0.18-0.21)."""
    from sqlalchemy import text

    from campaigns.store import make_engine, upgrade
    from reports.seeks import SUMMARY_VERSION, store_summaries

    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        stale = conn.execute(
            text("SELECT delivery_id FROM delivery_metric_summary WHERE version <> :v"),
            {"v": SUMMARY_VERSION},
        ).scalars()
        store_summaries(conn, list(stale))
    engine.dispose()


def export_parquet(url: str, folder: Path) -> None:
    """Every table the aggregates read, from the SQLite store to Parquet (in chunks)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sqlalchemy import text

    from campaigns.store import make_engine

    engine = make_engine(url)
    folder.mkdir(parents=True, exist_ok=True)
    with engine.connect() as conn:
        for table in TABLES:
            writer = None
            for chunk in pd.read_sql(text(f"SELECT * FROM {table}"), conn, chunksize=500_000):
                for column in chunk.columns:
                    if column.endswith("_at"):
                        chunk[column] = pd.to_datetime(chunk[column], utc=True)
                    if column in ("deleted", "simulated", "paused"):
                        chunk[column] = chunk[column].astype(bool)
                chunk = chunk.drop(
                    columns=[
                        c
                        for c in (
                            "languages",
                            "narratives",
                            "hashtags",
                            "media",
                            "schedule",
                            "content",
                        )
                        if c in chunk.columns
                    ]
                )
                batch = pa.Table.from_pandas(chunk, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(folder / f"{table}.parquet", batch.schema)
                writer.write_table(batch.cast(writer.schema))
            if writer is not None:
                writer.close()
    engine.dispose()


def postgres_database(admin: str) -> str:
    import psycopg

    name = f"elshi_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{admin.rsplit('/', 1)[0]}/{name}"


def drop_postgres(admin: str, url: str) -> None:
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def vacuum_analyze(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cases", nargs="+", default=["10000:100000", "10000:1000000", "50000:500000"]
    )
    parser.add_argument("--sizes", type=int, nargs="+", help="Snapshots, with 10,000 deliveries.")
    parser.add_argument("--formats", nargs="+", default=["html", "xlsx", "json"])
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--keep", type=Path, help="Keep (and reuse) databases in this folder.")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        result = measure_report(*rest) if kind == "report" else measure_duckdb(*rest)
        print(json.dumps(result))
        return
    cases = (
        [(DELIVERIES, size) for size in args.sizes]
        if args.sizes
        else [tuple(int(part) for part in case.split(":")) for case in args.cases]
    )

    rows: list[dict[str, Any]] = []
    with TemporaryDirectory() as tmp:
        base = args.keep or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        for deliveries, size in cases:
            folder = base / f"d{deliveries}-s{size}"
            folder.mkdir(exist_ok=True)
            sqlite_url = f"sqlite:///{folder / 'elshi.db'}"
            ready = folder / "generated"
            if not ready.exists():
                (folder / "elshi.db").unlink(missing_ok=True)
                gen = generate(sqlite_url, size, deliveries)
                print(f"{deliveries:,}:{size:,}: generated on SQLite in {gen:.0f} s", flush=True)
                export_parquet(sqlite_url, folder / "parquet")
                ready.touch()
            else:
                upgrade_kept(sqlite_url)
            duck = _child("duckdb", str(folder / "parquet"))
            targets = [("sqlite", sqlite_url)]
            pg_url = None
            if not args.no_postgres:
                pg_url = postgres_database(args.postgres)
                gen = generate(pg_url, size, deliveries)
                vacuum_analyze(pg_url)
                print(
                    f"{deliveries:,}:{size:,}: generated on PostgreSQL in {gen:.0f} s", flush=True
                )
                targets.append(("postgresql", pg_url))
            try:
                for backend, url in targets:
                    for fmt in args.formats:
                        out = str(folder / f"report-{backend}.{fmt}")
                        result = _child("report", url, out, fmt)
                        rows.append(
                            {
                                "backend": backend,
                                "deliveries": deliveries,
                                "snapshots": size,
                                "format": fmt,
                                **result,
                                "duck": duck,
                            }
                        )
                        _print_row(rows[-1])
            finally:
                if pg_url:
                    drop_postgres(args.postgres, pg_url)
    print()
    print(
        f"{'backend':<11}{'deliveries':>11}{'snapshots':>11}{'fmt':>5}{'SQL s':>7}{'figures s':>10}"
        f"{'render s':>9}{'total s':>8}{'peak MiB':>9}{'DuckDB s':>9}{'total/DuckDB':>13}"
        f"{'/HTML':>7}{'CPU s':>7}{'CPU/HTML':>9}"
    )
    for row in rows:
        duck = row["duck"]["total"]
        html_row = next(
            (
                r
                for r in rows
                if r["format"] == "html"
                and (r["backend"], r["deliveries"], r["snapshots"])
                == (row["backend"], row["deliveries"], row["snapshots"])
            ),
            None,
        )
        html = html_row["total"] if html_row else float("nan")
        html_cpu = html_row["cpu"] if html_row else float("nan")
        print(
            f"{row['backend']:<11}{row['deliveries']:>11,}{row['snapshots']:>11,}"
            f"{row['format']:>5}{row['sql']:>7.2f}{row['figures']:>10.2f}{row['render']:>9.2f}"
            f"{row['total']:>8.2f}{row['peak_mib']:>9.0f}{duck:>9.2f}"
            f"{row['total'] / duck:>13.1f}{row['total'] / html:>7.2f}"
            f"{row['cpu']:>7.2f}{row['cpu'] / html_cpu:>9.2f}"
        )


def _print_row(row: dict[str, Any]) -> None:
    print(
        f"  {row['backend']} {row['format']}: total {row['total']:.2f} s (SQL {row['sql']:.2f}"
        f" [CPU {row['sql_cpu']:.2f}], figures "
        f"{row['figures']:.2f}, render {row['render']:.2f} [CPU {row['render_cpu']:.2f}]; "
        f"CPU {row['cpu']:.2f}), peak {row['peak_mib']:.0f} MiB; "
        f"DuckDB {row['duck']['total']:.2f} s",
        flush=True,
    )


if __name__ == "__main__":
    main()
