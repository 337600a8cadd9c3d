"""One snapshot per change: the data files a run wrote go in, the rows they replace go out, atomically.

A run's commit to a table is one Iceberg snapshot:
- ``append`` when nothing is replaced (a day's new files): a fast append, a manifest of the new files;
- ``overwrite`` when sources replace rows (a re-published zip, a monthly file that holds days already in the
  table, ``convert --force``, a compaction): each replaced range (symbol, interval, period) takes out the data
  files wholly inside it, and files that hold rows inside and outside it (a compacted month, where one day is
  replaced) are rewritten without those rows; removed and added files go in the same snapshot.
The snapshot's properties say who made it: ``raycollect.run-id``, ``raycollect.version``, ``raycollect.operation``
and the sources (key and sha256) inline, or, past ``INLINE_SOURCES``, in a Parquet file beside the metadata
whose path ``raycollect.sources-file`` names (a snapshot's properties are copied into every later metadata
file, so 100,000 keys inline would weigh on every commit).
A concurrent commit is retried by pyiceberg on the new snapshot (``commit.retry.num-retries``); when the other
writer removed a file this one replaces, the commit stops with CommitConflict and nothing of it is visible.
"""

from __future__ import annotations

import json
import secrets
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from raycollect.errors import RaycollectError

if TYPE_CHECKING:
    from pyiceberg.manifest import DataFile
    from pyiceberg.table import Table

#: Sources listed inline in a snapshot's properties; more go to a sources file.
INLINE_SOURCES = 1000


class CommitConflict(RaycollectError):
    """Another writer changed the files this commit replaces; nothing of this commit is visible."""


@dataclass(frozen=True)
class Replace:
    """The rows of one series and period that a commit takes out (``end_us`` exclusive)."""

    symbol: str
    interval: str | None
    start_us: int
    end_us: int


def commit(table: Table, added: list[DataFile], replaced: Iterable[Replace], *, run_id: str, operation: str,
           sources: dict[str, str] | None = None, io_properties: dict[str, str] | None = None,
           removed: Iterable[DataFile] = (), refresh: bool = True) -> int | None:
    """Commit ``added`` after taking out ``replaced`` rows and the ``removed`` files; the new snapshot's id (None
    when there was nothing to commit). Raises CommitConflict when a concurrent writer removed a replaced file.
    ``refresh``: start from the catalog's newest snapshot (False: from the one ``table`` holds, as a writer that
    lost a race does; pyiceberg then retries on the newest)."""
    from pyiceberg.exceptions import CommitFailedException, ValidationException

    replaced = list(replaced)
    removed = list(removed)
    if not added and not replaced and not removed:
        return None
    if refresh:
        table.refresh()
    rewritten: list[DataFile] = []
    if replaced:
        gone, rewritten = _take_out(table, replaced, run_id, io_properties or {})
        removed = list({f.file_path: f for f in [*removed, *gone]}.values())
    props = _properties(table, run_id, operation, sources or {}, io_properties or {})
    try:
        with table.transaction() as tx:
            if removed:
                producer = tx.update_snapshot(snapshot_properties=props).overwrite()
                for f in removed:
                    producer.delete_data_file(f)
            else:
                producer = tx.update_snapshot(snapshot_properties=props).fast_append()
            for f in [*added, *rewritten]:
                producer.append_data_file(f)
            producer.commit()
    except (ValidationException, CommitFailedException) as exc:
        raise CommitConflict(f"{table.name()}: another writer changed the table while this run committed "
                             f"({type(exc).__name__}: {exc}); nothing of this run is in the table: run it "
                             "again") from None
    table.refresh()
    snapshot = table.current_snapshot()
    return snapshot.snapshot_id if snapshot else None


def _properties(table: Table, run_id: str, operation: str, sources: dict[str, str],
                io_properties: dict[str, str]) -> dict[str, str]:
    from raycollect import __version__

    props = {"raycollect.run-id": run_id, "raycollect.version": __version__, "raycollect.operation": operation,
             "raycollect.source-count": str(len(sources))}
    if len(sources) <= INLINE_SOURCES:
        if sources:
            props["raycollect.sources"] = json.dumps(sources, separators=(",", ":"), sort_keys=True)
        return props
    import pyarrow.parquet as pq
    from pyiceberg.io import load_file_io

    keys = sorted(sources)
    path = f"{table.metadata.location.rstrip('/')}/metadata/raycollect-sources-{run_id}-{secrets.token_hex(4)}.parquet"
    io = load_file_io(io_properties, path)
    with io.new_output(path).create(overwrite=True) as out:
        pq.write_table(pa.table({"key": keys, "sha256": [sources[k] for k in keys]}), out, compression="zstd")
    props["raycollect.sources-file"] = path
    return props


