"""Parquet manifests: the durable record of every planned file of every run, written as results arrive.

Layout (hive-partitioned, so DuckDB and pyarrow read ``run_id`` as a column)::

    <manifest_directory>/files/run_id=<id>/part-00000.parquet   one row per planned file
    <manifest_directory>/runs/run_id=<id>/run.parquet           one row per run, written last
    <manifest_directory>/runs/run_id=<id>/ingestion_metadata.json   the seed's IngestionMetadata

Part files are written to a temporary name and renamed, so a reader never sees half a file and a
crash loses at most the rows not yet flushed.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

_TS = pa.timestamp("us", tz="UTC")
FILES_SCHEMA = pa.schema([
    ("run_id", pa.string()), ("market", pa.string()), ("data_type", pa.string()), ("partition", pa.string()),
    ("symbol", pa.string()), ("interval", pa.string()), ("period", pa.date32()), ("key", pa.string()),
    ("source_url", pa.string()), ("target_path", pa.string()), ("status", pa.string()), ("size_bytes", pa.int64()),
    ("sha256", pa.string()), ("expected_sha256", pa.string()), ("previous_sha256", pa.string()),
    ("checksum_verified", pa.bool_()),
    ("attempts", pa.int32()), ("error", pa.string()), ("downloader", pa.string()), ("node_id", pa.string()),
    ("actor_id", pa.string()), ("shard_id", pa.int64()), ("started_at", _TS), ("finished_at", _TS),
    ("duration_s", pa.float64()),
])  # fmt: skip
# run_id is both the hive directory and a stored column: one part file read on its own still names its run.

RUNS_SCHEMA = pa.schema([
    ("run_id", pa.string()), ("status", pa.string()), ("started_at", _TS), ("finished_at", _TS),
    ("seconds", pa.float64()), ("planned", pa.int64()), ("success", pa.int64()), ("skipped", pa.int64()),
    ("missing", pa.int64()), ("failed", pa.int64()), ("bytes", pa.int64()), ("exit_code", pa.int32()),
    ("downloader", pa.string()), ("actors", pa.int32()), ("config_hash", pa.string()), ("config_json", pa.string()),
    ("raycollect_version", pa.string()), ("ray_version", pa.string()), ("output_directory", pa.string()),
    ("error", pa.string()),
])  # fmt: skip


def new_run_id(now: dt.datetime | None = None) -> str:
    """Sorts by start time (to the millisecond), safe in a path: ``20261126T163000123Z-3f9a1c``."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return now.strftime("%Y%m%dT%H%M%S") + f"{now.microsecond // 1000:03d}Z-" + secrets.token_hex(3)


def files_glob(manifest_dir: str | Path) -> str:
    return str(Path(manifest_dir) / "files" / "*" / "*.parquet")


def runs_glob(manifest_dir: str | Path) -> str:
    return str(Path(manifest_dir) / "runs" / "*" / "run.parquet")


def _atomic_write(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)


class ManifestWriter:
    """Buffers file rows and flushes a part file every ``flush_rows`` rows or ``flush_seconds`` seconds."""

    def __init__(self, manifest_dir: str | Path, run_id: str, *, flush_rows: int = 50_000,
                 flush_seconds: float = 10.0) -> None:
        self.dir = Path(manifest_dir) / "files" / f"run_id={run_id}"
        self.run_id = run_id
        self.flush_rows, self.flush_seconds = flush_rows, flush_seconds
        self._buf: list[pa.Table] = []
        self._rows = 0
        self._parts = 0
        self._last = time.monotonic()
        self.rows_written = 0

    def add(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        self._buf.append(table.select(FILES_SCHEMA.names).cast(FILES_SCHEMA))
        self._rows += table.num_rows
        if self._rows >= self.flush_rows or time.monotonic() - self._last >= self.flush_seconds:
            self.flush()

    def flush(self) -> None:
        self._last = time.monotonic()
        if not self._buf:
            return
        table = pa.concat_tables(self._buf)
        _atomic_write(table, self.dir / f"part-{self._parts:05d}.parquet")
        self._parts += 1
        self.rows_written += table.num_rows
        self._buf, self._rows = [], 0

    @property
    def parts(self) -> int:
        return self._parts


def write_run_record(manifest_dir: str | Path, run_id: str, record: dict[str, Any]) -> Path:
    path = Path(manifest_dir) / "runs" / f"run_id={run_id}" / "run.parquet"
    _atomic_write(pa.Table.from_pylist([{**record, "run_id": run_id}], schema=RUNS_SCHEMA), path)
    return path


def write_ingestion_metadata(manifest_dir: str | Path, run_id: str, metadata_json: str) -> Path:
    path = Path(manifest_dir) / "runs" / f"run_id={run_id}" / "ingestion_metadata.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(metadata_json, encoding="utf-8")
    os.replace(tmp, path)
    return path


def latest_per_key(manifest_dir: str | Path) -> pa.Table | None:
    """The newest row per key over every run (any status), or None when there is no manifest yet."""
    if not list((Path(manifest_dir) / "files").glob("*/*.parquet")):
        return None
    import duckdb

    con = duckdb.connect()
    try:
        return to_arrow(con.sql(
            "SELECT key, arg_max(status, finished_at) AS status, arg_max(size_bytes, finished_at) AS size_bytes, "
            "arg_max(sha256, finished_at) AS sha256, arg_max(expected_sha256, finished_at) AS expected_sha256, "
            "arg_max(checksum_verified, finished_at) AS checksum_verified "
            f"FROM read_parquet({sql_string(files_glob(manifest_dir))}, hive_partitioning = true, "
            "union_by_name = true) GROUP BY key"
        ))
    finally:
        con.close()

def to_arrow(result: Any) -> pa.Table:
    """A DuckDB result as a pyarrow Table (``to_arrow_table`` in DuckDB 2, ``fetch_arrow_table`` before)."""
    method = getattr(result, "to_arrow_table", None) or result.fetch_arrow_table
    return method()


def sql_string(text: str) -> str:
    """A SQL string literal (single quotes doubled): paths go into DuckDB queries only this way."""
    return "'" + text.replace("'", "''") + "'"
