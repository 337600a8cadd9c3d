"""``raycollect convert``: the verified zips of a config's selection go into the silver tables, on Ray.

Flow: config -> the plan (the same expansion as collection, monthly files and their days) -> semi-join with
the collection state (verified ``success``/``skipped`` rows: key and sha256) -> drop days a monthly file holds,
collected now or converted before (``superseded``) -> drop zips already committed with the same sha256 to the
same table (counted ``skipped``, never written) -> batches of files -> Ray tasks (one CPU each) that convert each
zip to Parquet and write it as an Iceberg data file straight into the warehouse -> the driver commits each
table once (one snapshot per table per run: the new files, and the rows they replace taken out) -> the
conversion manifest says which snapshot holds the run's rows -> small files compacted where a partition has
gathered enough of them.

A zip converted again (re-published: a new sha256; ``--force``; a monthly file over its days) replaces the rows
of its symbol and period in the same snapshot; the previous snapshot stays readable (``--as-of``) until
`raycollect silver expire`. A task or driver killed at any moment leaves the tables at their previous snapshot:
data files written but never committed are orphans, removed by `raycollect silver expire`.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from raycollect.archive import monthly_key_of
from raycollect.config import WorkflowConfig
from raycollect.errors import ConfigurationError
from raycollect.exit_codes import EXIT_FAILED, EXIT_OK
from raycollect.manifest.schema import COLLECTED, PLAN_ROW_SCHEMA
from raycollect.manifest.store import ManifestStore
from raycollect.manifest.writer import new_run_id
from raycollect.silver.commit import Replace
from raycollect.silver.manifest import (
    CONVERSION_SCHEMA,
    CONVERSION_STATUSES,
    QUALITY_COLUMNS,
    ConversionStatus,
    ConversionWriter,
    newest_conversions,
)
from raycollect.silver.quality import period_bounds_us
from raycollect.silver.tables import Lakehouse, lakehouse, table_name
from raycollect.staging import LOCAL_STAGING, StagingArea, sweep
from raycollect.tally import Tally

log = logging.getLogger(__name__)
#: A task converts files until it holds this many bytes of zips (or BATCH_FILES files): small files share a
#: task (Ray's per-task cost is milliseconds), a large trades file has one to itself, so the CPUs stay evenly
#: loaded to the end (the largest files go first).
BATCH_BYTES = 64 << 20
BATCH_FILES = 64
#: Tasks in flight per CPU of the cluster: one running, one queued behind it.
INFLIGHT_PER_CPU = 2
_PLAN_SCHEMA = PLAN_ROW_SCHEMA
CONVERTED, SKIPPED, FAILED, SUPERSEDED = (ConversionStatus.CONVERTED, ConversionStatus.SKIPPED,
                                          ConversionStatus.FAILED, ConversionStatus.SUPERSEDED)


@dataclass(frozen=True)
class ConversionResult:
    run_id: str
    counts: dict[str, int]  # converted, skipped, failed, superseded
    rows: int
    bytes_in: int
    bytes_out: int
    seconds: float
    silver_directory: str  # the warehouse
    manifest_directory: str
    failures: tuple[tuple[str, str], ...] = ()
    quality: dict[str, int] = field(default_factory=dict)  # files with each kind of issue
    unverified: int = 0  # collected files of the selection left out: not verified against a .CHECKSUM
    snapshots: dict[str, int] = field(default_factory=dict)  # table -> the snapshot this run committed
    compacted: dict[str, int] = field(default_factory=dict)  # table -> partitions compacted after the run

    @property
    def exit_code(self) -> int:
        return EXIT_FAILED if self.counts.get(FAILED) else EXIT_OK

    @property
    def wrote(self) -> bool:
        return self.counts.get(CONVERTED, 0) > 0


def check_silver(config: WorkflowConfig) -> Lakehouse:
    """The config's lakehouse, or a ConfigurationError naming the path and the fix (before Ray or a fetch)."""
    lake = lakehouse(config)
    if lake.local:
        path = Path(lake.warehouse)
        if path.exists() and not path.is_dir():
            raise ConfigurationError(f"silver_directory {path} is a file, not a directory: point silver_directory "
                                     "at a directory (it is created if missing)")
        probe = path
        while not probe.exists():
            probe = probe.parent
        if not os.access(probe, os.W_OK | os.X_OK):
            raise ConfigurationError(f"silver_directory {path} cannot be written ({probe} is not writable): choose "
                                     "a directory you can write to")
    return lake


