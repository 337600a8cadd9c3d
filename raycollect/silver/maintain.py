"""Keeping the silver tables fast and bounded: compaction, snapshot expiry, orphan removal, history.

- ``compact``: a partition (symbol, [interval,] month) whose small files (under 3/4 of the target size) number
  ``min_files`` or more is rewritten into files of about the target size, in one snapshot per table. Rows are
  copied as they are (no value, type or row changes), files in the order of their first time, so a month of
  daily files becomes one time-ordered file. A conversion compacts the partitions it wrote to; `raycollect
  silver compact` compacts every partition that needs it.
- ``expire``: snapshots older than a cutoff are removed from the table's metadata (the current one never is),
  then every file below the table's location that no remaining snapshot reaches and that is older than the
  cutoff is deleted: data files only expired snapshots held, and orphans (files a killed conversion wrote but
  never committed). Metadata JSON files are pruned by Iceberg itself on commit (``TABLE_PROPERTIES``).
- ``history``: each snapshot with the run that made it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from raycollect.errors import ConfigurationError

if TYPE_CHECKING:
    from pyiceberg.manifest import DataFile
    from pyiceberg.table import Table

    from raycollect.silver.tables import Lakehouse

#: A file under this share of the target size is small (compaction folds it into a larger one).
SMALL_SHARE = 0.75
#: Rows per row group written by compaction (as a conversion writes them).
ROW_GROUP_ROWS = 1_000_000


def compact(table: Table, lake: Lakehouse, *, min_files: int, target_bytes: int, run_id: str,
            partitions: set[Any] | None = None) -> int:
    """Compact the partitions of ``table`` (those in ``partitions``, or all) that hold ``min_files`` small files
    or more, in one snapshot; returns how many were compacted."""
    from raycollect.silver.commit import commit

    table.refresh()
    if table.current_snapshot() is None:
        return 0
    groups: dict[tuple, list[DataFile]] = defaultdict(list)
    wanted = {tuple(p) for p in partitions} if partitions is not None else None
    for task in table.scan().plan_files():
        f = task.file
        key = tuple(f.partition)
        if f.file_size_in_bytes < target_bytes * SMALL_SHARE and (wanted is None or key in wanted):
            groups[key].append(f)
    chosen = [files for files in groups.values() if len(files) >= min_files]
    if not chosen:
        return 0
    added: list[DataFile] = []
    removed: list[DataFile] = []
    for files in chosen:
        added.extend(_rewrite(table, files, lake, target_bytes, run_id))
        removed.extend(files)
    commit(table, added, (), removed=removed, run_id=run_id, operation="compact",
           io_properties=lake.file_io_properties())
    return len(chosen)


def _rewrite(table: Table, files: list[DataFile], lake: Lakehouse, target_bytes: int, run_id: str) -> list[DataFile]:
    """``files`` (one partition) as files of about ``target_bytes``, rows in the order of each file's first time."""
    from pyiceberg.io import load_file_io

    from raycollect.silver.commit import _bounds
    from raycollect.silver.convert import _encodings
    from raycollect.silver.datafile import publish
    from raycollect.silver.schemas import table_spec
    from raycollect.silver.tables import arrow_schema, split_table_name

    meta = table.metadata
    spec = table_spec(*split_table_name(table.name()[-1]))
    time_field = meta.schema().find_field(meta.spec().fields[-1].source_id)
    files = sorted(files, key=lambda f: (_bounds(f, time_field)[0] or 0, f.file_path))
    strings, encodings = _encodings(spec)
    schema = arrow_schema(spec)
    props = lake.file_io_properties()
    io = load_file_io(props, files[0].file_path)
    out: list[DataFile] = []
    workdir = Path(tempfile.mkdtemp(prefix="raycollect-compact-"))
    try:
        writer = None
        path = workdir / "part.parquet"
        pending: list[pa.RecordBatch] = []
        pending_rows = 0

        def flush() -> None:
            nonlocal pending, pending_rows
            if pending:
                writer.write_table(pa.Table.from_batches(pending, schema=schema), row_group_size=ROW_GROUP_ROWS)
            pending, pending_rows = [], 0

        for f in files:
            with io.new_input(f.file_path).open() as fh:
                for batch in pq.ParquetFile(fh).iter_batches(batch_size=65_536):
                    if writer is None:
                        path = workdir / f"part-{secrets.token_hex(4)}.parquet"
                        writer = pq.ParquetWriter(path, schema, compression="zstd", use_dictionary=strings,
                                                  column_encoding=encodings, store_schema=False)
                    pending.append(pa.RecordBatch.from_arrays(batch.columns, schema=schema))
                    pending_rows += batch.num_rows
                    if pending_rows >= ROW_GROUP_ROWS:
                        flush()
                        if os.path.getsize(path) >= target_bytes:
                            writer.close()
                            writer = None
                            out.extend(publish(path, meta, props, run_id))
        if writer is not None:
            flush()
            writer.close()
            out.extend(publish(path, meta, props, run_id))
    finally:
        for leftover in workdir.iterdir():
            leftover.unlink()
        workdir.rmdir()
    return out


