"""End to end on the local archive and a real local Ray, for both engines."""

import hashlib
import os
import signal
from pathlib import Path

import duckdb
import pytest

from raycollect.manifest import files_glob
from raycollect.metrics import RecordingMetricsCollector
from raycollect.mirror import REAL_KEYS, real_fixtures_root
from raycollect.workflow import ArchiveCollectionWorkflow
from tests.conftest import BAD_SIDECAR, GAP, NO_SIDECAR, collect_config

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_local")]
ENGINES = ["curl", "s5cmd", "boto3", "http"]


def run(cfg, **kw):
    return ArchiveCollectionWorkflow(cfg, show_progress=False, **kw).execute()


def manifest(out: Path, run_id: str | None = None) -> list[dict]:
    where = f"WHERE run_id = '{run_id}'" if run_id else ""
    rel = duckdb.sql(f"SELECT * FROM read_parquet('{files_glob(out / '_manifests')}', hive_partitioning=true) "
                     f"{where} ORDER BY key")
    return [dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()]


def files_on_disk(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*.zip")}


@pytest.mark.parametrize("engine", ENGINES)
def test_collect_verify_resume_force(archive, tmp_path, engine):
    cfg = collect_config(archive, tmp_path, downloader=engine)
    first = run(cfg)
    stats = first["collection_stats"]
    assert (stats["total_tasks"], stats["successful_tasks"], stats["missing_tasks"], stats["failed_tasks"]) == (
        20, 17, 1, 2)
    assert first["exit_code"] == 3 and first["status"] == "partial"
    disk = files_on_disk(tmp_path)
    good = {k for k in archive.generated.written if "aggTrades" in k and "/daily/" in k} - {NO_SIDECAR, BAD_SIDECAR}
    assert set(disk) == good and len(good) == 17
    for key, data in disk.items():
        assert hashlib.sha256(data).hexdigest() == archive.generated.sha256[key]
        assert (tmp_path / (key + ".CHECKSUM")).read_text().split()[0] == archive.generated.sha256[key]
    rows = {r["key"]: r for r in manifest(tmp_path, first["run_id"])}
    assert len(rows) == 20
    assert rows[GAP]["status"] == "missing" and rows[GAP]["error"] == "not in the archive (404 NoSuchKey)"
    bad = rows[BAD_SIDECAR]
    assert bad["status"] == "failed" and bad["error"] == (
        f"checksum mismatch: expected {bad['expected_sha256']}, got {archive.generated.sha256[BAD_SIDECAR]}")
    assert not (tmp_path / BAD_SIDECAR).exists() and not (tmp_path / NO_SIDECAR).exists()
    assert rows[NO_SIDECAR]["error"] == f"checksum sidecar missing: {NO_SIDECAR}.CHECKSUM"
    assert not list(tmp_path.rglob("*.part"))
    for key in good:  # the manifest agrees with the disk, one for one
        r = rows[key]
        assert (r["status"], r["checksum_verified"], r["downloader"]) == ("success", True, engine)
        assert r["target_path"] == str(tmp_path / key) and r["size_bytes"] == len(disk[key])
        assert r["sha256"] == r["expected_sha256"] == archive.generated.sha256[key]
        assert r["source_url"] == f"{archive.endpoint_url}/{archive.bucket}/{key}"
        assert r["node_id"] and r["actor_id"] and r["shard_id"] is not None

    second = run(cfg)
    s2 = second["collection_stats"]
    assert (s2["skipped_tasks"], s2["successful_tasks"], s2["missing_tasks"], s2["failed_tasks"]) == (17, 0, 1, 2)
    # skipped with nothing new: counted in the run record, no row (the collection state says it all)
    assert {r["key"] for r in manifest(tmp_path, second["run_id"]) if r["status"] == "skipped"} == set()

    mtimes = {k: (tmp_path / k).stat().st_mtime_ns for k in good}
    forced = run({**cfg, "force_redownload": True})
    assert forced["collection_stats"]["successful_tasks"] == 17
    assert all((tmp_path / k).stat().st_mtime_ns != mtimes[k] for k in good)  # really fetched again
    assert files_on_disk(tmp_path) == disk


def test_unverified_mode_keeps_files_without_sidecar(archive, tmp_path):
    result = run(collect_config(archive, tmp_path, download_checksum=False))
    rows = {r["key"]: r for r in manifest(tmp_path, result["run_id"])}
    assert rows[NO_SIDECAR]["status"] == "success" and rows[NO_SIDECAR]["checksum_verified"] is False
    assert rows[BAD_SIDECAR]["status"] == "success"  # verification off: the user asked for it
    assert result["collection_stats"]["failed_tasks"] == 0 and result["exit_code"] == 0


def test_files_on_disk_without_manifest_are_checked_against_the_archive(archive, tmp_path):
    key_ok, key_bad = sorted(k for k in archive.generated.written if "/daily/aggTrades/BTCUSDT" in k)[:2]
    for key in (key_ok, key_bad):
        (tmp_path / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / key).write_bytes((archive.source / key).read_bytes())
    (tmp_path / key_bad).write_bytes(b"corrupt copy")
    result = run(collect_config(archive, tmp_path))
    rows = {r["key"]: r for r in manifest(tmp_path, result["run_id"])}
    assert rows[key_ok]["status"] == "skipped" and rows[key_ok]["checksum_verified"] is True
    assert rows[key_bad]["status"] == "success"
    assert (tmp_path / key_bad).read_bytes() == (archive.source / key_bad).read_bytes()


@pytest.mark.parametrize("engine", ENGINES)
def test_real_files_collected_and_verified(archive, tmp_path, engine):
    cfg = collect_config(archive, tmp_path, downloader=engine, markets=["spot", "futures_um", "futures_cm"],
                         symbols={"spot": ["BTCUSDT"], "futures_um": ["BTCUSDT"], "futures_cm": ["BTCUSD_PERP"]},
                         data_types=["klines", "fundingRate", "aggTrades"], intervals={"klines": ["1h"]},
                         date_range={"start": "2026-04-01", "end": "2026-05-09"}, partition_policy="auto")
    result = run(cfg)
    rows = {r["key"]: r for r in manifest(tmp_path, result["run_id"])}
    for key in REAL_KEYS:
        assert rows[key]["status"] == "success" and rows[key]["checksum_verified"] is True, key
        assert (tmp_path / key).read_bytes() == (real_fixtures_root() / key).read_bytes()
    assert sum(r["status"] == "success" for r in rows.values()) == 4  # everything else is not in this archive


def test_killing_an_actor_mid_run_loses_nothing(archive, tmp_path):
    class Killer(RecordingMetricsCollector):
        def __init__(self):
            super().__init__()
            self.pids: list[int] = []
            self.killed = False

        def record_event(self, name, **fields):
            super().record_event(name, **fields)
            if name == "actors_started" and not self.pids:
                self.pids = [a["pid"] for a in fields["actors"]]
            if name == "shard_completed" and not self.killed:
                os.kill(self.pids[0], signal.SIGKILL)
                self.killed = True

    metrics = Killer()
    result = run(collect_config(archive, tmp_path, batch_size=1), metrics_collector=metrics)
    rows = manifest(tmp_path, result["run_id"])
    assert sorted(r["key"] for r in rows) == sorted(set(r["key"] for r in rows)) and len(rows) == 20
    assert [r["status"] for r in rows].count("success") == 17
    finished = dict(metrics.events)["dispatch_finished"]
    assert finished["replaced_actors"] == 1 and finished["requeued_shards"] >= 1
    assert all(hashlib.sha256((tmp_path / r["key"]).read_bytes()).hexdigest() == r["sha256"]
               for r in rows if r["status"] == "success")
    # At final paths only verified zips and their sidecars (a killed actor may leave a hidden .part behind).
    final = sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "data").rglob("*") if p.is_file()
                   and not p.name.startswith("."))
    ok = sorted(r["key"] for r in rows if r["status"] == "success")
    assert final == sorted(ok + [k + ".CHECKSUM" for k in ok])


