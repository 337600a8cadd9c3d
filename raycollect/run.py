"""One run of the collection (``Run``): preflight, plan stream, resume, shards, dispatch, unlisted files, record,
state, result. ``ArchiveCollectionWorkflow.execute`` makes one per call (raycollect.workflow)."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import itertools
import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from raycollect.errors import ConfigurationError
from raycollect.interrupts import interrupts
from raycollect.listing import REMOVED_ERROR, split_removed, write_snapshot
from raycollect.manifest import ManifestWriter, new_run_id, write_ingestion_metadata, write_run_record
from raycollect.manifest.query import superseded_daily
from raycollect.manifest.rows import RowBuilder
from raycollect.manifest.schema import REMOVED, Status
from raycollect.manifest.state import State, refresh
from raycollect.manifest.store import ManifestStore
from raycollect.matrix import load_matrix
from raycollect.models import IngestionMetadata
from raycollect.progress import Progress
from raycollect.result import RunResult, RunStatus, exit_code_of, run_status
from raycollect.resume import Resume
from raycollect.selection import effective_range, latest_publishable
from raycollect.staging import sweep, sweep_owned
from raycollect.stream import PlanStream, plan_stream
from raycollect.tally import RunTally

log = logging.getLogger(__name__)


if TYPE_CHECKING:
    from raycollect.workflow import ArchiveCollectionWorkflow


class Run:
    """One ``execute()`` of a workflow: everything of that run lives here (its id, its config as narrowed for it,
    its writer, tally, progress and manifest store), and goes with it. The workflow keeps only its options, so a
    second ``execute()`` starts from the config as given.

    The pipeline: preflight -> plan stream -> resume -> shards -> dispatch (``Dispatcher`` telling ``_RunSink``) ->
    files the archive does not list -> run record, state -> result (-> conversion, with ``convert``).
    """

    def __init__(self, workflow: ArchiveCollectionWorkflow) -> None:
        w = workflow
        self.config = w.config  # as given; narrowed for this run in _execute (effective_range)
        self.metrics, self.storage, self.ray_address, self.strict = w.metrics, w.storage, w.ray_address, w.strict
        self.show_progress, self.only_collected, self.sync = w.show_progress, w.only_collected, w.sync
        self.today, self.plan_batch_rows, self.stop = w.today, w.plan_batch_rows, w.stop
        self._signals: Callable[[], None] = lambda: None
        self.run_id = new_run_id()
        self.tally = RunTally()
        self.planned = 0
        self.actors_started = 0
        self.actors_reused = 0
        self.notes: list[str] = []
        self.discovery: Any = None
        self.unlisted = 0  # files discovery did not find in the archive's listing
        self._kept = contextlib.ExitStack()  # a Ray kept up for the conversion after collection (_ray_session)

    def execute(self) -> RunResult:
        """Run the collection. Bad input (config, matrix, symbols, dates) and a failed preflight raise
        ConfigurationError before anything is written; anything else returns ``status: failed``."""
        run_id = self.run_id
        started, t0 = dt.datetime.now(dt.timezone.utc), time.monotonic()
        created = _missing_dirs(self.config.output_directory, self.config.manifest_dir)
        try:
            with self._kept:
                return self._execute(run_id, started, t0)
        except ConfigurationError:  # a refused run creates nothing: the empty folders its checks made go
            _remove_empty(created)
            raise

    def _execute(self, run_id: str, started: dt.datetime, t0: float) -> RunResult:
        from raycollect.paths import check_paths_for_ray_job

        logging.getLogger("raycollect").setLevel(self.config.logging["level"])  # the config's `logging.level`
        check_paths_for_ray_job(self.config.output_directory, self.config.manifest_directory,
                                self.config.silver_directory if self.config.convert else None)
        matrix = load_matrix(self.config.matrix_path)
        self.config, self.notes = effective_range(self.config, matrix, self.today) if not self.sync else (
            self.config, [])
        cfg = self.config
        if cfg.convert:
            from raycollect.silver.job import check_silver

            check_silver(cfg)  # an unusable silver destination is a config error before anything is fetched
            if not self.storage.mirrors_keys:
                raise ConfigurationError("convert: true reads each collected zip at output_directory/<archive key>; "
                                         "this run's storage places files with a get_partition_path of its own: "
                                         "collect without convert, and convert those files yourself")
        self.store = ManifestStore.for_config(cfg)
        self._preflight()
        self.mdir = str(self.store.pull())  # the manifests, as a local directory (a mirror for s3://)
        publish = self.store.publish
        self.progress = Progress(0, enabled=self.show_progress)
        self.writer = ManifestWriter(self.mdir, run_id, publish=publish)
        self.rows = RowBuilder(run_id=run_id, target_base=self.storage.base_uri, downloader=cfg.downloader,
                               source_base=(f"{cfg.endpoint_url.rstrip('/')}/{cfg.bucket}/" if cfg.endpoint_url
                                            else f"s3://{cfg.bucket}/"))
        error: str | None = None
        with interrupts(self.stop) as self._signals:
            try:
                wants_state = cfg.enable_resume or self.only_collected or self.sync
                state = refresh(self.mdir, publish=publish) if wants_state else None
                if self.sync:
                    from raycollect.sync import sync_stream

                    stream = sync_stream(cfg, matrix, today=self.today, rows_per_batch=self.plan_batch_rows)
                else:
                    stream = plan_stream(cfg, matrix, self.storage, rows_per_batch=self.plan_batch_rows,
                                         only_collected=state if self.only_collected else None, today=self.today)
                self.notes += stream.notes
                self.discovery = stream.discovery
                self._collect(stream, state)
            except ConfigurationError:
                raise
            except Exception as exc:  # noqa: BLE001 - a failed run is reported as data, with what was done
                error = f"{type(exc).__name__}: {exc}"
                log.error("run %s failed: %s", run_id, error)
            finally:
                self.progress.close()
                self.writer.flush()
                # What this run's actors staged, if any was left: an actor killed mid-shard (an interrupt whose
                # grace ran out) holds its staging until its process has exited, a moment after the kill.
                sweep_owned(self.storage.staging_root, f"{run_id}-actor", timeout=10.0)
        result = self._finish(started, time.monotonic() - t0, error)
        if cfg.convert and result.status in (RunStatus.SUCCESS, RunStatus.PARTIAL):
            from raycollect.silver.job import SilverJob

            if self.sync:  # sync collected up to the latest publishable day, whatever date_range.end says
                cfg = cfg.model_copy(update={"date_range": cfg.date_range.model_copy(
                    update={"end": latest_publishable(self.today)})})
            conversion = SilverJob(cfg, ray_address=self.ray_address, show_progress=self.show_progress,
                                   today=self.today).execute()
            result = dataclasses.replace(result, conversion=conversion)
        return result

    # --- internals ---
    def _preflight(self) -> None:
        """Source and destinations work, before anything is listed, downloaded or Ray is started."""
        from raycollect.cluster import check_cluster
        from raycollect.preflight import check_destinations, check_source

        cfg = self.config
        check_cluster(self.ray_address)
        check_source(cfg.bucket, cfg.endpoint_url, cfg.region)
        check_destinations(self.storage, self.store)
        sweep(self.storage.staging_root)  # staging of runs that are no longer alive

    def _collect(self, stream: PlanStream, state: State | None) -> None:
        cfg = self.config
        self.planned = stream.planned
        self.progress.start(stream.planned)
        self.metrics.record_event("run_started", run_id=self.run_id, planned=stream.planned)
        resume = Resume(self.storage, state, resume=cfg.enable_resume and not cfg.force_redownload,
                        verify=cfg.download_checksum, reverify=cfg.reverify)
        shards = self._shards(stream.batches, resume)
        from raycollect.cluster import actor_count

        cap = actor_count(cfg, placed=False)
        first = list(itertools.islice(shards, cap))  # peek: no Ray at all when nothing is left to fetch
        if first and not self.stop.is_set():
            self._dispatch(first, shards, known=len(first) < cap)
        if not self.stop.is_set():
            self._unlisted(stream, state)

    def _unlisted(self, stream: PlanStream, state: State | None) -> None:
        """After the listed files: the planned files the archive does not list (discovery, sync), and the sync's
        listing snapshot. A file collected earlier and gone from the listing is flagged ``removed`` once (its
        local copy kept); the others are recorded ``missing`` (a sync counts them without writing them)."""
        if stream.discovery is not None and stream.listed is not None:
            self.planned = stream.discovery.planned
            if self.sync and stream.listed.snapshot is not None:
                write_snapshot(self.mdir, stream.listed.snapshot, self.store.publish)
        unlisted_files = stream.unlisted_files()
        if unlisted_files is None or unlisted_files.num_rows == 0:
            return
        removed, unlisted = split_removed(unlisted_files, state)
        if removed.num_rows:  # collected once, gone from the archive now: flagged once, the local copy kept
            self._record(self.rows.rows(removed, status=REMOVED, error=REMOVED_ERROR))
        self.unlisted = unlisted.num_rows
        # A sync asks up to yesterday every day: what is not listed is mostly not published yet, and a row for
        # each on every cron run would grow the manifest by the same files day after day. Counted, not written.
        if self.sync:
            self.progress.add(unlisted.num_rows, 0, 0, transferred=0)
        else:
            self._record(self.rows.rows(unlisted, status=Status.MISSING, error="not listed in the archive (discovery)"))

    def _shards(self, batches: Iterator[pa.RecordBatch | pa.Table], resume: Resume) -> Iterator[Any]:
        """Shards of ``batch_size`` files to fetch; skipped files are recorded on the way."""
        from raycollect.dispatch import Shard

        size = self.config.batch_size
        pending: list[pa.Table] = []
        n_pending = 0
        sid = 0
        for batch in batches:
            if self.stop.is_set():
                return
            todo, restated, learned = resume.split(batch)
            if learned.num_rows:  # skipped, with facts from the archive's listing that the state lacks
                self._record(self.rows.rows(learned, status=Status.SKIPPED))
            if restated.num_rows:  # skipped with nothing new: counted, not written (the state says it all)
                self.tally.counts[Status.SKIPPED] += restated.num_rows
                self.progress.add(restated.num_rows, 0, 0, transferred=0)
            if todo.num_rows:
                pending.append(todo)
                n_pending += todo.num_rows
            while n_pending >= size:
                rows = pa.concat_tables(pending).combine_chunks() if len(pending) > 1 else pending[0]
                yield Shard(sid, rows.slice(0, size))
                sid += 1
                rest = rows.slice(size)
                pending, n_pending = ([rest] if rest.num_rows else []), rest.num_rows
        if n_pending:
            yield Shard(sid, pa.concat_tables(pending).combine_chunks())

    def _dispatch(self, first: list[Any], rest: Iterator[Any], *, known: bool) -> None:
        """Run ``first`` then ``rest`` on downloader actors; ``known``: ``first`` is all the work (fewer shards
        than the actor cap), so it is re-cut into one shard per actor that will run."""
        import ray

        from raycollect.actor_cache import CACHE
        from raycollect.actors import actor_class, progress_counter
        from raycollect.cluster import actor_count
        from raycollect.dispatch import Dispatcher
        from raycollect.downloaders import DownloaderSettings

        cfg = self.config
        # Actors are kept for this driver's next run only on a Ray that outlives the run, on one machine, and
        # when no conversion follows (raycollect.actor_cache).
        keep_seconds = cfg.keep_actors_seconds if (
            ray.is_initialized() and not cfg.actor_resources and not cfg.convert) else 0
        with self._ray_session():
            self._signals()  # ray.init installs its own SIGTERM handler: ours must win
            n = actor_count(cfg)
            if known:  # e.g. 40 large files on 2 actors: 2 shards of 20, each actor's engine moves 20 at once
                first = _spread(first, n)
                n = min(n, len(first))
            cls = actor_class({k: float(v) for k, v in cfg.actor_resources.items()})
            counter = progress_counter() if self.show_progress else None
            reused = CACHE.take(n if keep_seconds else 0)  # kept by this driver's last run; the others killed
            self.actors_reused = len(reused)
            args = (cfg.downloader, DownloaderSettings.from_config(cfg), self.storage, cfg.download_checksum,
                    self.run_id, counter)

            def make_actor(i: int) -> Any:
                if reused:
                    handle = reused.pop(0)
                    handle.bind.remote(*args)  # runs before dispatch's info() call: one caller, in order
                    return handle
                return cls.remote(*args)

            # New nodes take minutes to boot on a cloud: wait longer for the first actor on a cluster.
            stats = Dispatcher(
                itertools.chain(first, rest), make_actor, n, _RunSink(self, counter), tick_seconds=0.5,
                stop=self.stop, start_timeout=900.0 if cfg.actor_resources else 120.0,
                keep=(lambda handles: CACHE.keep(handles, keep_seconds)) if keep_seconds else None).run()
            self.metrics.record_event("dispatch_finished", run_id=self.run_id, reused_actors=self.actors_reused,
                                      **stats)

    def _ray_session(self) -> contextlib.AbstractContextManager[Any]:
        """Ray for this run's actors. With ``convert``, a Ray this run starts stays up for the conversion after
        the collection, and stops when ``execute`` returns: one start instead of two (``ray.init`` of a local Ray
        is 2-3 s here). Without, it stops once the actors are done, as before."""
        from raycollect.cluster import RaySession

        session = RaySession(self.ray_address)
        if not self.config.convert:
            return session
        self._kept.enter_context(session)
        return contextlib.nullcontext()

    def _record(self, table: pa.Table, shard: Any = None) -> None:
        self.writer.add(table)
        before, tried = self.tally.bytes, self.tally.tried
        batch = self.tally.add(table)
        self.progress.add(table.num_rows, self.tally.bytes - before, batch.get(Status.FAILED, 0),
                          transferred=self.tally.tried - tried)
        if shard is not None:
            node = table["node_id"][0].as_py() if table.num_rows else None  # one actor ran the shard (None: lost)
            self.metrics.record_event("shard_completed", run_id=self.run_id, shard_id=shard.shard_id,
                                      attempt=shard.attempt, files=table.num_rows, bytes=self.tally.bytes - before,
                                      node_id=node, **dict(batch))

    def _finish(self, started: dt.datetime, seconds: float, error: str | None) -> RunResult:
        """Write the run record and the seed's metadata, fold the run into the state, and return the result."""
        import ray

        from raycollect import __version__

        cfg, c, run_id, tally = self.config, self.tally.counts, self.run_id, self.tally
        status = run_status(c, strict=self.strict, error=error, interrupted=self.stop.is_set())
        finished = dt.datetime.now(dt.timezone.utc)
        config_json = json.dumps(cfg.to_dict(), sort_keys=True)
        metadata = IngestionMetadata(
            task_id=run_id, status=status, created_at=started, updated_at=finished,
            records_processed=c[Status.SUCCESS] + c[Status.SKIPPED], bytes_processed=tally.bytes,
            errors=[f"{k}: {e}" for k, e in tally.failures[:100]])
        publish = self.store.publish
        write_run_record(self.mdir, run_id, {
            "status": status, "started_at": started, "finished_at": finished, "seconds": seconds,
            "planned": self.planned, "success": c[Status.SUCCESS], "skipped": c[Status.SKIPPED],
            "missing": c[Status.MISSING], "failed": c[Status.FAILED], "bytes": tally.bytes,
            "exit_code": exit_code_of(status, c, strict=self.strict, error=error),
            "downloader": cfg.downloader, "actors": self.actors_started,
            "config_hash": hashlib.sha256(config_json.encode()).hexdigest()[:16], "config_json": config_json,
            "raycollect_version": __version__, "ray_version": ray.__version__,
            "output_directory": self.storage.location, "error": error,
        }, publish)  # fmt: skip
        write_ingestion_metadata(self.mdir, run_id, metadata.model_dump_json(indent=2), publish)
        try:
            refresh(self.mdir, publish=publish)  # commit-last: the state names this run only after its run record
        except Exception as exc:  # noqa: BLE001 - the run's rows are safe; the next run folds them in
            log.warning("could not update the collection state (%s); the next run reads this run's rows", exc)
        self.metrics.record_event("run_finished", run_id=run_id, status=status, seconds=seconds, **dict(c))
        # With partition_policy "both" the config asks for the daily files beside the monthly: nothing to say.
        superseded = superseded_daily(self.mdir, run_id) if (
            tally.monthly_collected and not error and cfg.partition_policy != "both") else []
        return RunResult(
            run_id=run_id, status=status, planned=self.planned, counts=dict(c), total_bytes=tally.bytes,
            seconds=seconds, output_directory=self.storage.location, manifest_directory=cfg.manifest_dir,
            metadata=metadata, strict=self.strict, error=error, failures=tuple(tally.failures),
            missing=tuple(tally.missing), notes=tuple(self.notes),
            per_node={node: {"files": f, "bytes": b} for node, (f, b) in sorted(tally.per_node.items())},
            discovery=self._discovery_summary(), superseded=tuple(superseded), tried=tally.tried,
            unlisted=self.unlisted, republished=tally.republished)

    def _discovery_summary(self) -> dict[str, Any] | None:
        d = self.discovery
        return None if d is None else {
            "prefixes_listed": d.prefixes_listed, "keys_listed": d.keys_listed, "planned": d.planned,
            "available": d.available, "months_by_days": d.months_by_days, "invalid": d.invalid[:20],
            "symbols": d.symbols}


