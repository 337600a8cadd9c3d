"""The manifest writer: parts flushed by rows or time, each written whole, and the run record."""

from __future__ import annotations

import datetime as dt
import re

import pyarrow as pa
import pyarrow.parquet as pq

from raycollect.manifest.schema import FILES_SCHEMA, RUNS_SCHEMA
from raycollect.manifest.writer import ManifestWriter, escaped, new_run_id, write_run_record


def rows(n: int, start: int = 0) -> pa.Table:
    table = FILES_SCHEMA.empty_table().to_pydict()
    cols = {name: [None] * n for name in table}
    cols.update(run_id=["r1"] * n, key=[f"k{i:05d}" for i in range(start, start + n)], status=["success"] * n)
    return pa.table(cols, schema=FILES_SCHEMA)


def test_parts_are_written_every_flush_rows_and_at_the_end_with_every_row_once(tmp_path):
    published = []
    writer = ManifestWriter(tmp_path, "r1", flush_rows=100, flush_seconds=3600, publish=published.append)
    writer.add(rows(60))
    assert writer.parts == 0  # under flush_rows: buffered
    writer.add(rows(60, start=60))
    writer.add(rows(0))
    writer.add(rows(30, start=120))
    writer.flush()
    part_dir = tmp_path / "files" / "run_id=r1"
    assert sorted(p.name for p in part_dir.iterdir()) == ["part-00000.parquet", "part-00001.parquet"]  # no temp left
    assert [pq.read_metadata(p).num_rows for p in sorted(part_dir.iterdir())] == [120, 30]
    assert published == sorted(part_dir.iterdir()) and writer.rows_written == 150
    keys = pq.read_table(part_dir).column("key").to_pylist()
    assert sorted(keys) == [f"k{i:05d}" for i in range(150)]


def test_a_slow_run_flushes_by_time(tmp_path):
    writer = ManifestWriter(tmp_path, "r1", flush_rows=10**6, flush_seconds=0.0)
    writer.add(rows(3))
    assert writer.parts == 1 and writer.rows_written == 3


def test_the_run_record_is_one_row_of_the_runs_schema(tmp_path):
    path = write_run_record(tmp_path, "r9", {"status": "partial", "planned": 5, "failed": 1, "exit_code": 3})
    table = pq.read_table(path)
    assert table.schema.equals(RUNS_SCHEMA) or table.select(RUNS_SCHEMA.names).cast(RUNS_SCHEMA).num_rows == 1
    [record] = table.to_pylist()
    assert (record["run_id"], record["status"], record["planned"], record["failed"], record["exit_code"]) == (
        "r9", "partial", 5, 1, 3)


def test_run_ids_sort_by_start_time_and_directories_are_paths_not_patterns():
    t = dt.datetime(2026, 11, 26, 16, 30, 0, 123456, tzinfo=dt.timezone.utc)
    first, later = new_run_id(t), new_run_id(t + dt.timedelta(milliseconds=1))
    assert re.fullmatch(r"20261126T163000123Z-[0-9a-f]{6}", first) and first < later
    assert escaped("/data/out[1]/a*") == "/data/out[[]1]/a[*]"