def _take_out(table: Table, replaced: list[Replace], run_id: str,
              io_properties: dict[str, str]) -> tuple[list[DataFile], list[DataFile]]:
    """(current data files to remove, rewritten remainders to add) for the ``replaced`` rows."""
    from pyiceberg.expressions import In

    meta = table.metadata
    spec, schema = meta.spec(), meta.schema()
    key_field = schema.find_field(spec.fields[0].source_id)
    time_field = schema.find_field(spec.fields[-1].source_id)
    interval_field = schema.find_field(spec.fields[1].source_id) if len(spec.fields) == 3 else None
    ranges: dict[tuple[str, str | None], list[tuple[int, int]]] = defaultdict(list)
    for r in replaced:
        ranges[(r.symbol, r.interval if interval_field else None)].append((r.start_us, r.end_us))
    symbols = sorted({s for s, _ in ranges})
    gone: list[DataFile] = []
    rewritten: list[DataFile] = []
    for task in table.scan(row_filter=In(key_field.name, symbols)).plan_files():
        f = task.file
        symbol = f.partition[0]
        interval = f.partition[1] if interval_field else None
        spans = ranges.get((symbol, interval))
        if not spans:
            continue
        lo, hi = _bounds(f, time_field)
        if lo is None:  # no time bounds (all null): nothing of it is in a period
            continue
        hits = [(a, b) for a, b in spans if lo < b and hi >= a]
        if not hits:
            continue
        gone.append(f)
        if not any(a <= lo and hi < b for a, b in hits):  # rows outside the replaced periods stay
            rewritten.extend(_rewrite_without(f, hits, time_field.name, meta, io_properties, run_id))
    return gone, rewritten


def _bounds(f: DataFile, time_field: Any) -> tuple[int | None, int | None]:
    """The file's time bounds in microseconds (dates as midnight)."""
    from pyiceberg.conversions import from_bytes
    from pyiceberg.types import DateType

    lo, hi = (f.lower_bounds or {}).get(time_field.field_id), (f.upper_bounds or {}).get(time_field.field_id)
    if lo is None or hi is None:
        return None, None
    lo, hi = from_bytes(time_field.field_type, lo), from_bytes(time_field.field_type, hi)
    if isinstance(time_field.field_type, DateType):
        return lo * 86_400_000_000, hi * 86_400_000_000
    return lo, hi


def _rewrite_without(f: DataFile, spans: list[tuple[int, int]], time_column: str, meta: Any,
                     io_properties: dict[str, str], run_id: str) -> list[DataFile]:
    """``f``'s rows outside ``spans``, as new data files (none when no row is left)."""
    import shutil
    import tempfile
    from pathlib import Path

    import pyarrow.parquet as pq
    from pyiceberg.io import load_file_io

    from raycollect.silver.datafile import publish

    io = load_file_io(io_properties, f.file_path)
    with io.new_input(f.file_path).open() as fh:
        data = pq.read_table(fh)
        codec = pq.ParquetFile(fh).metadata.row_group(0).column(0).compression.lower() if data.num_rows else "zstd"
    times = data.column(time_column)
    if pa.types.is_date(times.type):
        times = times.cast(pa.timestamp("us"))
    micros = times.cast(pa.int64())
    inside = pa.array([False] * data.num_rows) if data.num_rows else pa.array([], pa.bool_())
    for a, b in spans:
        inside = pc.or_(inside, pc.and_(pc.greater_equal(micros, a), pc.less(micros, b)))
    keep = data.filter(pc.invert(pc.fill_null(inside, False)))
    if not keep.num_rows:
        return []
    scratch = Path(tempfile.mkdtemp(prefix="raycollect-rewrite-"))
    try:
        tmp = scratch / "part.parquet"
        pq.write_table(keep, tmp, compression=codec, store_schema=False)
        return publish(tmp, meta, io_properties, run_id)  # consumes tmp
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
