"""A multi-node Ray on this machine (ray.cluster_utils.Cluster): a head without the downloader resource
and two downloader nodes. Collects from an archive endpoint, optionally removing one downloader node
after the first shard completes. Runs in its own process (one Ray per process); prints a JSON report.

    python tests/cluster/multinode_scenario.py ENDPOINT OUTPUT_DIR CONFIG_JSON [--kill-node]
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import time

import ray
from ray.cluster_utils import Cluster

from raycollect.metrics import MetricsCollector
from raycollect.workflow import ArchiveCollectionWorkflow


class NodeKiller(MetricsCollector):
    """Removes one downloader node once 8 shards are done and that node has completed one of them, while shards
    are still left to hand out, so its actors hold or are handed shards that must be requeued.

    A fast engine finishes one-file shards on the first node before the other node's actors are ready (on a
    loaded machine, seconds later): until they are, each completed shard holds the driver for
    ``hold_seconds``, so the run cannot end before the node to kill takes part."""

    def __init__(self, cluster: Cluster, node: object, hold_seconds: float = 0.5, max_hold: float = 120.0) -> None:
        self.cluster, self.node, self.done, self.shards = cluster, node, False, 0
        self.hold_seconds, self.max_hold, self.held = hold_seconds, max_hold, 0.0
        self.killed_node_id: str | None = None
        self.killed_after: int | None = None  # shards completed when the node was removed
        self.ready_nodes: set[str] = set()
        self.victim_pids: list[int] = []  # the node's ready actors' processes
        self.victim_done = False  # a shard completed on the node

    def record_event(self, name: str, **fields: object) -> None:
        if name == "dispatch_finished":
            self.dispatch = fields
        if name == "actors_started":
            self.ready_nodes = {a["node_id"] for a in fields["actors"]}  # type: ignore[attr-defined]
            self.victim_pids = [a["pid"] for a in fields["actors"]  # type: ignore[attr-defined]
                                if a["node_id"] == self.node.node_id]  # type: ignore[attr-defined]
        self.shards += name == "shard_completed"
        if name == "shard_completed" and fields.get("node_id") == self.node.node_id:  # type: ignore[attr-defined]
            self.victim_done = True
        # Ready, and one shard done there: its files are in the manifest before it goes (both nodes collected).
        victim_ready = self.node.node_id in self.ready_nodes and self.victim_done  # type: ignore[attr-defined]
        if self.shards >= 8 and not self.done and victim_ready:
            self.done = True
            self.killed_node_id = self.node.node_id  # type: ignore[attr-defined]
            self.killed_after = self.shards
            # On the driver's thread, so the node is gone before the next shards are handed out: shards in
            # flight there, and every later one sent to its dead actors, must be requeued.
            self.cluster.remove_node(self.node, allow_graceful=False)
            # A lost machine takes its worker processes with it. Here they would outlive their raylet by up to a
            # second (they check it that often) and could finish the run's last shards through direct calls.
            for pid in self.victim_pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        elif name == "shard_completed" and not self.done and not victim_ready and self.held < self.max_hold:
            time.sleep(self.hold_seconds)
            self.held += self.hold_seconds


def main() -> None:
    endpoint, output, config_path = sys.argv[1:4]
    kill = "--kill-node" in sys.argv
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        workers = [cluster.add_node(num_cpus=1, resources={"downloader": 2}) for _ in range(2)]
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, logging_level=logging.WARNING, log_to_driver=False)
        cfg = json.loads(open(config_path).read())
        cfg.update(endpoint_url=endpoint, output_directory=output, actor_resources={"downloader": 1},
                   max_parallel_downloads=64)
        metrics = NodeKiller(cluster, workers[1]) if kill else MetricsCollector()
        result = ArchiveCollectionWorkflow(cfg, metrics_collector=metrics, show_progress=False).execute()
        report = {
            "status": result["status"], "stats": result["collection_stats"], "run_id": result["run_id"],
            "per_node": result["per_node"], "head": cluster.head_node.node_id,
            "downloaders": [w.node_id for w in workers],
            "killed": getattr(metrics, "killed_node_id", None), "error": result.get("error"),
            "dispatch": getattr(metrics, "dispatch", None), "killed_after": getattr(metrics, "killed_after", None),
            "held_seconds": getattr(metrics, "held", None),
        }
        print("REPORT " + json.dumps(report))
        ray.shutdown()
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main()
