"""`ray job submit` of jobs/collect.py to a Ray head this test starts (and stops by its own pid)."""

import json
import os
import subprocess
import sys
import time

import duckdb
import pytest

from raycollect.manifest import files_glob
from tests.conftest import collect_config
from tests.helpers import ROOT
from tests.integration.ray_head import RayHead

pytestmark = pytest.mark.integration


def submit(head: RayHead, cfg, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAY_ADDRESS": head.address, "RAY_AUTH_MODE": "token"}
    ray_cli = str(ROOT / ".venv/bin/ray") if (ROOT / ".venv/bin/ray").exists() else "ray"
    return subprocess.run([ray_cli, "job", "submit", "--working-dir", str(ROOT), "--", sys.executable,
                           "jobs/collect.py", "--config", str(cfg), "--no-progress", *extra],
                          env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_ray_job_submit_keeps_the_data_and_refuses_relative_paths(archive, tmp_path, monkeypatch):
    out = tmp_path / "out"
    cfg = tmp_path / "job.json"
    cfg.write_text(json.dumps(collect_config(archive, out)))
    relative = tmp_path / "relative.json"
    relative.write_text(json.dumps(collect_config(archive, tmp_path, output_directory="output/binance")))
    with RayHead(tmp_path) as head:
        proc = submit(head, cfg)
        again = submit(head, cfg)
        rel = submit(head, relative)
        assert rel.returncode == 1
        # RAY_ADDRESS set to the head's dashboard (the job API): `raycollect run` on this machine joins that cluster
        direct = subprocess.run([sys.executable, "-m", "raycollect", "run", str(cfg), "--no-progress"],
                                env={**os.environ, "RAY_ADDRESS": head.address, "RAY_AUTH_MODE": "token"},
                                capture_output=True, text=True, timeout=300, cwd=ROOT)
        monkeypatch.setenv("RAY_AUTH_MODE", "token")  # before the import: alone, the test failed with it after
        from ray.job_submission import JobSubmissionClient

        client = JobSubmissionClient(head.address)
        jobs = sorted((j for j in client.list_jobs() if j.submission_id), key=lambda j: j.start_time)
        assert len(jobs) == 3  # the three submissions (the direct `raycollect run` is a driver of its own)
        infos = [client.get_job_info(j.submission_id) for j in jobs]
        rel_logs = client.get_job_logs(jobs[2].submission_id)
    # 2 of the 20 files fail verification: the driver exits 3, so the job is FAILED and submit exits 1.
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert infos[0].status == "FAILED" and infos[0].driver_exit_code == 3
    assert "planned 20: success 17, skipped 0, missing 1, failed 2" in proc.stdout
    assert f"  files:    {out}" in proc.stdout and f"  manifest: {out / '_manifests'}/files/run_id=" in proc.stdout
    rows = duckdb.sql(f"SELECT status, count(*) FROM read_parquet('{files_glob(out / '_manifests')}') "
                      "WHERE run_id = (SELECT min(run_id) FROM read_parquet("
                      f"'{files_glob(out / '_manifests')}')) GROUP BY 1 ORDER BY 1").fetchall()
    assert rows == [("failed", 2), ("missing", 1), ("success", 17)]
    assert len(list(out.rglob("*.zip"))) == 17
    # The data outlived the job's working directory: a second submission skips every collected file.
    assert "planned 20: success 0, skipped 17, missing 1, failed 2" in again.stdout, again.stdout[-2000:]
    assert direct.returncode == 3, direct.stderr[-2000:]  # it ran: 2 files fail verification, as in every run
    assert "planned 20: success 0, skipped 17, missing 1, failed 2" in direct.stdout
    # A relative destination would land in Ray's temporary copy of the checkout: refused, exit 2.
    assert infos[2].status == "FAILED" and infos[2].driver_exit_code == 2
    assert "raycollect: error: output_directory 'output/binance' is relative, and this driver runs in a Ray job" in (
        rel_logs)
    assert "set output_directory to an absolute path on a filesystem every node mounts, or to an s3:// URI" in rel_logs
    assert not (ROOT / "output" / "binance").exists()


def test_addresses_and_token_auth_are_answered_in_one_line(archive, tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps(collect_config(archive, tmp_path / "out")))

    def run(env: dict[str, str], *extra: str) -> tuple[int, str, float]:
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "raycollect", "run", str(cfg), "--no-progress", *extra],
                              env={**os.environ, **env}, capture_output=True, text=True, timeout=120, cwd=ROOT)
        return proc.returncode, proc.stderr.strip().splitlines()[-1], time.monotonic() - t0

    code, line, _ = run({"RAY_ADDRESS": "http://10.1.2.3:8265"})
    assert code == 2 and line == (
        "raycollect: error: RAY_ADDRESS=http://10.1.2.3:8265 is the address of Ray's job API (for `ray job submit`), "
        "which `raycollect run` cannot join: submit the collection with `ray job submit ... -- python jobs/collect.py "
        "--config CONFIG`, or run raycollect on a node of the cluster with --ray-address auto")
    with RayHead(tmp_path) as head:
        gcs = f"127.0.0.1:{head.ports['port']}"
        code, line, took = run({"RAY_AUTH_MODE": "disabled"}, "--ray-address", gcs)
    assert code == 2 and took < 15
    assert line == (f"raycollect: error: the Ray cluster at {gcs} requires token authentication: set "
                    "RAY_AUTH_MODE=token and RAY_AUTH_TOKEN_PATH to a copy of the cluster's token (on the head node: "
                    "~/.ray/auth_token), or RAY_AUTH_TOKEN to its value")
    assert not (tmp_path / "out" / "_manifests").exists()
