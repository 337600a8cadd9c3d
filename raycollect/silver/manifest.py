"""The conversion manifest: one row per source zip a conversion run converted, failed or superseded, beside
the file manifests. Files a run skips (converted before, unchanged) are counted in its result, not written: a
daily conversion of an unchanged collection adds nothing here.

Layout (hive-partitioned like the file manifests)::

    <manifest_directory>/silver/run_id=<id>/part-00000.parquet

A row says which zip (key and sha256) became which Parquet file, with its row count, first and last time
and the quality found (raycollect.silver.quality). ``converted`` rows are the state: a zip whose newest
``converted`` row has the same sha256, and whose output still exists, is not converted again.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal, get_args

import pyarrow as pa

from raycollect.manifest.writer import atomic_write

ConversionStatus = Literal["converted", "skipped", "failed", "superseded"]
CONVERSION_STATUSES: tuple[str, ...] = get_args(ConversionStatus)
TS = pa.timestamp("us", tz="UTC")

CONVERSION_SCHEMA = pa.schema([
    ("run_id", pa.string()), ("market", pa.string()), ("data_type", pa.string()), ("partition", pa.string()),
    ("symbol", pa.string()), ("interval", pa.string()), ("period", pa.date32()), ("key", pa.string()),
    ("sha256", pa.string()), ("source_path", pa.string()), ("output_path", pa.string()),
    ("status", pa.string()),  # converted, failed or superseded (a monthly file holds its days); never skipped
    ("error", pa.string()), ("rows", pa.int64()), ("first_time", TS), ("last_time", TS),
    ("time_unit", pa.string()),  # ms or us, as found in the CSV
    ("header", pa.bool_()), ("expected_rows", pa.int64()), ("missing_rows", pa.int64()),
    ("duplicate_rows", pa.int64()), ("first_missing", TS), ("out_of_order_rows", pa.int64()),
    ("out_of_period_rows", pa.int64()), ("bytes_in", pa.int64()), ("bytes_out", pa.int64()),
    ("seconds", pa.float64()), ("converted_at", TS),
])  # fmt: skip
QUALITY_COLUMNS = ["missing_rows", "duplicate_rows", "out_of_order_rows", "out_of_period_rows"]


def conversion_glob(manifest_dir: str | Path) -> str:
    return str(Path(manifest_dir) / "silver" / "*" / "*.parquet")


def has_conversions(manifest_dir: str | Path) -> bool:
    return bool(list((Path(manifest_dir) / "silver").glob("*/*.parquet")))


class ConversionWriter:
    """Buffers conversion rows and writes a part every ``flush_rows`` rows and at the end (atomic renames)."""

    def __init__(self, manifest_dir: str | Path, run_id: str, *, flush_rows: int = 20_000) -> None:
        self.dir = Path(manifest_dir) / "silver" / f"run_id={run_id}"
        self.run_id = run_id
        self.flush_rows = flush_rows
        self._rows: list[dict] = []
        self.parts = 0

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
        atomic_write(table, self.dir / f"part-{self.parts:05d}.parquet")
        self.parts += 1


def newest_conversions(manifest_dir: str | Path) -> pa.Table:
    """The newest ``converted`` or ``superseded`` row per key: (key, status, sha256, output_path)."""
    empty = pa.table({"key": pa.array([], pa.string()), "status": pa.array([], pa.string()),
                      "sha256": pa.array([], pa.string()), "output_path": pa.array([], pa.string())})
    if not has_conversions(manifest_dir):
        return empty
    import duckdb

    from raycollect.manifest.query import sql_string, to_arrow

    con = duckdb.connect()
    try:
        return to_arrow(con.sql(
            f"SELECT key, status, sha256, output_path FROM read_parquet({sql_string(conversion_glob(manifest_dir))}, "
            "union_by_name = true) WHERE status IN ('converted', 'superseded') "
            "QUALIFY row_number() OVER (PARTITION BY key ORDER BY converted_at DESC) = 1"))
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
        where.append("(status = 'failed' OR " + " OR ".join(f"coalesce({c}, 0) > 0" for c in QUALITY_COLUMNS) + ")")
    con = duckdb.connect()
    try:
        return to_arrow(con.sql(
            "SELECT market, data_type, symbol, interval, period, status, rows, expected_rows, missing_rows, "
            "duplicate_rows, out_of_order_rows, out_of_period_rows, first_missing, error FROM ("
            f"SELECT * FROM read_parquet({sql_string(conversion_glob(manifest_dir))}, union_by_name = true) "
            "WHERE status IN ('converted', 'failed', 'superseded') "
            "QUALIFY row_number() OVER (PARTITION BY key ORDER BY converted_at DESC) = 1) "
            f"WHERE {' AND '.join(where)} ORDER BY market, data_type, symbol, interval, period"))
    finally:
        con.close()
