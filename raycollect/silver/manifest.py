"""The conversion manifest: one row per source zip a conversion run converted, failed or superseded, beside
the file manifests. Files a run skips (converted before, unchanged) are counted in its result, not written: a
daily conversion of an unchanged collection adds nothing here.

Layout (hive-partitioned like the file manifests)::

    <manifest_directory>/silver/run_id=<id>/part-00000.parquet
    <manifest_directory>/silver/run_id=<id>/_commits.json     {table: {"snapshot_id": ..., "table_uuid": ...}}

A row says which zip (key and sha256) went into which table (``table_name``, and ``output_path``, the data file
written for it; a compaction may fold it into a larger one later), with its row count, first and last time and
the quality found (raycollect.silver.quality). Rows are written as results arrive, before the run commits its
tables; ``_commits.json`` is written after each table's commit and says which snapshot holds the run's rows.
Only committed rows are the state: a zip whose newest committed ``converted`` row has the same sha256, in a table
with the same uuid (not dropped and made again), is not converted again. Rows of a run that died before its
commit are history, never state.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any

import pyarrow as pa

from raycollect.atomic import write_text
from raycollect.manifest.schema import PLAN_FIELDS
from raycollect.manifest.writer import atomic_write


class ConversionStatus(str, Enum):
    """What a conversion run did with a source zip: the ``status`` column of a conversion row holds its value."""

    CONVERTED = "converted"  # its rows are in its table (once the run's commit is recorded)
    SKIPPED = "skipped"  # converted before with the same sha256 to the same table: counted, never written
    FAILED = "failed"  # not converted, with the reason; what its table held stays
    SUPERSEDED = "superseded"  # a daily zip whose month is in the table as its monthly file

    def __str__(self) -> str:
        return self.value


CONVERSION_STATUSES: tuple[str, ...] = tuple(s.value for s in ConversionStatus)
TS = pa.timestamp("us", tz="UTC")

CONVERSION_SCHEMA = pa.schema([
    ("run_id", pa.string()), *PLAN_FIELDS,  # the plan row: market, data_type, partition, symbol, interval, period, key
    ("sha256", pa.string()), ("source_path", pa.string()),
    ("table_name", pa.string()),  # the silver table (<market>_<data_type>)
    ("output_path", pa.string()),  # the data file written for it (the first, when its rows span two months)
    ("status", pa.string()),  # converted, failed or superseded (a monthly file holds its days); never skipped
    ("error", pa.string()), ("rows", pa.int64()), ("first_time", TS), ("last_time", TS),
    ("time_unit", pa.string()),  # ms or us, as found in the CSV
    ("header", pa.bool_()), ("expected_rows", pa.int64()), ("missing_rows", pa.int64()),
    ("duplicate_rows", pa.int64()), ("first_missing", TS), ("out_of_order_rows", pa.int64()),
    ("out_of_period_rows", pa.int64()), ("nonfinite_rows", pa.int64()), ("bytes_in", pa.int64()),
    ("bytes_out", pa.int64()),
    ("seconds", pa.float64()), ("converted_at", TS),
])  # fmt: skip
QUALITY_COLUMNS = ["missing_rows", "duplicate_rows", "out_of_order_rows", "out_of_period_rows",
                   "nonfinite_rows"]
COMMITS = "_commits.json"


def conversion_glob(manifest_dir: str | Path) -> str:
    from raycollect.manifest.writer import escaped

    return str(Path(escaped(manifest_dir)) / "silver" / "*" / "*.parquet")


def has_conversions(manifest_dir: str | Path) -> bool:
    return bool(list((Path(manifest_dir) / "silver").glob("*/*.parquet")))


class ConversionWriter:
    """Buffers conversion rows and writes a part every ``flush_rows`` rows and at the end (atomic renames)."""

    def __init__(self, manifest_dir: str | Path, run_id: str, *, flush_rows: int = 20_000,
                 publish: Callable[[Path], None] | None = None) -> None:
        self.dir = Path(manifest_dir) / "silver" / f"run_id={run_id}"
        self.run_id = run_id
        self.flush_rows = flush_rows
        self.publish = publish  # uploads each file written (an s3:// manifest directory's mirror)
        self._rows: list[dict] = []
        self._commits: dict[str, dict[str, Any]] = {}
        self.parts = 0

    def committed(self, table_name: str, snapshot_id: int | None, table_uuid: str) -> None:
        """Record that this run's rows of ``table_name`` are in ``snapshot_id`` (after the commit, atomically)."""
        self.flush()
        self._commits[table_name] = {"snapshot_id": snapshot_id, "table_uuid": table_uuid}
        path = write_text(self.dir / COMMITS, json.dumps(self._commits, sort_keys=True))
        if self.publish:
            self.publish(path)

    def add(self, row: dict) -> None:
        self._rows.append({**row, "run_id": self.run_id})
        if len(self._rows) >= self.flush_rows:
            self.flush()

    def add_table(self, table: pa.Table) -> None:
        """Rows decided column-wise (superseded files): written as they are, never one Python dict per row."""
        if table.num_rows:
            self.flush()
            cols = {f.name: table[f.name] if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
                    for f in CONVERSION_SCHEMA}
            cols["run_id"] = pa.repeat(pa.scalar(self.run_id, pa.string()), table.num_rows)
            if "converted_at" not in table.column_names:  # when this run decided them: "newest" needs it
                cols["converted_at"] = pa.repeat(pa.scalar(dt.datetime.now(dt.timezone.utc), TS), table.num_rows)
            self._write(pa.table(cols, schema=CONVERSION_SCHEMA))

    def flush(self) -> None:
        if self._rows:
            self._write(pa.Table.from_pylist(self._rows, schema=CONVERSION_SCHEMA))
            self._rows = []

    def _write(self, table: pa.Table) -> None:
        path = self.dir / f"part-{self.parts:05d}.parquet"
        atomic_write(table, path)
        if self.publish:
            self.publish(path)
        self.parts += 1