class SilverJob:
    """Convert what ``config`` selects; ``execute()`` returns a ConversionResult."""

    def __init__(self, config: WorkflowConfig, *, ray_address: str | None = None, force: bool = False,
                 show_progress: bool = True, today: dt.date | None = None) -> None:
        self.config = config
        self.ray_address = ray_address
        self.force = force
        self.show_progress = show_progress
        self.today = today

    def execute(self) -> ConversionResult:
        from raycollect.manifest.store import ManifestStore
        from raycollect.paths import check_paths_for_ray_job

        t0 = time.monotonic()
        cfg = self.config
        check_paths_for_ray_job(cfg.output_directory, cfg.manifest_directory, cfg.silver_directory)
        lake = check_silver(cfg)
        store = ManifestStore.for_config(cfg)
        mdir = store.pull()
        run_id = new_run_id()
        writer = ConversionWriter(mdir, run_id, publish=store.publish)
        sources, unverified = self._sources(mdir, store)
        done = newest_conversions(mdir)
        sources, held = _supersede(sources, done)
        catalog = lake.catalog()
        tables = {name: lake.table(m, d, create=True, catalog=catalog)
                  for name, m, d in sorted({(table_name(m, d), m, d) for m, d in
                                            zip(sources["market"].to_pylist(), sources["data_type"].to_pylist(),
                                                strict=True)})}
        sources = sources.append_column("table_name", pc.binary_join_element_wise(sources["market"],
                                                                                  sources["data_type"], "_"))
        uuids = {name: str(t.metadata.table_uuid) for name, t in tables.items()}
        todo, skipped = _split_done(sources, done, uuids, force=self.force)
        tally = ConversionTally()
        tally.counts[SKIPPED] += skipped.num_rows
        before = _converted_before(done, uuids)
        staging = Path(lake.warehouse) / LOCAL_STAGING if lake.local else None
        if staging is not None:
            sweep(staging)
        from raycollect.silver.lease import RunLease, reap_dead_runs

        reaped = reap_dead_runs(store, lake, keep=run_id)  # what killed conversions wrote, never committed
        if reaped:
            log.info("removed %d data files of conversions that died before their commit", reaped)
        with RunLease(store, run_id, sorted(tables)):
            changes = self._convert(todo, tables, lake, run_id, staging, before, writer, tally)
            superseded = _superseded_by_converted(held, changes)
            if superseded.num_rows:
                superseded = superseded.append_column("status", pa.repeat(pa.scalar(SUPERSEDED.value),
                                                                          superseded.num_rows))
                writer.add_table(superseded)
                tally.add(superseded)
            writer.flush()
            snapshots = self._commit(tables, changes, writer, lake, run_id)
            compacted = self._compact(tables, changes, lake, run_id)
        return ConversionResult(run_id, dict(tally.counts), tally.rows, tally.bytes_in, tally.bytes_out,
                                time.monotonic() - t0, lake.warehouse, str(store.location), tuple(tally.failures),
                                tally.quality, unverified, snapshots, compacted)

    def _convert(self, todo: pa.Table, tables: dict[str, Any], lake: Lakehouse, run_id: str,
                 staging: Path | None, before: set[str], writer: ConversionWriter,
                 tally: ConversionTally) -> dict[str, _TableChange]:
        """Convert ``todo`` on Ray: each row into the conversion manifest and the tally, each table's data files
        and replaced rows gathered for its commit."""
        changes: dict[str, _TableChange] = defaultdict(_TableChange)
        if not todo.num_rows:
            return changes
        from raycollect.progress import Progress

        progress = Progress(todo.num_rows, enabled=self.show_progress, label="convert")
        progress.start(todo.num_rows)
        metas = {name: t.metadata for name, t in tables.items()}
        sink = _ConversionSink(writer, tally, changes, progress, replaces=lambda key: self.force or key in before)
        try:
            self._dispatch(todo, lake, metas, run_id, staging, sink)
        finally:
            progress.close()
        if staging is not None:
            sweep(staging)  # a task killed mid-file (its worker died) left its temporary output there
        return changes

    def _commit(self, tables: dict[str, Any], changes: dict[str, _TableChange], writer: ConversionWriter,
                lake: Lakehouse, run_id: str) -> dict[str, int]:
        """One snapshot per changed table; the conversion manifest records each right after it."""
        from raycollect.silver.commit import commit

        snapshots = {}
        for name, change in sorted(changes.items()):
            table = tables[name]
            snapshot = commit(table, change.added, change.replaced, run_id=run_id, operation="convert",
                              sources=change.sources, io_properties=lake.file_io_properties())
            if snapshot is not None:
                snapshots[name] = snapshot
            writer.committed(name, snapshot, str(table.metadata.table_uuid))
        return snapshots

    def _compact(self, tables: dict[str, Any], changes: dict[str, _TableChange], lake: Lakehouse,
                 run_id: str) -> dict[str, int]:
        """Compact the partitions this run wrote to, where their small files have reached the threshold."""
        from raycollect.silver.maintain import compact

        out = {}
        for name, change in sorted(changes.items()):
            if change.added:
                done = compact(tables[name], lake, min_files=self.config.silver_compact_min_files,
                               target_bytes=self.config.silver_target_file_mb << 20, run_id=run_id,
                               partitions={f.partition for f in change.added})
                if done:
                    out[name] = done
        return out

    # --- what to convert ---
    def _sources(self, mdir: Path, store: ManifestStore) -> tuple[pa.Table, int]:
        """Plan rows of the selection that the collection state holds verified (plan columns + sha256, size), and
        how many more it holds collected but unverified (``download_checksum: false``): those stay bronze only.

        Symbol patterns (``*USDT``) match the symbols the collection holds for each market and data type (no
        listing of the archive: what was not collected has nothing to convert)."""
        from raycollect.manifest.state import read_state, refresh, run_ids
        from raycollect.matrix import load_matrix
        from raycollect.plan import build_plan
        from raycollect.selection import effective_range, resolve

        cfg = self.config
        if not run_ids(mdir):
            raise ConfigurationError(f"No manifests in {store.location}: collect first (`raycollect run CONFIG`), or "
                                     "pass the right --manifest-directory")
        matrix = load_matrix(cfg.matrix_path)
        cfg, _ = effective_range(cfg, matrix, self.today)
        try:
            state = refresh(mdir, publish=store.publish)
        except OSError:  # a read-only manifest directory: read the newest state and the runs it lacks
            state = read_state(mdir)
        if state.data is None:
            raise ConfigurationError(f"No collected files in {store.location}: collect first (`raycollect run CONFIG`)")
        import pyarrow.parquet as pq

        facts = pq.read_table(state.data, columns=["key", "status", "sha256", "size_bytes", "checksum_verified"])
        collected = facts.filter(pc.is_in(facts["status"], pa.array(COLLECTED)))
        checked = pc.fill_null(collected["checksum_verified"], False)
        verified = collected.filter(checked)
        series = None
        if cfg.has_symbol_patterns:
            series = _collected_series(resolve(cfg, matrix), collected["key"], cfg.quote_assets)
        plan = build_plan(cfg, matrix, today=self.today, monthly_fallback=True, series=series)
        plan = plan.select(_PLAN_SCHEMA.names).cast(_PLAN_SCHEMA)
        joined = plan.join(verified.select(["key", "sha256", "size_bytes"]), "key", join_type="inner")
        unchecked = pc.filter(collected["key"], pc.invert(checked))
        # Only those of this selection count.
        unverified = pc.sum(pc.is_in(plan["key"], unchecked)).as_py() or 0 if len(unchecked) else 0
        base = cfg.output_directory.rstrip("/") + "/" if cfg.output_directory.startswith("s3://") else \
            str(Path(cfg.output_directory).expanduser().resolve()) + os.sep
        paths = pc.binary_join_element_wise(base, joined["key"], "")
        return joined.append_column("source_path", paths).sort_by("key"), unverified

    # --- on Ray ---
    def _dispatch(self, todo: pa.Table, lake: Lakehouse, metas: dict[str, Any], run_id: str, staging: Path | None,
                  sink: _ConversionSink) -> None:
        """Run ``todo``'s batches as Ray tasks (one CPU each, INFLIGHT_PER_CPU per CPU of the cluster) through the
        collection's dispatcher: a batch whose worker died is tried again, up to MAX_SHARD_ATTEMPTS times."""
        import ray

        from raycollect.actor_cache import CACHE
        from raycollect.cluster import RaySession
        from raycollect.dispatch import Dispatcher, Shard, TaskCalls

        cfg = self.config
        reader = {"endpoint_url": cfg.destination_endpoint_url, "region": cfg.destination_region or cfg.region,
                  "anonymous": cfg.destination_credentials == "anonymous"}
        with RaySession(self.ray_address):
            CACHE.clear()  # downloader actors kept by a collection hold CPUs that the conversion tasks want
            cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
            # Ray retries no task itself: the dispatcher counts each batch's attempts (MAX_SHARD_ATTEMPTS).
            task = ray.remote(num_cpus=1, max_retries=0)(_convert_batch)
            shared = ray.put({"metas": metas, "io": lake.file_io_properties(), "run_id": run_id,
                              "staging": str(staging) if staging else None, "compression": cfg.silver_compression,
                              "reader": reader})
            shards = (Shard(i, batch) for i, batch in enumerate(_batches(todo)))
            stats = Dispatcher(shards, lambda lane: lane, cpus, sink, inflight_per_actor=INFLIGHT_PER_CPU,
                               tick_seconds=0.5, calls=TaskCalls(task, shared)).run()
        if stats["requeued_shards"]:
            log.warning("%d conversion batches were tried again (their worker died); %d given up",
                        stats["requeued_shards"], stats["lost_shards"])


