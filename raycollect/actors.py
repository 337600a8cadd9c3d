"""The downloader actor: one per slot, each owning one engine (s5cmd, boto3 or http) and one storage.

Actor options, on purpose:
- ``max_restarts=0`` and ``max_task_retries=0``: the driver (raycollect.dispatch) replaces a dead actor
  and requeues its shards itself, so attempts are counted per shard and recorded in the manifest,
  instead of Ray silently retrying onto a restarted actor.
- ``num_cpus=ACTOR_CPUS`` (0.5): transfers are I/O bound, but SHA-256 and the engine's own process
  use about half a core per busy actor; this also caps actors per node to twice its cores.
- ``scheduling_strategy="SPREAD"``: on a cluster, actors go to different nodes first.
- ``resources=actor_resources`` (e.g. ``{"downloader": 1}``): on a cluster, the downloader node type
  advertises that resource, so actors never land on the head and the autoscaler sees their demand.
"""

from __future__ import annotations

import os
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
                 run_id: str) -> None:
        self.kind = kind
        self.downloader = make_downloader(kind, settings)
        self.storage = storage
        self.verify = verify
        # Staging left on this node by actors that died (kill -9, a lost node's restart) goes first.
        sweep(storage.staging_root)
        self.staging = StagingArea(storage.staging_root, f"{run_id}-actor").open()
        ctx = ray.get_runtime_context()
        self.node_id = ctx.get_node_id()
        self.actor_id = ctx.get_actor_id()

    def info(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "node_id": self.node_id, "actor_id": self.actor_id}

    def run_shard(self, shard_id: int, tasks: pa.Table | dict[str, list[Any]]) -> pa.RecordBatch:
        if isinstance(tasks, pa.Table):
            tasks = {c: tasks[c].to_pylist() for c in tasks.column_names}
        results = process_shard(tasks, downloader=self.downloader, storage=self.storage, verify=self.verify,
                                staging=self.staging)
        n = results.num_rows
        return results.append_column("node_id", pa.array([self.node_id] * n, pa.string())).append_column(
            "actor_id", pa.array([self.actor_id] * n, pa.string()))

    def close(self) -> None:
        """Release the engine and remove this actor's staging (called before the actor is killed)."""
        self.downloader.close()
        self.staging.close()


def actor_class(resources: dict[str, float] | None = None) -> Any:
    """The Ray actor class with raycollect's options (see the module docstring for why)."""
    return ray.remote(DownloaderActor).options(
        num_cpus=ACTOR_CPUS, max_restarts=0, max_task_retries=0, scheduling_strategy="SPREAD",
        resources=resources or {},
    )
