"""Interrupts and crashes: SIGINT, kill -9 of the driver, kill -9 of an actor (real Ray, real S3 server).

What a crash may leave: a committed file without its manifest row (found and verified by the next run).
What it never leaves: a damaged file at a final path, staging files after the next run, or (for the local
Ray that raycollect started) a Ray process that outlives the driver by more than a few seconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from raycollect.manifest import runs_glob
from raycollect.metrics import RecordingMetricsCollector
from raycollect.reaper import _stat, descendants
from raycollect.workflow import ArchiveCollectionWorkflow
from tests.conftest import collect_config
from tests.fault_proxy import FaultProxy, Rule
from tests.integration.test_faults import GOOD, assert_collected_exactly, leftovers, rows

pytestmark = pytest.mark.integration
STAGING = ".raycollect-staging"


def stalls(seconds: float) -> FaultProxy:
    """A proxy that holds back the first GET of every spot zip for ``seconds``: runs stay in flight."""
    return FaultProxy("", rules=[Rule(k, "stall", times=1, method="GET") for k in GOOD[:5]], stall_seconds=seconds)


def start_run(tmp_path: Path, cfg: dict) -> subprocess.Popen[str]:
    path = tmp_path / "c.json"
    path.write_text(json.dumps(cfg))
    return subprocess.Popen([sys.executable, "-m", "raycollect", "run", str(path), "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=Path(__file__).parents[2])


def wait_for_actors(out: Path, proc: subprocess.Popen[str], timeout: float = 90) -> dict[int, int]:
    """Block until downloader actors hold staging locks; the driver's descendants at that moment."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        if list((out / STAGING).glob("*.lock")):
            time.sleep(0.5)
            return descendants(proc.pid)
        time.sleep(0.1)
    raise AssertionError("no downloader actor started")


def alive(snapshot: dict[int, int]) -> list[int]:
    """The snapshot's processes still running: the same pid and start time, and not a zombie (a killed process
    whose new parent, after the driver died, has not reaped it yet is dead)."""
    return [pid for pid, started in snapshot.items()
            if (st := _stat(pid)) is not None and st[1] == started and _state(pid) != "Z"]


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def wait_dead(snapshot: dict[int, int], timeout: float) -> list[str]:
    """What of ``snapshot`` is still running after ``timeout`` seconds, as "pid: command line"."""
    deadline = time.monotonic() + timeout
    while alive(snapshot) and time.monotonic() < deadline:
        time.sleep(0.2)
    return [f"{pid}: {_cmdline(pid)}" for pid in alive(snapshot)]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:200]
    except OSError:
        return "(gone)"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_records_an_interrupted_run_and_cleans_up(archive, tmp_path, sig):
    out = tmp_path / "out"
    proxy = stalls(3.0)
    proxy.upstream = archive.endpoint_url
    proxy.__post_init__()
    with proxy:
        proc = start_run(tmp_path, collect_config(archive, out, endpoint_url=proxy.endpoint_url, batch_size=2,
                                                   downloader="http"))
        ray_procs = wait_for_actors(out, proc)
        assert ray_procs, "the driver started no Ray processes"
        t0 = time.monotonic()
        proc.send_signal(sig)
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    assert time.monotonic() - t0 < 30
    assert "interrupted: the files above were decided before the interrupt" in output
    runs = duckdb.sql(f"SELECT status, exit_code FROM read_parquet('{runs_glob(out / '_manifests')}')").fetchall()
    assert runs == [("interrupted", 130)]
    assert leftovers(out) == []
    assert wait_dead(ray_procs, 10) == []


def test_kill_9_of_the_driver_stops_its_ray_and_the_next_run_cleans_up(archive, tmp_path):
    out = tmp_path / "out"
    proxy = stalls(5.0)
    proxy.upstream = archive.endpoint_url
    proxy.__post_init__()
    with proxy:
        cfg = collect_config(archive, out, endpoint_url=proxy.endpoint_url, batch_size=2, downloader="s5cmd")
        proc = start_run(tmp_path, cfg)
        ray_procs = wait_for_actors(out, proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
        assert wait_dead(ray_procs, 10) == []  # the reaper stopped the local Ray it belonged to
    result = ArchiveCollectionWorkflow(collect_config(archive, out, downloader="http"), show_progress=False).execute()
    got = rows(out, result["run_id"])
    assert all(got[k]["status"] in ("success", "skipped") for k in GOOD)
    assert_collected_exactly(archive, out, GOOD)
    assert leftovers(out) == []


@pytest.mark.usefixtures("ray_local")
def test_kill_9_of_an_actor_requeues_its_shard_and_leaves_nothing(archive, tmp_path):
    out = tmp_path / "out"
    metrics = RecordingMetricsCollector()
    killed: list[int] = []

    def kill_first_actor() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            started = [f for name, f in metrics.events if name == "actors_started"]
            if started and list((out / STAGING).glob("*/shard-*")):
                pid = started[0]["actors"][0]["pid"]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.05)

    proxy = stalls(3.0)
    proxy.upstream = archive.endpoint_url
    proxy.__post_init__()
    with proxy:
        cfg = collect_config(archive, out, endpoint_url=proxy.endpoint_url, batch_size=2, downloader="s5cmd")
        killer = threading.Thread(target=kill_first_actor)
        killer.start()
        result = ArchiveCollectionWorkflow(cfg, metrics, show_progress=False).execute()
        killer.join()
    assert killed, "no actor was killed"
    got = rows(out, result["run_id"])
    assert len(got) == 20 and all(got[k]["status"] == "success" for k in GOOD)
    assert next(f for name, f in metrics.events if name == "dispatch_finished")["replaced_actors"] >= 1
    assert_collected_exactly(archive, out, GOOD)
    assert leftovers(out) == []


def test_a_second_interrupt_aborts_at_once_and_still_cleans_up(archive, tmp_path):
    out = tmp_path / "out"
    proxy = stalls(20.0)  # shards that would outlast the 10-s grace period
    proxy.upstream = archive.endpoint_url
    proxy.__post_init__()
    with proxy:
        proc = start_run(tmp_path, collect_config(archive, out, endpoint_url=proxy.endpoint_url, batch_size=2,
                                                   downloader="http", timeout_seconds=60))
        ray_procs = wait_for_actors(out, proc)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    assert time.monotonic() - t0 < 8  # did not wait out the grace period or the stalled shards
    assert "raycollect: interrupted" in output
    assert leftovers(out) == []
    assert wait_dead(ray_procs, 10) == []
