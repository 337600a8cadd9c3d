"""A local Ray that raycollect starts (raycollect.cluster.RaySession): up without Ray's API server, usable by
actors, and Ray's own start-up code left as it was."""

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.integration

SCRIPT = r"""
import json, os
import ray
import ray._private.ray_constants as rc
from ray._private import worker
from ray._private.node import Node
from raycollect.cluster import RaySession

original = Node.start_api_server
with RaySession():
    @ray.remote(num_cpus=0.5)
    class Echo:
        def pid(self):
            return os.getpid()

    pid = ray.get(Echo.remote().pid.remote(), timeout=60)
    types = sorted(worker._global_node.all_processes)
    patched_inside = Node.start_api_server is not original
print("REPORT " + json.dumps({"types": types, "actor_pid": pid, "driver_pid": os.getpid(),
                              "restored": Node.start_api_server is original, "patched_inside": patched_inside,
                              "up_after": ray.is_initialized(), "dashboard": rc.PROCESS_TYPE_DASHBOARD}))
"""


def test_a_local_ray_starts_without_its_api_server_and_runs_actors():
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=180, cwd=ROOT,
                          env=env)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("REPORT ")), None)
    assert line, proc.stdout[-2000:] + proc.stderr[-2000:]
    report = json.loads(line[len("REPORT "):])
    assert report["dashboard"] not in report["types"]  # Ray's API server (the dashboard head) never started
    assert {"gcs_server", "raylet"} <= set(report["types"])
    assert report["actor_pid"] != report["driver_pid"]  # an actor ran in a worker of that Ray
    # Ray's own start-up code is patched only while raycollect's ray.init runs, and Ray is stopped after.
    assert (report["patched_inside"], report["restored"], report["up_after"]) == (False, True, False)
