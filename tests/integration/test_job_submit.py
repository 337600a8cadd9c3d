"""`ray job submit` of jobs/collect.py to a Ray head this test starts (and stops by its own pid)."""

import json
import os
import subprocess
import sys

import duckdb
import pytest

from raycollect.manifest import files_glob
from tests.conftest import collect_config
from tests.helpers import ROOT
from tests.integration.ray_head import RayHead

pytestmark = pytest.mark.integration


def test_ray_job_submit_runs_the_collector(archive, tmp_path, monkeypatch):
    out = tmp_path / "out"
    cfg = tmp_path / "job.json"
    cfg.write_text(json.dumps(collect_config(archive, out)))
    with RayHead(tmp_path) as head:
        env = {**os.environ, "RAY_ADDRESS": head.address, "RAY_AUTH_MODE": "token"}
        proc = subprocess.run(
            [str(ROOT / ".venv/bin/ray") if (ROOT / ".venv/bin/ray").exists() else "ray", "job", "submit",
             "--working-dir", str(ROOT), "--", sys.executable, "jobs/collect.py", "--config", str(cfg),
             "--no-progress"],
            env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
        from ray.job_submission import JobSubmissionClient

        monkeypatch.setenv("RAY_AUTH_MODE", "token")
        client = JobSubmissionClient(head.address)
        jobs = client.list_jobs()
        assert len(jobs) == 1
        info = client.get_job_info(jobs[0].submission_id)
    # 2 of the 20 files fail verification: the driver exits 3, so the job is FAILED and submit exits 1.
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert info.status == "FAILED" and info.driver_exit_code == 3
    assert "planned 20: success 17, skipped 0, missing 1, failed 2" in proc.stdout
    rows = duckdb.sql(f"SELECT status, count(*) FROM read_parquet('{files_glob(out / '_manifests')}') "
                      "GROUP BY 1 ORDER BY 1").fetchall()
    assert rows == [("failed", 2), ("missing", 1), ("success", 17)]
    assert len(list(out.rglob("*.zip"))) == 17