#: The columns of a conversion row that its tally reads.
_TALLIED = pa.schema([CONVERSION_SCHEMA.field(n) for n in ("key", "status", "error", "rows", "bytes_in",
                                                            "bytes_out", *QUALITY_COLUMNS)])


@dataclass
class ConversionTally(Tally):
    """What a conversion run did, from batches of its rows: counts per status (every status, 0 when none), failures,
    rows and bytes, and how many files have each kind of quality issue (``empty_files``: converted with no row)."""

    rows: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    quality: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for status in CONVERSION_STATUSES:
            self.counts.setdefault(status, 0)

    def add(self, table: pa.Table) -> Counter[str]:
        batch = super().add(table)
        if not table.num_rows:
            return batch
        self.rows += _sum(table, "rows")
        self.bytes_in += _sum(table, "bytes_in")
        self.bytes_out += _sum(table, "bytes_out")
        for name in QUALITY_COLUMNS:
            if name in table.column_names:
                self._issue(name, int(pc.sum(pc.fill_null(pc.greater(table[name], 0), False)).as_py() or 0))
        if batch.get(CONVERTED) and "rows" in table.column_names:
            none = pc.and_(pc.equal(table["status"], CONVERTED.value), pc.fill_null(pc.equal(table["rows"], 0), True))
            self._issue("empty_files", int(pc.sum(none).as_py() or 0))
        return batch

    def add_rows(self, rows: list[dict[str, Any]]) -> Counter[str]:
        """``add`` for rows as dicts (those of a finished batch)."""
        return self.add(pa.Table.from_pylist(rows, schema=_TALLIED))

    def _issue(self, name: str, files: int) -> None:
        if files:
            self.quality[name] = self.quality.get(name, 0) + files