class _RunSink:
    """What the dispatcher tells a run: results go to the manifest and the tally, lost shards become failed rows,
    and every half second the bar shows the files and bytes of shards still in flight (from the actors' counter)."""

    def __init__(self, workflow: Run, counter: Any) -> None:
        self.w = workflow
        self.counter = counter
        self.recorded: list[int] = []  # shards whose rows are in: their in-flight counts are stale
        self.inflight: dict[int, tuple[int, int]] = {}
        self.last_poll = 0.0

    def on_result(self, shard: Any, results: pa.RecordBatch) -> None:
        table = self.w.rows.rows(shard.rows, pa.Table.from_batches([results]), shard_id=shard.shard_id)
        self.recorded.append(shard.shard_id)
        self.inflight.pop(shard.shard_id, None)
        self._show()
        self.w._record(table, shard=shard)

    def on_lost(self, shard: Any, reason: str) -> None:
        self.w._record(self.w.rows.rows(shard.rows, status=Status.FAILED, error=reason, attempts=shard.attempt),
                       shard=shard)

    def on_actors(self, infos: list[dict[str, Any]]) -> None:
        self.w.actors_started = max(self.w.actors_started, len(infos))
        self.w.metrics.record_event("actors_started", run_id=self.w.run_id, actors=infos)

    def tick(self) -> None:
        if self.counter is not None and time.monotonic() - self.last_poll >= 0.5:
            self.last_poll = time.monotonic()
            self._poll()
        self.w.progress.tick()

    def _poll(self) -> None:
        import ray

        try:
            snap = ray.get(self.counter.snapshot.remote(list(self.recorded)), timeout=1.0)
        except Exception:  # noqa: BLE001 - progress is best effort: a late answer is skipped
            return
        done = set(self.recorded)
        self.inflight = {k: v for k, v in snap.items() if k not in done}
        self._show()

    def _show(self) -> None:
        self.w.progress.show_inflight(sum(f for f, _ in self.inflight.values()),
                                      sum(b for _, b in self.inflight.values()))


