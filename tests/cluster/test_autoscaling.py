"""Actors follow the work and the autoscaler follows the actors (Ray's fake multi-node provider)."""

import json
import subprocess
import sys

import pytest

from tests.conftest import collect_config
from tests.helpers import ROOT

pytestmark = pytest.mark.integration


def test_a_run_makes_the_autoscaler_add_downloader_nodes_and_releases_them(archive, tmp_path):
    cfg = collect_config(archive, tmp_path / "out", actor_resources={"downloader": 1}, max_actors=4, batch_size=2,
                         downloader="http")
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg))
    proc = subprocess.run([sys.executable, str(ROOT / "tests/cluster/autoscaling_scenario.py"), str(path),
                           str(tmp_path)], capture_output=True, text=True, timeout=600, cwd=ROOT)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("REPORT ")), None)
    assert line, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(line[len("REPORT "):])
    print(report)
    assert report["nodes_before"] == 1  # the head only: no downloader node at the start
    assert report["peak_nodes"] >= 2  # the autoscaler added downloader nodes for the pending actors
    s = report["stats"]
    assert (s["total_tasks"], s["successful_tasks"], s["missing_tasks"], s["failed_tasks"]) == (20, 17, 1, 2)
    assert report["actor_nodes"] and report["head"] not in report["actor_nodes"]
    assert report["actors_known"] >= 1 and report["actors_alive_after"] == 0  # every actor released at the end
    assert report["scaled_down_in"] is not None  # idle downloader nodes went away