def commits(manifest_dir: str | Path) -> pa.Table:
    """Every run's commits: (run_id, table_name, snapshot_id, table_uuid)."""
    rows = []
    for path in sorted((Path(manifest_dir) / "silver").glob(f"run_id=*/{COMMITS}")):
        run_id = path.parent.name.removeprefix("run_id=")
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        for table_name, facts in doc.items():
            rows.append({"run_id": run_id, "table_name": table_name, "snapshot_id": facts.get("snapshot_id"),
                         "table_uuid": facts.get("table_uuid")})
    return pa.Table.from_pylist(rows, schema=_COMMITS_SCHEMA)


_COMMITS_SCHEMA = pa.schema([("run_id", pa.string()), ("table_name", pa.string()), ("snapshot_id", pa.int64()),
                             ("table_uuid", pa.string())])


def _committed_sql(con: Any, manifest_dir: str | Path) -> str:
    """A subquery of the conversion rows, each with its run's commit (snapshot_id, table_uuid; null when the run
    did not commit that table)."""
    from raycollect.manifest.query import sql_string, with_columns

    con.register("_raycollect_commits", commits(manifest_dir))
    # Columns that no part has yet (parts written by an older raycollect): null. Without table_name, only rows of
    # the per-file layout before the tables exist, and none of them is committed.
    rows = with_columns(con, f"read_parquet({sql_string(conversion_glob(manifest_dir))}, union_by_name = true)",
                        list(CONVERSION_SCHEMA))
    return (f"(SELECT r.*, c.snapshot_id, c.table_uuid FROM {rows} r LEFT JOIN _raycollect_commits c "
            "ON r.run_id = c.run_id AND r.table_name = c.table_name)")


_NEWEST_SCHEMA = pa.schema([("key", pa.string()), ("status", pa.string()), ("sha256", pa.string()),
                            ("partition", pa.string()), ("table_name", pa.string()), ("snapshot_id", pa.int64()),
                            ("table_uuid", pa.string())])