def expire(table: Table, lake: Lakehouse, older_than: dt.datetime) -> dict[str, int]:
    """Expire the snapshots older than ``older_than`` (never the current one) and delete the files below the table
    that no remaining snapshot reaches and that are older than it; returns counts."""
    table.refresh()
    current = table.current_snapshot()
    old = [s.snapshot_id for s in table.metadata.snapshots
           if s.timestamp_ms < _millis(older_than) and (current is None or s.snapshot_id != current.snapshot_id)]
    if old:
        table.maintenance.expire_snapshots().by_ids(old).commit()
        table.refresh()
    reachable = reachable_files(table, lake)
    deleted = 0
    fs, root = table_filesystem(table, lake)
    from pyarrow.fs import FileSelector, FileType

    cutoff = older_than.timestamp()
    for info in fs.get_file_info(FileSelector(root, recursive=True, allow_not_found=True)):
        if info.type != FileType.File:
            continue
        name = info.path.rsplit("/", 1)[-1]
        if name.endswith(".metadata.json") or name.startswith("version-hint"):
            continue  # Iceberg prunes its own metadata files
        if normal_path(info.path) in reachable or (info.mtime is not None and info.mtime.timestamp() >= cutoff):
            continue
        fs.delete_file(info.path)
        deleted += 1
    return {"snapshots": len(old), "files": deleted}


def reachable_files(table: Table, lake: Lakehouse) -> set[str]:
    """Every file a snapshot of ``table`` reaches (manifest lists, manifests, live data files, sources files)."""
    io = table.io
    out: set[str] = set()
    for snapshot in table.metadata.snapshots:
        out.add(normal_path(snapshot.manifest_list))
        if (extra := (snapshot.summary.additional_properties if snapshot.summary else {}).get(
                "raycollect.sources-file")):
            out.add(normal_path(extra))
        for manifest in snapshot.manifests(io):
            out.add(normal_path(manifest.manifest_path))
            for entry in manifest.fetch_manifest_entry(io, discard_deleted=True):
                out.add(normal_path(entry.data_file.file_path))
    return out


def table_filesystem(table: Table, lake: Lakehouse) -> tuple[Any, str]:
    from pyarrow.fs import FileSystem, LocalFileSystem

    from raycollect.silver.datafile import local_path

    location = table.metadata.location.rstrip("/")
    local = local_path(location)
    if local is not None:
        return LocalFileSystem(), local
    from pyiceberg.io.pyarrow import PyArrowFileIO

    io = PyArrowFileIO(lake.file_io_properties())
    scheme, netloc, path = io.parse_location(location, lake.file_io_properties())
    fs: FileSystem = io.fs_by_scheme(scheme, netloc)
    return fs, path


def normal_path(path: str) -> str:
    """A location as the filesystem listing spells it (no scheme; local paths plain)."""
    for prefix in ("file://", "s3://", "s3a://", "s3n://"):
        if path.startswith(prefix):
            return path[len(prefix):]
    return path


def _millis(when: dt.datetime) -> int:
    return int(when.timestamp() * 1000)


def history(table: Table) -> list[dict[str, Any]]:
    """Every snapshot of ``table``, oldest first: when, what, which run, how many files and rows."""
    table.refresh()
    current = table.current_snapshot()
    rows = []
    for s in sorted(table.metadata.snapshots, key=lambda s: s.timestamp_ms):
        props = dict(s.summary.additional_properties) if s.summary else {}
        rows.append({
            "snapshot_id": s.snapshot_id, "parent_id": s.parent_snapshot_id,
            "committed_at": dt.datetime.fromtimestamp(s.timestamp_ms / 1000, dt.timezone.utc).isoformat(
                timespec="seconds"),
            "operation": props.get("raycollect.operation") or (s.summary.operation.value if s.summary else None),
            "run_id": props.get("raycollect.run-id"), "raycollect_version": props.get("raycollect.version"),
            "sources": int(props.get("raycollect.source-count", 0)),
            "added_files": int(props.get("added-data-files", 0)),
            "deleted_files": int(props.get("deleted-data-files", 0)),
            "added_rows": int(props.get("added-records", 0)), "deleted_rows": int(props.get("deleted-records", 0)),
            "total_rows": int(props.get("total-records", 0)), "total_files": int(props.get("total-data-files", 0)),
            "current": current is not None and s.snapshot_id == current.snapshot_id,
        })  # fmt: skip
    return rows


def sources_of(table: Table, snapshot_id: int) -> dict[str, str]:
    """The sources (key -> sha256) a snapshot recorded."""
    snapshot = table.metadata.snapshot_by_id(snapshot_id)
    if snapshot is None or snapshot.summary is None:
        return {}
    props = snapshot.summary.additional_properties
    if "raycollect.sources" in props:
        return json.loads(props["raycollect.sources"])
    if "raycollect.sources-file" in props:
        with table.io.new_input(props["raycollect.sources-file"]).open() as fh:
            got = pq.read_table(fh)
        return dict(zip(got["key"].to_pylist(), got["sha256"].to_pylist(), strict=True))
    return {}


def parse_age(text: str) -> dt.timedelta:
    """``30d``, ``12h``, ``90m``, ``45s`` (``0d``: everything but the current snapshot)."""
    units = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
    value, unit = text.strip()[:-1], text.strip()[-1:]
    if unit not in units or not value.isdigit():
        raise ConfigurationError(f"--older-than {text!r}: expected a number and a unit, e.g. 30d, 12h, 90m, 45s")
    return dt.timedelta(seconds=int(value) * units[unit])
