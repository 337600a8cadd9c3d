"""Downloader actors kept between the runs of one driver on a warm Ray (raycollect.actor_cache)."""

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from raycollect.actor_cache import CACHE
from raycollect.config import WorkflowConfig
from raycollect.metrics import RecordingMetricsCollector
from raycollect.silver.job import SilverJob
from raycollect.workflow import ArchiveCollectionWorkflow
from tests.conftest import BAD_SIDECAR, NO_SIDECAR, collect_config
from tests.helpers import exited, wait_exited
from tests.integration.test_collect import manifest

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_local")]


def run(cfg: dict) -> tuple[dict, RecordingMetricsCollector]:
    metrics = RecordingMetricsCollector()
    result = ArchiveCollectionWorkflow(cfg, metrics, show_progress=False).execute()
    return result, metrics


def actors(metrics: RecordingMetricsCollector) -> list[dict]:
    return [f["actors"] for name, f in metrics.events if name == "actors_started"][-1]


def finished(metrics: RecordingMetricsCollector) -> dict:
    return dict(metrics.events)["dispatch_finished"]


def staging_left(out: Path) -> list[str]:
    root = out / ".raycollect-staging"
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def check_collected(archive, out: Path, run_id: str) -> None:
    """The 17 good files of collect_config at ``out``, byte for byte, each verified in this run's manifest."""
    good = {k for k in archive.generated.written if "aggTrades" in k and "/daily/" in k} - {NO_SIDECAR, BAD_SIDECAR}
    rows = {r["key"]: r for r in manifest(out, run_id)}
    assert len(rows) == 20
    ok = {k for k, r in rows.items() if r["status"] == "success" and r["checksum_verified"]}
    assert ok == good
    for key in good:
        assert hashlib.sha256((out / key).read_bytes()).hexdigest() == archive.generated.sha256[key] == rows[key][
            "sha256"]


def test_the_next_run_binds_the_kept_actors_to_its_own_destination_and_engine(archive, tmp_path):
    first, m1 = run(collect_config(archive, tmp_path / "a"))
    kept = actors(m1)
    assert len(kept) == 2 and {a["engine"] for a in kept} == {"curl"}
    assert len(CACHE) == 2 and not any(exited(a["pid"]) for a in kept)
    assert staging_left(tmp_path / "a") == []  # a kept actor holds no staging
    second, m2 = run(collect_config(archive, tmp_path / "b", downloader="http", batch_size=3))
    again = actors(m2)
    assert sorted(a["pid"] for a in again) == sorted(a["pid"] for a in kept)
    assert {a["engine"] for a in again} == {"http"}  # the engine was rebuilt for the new settings
    assert finished(m2)["reused_actors"] == 2 and finished(m1)["reused_actors"] == 0
    check_collected(archive, tmp_path / "a", first["run_id"])
    check_collected(archive, tmp_path / "b", second["run_id"])
    assert manifest(tmp_path / "a", second["run_id"]) == []  # the second run wrote only to its own destination
    assert staging_left(tmp_path / "b") == []


def test_an_actor_that_died_while_kept_is_replaced_by_a_fresh_one(archive, tmp_path):
    _, m1 = run(collect_config(archive, tmp_path / "a"))
    dead, survivor = (a["pid"] for a in actors(m1))
    os.kill(dead, signal.SIGKILL)
    assert wait_exited([dead])
    second, m2 = run(collect_config(archive, tmp_path / "b"))
    pids = {a["pid"] for a in actors(m2)}
    assert survivor in pids and dead not in pids and len(pids) == 2
    assert finished(m2)["reused_actors"] == 1 and finished(m2)["replaced_actors"] == 0
    check_collected(archive, tmp_path / "b", second["run_id"])


def test_kept_actors_are_killed_after_keep_actors_seconds_and_with_0_at_the_end_of_the_run(archive, tmp_path):
    _, m1 = run(collect_config(archive, tmp_path / "a", keep_actors_seconds=2))
    pids = [a["pid"] for a in actors(m1)]
    assert wait_exited(pids) and len(CACHE) == 0
    _, m2 = run(collect_config(archive, tmp_path / "b", keep_actors_seconds=0))
    fresh = [a["pid"] for a in actors(m2)]
    assert finished(m2)["reused_actors"] == 0 and not set(fresh) & set(pids)
    assert len(CACHE) == 0 and wait_exited(fresh, 10.0)


def test_release_kept_actors_kills_them_now_and_the_next_run_starts_fresh(archive, tmp_path):
    import raycollect

    _, m1 = run(collect_config(archive, tmp_path / "a"))
    pids = [a["pid"] for a in actors(m1)]
    assert len(CACHE) == len(pids) > 0
    assert raycollect.release_kept_actors() == len(pids)
    assert len(CACHE) == 0 and wait_exited(pids, 10.0)
    assert raycollect.release_kept_actors() == 0
    _, m2 = run(collect_config(archive, tmp_path / "b"))
    assert finished(m2)["reused_actors"] == 0 and not {a["pid"] for a in actors(m2)} & set(pids)


def test_an_interrupted_run_keeps_no_actor(archive, tmp_path):
    class Interrupt(RecordingMetricsCollector):
        def record_event(self, name, **fields):
            super().record_event(name, **fields)
            if name == "shard_completed":
                workflow.stop.set()

    metrics = Interrupt()
    workflow = ArchiveCollectionWorkflow(collect_config(archive, tmp_path, batch_size=1), metrics, show_progress=False)
    result = workflow.execute()
    assert result["status"] == "interrupted"
    assert len(CACHE) == 0 and wait_exited([a["pid"] for a in actors(metrics)])


def test_a_conversion_kills_the_kept_actors_first(archive, tmp_path):
    cfg = collect_config(archive, tmp_path, markets=["spot"], symbols=["BTCUSDT"])
    _, m1 = run(cfg)
    pids = [a["pid"] for a in actors(m1)]
    assert len(CACHE) == len(pids) > 0
    conversion = SilverJob(WorkflowConfig(cfg), show_progress=False).execute()
    assert conversion.counts["converted"] == 5 and conversion.counts["failed"] == 0
    assert len(CACHE) == 0 and wait_exited(pids)


# A driver that stops its Ray and starts another between two runs (a notebook, a script per month): the new
# Ray's driver job has the same id as the old one's (01000000), and the first run's actors are gone with their Ray.
RESTART = r"""
import json, logging, sys
import ray
from raycollect.metrics import RecordingMetricsCollector
from raycollect.workflow import ArchiveCollectionWorkflow
out = []
for cfg in json.loads(sys.argv[1]):
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    metrics = RecordingMetricsCollector()
    result = ArchiveCollectionWorkflow(cfg, metrics, show_progress=False).execute()
    done = dict(metrics.events).get("dispatch_finished", {})
    out.append([result["status"], result.counts.get("success", 0), result.get("error"), done.get("reused_actors")])
    ray.shutdown()
print(json.dumps(out))
"""


def test_a_run_on_a_new_ray_of_the_same_driver_never_takes_the_old_rays_actors(archive, tmp_path):
    cfgs = [collect_config(archive, tmp_path / name) for name in ("a", "b")]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.run([sys.executable, "-c", RESTART, json.dumps(cfgs)], capture_output=True, text=True,
                          timeout=240, env=env, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    first, second = json.loads(proc.stdout.splitlines()[-1])
    assert first[1:] == [17, None, 0] and second == first  # 17 good files each; nothing reused, nothing failed