def newest_conversions(manifest_dir: str | Path) -> pa.Table:
    """The newest committed ``converted`` or ``superseded`` row per key: (key, status, sha256, partition,
    table_name, snapshot_id, table_uuid). Rows of the per-file layout before the tables, and rows of runs that
    did not commit, are not state."""
    if not has_conversions(manifest_dir):
        return _NEWEST_SCHEMA.empty_table()
    import duckdb

    from raycollect.manifest.query import to_arrow

    con = duckdb.connect()
    try:
        got = to_arrow(con.sql(
            f"SELECT key, status, sha256, \"partition\", table_name, snapshot_id, table_uuid FROM "
            f"{_committed_sql(con, manifest_dir)} WHERE status IN ('converted', 'superseded') "
            "AND snapshot_id IS NOT NULL "
            "QUALIFY row_number() OVER (PARTITION BY key ORDER BY converted_at DESC) = 1"))
        return got.cast(_NEWEST_SCHEMA)
    finally:
        con.close()


def quality_report(manifest_dir: str | Path, *, market: str | None = None, data_type: str | None = None,
                   symbol: str | None = None, everything: bool = False) -> pa.Table:
    """Per series and period (the newest conversion of each file): rows, candles expected and missing,
    duplicates, out-of-order and out-of-period rows; failed conversions with their reason. Only files with
    an issue unless ``everything``."""
    from raycollect.errors import ConfigurationError
    from raycollect.manifest.query import sql_string, to_arrow

    if not has_conversions(manifest_dir):
        raise ConfigurationError(f"No conversions in {manifest_dir}: run `raycollect convert CONFIG` first")
    import duckdb

    where = ["status IN ('converted', 'failed')"]  # the newest decision of each file, unless superseded
    for column, value in (("market", market), ("data_type", data_type), ("symbol", symbol)):
        if value:
            where.append(f"{column} = {sql_string(value)}")
    if not everything:
        where.append("(status = 'failed' OR rows = 0 OR "  # an empty file is an issue too
                     + " OR ".join(f"coalesce({c}, 0) > 0" for c in QUALITY_COLUMNS) + ")")
    con = duckdb.connect()
    try:
        return to_arrow(con.sql(
            "SELECT market, data_type, symbol, interval, period, status, rows, expected_rows, missing_rows, "
            "duplicate_rows, out_of_order_rows, out_of_period_rows, nonfinite_rows, first_missing, error FROM ("
            f"SELECT * FROM {_committed_sql(con, manifest_dir)} "
            "WHERE status = 'failed' OR (status IN ('converted', 'superseded') AND snapshot_id IS NOT NULL) "
            "QUALIFY row_number() OVER (PARTITION BY key ORDER BY converted_at DESC) = 1) "
            f"WHERE {' AND '.join(where)} ORDER BY market, data_type, symbol, interval, period"))
    finally:
        con.close()


def newest_quality(manifest_dir: str | Path) -> pa.Table:
    """Per key, its newest conversion (committed, or failed): key, status, rows, expected_rows, duplicate_rows,
    error. Empty when nothing was converted."""
    schema = pa.schema([("key", pa.string()), ("status", pa.string()), ("rows", pa.int64()),
                        ("expected_rows", pa.int64()), ("duplicate_rows", pa.int64()), ("error", pa.string())])
    if not has_conversions(manifest_dir):
        return schema.empty_table()
    import duckdb

    from raycollect.manifest.query import to_arrow

    con = duckdb.connect()
    try:
        return to_arrow(con.sql(
            "SELECT key, status, rows, expected_rows, duplicate_rows, error FROM "
            f"{_committed_sql(con, manifest_dir)} WHERE status = 'failed' OR (status = 'converted' "
            "AND snapshot_id IS NOT NULL) QUALIFY row_number() OVER (PARTITION BY key ORDER BY converted_at DESC) = 1"
        )).cast(schema)
    finally:
        con.close()