def _sum(table: pa.Table, column: str) -> int:
    return int(pc.sum(table[column]).as_py() or 0) if column in table.column_names else 0


class _ConversionSink:
    """What the dispatcher tells a conversion: each file's row goes to the conversion manifest and the tally, and
    its data files to its table's change; a batch given up on (its worker died every time) fails each of its files
    with the reason."""

    def __init__(self, writer: ConversionWriter, tally: ConversionTally, changes: dict[str, _TableChange],
                 progress: Any, *, replaces: Callable[[str], bool]) -> None:
        self.writer, self.tally, self.changes, self.progress, self.replaces = writer, tally, changes, progress, replaces

    def on_result(self, shard: Any, results: list[tuple[dict[str, Any], list[Any]]]) -> None:
        for row, files in results:
            self.writer.add(row)
            if row["status"] != FAILED:
                self.changes[row["table_name"]].add(row, files, replaces=self.replaces(row["key"]))
        before = self.tally.bytes_in
        batch = self.tally.add_rows([row for row, _ in results])
        self.progress.add(len(results), self.tally.bytes_in - before, batch.get(FAILED, 0))

    def on_lost(self, shard: Any, reason: str) -> None:
        now = _now()
        self.on_result(shard, [({**_base(row), "status": FAILED, "error": f"conversion lost: {reason}",
                                 "converted_at": now}, []) for row in shard.rows])

    def on_actors(self, infos: list[dict[str, Any]]) -> None:
        pass  # lanes, not actors: nothing to report

    def tick(self) -> None:
        self.progress.tick()


