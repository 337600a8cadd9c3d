"""A local Ray that raycollect starts (raycollect.cluster.RaySession): up without Ray's API server, autoscaler
monitor and log monitor, with a minimal dashboard agent, usable by actors, and Ray's own start-up code left as
it was; with ``convert: true``, one Ray for the collection and the conversion after it."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import collect_config
from tests.helpers import ROOT

pytestmark = pytest.mark.integration

SCRIPT = r"""
import json, os, sys
import ray
import ray._private.ray_constants as rc
import ray._private.utils as ray_utils
from ray._private import worker
from ray._private.node import Node
from raycollect.cluster import RaySession

names = ("start_api_server", "start_monitor", "start_log_monitor")
original = {n: getattr(Node, n) for n in names}
original_check = ray_utils.get_dashboard_dependency_error


def agent_command():  # how this Ray's raylet starts its dashboard agent (the agent retitles its process)
    raylet = worker._global_node.all_processes[rc.PROCESS_TYPE_RAYLET][0].process.pid
    args = [a.decode() for a in open(f"/proc/{raylet}/cmdline", "rb").read().split(b"\0")]
    return next((a for a in args if a.startswith("--dashboard_agent_command=")), "").split()


with RaySession():
    @ray.remote(num_cpus=0.5)
    class Echo:
        def pid(self):
            return os.getpid()

    pid = ray.get(Echo.remote().pid.remote(), timeout=60)
    types = sorted(worker._global_node.all_processes)
    still_patched_after_init = any(getattr(Node, n) is not original[n] for n in names) or (
        ray_utils.get_dashboard_dependency_error is not original_check)
    agent = agent_command()
skipped = [rc.PROCESS_TYPE_DASHBOARD, rc.PROCESS_TYPE_MONITOR, rc.PROCESS_TYPE_LOG_MONITOR]
restored = all(getattr(Node, n) is original[n] for n in names) and (
    ray_utils.get_dashboard_dependency_error is original_check)
print("REPORT " + json.dumps({"types": types, "actor_pid": pid, "driver_pid": os.getpid(), "restored": restored,
                              "still_patched_after_init": still_patched_after_init, "up_after": ray.is_initialized(),
                              "skipped": skipped, "agent_found": bool(agent), "agent_minimal": "--minimal" in agent,
                              "aiohttp_in_driver": "aiohttp" in sys.modules}))
"""


def test_a_local_ray_starts_without_the_head_processes_it_never_uses_and_runs_actors():
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=180, cwd=ROOT,
                          env=env)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("REPORT ")), None)
    assert line, proc.stdout[-2000:] + proc.stderr[-2000:]
    report = json.loads(line[len("REPORT "):])
    assert report["skipped"] == ["dashboard", "monitor", "log_monitor"]
    assert not set(report["skipped"]) & set(report["types"])  # none of them was started
    assert {"gcs_server", "raylet"} <= set(report["types"])
    assert report["actor_pid"] != report["driver_pid"]  # an actor ran in a worker of that Ray
    # Its dashboard agent runs minimal, and the driver never imported the dashboard's optional dependencies.
    assert (report["agent_found"], report["agent_minimal"], report["aiohttp_in_driver"]) == (True, True, False)
    # Ray's own start-up code is patched only while raycollect's ray.init runs, and Ray is stopped after.
    assert (report["still_patched_after_init"], report["restored"], report["up_after"]) == (False, True, False)
    # Ray's warning that the Ray raycollect starts for itself has token authentication on would tear a progress bar
    assert "Token authentication is enabled" not in proc.stderr, proc.stderr[-2000:]


CONVERT_SCRIPT = r"""
import json, sys
import ray
from raycollect.workflow import ArchiveCollectionWorkflow

starts = []
init = ray.init
def counted(*args, **kwargs):
    starts.append(kwargs.get("address"))
    return init(*args, **kwargs)
ray.init = counted
result = ArchiveCollectionWorkflow(json.loads(sys.argv[1]), show_progress=False).execute()
print("REPORT " + json.dumps({"starts": starts, "counts": result.counts, "converted": result.conversion.counts,
                              "rows": result.conversion.rows, "up_after": ray.is_initialized()}))
"""


def test_collection_and_its_conversion_share_one_local_ray_which_is_stopped_after(archive, tmp_path):
    cfg = collect_config(archive, tmp_path / "out", markets=["spot"], symbols=["BTCUSDT"], data_types=["klines"],
                         intervals={"klines": ["1h"]}, date_range={"start": "2024-01-30", "end": "2024-01-31"},
                         convert=True)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.run([sys.executable, "-c", CONVERT_SCRIPT, json.dumps(cfg)], capture_output=True, text=True,
                          timeout=240, cwd=ROOT, env=env)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("REPORT ")), None)
    assert line, proc.stdout[-2000:] + proc.stderr[-2000:]
    report = json.loads(line[len("REPORT "):])
    assert report["counts"]["success"] == 2 and report["converted"]["converted"] == 2, report
    assert report["rows"] == 48  # two days of hourly candles
    assert (report["starts"], report["up_after"]) == (["local"], False)  # one ray.init, and Ray is down after