def test_run_record_metadata_and_events(archive, tmp_path):
    metrics = RecordingMetricsCollector()
    result = run(collect_config(archive, tmp_path), metrics_collector=metrics)
    runs = duckdb.sql(f"SELECT * FROM read_parquet('{tmp_path}/_manifests/runs/*/run.parquet', "
                      "hive_partitioning=true)").fetchall()
    assert len(runs) == 1
    names = [n for n, _ in metrics.events]
    assert names[0] == "run_started" and names[-1] == "run_finished" and names.count("shard_completed") == 5
    meta = (tmp_path / "_manifests" / "runs" / f"run_id={result['run_id']}" / "ingestion_metadata.json").read_text()
    assert f'"task_id": "{result["run_id"]}"' in meta and '"status": "partial"' in meta
    assert result["metadata"].records_processed == 17
    assert result["success_rate"] == 85.0 and result["storage_zones_used"] == ["bronze"]


def test_a_workflow_keeps_no_run_state_and_runs_again_from_the_config_as_given(archive, tmp_path):
    from raycollect.config import WorkflowConfig

    given = WorkflowConfig(collect_config(archive, tmp_path, downloader="http",
                                          date_range={"start": "2024-01-30", "end": "2099-01-01"}))
    workflow = ArchiveCollectionWorkflow(given, show_progress=False)
    first = workflow.execute()
    assert any(n.startswith("date_range ends 2099-01-01, after ") for n in first.notes)  # narrowed for that run only
    assert workflow.config is given and workflow.config.date_range.end.year == 2099
    assert not any(hasattr(workflow, a) for a in ("run_id", "tally", "writer", "progress", "store", "planned"))
    second = workflow.execute()
    assert second.run_id != first.run_id and second.planned == first.planned
