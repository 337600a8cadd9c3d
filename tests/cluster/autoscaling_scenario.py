"""Scenario, run as its own process: Ray's fake multi-node autoscaler adds downloader nodes for a run.

The head has no `downloader` resource and there is no downloader node at the start (max 2). The run asks
for actors with `downloader: 1`; they are pending demand, the autoscaler launches nodes, the actors are
placed there, and the run completes. Afterwards no actor of the run is alive, and idle nodes go away.
Ray's AutoscalingCluster helper is not used: it runs `ray stop --force`, which would stop every Ray on
the machine. This head is started in its own session and stopped by its process ids.
Prints one line `REPORT {json}`.
Usage: autoscaling_scenario.py CONFIG_JSON WORK_DIR
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from raycollect.mirror.server import free_port
from raycollect.reaper import descendants

WORKER = {"resources": {"CPU": 2, "downloader": 2}, "node_config": {}, "min_workers": 0, "max_workers": 2}


def fake_cluster_config(gcs: str) -> dict:
    return {
        "cluster_name": "raycollect-fake", "max_workers": 2, "upscaling_speed": 1.0, "idle_timeout_minutes": 0.1,
        "provider": {"type": "fake_multinode", "use_node_id_as_ip": True, "disable_node_updaters": True,
                     "disable_launch_config_check": True, "gcs_address": gcs},
        "available_node_types": {"ray.head.default": {"resources": {"CPU": 1}, "node_config": {}, "max_workers": 0},
                                 "downloader": WORKER},
        "head_node_type": "ray.head.default", "auth": {}, "docker": {}, "initialization_commands": [],
        "setup_commands": [], "head_setup_commands": [], "worker_setup_commands": [], "head_start_ray_commands": [],
        "worker_start_ray_commands": [], "file_mounts": {}, "cluster_synced_files": [],
        "file_mounts_sync_continuously": False, "rsync_exclude": [], "rsync_filter": [],
    }  # fmt: skip


def main() -> None:
    cfg_path, work = Path(sys.argv[1]), Path(sys.argv[2])
    port = free_port()
    gcs = f"127.0.0.1:{port}"
    autoscaling = work / "autoscaling.json"
    autoscaling.write_text(json.dumps(fake_cluster_config(gcs)))
    env = {**os.environ, "RAY_FAKE_CLUSTER": "1", "AUTOSCALER_UPDATE_INTERVAL_S": "1", "RAY_AUTH_MODE": "disabled"}
    ray_cli = str(Path(sys.executable).parent / "ray")
    log = (work / "head.log").open("wb")
    head = subprocess.Popen([ray_cli, "start", "--head", "--block", f"--port={port}", "--num-cpus=1",
                             "--node-ip-address=127.0.0.1",
                             f"--autoscaling-config={autoscaling}", "--include-dashboard=false",
                             f"--ray-client-server-port={free_port()}", "--disable-usage-stats"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    seen: dict[int, int] = {}
    try:
        os.environ.update({"RAY_AUTH_MODE": "disabled", "RAY_FAKE_CLUSTER": "1"})
        import ray

        deadline = time.monotonic() + 90
        while True:
            try:
                ray.init(address=gcs, logging_level="WARNING", log_to_driver=False)
                break
            except Exception as exc:
                print(f"waiting for the head: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
                if time.monotonic() > deadline or head.poll() is not None:
                    raise
                time.sleep(1)
        seen.update(descendants(head.pid))
        nodes_before = [n for n in ray.nodes() if n["Alive"]]
        from raycollect.metrics import RecordingMetricsCollector
        from raycollect.workflow import ArchiveCollectionWorkflow

        metrics = RecordingMetricsCollector()
        peak = [len(nodes_before)]

        def watch() -> None:
            while not done:
                peak[0] = max(peak[0], sum(1 for n in ray.nodes() if n["Alive"]))
                seen.update(descendants(head.pid))
                time.sleep(0.5)

        import threading

        done = False
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        result = ArchiveCollectionWorkflow(json.loads(cfg_path.read_text()), metrics, show_progress=False).execute()
        done = True
        watcher.join()
        time.sleep(2)  # ray.kill is asynchronous
        table = ray._private.state.actors()  # from the GCS: this head runs no dashboard
        ours = [a for a in table.values() if "DownloaderActor" in a["ActorClassName"]]
        alive = [a for a in ours if a["State"] == "ALIVE"]
        head_id = next(n["NodeID"] for n in nodes_before)
        actors = [a for name, f in metrics.events if name == "actors_started" for a in f["actors"]]
        scaled_down_in = None
        t0 = time.monotonic()
        while time.monotonic() - t0 < 60:
            if sum(1 for n in ray.nodes() if n["Alive"]) == 1:
                scaled_down_in = round(time.monotonic() - t0, 1)
                break
            time.sleep(1)
        print("REPORT " + json.dumps({
            "nodes_before": len(nodes_before), "peak_nodes": peak[0], "status": result["status"],
            "stats": result["collection_stats"], "actor_nodes": sorted({a["node_id"] for a in actors}),
            "head": head_id, "actors_alive_after": len(alive), "actors_known": len(ours),
            "scaled_down_in": scaled_down_in,
        }), flush=True)
        ray.shutdown()
    except BaseException:
        import traceback

        traceback.print_exc()
        raise
    finally:
        with contextlib.suppress(Exception):
            import ray

            ray.shutdown()
        seen.update(descendants(head.pid))
        head.send_signal(signal.SIGTERM)  # `ray start --block` stops what it started
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            head.kill()
        for pid in seen:  # fake nodes launched by the autoscaler: by their ids, never by name
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


if __name__ == "__main__":
    main()
