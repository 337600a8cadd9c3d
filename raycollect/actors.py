"""The downloader actor: one per slot, each owning one engine (curl, s5cmd, boto3 or http) and one storage.

Actor options, on purpose:
- ``max_restarts=0`` and ``max_task_retries=0``: the driver (raycollect.dispatch) replaces a dead actor
  and requeues its shards itself, so attempts are counted per shard and recorded in the manifest,
  instead of Ray silently retrying onto a restarted actor.
- ``num_cpus=ACTOR_CPUS`` (0.5): transfers are I/O bound, but SHA-256 and the engine's own process
  use about half a core per busy actor; this also caps actors per node to twice its cores.
- ``scheduling_strategy="SPREAD"``: on a cluster, actors go to different nodes first.
- ``resources=actor_resources`` (e.g. ``{"downloader": 1}``): on a cluster, the downloader node type
  advertises that resource, so actors never land on the head and the autoscaler sees their demand.

An actor is bound to one run at a time (``bind``: storage, staging, progress counter). On a Ray that was up
before the run, its driver may keep the actors for its next run (raycollect.actor_cache).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import ray

from raycollect.cluster import ACTOR_CPUS
from raycollect.downloaders import DownloaderSettings, make_downloader
from raycollect.shard import process_shard
from raycollect.staging import StagingArea, sweep
from raycollect.storage import BaseStorage


class DownloaderActor:
    def __init__(self, kind: str, settings: DownloaderSettings, storage: BaseStorage, verify: bool,
                 run_id: str, counter: Any = None) -> None:
        self.kind, self.settings = kind, settings
        self.downloader = make_downloader(kind, settings)
        self.staging: StagingArea | None = None
        self.bind_error: BaseException | None = None
        ctx = ray.get_runtime_context()
        self.node_id = ctx.get_node_id()
        self.actor_id = ctx.get_actor_id()
        self.bind(kind, settings, storage, verify, run_id, counter)
        if self.bind_error is not None:
            raise self.bind_error

    def bind(self, kind: str, settings: DownloaderSettings, storage: BaseStorage, verify: bool, run_id: str,
             counter: Any = None) -> None:
        """Take on a run: its storage, staging owner and progress counter. A kept actor (raycollect.actor_cache)
        is bound again by the next run of its driver; its engine is rebuilt only when the engine or its settings
        differ. A failure is raised by ``info``, so the run sees this actor as one that failed to start."""
        try:
            self.bind_error = None
            if (kind, settings) != (self.kind, self.settings):
                fresh = make_downloader(kind, settings)
                self.downloader.close()
                self.downloader, self.kind, self.settings = fresh, kind, settings
            self.storage = storage
            self.verify = verify
            # Staging left on this node by actors that died (kill -9, a lost node's restart) goes first.
            sweep(storage.staging_root)
            self.owner = f"{run_id}-actor"  # its staging is opened with its first shard (see run_shard)
            self.reporter = _Reporter(counter) if counter is not None else None
        except Exception as exc:  # noqa: BLE001 - reported by info(), the call the driver waits on
            self.bind_error = exc

    def info(self) -> dict[str, Any]:
        if self.bind_error is not None:
            raise self.bind_error
        return {"pid": os.getpid(), "node_id": self.node_id, "actor_id": self.actor_id, "engine": self.kind}

    def run_shard(self, shard_id: int, tasks: pa.Table | dict[str, list[Any]]) -> pa.RecordBatch:
        if self.staging is None:
            # Opened here, not when the actor starts: an actor killed while still starting (the run was over
            # before it was ready) never leaves a staging directory behind.
            self.staging = StagingArea(self.storage.staging_root, self.owner).open()
        if isinstance(tasks, pa.Table):
            tasks = {c: tasks[c].to_pylist() for c in tasks.column_names}
        progress = self.reporter.start(shard_id) if self.reporter is not None else None
        try:
            results = process_shard(tasks, downloader=self.downloader, storage=self.storage, verify=self.verify,
                                    staging=self.staging, progress=progress)
        finally:
            if self.reporter is not None:
                self.reporter.stop()
        n = results.num_rows
        return results.append_column("node_id", pa.array([self.node_id] * n, pa.string())).append_column(
            "actor_id", pa.array([self.actor_id] * n, pa.string()))

    def close(self, keep_engine: bool = False) -> None:
        """Remove this actor's staging (called at the end of a run, before the actor is killed or kept); with
        ``keep_engine``, the engine stays for the next run to bind."""
        if self.staging is not None:
            self.staging.close()
            self.staging = None
        self.reporter = None
        if not keep_engine:
            self.downloader.close()


class _Reporter:
    """Sends a shard's files-so-far to the run's ProgressCounter at most twice a second (fire and forget)."""

    INTERVAL = 0.5

    def __init__(self, counter: Any) -> None:
        self.counter = counter
        self.lock = threading.Lock()
        self.shard_id = -1
        self.files = self.bytes = 0
        self.last = 0.0

    def start(self, shard_id: int) -> Callable[[int, int], None]:
        with self.lock:
            self.shard_id, self.files, self.bytes, self.last = shard_id, 0, 0, time.monotonic()
        return self.add

    def add(self, files: int, nbytes: int) -> None:
        with self.lock:
            self.files += files
            self.bytes += nbytes
            now = time.monotonic()
            if now - self.last < self.INTERVAL:
                return
            self.last = now
            update = (self.shard_id, self.files, self.bytes)
        self.counter.report.remote(*update)

    def stop(self) -> None:
        with self.lock:
            self.shard_id = -1


class ProgressCounter:
    """Files and bytes that shards in flight have fetched so far, for a progress bar that moves per file."""

    def __init__(self) -> None:
        self.by_shard: dict[int, tuple[int, int]] = {}

    def report(self, shard_id: int, files: int, nbytes: int) -> None:
        self.by_shard[shard_id] = (files, nbytes)

    def snapshot(self, forget: list[int]) -> dict[int, tuple[int, int]]:
        for shard_id in forget:
            self.by_shard.pop(shard_id, None)
        return dict(self.by_shard)


def progress_counter() -> Any:
    """The run's ProgressCounter actor (no CPU: it only adds numbers)."""
    return ray.remote(ProgressCounter).options(num_cpus=0, max_restarts=0).remote()


def actor_class(resources: dict[str, float] | None = None) -> Any:
    """The Ray actor class with raycollect's options (see the module docstring for why)."""
    return ray.remote(DownloaderActor).options(
        num_cpus=ACTOR_CPUS, max_restarts=0, max_task_retries=0, scheduling_strategy="SPREAD",
        resources=resources or {},
    )