@dataclass
class _TableChange:
    """What one run changes in one table: files to add, rows they replace, the sources (key -> sha256)."""

    added: list[Any] = field(default_factory=list)
    replaced: list[Any] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    monthly: set[str] = field(default_factory=set)  # monthly keys converted: their days are superseded

    def add(self, row: dict[str, Any], files: list[Any], *, replaces: bool) -> None:
        self.added.extend(files)
        self.sources[row["key"]] = row["sha256"]
        if row["partition"] == "monthly":
            self.monthly.add(row["key"])
        if replaces or row["partition"] == "monthly":  # a monthly file takes the place of its days
            start, end = period_bounds_us(row["partition"], row["period"])
            self.replaced.append(Replace(row["symbol"], row["interval"], start, end))


def _collected_series(series: list[Any], keys: pa.ChunkedArray, quote_assets: list[str] | None) -> list[Any]:
    """``series`` with each symbol pattern replaced by the symbols it matches among the collected ``keys`` (the
    folder after each series' prefix); a series left with no symbol is dropped."""
    from raycollect.discovery import choose_symbols, symbol_prefixes

    found: dict[tuple[str, str], set[str]] = {}
    for s in series:
        pair = (s.market, s.data_type)
        if pair in found:
            continue
        names: set[str] = set()
        for base in symbol_prefixes(s.entry):
            below = pc.filter(keys, pc.starts_with(keys, base))
            if len(below):
                rest = pc.utf8_slice_codeunits(below, len(base))
                names.update(n for n in pc.unique(pc.list_element(pc.split_pattern(rest, "/"), 0)).to_pylist() if n)
        found[pair] = names
    out = []
    for s in series:
        chosen = choose_symbols(s.symbols, found[(s.market, s.data_type)], quote_assets)
        if chosen:
            out.append(replace(s, symbols=tuple(chosen)))
    return out


def _supersede(sources: pa.Table, done: pa.Table) -> tuple[pa.Table, pa.Table]:
    """(sources to convert, daily sources whose month a monthly file holds: one of this selection, or one already
    in the tables). A month in silver as its monthly file never gets its days added beside it."""
    if not sources.num_rows:
        return sources, sources.slice(0, 0)
    daily = pc.equal(sources["partition"], "daily")
    monthly_keys = pc.filter(sources["key"], pc.equal(sources["partition"], "monthly"))
    if done.num_rows:
        kept = done.filter(pc.and_(pc.equal(done["partition"], "monthly"), pc.equal(done["status"], CONVERTED.value)))
        monthly_keys = pa.chunked_array(monthly_keys.chunks + kept["key"].chunks, pa.string())
    held = pc.and_(daily, pc.fill_null(pc.is_in(monthly_key_of(sources["key"]), monthly_keys), False))
    return sources.filter(pc.invert(held)), sources.filter(held)


def _superseded_by_converted(held: pa.Table, changes: dict[str, _TableChange]) -> pa.Table:
    """The held days whose monthly file is in the tables: converted by this run (its commit takes them out), or
    before. A day whose monthly file failed to convert stays as it was: never removed for a failure."""
    if not held.num_rows:
        return held
    converted_now = sorted(k for c in changes.values() for k in c.monthly)
    monthly = monthly_key_of(held["key"])
    return held.filter(pc.fill_null(pc.is_in(monthly, pa.array(converted_now, pa.string())), False)) if \
        converted_now else held.slice(0, 0)


def _converted_before(done: pa.Table, uuids: dict[str, str]) -> set[str]:
    """Keys whose rows are in the current tables (committed ``converted`` rows of a table with today's uuid):
    converting one again replaces its rows."""
    if not done.num_rows:
        return set()
    mask = pc.equal(done["status"], CONVERTED.value)
    same = pc.is_in(pc.binary_join_element_wise(done["table_name"], done["table_uuid"], "|"),
                    pa.array([f"{n}|{u}" for n, u in uuids.items()], pa.string()))
    return set(done.filter(pc.and_(mask, pc.fill_null(same, False)))["key"].to_pylist())


