"""The collection state: the newest facts per key, so a rerun never reads all of history.

Layout below ``<manifest_directory>/state/``::

    state-<written>-<token>.json   a pointer: {"data": "data-....parquet", "covers": [run ids], "rows": N}
    data-<written>-<token>.parquet the newest fact row per key (STATE_SCHEMA), sorted by key

The newest pointer (by name) is the state. It is written last, after its data file and after the run
records of the runs it covers (commit-last, as table formats do), each with an atomic rename, so a crash
leaves either the old state or the new one. A reader takes the newest pointer and reads, besides its
data, only the runs it does not cover: runs written by older versions of raycollect, crashed runs, and
runs of a concurrent process. Rows are never lost: a run not named in ``covers`` is always read again.

Which rows are facts: every row except ``skipped`` rows written by the driver (``shard_id`` null) that carry
nothing from the archive (older versions wrote one per skipped file); those restate what the state already
says, so a rerun that only skipped files is covered by a new pointer to the same data, without rewriting it.
Besides the newest row's facts, each key keeps ``revisions``: how many times new bytes replaced its copy.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from raycollect.atomic import write_text, write_with
from raycollect.manifest.schema import FILES_SCHEMA, STATE_COLUMNS, STATE_SCHEMA, STATE_SERIES

#: DuckDB's memory for the fold (it spills beyond it).
FOLD_MEMORY = "384MB"
#: Pointers (and their data files) kept besides the newest, for readers that loaded an older pointer.
KEEP_POINTERS = 3
#: A row that restates the state (a file the driver skipped, with nothing new from the archive) is not a fact. Since
#: the archive's facts are kept, the driver writes a skipped row only when a listing taught it something (then
#: ``last_modified`` is set); older versions wrote one for every skipped file, with no archive facts.
FACT_FILTER = "NOT (status = 'skipped' AND shard_id IS NULL AND last_modified IS NULL)"


@dataclass(frozen=True)
class State:
    """One pointer: its data file (None when there is no state yet) and the runs it covers."""

    dir: Path
    data: Path | None = None
    covers: frozenset[str] = frozenset()
    rows: int = 0

    def read_batches(self, batch_size: int = 65_536, columns: list[str] | None = None
                     ) -> Iterator[pa.RecordBatch] | None:
        """The state's rows in key order, with ``columns`` (default: STATE_COLUMNS) typed as STATE_SCHEMA says;
        columns an older state lacks are null. Fewer columns, less memory: the reader decodes only those."""
        if self.data is None:
            return None
        return _batches(self.data, batch_size, columns or STATE_COLUMNS)


def _batches(data: Path, batch_size: int, columns: list[str]) -> Iterator[pa.RecordBatch]:
    # Pages are read as they are decoded (no pre-buffering of whole row groups): a third less memory here.
    source = pq.ParquetFile(data, pre_buffer=False, buffer_size=1 << 20)
    have = [c for c in columns if c in source.schema_arrow.names]
    schema = pa.schema([STATE_SCHEMA.field(c) for c in columns])
    for batch in source.iter_batches(batch_size=batch_size, columns=have):
        n = batch.num_rows
        yield pa.RecordBatch.from_arrays(
            [batch.column(f.name).cast(f.type) if f.name in have else pa.nulls(n, f.type) for f in schema],
            schema=schema)


def state_dir(manifest_dir: str | Path) -> Path:
    return Path(manifest_dir) / "state"


def read_state(manifest_dir: str | Path) -> State:
    """The newest pointer, or an empty state."""
    folder = state_dir(manifest_dir)
    pointers = sorted(folder.glob("state-*.json")) if folder.is_dir() else []
    for pointer in reversed(pointers):
        try:
            doc = json.loads(pointer.read_text())
            data = folder / doc["data"] if doc.get("data") else None
            if data is not None and not data.is_file():
                continue  # its data was collected away: an older pointer is still valid
            return State(folder, data, frozenset(doc["covers"]), int(doc.get("rows", 0)))
        except (OSError, ValueError, KeyError):
            continue
    return State(folder)


def run_ids(manifest_dir: str | Path) -> list[str]:
    """Runs that wrote file rows (finished or not)."""
    folder = Path(manifest_dir) / "files"
    if not folder.is_dir():
        return []
    return sorted(n.removeprefix("run_id=") for n in os.listdir(folder) if n.startswith("run_id="))


def finished_run_ids(manifest_dir: str | Path) -> set[str]:
    folder = Path(manifest_dir) / "runs"
    if not folder.is_dir():
        return set()
    return {n.removeprefix("run_id=") for n in os.listdir(folder) if (folder / n / "run.parquet").is_file()}


def refresh(manifest_dir: str | Path, *, rebuild: bool = False, publish: Callable[[Path], None] | None = None) -> State:
    """Fold the runs the newest state does not cover into a new state, and return it.

    Unfinished runs (no run record) are read, but not marked covered, so their later rows are read too.
    ``rebuild``: ignore existing states and fold every run (``raycollect manifest compact``). A state written
    by an older raycollect (without the archive's ETag and LastModified) is rebuilt once, the same way.
    """
    base = read_state(manifest_dir)
    if rebuild or (base.data is not None and not _current_format(base.data)):
        base, rebuild = State(state_dir(manifest_dir)), True
    uncovered = [r for r in run_ids(manifest_dir) if r not in base.covers]
    if not uncovered:
        return base
    finished = finished_run_ids(manifest_dir)
    newly_covered = base.covers | {r for r in uncovered if r in finished}
    from raycollect.manifest.writer import escaped

    parts = [str(Path(escaped(Path(manifest_dir) / "files" / f"run_id={r}")) / "*.parquet") for r in uncovered]
    parts = [p for p, r in zip(parts, uncovered, strict=True)
             if list((Path(manifest_dir) / "files" / f"run_id={r}").glob("*.parquet"))]
    import duckdb

    # 384 MB: the fold of a million rows spills to disk (5.3 s) rather than peak at 926 MiB (2.9 s with 1 GB);
    # a run's driver stays within its memory budget (make bench-scale). No progress bar on the run's output.
    con = duckdb.connect(config={"memory_limit": FOLD_MEMORY, "threads": 2, "preserve_insertion_order": False,
                                 "temp_directory": tempfile.gettempdir()})
    con.execute("SET enable_progress_bar = false")
    try:
        src = _facts_sql(con, parts) if parts else None
        facts = con.execute(f"SELECT count(*) FROM {src}").fetchone()[0] if src else 0
        if facts == 0 and not rebuild:
            if newly_covered == base.covers:
                return base
            return _write_pointer(base.dir, base.data, newly_covered, base.rows, publish)
        cols = ", ".join(_q(c) for c in _FOLD_COLUMNS)
        # revisions: how many times the key's bytes were replaced (a success that names the copy it replaced).
        sources = [f"SELECT {cols}, (previous_sha256 IS NOT NULL AND status = 'success')::INTEGER AS rev FROM {src}"
                   ] if src else []
        if base.data is not None:
            sources.append(f"SELECT {cols}, coalesce(revisions, 0) AS rev FROM read_parquet({_sql(str(base.data))})")
        if not sources:
            return _write_pointer(base.dir, None, newly_covered, 0, publish)
        name = f"data-{_stamp()}.parquet"
        write_with(base.dir / name, lambda tmp: con.execute(
            f"COPY (SELECT {cols}, sum(rev) OVER (PARTITION BY key)::INTEGER AS revisions FROM "
            f"({' UNION ALL '.join(sources)}) QUALIFY row_number() OVER "
            "(PARTITION BY key ORDER BY finished_at DESC, run_id DESC) = 1 ORDER BY key) "
            f"TO {_sql(str(tmp))} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 131072)"))
        rows = pq.ParquetFile(base.dir / name).metadata.num_rows
        if publish is not None:
            publish(base.dir / name)  # the data first: a pointer never names data that is not there
        return _write_pointer(base.dir, base.dir / name, newly_covered, rows, publish)
    finally:
        con.close()


#: What the state keeps per key: the resume facts, and the series columns and the error (for the ledger), without
#: revisions (computed by the fold).
_FOLD_COLUMNS = [c for c in STATE_COLUMNS if c != "revisions"] + [*STATE_SERIES, "error"]


def _current_format(data: Path) -> bool:
    """Whether a state data file has every column this version keeps."""
    return set(STATE_COLUMNS + _FOLD_COLUMNS) <= set(pq.read_schema(data).names)


def _facts_sql(con: Any, parts: list[str]) -> str:
    """The fact rows of the manifest ``parts``, as a subquery with every column the fold reads (columns that
    parts written by an older raycollect lack are null)."""
    from raycollect.manifest.query import with_columns

    wanted = [FILES_SCHEMA.field(c) for c in [*_FOLD_COLUMNS, "previous_sha256", "shard_id"]]
    return f"(SELECT * FROM {with_columns(con, _union_sql(parts), wanted)} WHERE {FACT_FILTER})"


def _q(name: str) -> str:
    return '"' + name + '"'


def _union_sql(parts: list[str]) -> str:
    listed = ", ".join(_sql(p) for p in parts)
    return f"read_parquet([{listed}], hive_partitioning = true, union_by_name = true)"


def _write_pointer(folder: Path, data: Path | None, covers: frozenset[str] | set[str], rows: int,
                   publish: Callable[[Path], None] | None = None) -> State:
    folder.mkdir(parents=True, exist_ok=True)
    doc = {"format": 1, "data": data.name if data else None, "covers": sorted(covers), "rows": rows,
           "written_at": dt.datetime.now(dt.timezone.utc).isoformat()}
    name = f"state-{_stamp()}.json"
    write_text(folder / name, json.dumps(doc))
    if publish is not None:
        publish(folder / name)
    _collect_garbage(folder)
    return State(folder, data, frozenset(covers), rows)


def _collect_garbage(folder: Path) -> None:
    """Keep the newest KEEP_POINTERS pointers and the data files they name."""
    pointers = sorted(folder.glob("state-*.json"))
    keep: set[str] = set()
    for pointer in pointers[-KEEP_POINTERS:]:
        with contextlib.suppress(OSError, ValueError, KeyError):
            keep.add(json.loads(pointer.read_text())["data"])
    for pointer in pointers[:-KEEP_POINTERS]:
        pointer.unlink(missing_ok=True)
    if len(pointers) < KEEP_POINTERS:
        return
    oldest_kept = _stamp_of(pointers[-KEEP_POINTERS].name)
    for data in folder.glob("data-*.parquet"):
        # Only data written before every kept pointer: a concurrent writer's fresh data is never removed.
        if data.name not in keep and _stamp_of(data.name) < oldest_kept:
            data.unlink(missing_ok=True)


def _stamp_of(name: str) -> str:
    """``state-<stamp>.json`` or ``data-<stamp>.parquet`` -> ``<stamp>`` (stamps sort by time)."""
    return name.split("-", 1)[1].rsplit(".", 1)[0]


def _stamp() -> str:
    now = dt.datetime.now(dt.timezone.utc)
    return now.strftime("%Y%m%dT%H%M%S") + f"{now.microsecond:06d}Z-" + secrets.token_hex(3)


def _sql(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def empty_state_table() -> pa.Table:
    return STATE_SCHEMA.empty_table()


__all__ = ["State", "empty_state_table", "read_state", "refresh", "run_ids"]