def _spread(shards: list[Any], parts: int) -> list[Any]:
    """The files of ``shards`` re-cut into up to ``parts`` shards of equal size (40 large files on 2 actors: 2
    shards of 20, so every actor works, instead of one shard of 40 on one actor while the other idles)."""
    total = sum(s.rows.num_rows for s in shards)
    if len(shards) >= min(parts, total) or not all(isinstance(s.rows, pa.Table) for s in shards):
        return shards
    from raycollect.dispatch import Shard

    rows = pa.concat_tables([s.rows for s in shards]).combine_chunks()
    size = -(-total // min(parts, total))
    return [Shard(i, rows.slice(offset, size)) for i, offset in enumerate(range(0, total, size))]


def _missing_dirs(*locations: str) -> list[Path]:
    """The local directories among ``locations`` (and their parents) that do not exist yet, deepest first."""
    out: list[Path] = []
    for location in locations:
        if not location or location.startswith("s3://"):
            continue
        path = Path(location).expanduser().resolve()
        while not path.exists() and path != path.parent:
            out.append(path)
            path = path.parent
    return sorted(set(out), key=lambda p: len(p.parts), reverse=True)


def _remove_empty(created: list[Path]) -> None:
    """Remove what the run created below ``created`` when it holds no file (empty folders only), deepest first."""
    for root in created:
        if not root.is_dir():
            continue
        for folder in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty: a file in it keeps it
        with contextlib.suppress(OSError):
            root.rmdir()
