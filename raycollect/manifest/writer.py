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
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from raycollect.atomic import write_text, write_with
from raycollect.manifest.schema import FILES_SCHEMA, RUNS_SCHEMA


def new_run_id(now: dt.datetime | None = None) -> str:
    """Sorts by start time (to the millisecond), safe in a path: ``20261126T163000123Z-3f9a1c``."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return now.strftime("%Y%m%dT%H%M%S") + f"{now.microsecond // 1000:03d}Z-" + secrets.token_hex(3)


def files_glob(manifest_dir: str | Path) -> str:
    return str(Path(escaped(manifest_dir)) / "files" / "*" / "*.parquet")


def runs_glob(manifest_dir: str | Path) -> str:
    return str(Path(escaped(manifest_dir)) / "runs" / "*" / "run.parquet")


def escaped(directory: str | Path) -> str:
    """``directory`` with its glob characters escaped (``[1]`` -> ``[[]1]``, ``*`` -> ``[*]``), so a pattern below
    it matches that directory only, in Python's glob and in DuckDB's alike: a directory named ``out[1]`` or ``a*``
    is a path, never a pattern."""
    import glob

    return glob.escape(str(directory))


Publish = Callable[[Path], None]  # uploads a finished file (raycollect.manifest.store); local: nothing


def atomic_write(table: pa.Table, path: Path, publish: Publish | None = None) -> None:
    """Write ``table`` as Parquet at ``path`` whole (raycollect.atomic), then publish it."""
    write_with(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))
    if publish is not None:
        publish(path)


class ManifestWriter:
    """Buffers file rows and flushes a part file every ``flush_rows`` rows or ``flush_seconds`` seconds."""

    def __init__(self, manifest_dir: str | Path, run_id: str, *, flush_rows: int = 50_000,
                 flush_seconds: float = 10.0, publish: Publish | None = None) -> None:
        self.publish = publish
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
        atomic_write(table, self.dir / f"part-{self._parts:05d}.parquet", self.publish)
        self._parts += 1
        self.rows_written += table.num_rows
        self._buf, self._rows = [], 0

    @property
    def parts(self) -> int:
        return self._parts


def write_run_record(manifest_dir: str | Path, run_id: str, record: dict[str, Any],
                     publish: Publish | None = None) -> Path:
    path = Path(manifest_dir) / "runs" / f"run_id={run_id}" / "run.parquet"
    atomic_write(pa.Table.from_pylist([{**record, "run_id": run_id}], schema=RUNS_SCHEMA), path, publish)
    return path


def write_ingestion_metadata(manifest_dir: str | Path, run_id: str, metadata_json: str,
                             publish: Publish | None = None) -> Path:
    path = Path(manifest_dir) / "runs" / f"run_id={run_id}" / "ingestion_metadata.json"
    write_text(path, metadata_json)
    if publish is not None:
        publish(path)
    return path
