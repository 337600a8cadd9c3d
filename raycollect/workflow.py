"""The driver: config -> plan -> resume filter -> shards -> actors -> manifest -> run record -> summary.

``ArchiveCollectionWorkflow`` keeps the seed's API (``execute()`` returning the seed's result dict,
``get_job_config()`` as the Ray counterpart of ``get_flow_config``) on top of Ray actors.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from raycollect.config import WorkflowConfig
from raycollect.errors import ConfigurationError
from raycollect.manifest import (
    FILES_SCHEMA,
    ManifestWriter,
    files_glob,
    latest_per_key,
    new_run_id,
    sql_string,
    write_ingestion_metadata,
    write_run_record,
)
from raycollect.matrix import load_matrix
from raycollect.metrics import MetricsCollector
from raycollect.models import DataZone, IngestionMetadata
from raycollect.plan import build_plan
from raycollect.progress import Progress, human_bytes
from raycollect.resume import split_for_resume
from raycollect.selection import effective_range
from raycollect.staging import sweep
from raycollect.storage import BaseStorage, make_storage

log = logging.getLogger(__name__)
EXIT_OK, EXIT_UNEXPECTED, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 3, 130
_PLAN_COLUMNS = ["market", "data_type", "partition", "symbol", "interval", "period", "key"]


class ArchiveCollectionWorkflow:
    """Collect what ``config`` asks for from the archive onto ``storage`` (default: output_directory)."""

    def __init__(
        self,
        config: WorkflowConfig | dict[str, Any],
        metrics_collector: MetricsCollector | None = None,
        *,
        storage: BaseStorage | None = None,
        ray_address: str | None = None,
        strict: bool = False,
        show_progress: bool = True,
        only_collected: bool = False,
    ) -> None:
        self.config = config if isinstance(config, WorkflowConfig) else WorkflowConfig(config)
        self.metrics = metrics_collector or MetricsCollector()
        self.storage = storage or make_storage(self.config)
        self.ray_address = ray_address
        self.strict = strict
        self.show_progress = show_progress
        self.only_collected = only_collected  # `raycollect verify`: only files an earlier run collected
        self.discovery: Any = None
        self.notes: list[str] = []  # what was not planned and why (symbols, dates), one line each
        self.stop = threading.Event()  # set by SIGINT / SIGTERM: hand out no more shards
        self._signals: Callable[[], None] = lambda: None

    # --- the seed's API ---
    def get_job_config(self) -> dict[str, Any]:
        """How to submit this workflow as a Ray job (the Ray counterpart of the seed's get_flow_config)."""
        from raycollect.actors import ACTOR_CPUS

        return {
            "entrypoint": "python jobs/collect.py --config <CONFIG>",
            "runtime_env": {"working_dir": "."},
            "actors": {"count": self.config.num_actors or self.config.max_parallel_downloads,
                       "num_cpus": ACTOR_CPUS, "workers_per_actor": self.config.workers_per_actor},
            "shard_size": self.config.batch_size,
            "downloader": self.config.downloader,
            "manifest_directory": self.config.manifest_dir,
        }

    def execute(self) -> dict[str, Any]:
        """Run the collection. Config and matrix errors raise ConfigurationError; anything else during
        the run returns ``status: failed`` with ``error``, ``metadata`` and ``partial_results``."""
        cfg = self.config
        self.run_id = run_id = new_run_id()
        started, t0 = dt.datetime.now(dt.timezone.utc), time.monotonic()
        self.metadata = IngestionMetadata(task_id=run_id, status="running", created_at=started, updated_at=started)
        self.counts: Counter[str] = Counter()
        self.total_bytes = 0
        self.failures: list[tuple[str, str]] = []
        self.missing: list[str] = []
        self.planned = 0
        self.actors_started = 0
        self.per_node: dict[str, list[int]] = {}
        self.monthly_collected = False  # only then can this run supersede daily files
        # Bad input is not a run: ConfigurationError propagates from here, before anything is written.
        matrix = load_matrix(cfg.matrix_path)
        cfg, self.notes = effective_range(cfg, matrix)
        self.config = cfg
        self._preflight()
        self.writer = ManifestWriter(cfg.manifest_dir, run_id)
        error: str | None = None
        with _interrupts(self.stop) as self._signals:
            try:
                plan = self._plan(matrix)
                self.planned = plan.num_rows
                self._run(plan, run_id)
            except ConfigurationError:
                raise
            except Exception as exc:  # noqa: BLE001 - a failed run is reported as data, with what was done
                error = f"{type(exc).__name__}: {exc}"
                log.error("run %s failed: %s", run_id, error)
            finally:
                self.writer.flush()
                sweep(self.storage.staging_root)  # what this run's actors staged, if any was left
        return self._finish(run_id, started, time.monotonic() - t0, error)

    # --- internals ---
    def _preflight(self) -> None:
        """Source and destinations work, before anything is listed, downloaded or Ray is started."""
        from raycollect.preflight import check_destinations, check_source

        cfg = self.config
        check_source(cfg.bucket, cfg.endpoint_url, cfg.region)
        check_destinations(self.storage, cfg.manifest_dir)
        sweep(self.storage.staging_root)  # staging of runs that are no longer alive

    def _plan(self, matrix: Any) -> pa.Table:
        from raycollect.discovery import discover_plan, listed_selection

        cfg = self.config
        if cfg.uses_discovery:
            plan, self.discovery = discover_plan(cfg, matrix, self.storage)
            report = self.discovery
        else:
            series, _, report = listed_selection(cfg, matrix)
            plan = build_plan(cfg, matrix, series=series)
        self.notes += report.notes
        if not self.storage.mirrors_keys:
            plan = _apply_layout(plan, self.storage)
        if self.only_collected:
            plan = _only_collected(plan, cfg.manifest_dir)
        return plan

    def _run(self, plan: pa.Table, run_id: str) -> None:
        cfg = self.config
        unlisted = None
        if "listed" in plan.column_names:  # discovery: absent files are recorded, never requested
            unlisted = plan.filter(pc.invert(plan["listed"]))
            plan = plan.filter(plan["listed"])
        todo, skipped = split_for_resume(plan, self.storage, cfg.manifest_dir,
                                         resume=cfg.enable_resume and not cfg.force_redownload,
                                         verify=cfg.download_checksum, reverify=cfg.reverify)
        self.metrics.record_event("run_started", run_id=run_id, planned=self.planned, to_fetch=todo.num_rows,
                                  skipped=skipped.num_rows)
        self.progress = Progress(self.planned, enabled=self.show_progress)
        if unlisted is not None and unlisted.num_rows:
            absent = _status_rows(unlisted.num_rows, "missing", "not listed in the archive (discovery)", 0)
            self._record(self._manifest_rows(unlisted, absent, shard_id=None), unlisted.num_rows)
        if skipped.num_rows:
            self._record(self._manifest_rows(skipped, skipped, shard_id=None), skipped.num_rows)
        if todo.num_rows == 0 or self.stop.is_set():
            self.progress.close()
            return
        self._dispatch(todo, run_id)
        self.progress.close()

    def _dispatch(self, todo: pa.Table, run_id: str) -> None:
        from raycollect.actors import actor_class
        from raycollect.cluster import RaySession, actor_slots
        from raycollect.dispatch import Shard, dispatch
        from raycollect.downloaders import DownloaderSettings

        cfg = self.config
        with RaySession(self.ray_address):
            self._signals()  # ray.init installs its own SIGTERM handler: ours must win
            size = cfg.batch_size
            n_shards = -(-todo.num_rows // size)
            n = cfg.num_actors or max(1, min(cfg.max_parallel_downloads, actor_slots(cfg.actor_resources)))
            n = min(n, n_shards)
            settings = DownloaderSettings(
                bucket=cfg.bucket, endpoint_url=cfg.endpoint_url, region=cfg.region, workers=cfg.workers_per_actor,
                timeout_seconds=cfg.timeout_seconds, enable_batch_mode=cfg.enable_batch_mode,
                part_size_mb=cfg.part_size_mb, s5cmd_extra_args=tuple(cfg.s5cmd_extra_args))
            cls = actor_class({k: float(v) for k, v in cfg.actor_resources.items()})

            def make_actor(i: int) -> Any:
                return cls.remote(cfg.downloader, settings, self.storage, cfg.download_checksum, run_id)

            def shards() -> Iterator[Shard]:
                cols = ["key", "checksum_key", "target", "verify_existing"]
                for sid in range(n_shards):
                    part = todo.slice(sid * size, size).select(cols)
                    yield Shard(sid, {c: part[c].to_pylist() for c in cols})

            def on_actors(infos: list[dict[str, Any]]) -> None:
                self.actors_started = max(self.actors_started, len(infos))
                self.metrics.record_event("actors_started", run_id=run_id, actors=infos)

            def on_result(shard: Shard, results: pa.RecordBatch) -> None:
                rows = todo.slice(shard.shard_id * size, size)
                table = self._manifest_rows(rows, pa.Table.from_batches([results]), shard_id=shard.shard_id)
                self._record(table, rows.num_rows, shard=shard)

            def on_lost(shard: Shard, reason: str) -> None:
                rows = todo.slice(shard.shard_id * size, size)
                lost = _status_rows(rows.num_rows, "failed", reason, shard.attempt)
                self._record(self._manifest_rows(rows, lost, shard_id=shard.shard_id), rows.num_rows, shard=shard)

            stats = dispatch(shards(), make_actor, n, on_result, on_lost, tick=self.progress.tick,
                             on_actors=on_actors, stop=self.stop)
            self.metrics.record_event("dispatch_finished", run_id=run_id, **stats)

    def _manifest_rows(self, plan_rows: pa.Table, results: pa.Table, *, shard_id: int | None) -> pa.Table:
        cfg = self.config
        n = plan_rows.num_rows
        keys = plan_rows["key"]
        base = (f"s3://{cfg.bucket}/" if not cfg.endpoint_url else f"{cfg.endpoint_url.rstrip('/')}/{cfg.bucket}/")
        cols: dict[str, Any] = {c: plan_rows[c].cast(pa.string()) if c != "period" else plan_rows[c]
                                for c in _PLAN_COLUMNS}
        cols["run_id"] = pa.array([self.run_id] * n, pa.string())
        cols["source_url"] = pc.binary_join_element_wise(base, keys, "")
        cols["target_path"] = pc.binary_join_element_wise(self.storage.base_uri, plan_rows["target"], "")
        cols["downloader"] = pa.array([cfg.downloader] * n, pa.string())
        cols["shard_id"] = pa.array([shard_id] * n, pa.int64())
        for name in results.column_names:
            if name != "key":
                cols[name] = results[name]
        if "status" not in cols:  # rows skipped by the driver from an earlier run's manifest
            now = dt.datetime.now(dt.timezone.utc)
            cols.update(status=pa.array(["skipped"] * n), attempts=pa.array([0] * n, pa.int32()),
                        started_at=pa.array([now] * n), finished_at=pa.array([now] * n),
                        duration_s=pa.array([0.0] * n))
        return pa.table({f.name: cols[f.name] if f.name in cols else pa.nulls(n, f.type) for f in FILES_SCHEMA})

    def _record(self, table: pa.Table, files: int, shard: Any = None) -> None:
        self.writer.add(table)
        status = table["status"].to_pylist()
        sizes = table["size_bytes"].to_pylist()
        batch = Counter(status)
        self.counts.update(batch)
        nbytes = sum(s or 0 for s, st in zip(sizes, status, strict=True) if st == "success")
        self.total_bytes += nbytes
        if not self.monthly_collected and batch.get("success"):
            monthly = pc.and_(pc.equal(table["partition"], "monthly"), pc.equal(table["status"], "success"))
            self.monthly_collected = bool(pc.any(monthly).as_py())
        for node, st, size in zip(table["node_id"].to_pylist(), status, sizes, strict=True):
            if node is not None and st == "success":
                acc = self.per_node.setdefault(node, [0, 0])
                acc[0] += 1
                acc[1] += size or 0
        for key, st, err in zip(table["key"].to_pylist(), status, table["error"].to_pylist(), strict=True):
            if st == "failed" and len(self.failures) < 1000:
                self.failures.append((key, err or ""))
            elif st == "missing" and len(self.missing) < 1000:
                self.missing.append(key)
        self.progress.add(files, nbytes, batch.get("failed", 0))
        if shard is not None:
            self.metrics.record_event("shard_completed", run_id=self.run_id, shard_id=shard.shard_id,
                                      attempt=shard.attempt, files=files, bytes=nbytes, **dict(batch))

    def _finish(self, run_id: str, started: dt.datetime, seconds: float, error: str | None) -> dict[str, Any]:
        import ray

        cfg, c = self.config, self.counts
        failed = c["failed"] + (c["missing"] if self.strict else 0)
        if self.stop.is_set():
            exit_code, status = EXIT_INTERRUPTED, "interrupted"
        else:
            exit_code = EXIT_UNEXPECTED if error else (EXIT_FAILED if failed else EXIT_OK)
            status = "failed" if error else ("partial" if failed else "success")
        finished = dt.datetime.now(dt.timezone.utc)
        config_json = json.dumps(cfg.to_dict(), sort_keys=True)
        from raycollect import __version__

        write_run_record(cfg.manifest_dir, run_id, {
            "status": status, "started_at": started, "finished_at": finished, "seconds": seconds,
            "planned": self.planned, "success": c["success"], "skipped": c["skipped"], "missing": c["missing"],
            "failed": c["failed"], "bytes": self.total_bytes, "exit_code": exit_code, "downloader": cfg.downloader,
            "actors": self.actors_started, "config_hash": hashlib.sha256(config_json.encode()).hexdigest()[:16],
            "config_json": config_json, "raycollect_version": __version__, "ray_version": ray.__version__,
            "output_directory": self.storage.location, "error": error,
        })  # fmt: skip
        self.metadata = self.metadata.model_copy(update={
            "status": status, "updated_at": finished, "records_processed": c["success"] + c["skipped"],
            "bytes_processed": self.total_bytes, "errors": [f"{k}: {e}" for k, e in self.failures[:100]],
            "source_files": [], "output_files": [],
        })
        write_ingestion_metadata(cfg.manifest_dir, run_id, self.metadata.model_dump_json(indent=2))
        self.metrics.record_event("run_finished", run_id=run_id, status=status, seconds=seconds, **dict(c))
        total = self.planned
        stats = {"total_tasks": total, "successful_tasks": c["success"], "failed_tasks": c["failed"],
                 "skipped_tasks": c["skipped"], "missing_tasks": c["missing"], "total_bytes": self.total_bytes,
                 "processing_time_seconds": round(seconds, 3)}
        result: dict[str, Any] = {
            "status": status, "metadata": self.metadata, "collection_stats": stats,
            "success_rate": round(100.0 * (c["success"] + c["skipped"]) / total, 2) if total else 100.0,
            "total_size_formatted": human_bytes(self.total_bytes), "output_directory": self.storage.location,
            "storage_zones_used": [DataZone.BRONZE.value], "ingestion_metadata_id": run_id, "run_id": run_id,
            "manifest_directory": cfg.manifest_dir, "exit_code": exit_code, "failures": self.failures[:20],
            "missing": self.missing[:20], "notes": self.notes,
            "per_node": {node: {"files": f, "bytes": b} for node, (f, b) in sorted(self.per_node.items())},
        }  # fmt: skip
        if self.discovery is not None:
            d = self.discovery
            result["discovery"] = {"prefixes_listed": d.prefixes_listed, "keys_listed": d.keys_listed,
                                   "planned": d.planned, "available": d.available,
                                   "months_by_days": d.months_by_days, "invalid": d.invalid[:20],
                                   "symbols": d.symbols}
        result["superseded"] = superseded_daily(cfg.manifest_dir, run_id) if self.monthly_collected and not error \
            else []
        if error:
            result.update(error=error, partial_results=stats)
        return result


def _only_collected(plan: pa.Table, manifest_dir: str) -> pa.Table:
    """The plan rows whose newest manifest row says collected (``raycollect verify``)."""
    latest = latest_per_key(manifest_dir)
    if latest is None:
        return plan.slice(0, 0)
    done = latest.filter(pc.is_in(latest["status"], pa.array(["success", "skipped"])))["key"]
    return plan.filter(pc.is_in(plan["key"], value_set=done.combine_chunks()))


def superseded_daily(manifest_dir: str, run_id: str) -> list[tuple[str, int]]:
    """(monthly key collected by this run, daily files of its month collected before) pairs."""
    import duckdb

    con = duckdb.connect()
    try:
        return con.sql(
            f"WITH f AS (SELECT * FROM read_parquet({sql_string(files_glob(manifest_dir))}, hive_partitioning = true, "
            "union_by_name = true)) "
            "SELECT m.key, count(DISTINCT d.key) FROM f m JOIN f d ON d.market = m.market AND "
            "d.data_type = m.data_type AND d.symbol = m.symbol AND coalesce(d.interval, '') = coalesce(m.interval, '') "
            "AND d.partition = 'daily' AND date_trunc('month', d.period) = m.period AND d.run_id <> m.run_id "
            "AND d.status IN ('success', 'skipped') "
            f"WHERE m.run_id = {sql_string(run_id)} AND m.partition = 'monthly' AND m.status = 'success' "
            "GROUP BY m.key ORDER BY m.key"
        ).fetchall()
    finally:
        con.close()


def _status_rows(n: int, status: str, error: str, attempts: int) -> pa.Table:
    """Result columns for ``n`` files that were decided without a transfer (absent, or given up on)."""
    now = dt.datetime.now(dt.timezone.utc)
    return pa.table({"status": [status] * n, "error": [error] * n, "attempts": pa.array([attempts] * n, pa.int32()),
                     "checksum_verified": [False] * n, "started_at": [now] * n, "finished_at": [now] * n,
                     "duration_s": [0.0] * n})


def _apply_layout(plan: pa.Table, storage: BaseStorage) -> pa.Table:
    """Targets from a custom storage layout (row by row: only custom layouts pay for it), each checked."""
    targets = []
    for row in plan.select(["market", "data_type", "partition", "symbol", "interval", "period", "key"]).to_pylist():
        target = storage.get_partition_path(**row)
        storage.check(target)
        targets.append(target)
    if len(set(targets)) != len(targets):
        raise ConfigurationError(f"{type(storage).__name__}.get_partition_path maps different files to one path")
    return plan.set_column(plan.schema.get_field_index("target"), "target", pa.array(targets, pa.string()))


@contextlib.contextmanager
def _interrupts(stop: threading.Event) -> Iterator[Callable[[], None]]:
    """SIGINT and SIGTERM set ``stop`` (the run winds down and records itself); a second one aborts.

    Yields a function that installs the handlers again (after a library such as Ray replaced them).
    """
    if threading.current_thread() is not threading.main_thread():
        yield lambda: None
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        log.warning("%s: stopping after the shards in flight (again to abort)", signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    def install() -> None:
        for sig in previous:
            signal.signal(sig, handler)

    try:
        yield install
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