def _split_done(sources: pa.Table, done: pa.Table, uuids: dict[str, str], *,
                force: bool) -> tuple[pa.Table, pa.Table]:
    """(to convert, already committed with the same sha256 to the same table)."""
    if force or not done.num_rows or not sources.num_rows:
        return sources, sources.slice(0, 0)
    conv = done.filter(pc.equal(done["status"], CONVERTED.value))
    current = pa.array([uuids.get(n) for n in sources["table_name"].to_pylist()], pa.string())
    tag = pc.binary_join_element_wise(sources["key"], sources["sha256"], current, "|")
    conv_tag = pc.binary_join_element_wise(conv["key"], conv["sha256"], conv["table_uuid"], "|")
    same = pc.fill_null(pc.is_in(tag, conv_tag), False)
    return sources.filter(pc.invert(same)), sources.filter(same)


def _batches(todo: pa.Table) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    size = 0
    for row in todo.sort_by([("size_bytes", "descending")]).to_pylist():
        batch.append(row)
        size += row.get("size_bytes") or 0
        if size >= BATCH_BYTES or len(batch) >= BATCH_FILES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _base(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in (*_PLAN_SCHEMA.names, "sha256", "source_path", "table_name")}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _convert_batch(rows: list[dict[str, Any]], shared: dict[str, Any]) -> list[tuple[dict[str, Any], list[Any]]]:
    """A Ray task: convert each file and write it as data files of its table; every file gets a row (a failure is
    a row with its reason, not an error) and the data files to commit (none for a failure).

    Outputs are written in this task's staging directory (held by this process's flock: if the worker dies, the
    next sweep removes what it left) and moved into the table's data folder when complete; on an S3 warehouse
    (and for zips on S3) the staging is a local temporary directory."""
    # One conversion runs per CPU (num_cpus=1), so polars' parser gets one thread in this worker, not a pool of
    # one per core in every worker (parsing 8 M trades rows: 1.14 CPU-s on one thread, 1.21 on two; the
    # benchmark's wall time did not change measurably). Read once, when polars is first imported in this
    # process; a value the user set is kept.
    os.environ.setdefault("POLARS_MAX_THREADS", "1")
    import tempfile

    from raycollect.silver.convert import ConversionError, Source, convert_file
    from raycollect.silver.datafile import PartitionMismatch, publish

    if shared["io"].get("s3.endpoint"):  # as Lakehouse.prepare_io does on the driver
        os.environ.setdefault("AWS_REQUEST_CHECKSUM_CALCULATION", "when_required")
    staging = Path(shared["staging"]) if shared["staging"] else Path(tempfile.gettempdir()) / "raycollect-convert"
    out: list[tuple[dict[str, Any], list[Any]]] = []
    with StagingArea(staging, f"convert-{os.getpid()}") as area:
        tmp_dir = area.shard_dir()
        for row in rows:
            meta = shared["metas"][row["table_name"]]
            try:
                path = _local_zip(row["source_path"], tmp_dir, shared["reader"])
                src = Source(row["key"], str(path), row["market"], row["data_type"], row["symbol"], row["interval"],
                             row["partition"], row["period"], row["sha256"])
                parquet = tmp_dir / (row["key"].rsplit("/", 1)[-1][:-4] + ".parquet")
                try:
                    facts = convert_file(src, parquet, tmp_dir=tmp_dir, compression=shared["compression"])
                finally:
                    if path != Path(row["source_path"]):
                        path.unlink(missing_ok=True)
                files = publish(parquet, meta, shared["io"], shared["run_id"],
                                symbol=None if row["data_type"] == "EOHSummary" else row["symbol"])
                out.append(({**_base(row), **facts, "output_path": files[0].file_path if files else None,
                             "bytes_out": sum(f.file_size_in_bytes for f in files), "status": CONVERTED,
                             "error": None, "converted_at": _now()}, files))
            except (ConversionError, PartitionMismatch) as exc:
                out.append(({**_base(row), "status": FAILED, "error": str(exc), "converted_at": _now()}, []))
            except Exception as exc:  # noqa: BLE001 - a bug of ours fails this file, with the words to report it
                out.append(({**_base(row), "status": FAILED, "converted_at": _now(),
                             "error": f"internal error (please report): {type(exc).__name__}: {exc}"[:500]}, []))
    return out


def _local_zip(source: str, tmp_dir: Path, reader: dict[str, Any]) -> Path:
    """The zip as a local file: itself, or a download of an ``s3://`` one into ``tmp_dir``."""
    if not source.startswith("s3://"):
        return Path(source)
    from raycollect.downloaders.retry import s3_client

    bucket, _, key = source[5:].partition("/")
    target = tmp_dir / key.rsplit("/", 1)[-1]
    s3_client(**reader).download_file(bucket, key, str(target))
    return target
