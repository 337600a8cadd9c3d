"""`raycollect sync` on its own local archive, where days and a monthly file appear between runs."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pytest

from raycollect.manifest.writer import files_glob
from raycollect.mirror import LocalArchive, generate_archive, plan_for
from raycollect.workflow import ArchiveCollectionWorkflow
from tests.helpers import MATRIX

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_local")]
DAY = "data/spot/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2024-{}.zip"
JANUARY = "data/spot/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01.zip"


def publish(archive: LocalArchive, source: Path, keys: list[str], tmp: Path) -> None:
    stage = tmp / "stage"
    shutil.rmtree(stage, ignore_errors=True)
    for key in keys:
        for name in (key, key + ".CHECKSUM"):
            (stage / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source / name, stage / name)
    archive.upload_tree(stage)


def sync(cfg: dict, today: str) -> dict:
    result = ArchiveCollectionWorkflow(cfg, show_progress=False, sync=True, today=dt.date.fromisoformat(today))
    return result.execute()


def collected(out: Path) -> set[str]:
    return {str(p.relative_to(out)) for p in out.rglob("*.zip")}


def test_sync_collects_exactly_what_appeared_since_the_last_run(tmp_path):
    source = tmp_path / "src"
    generate_archive(source, plan_for(markets=["spot"], symbols=["BTCUSDT"], data_types=["klines"],
                                      intervals={"klines": ["1h"]}, start="2024-01-25", end="2024-02-05",
                                      partition_policy="both"), seed=5)
    out = tmp_path / "out"
    january = [DAY.format(f"01-{d}") for d in range(25, 32)]
    with LocalArchive() as archive:
        cfg = {"workflow_type": "archive_collection", "matrix_path": str(MATRIX), "output_directory": str(out),
               "markets": ["spot"], "symbols": ["BTCUSDT"], "data_types": ["klines"], "intervals": {"klines": ["1h"]},
               "date_range": {"start": "2024-01-25", "end": "latest"}, "partition_policy": "auto",
               "endpoint_url": archive.endpoint_url, "batch_size": 4}
        publish(archive, source, january, tmp_path)

        # January is over on Feb 1 but its monthly file is not published: its days stand in for it.
        first = sync(cfg, "2024-02-01")
        assert (first["collection_stats"]["successful_tasks"], first["exit_code"]) == (7, 0)
        assert collected(out) == set(january)

        publish(archive, source, [DAY.format("02-01"), DAY.format("02-02")], tmp_path)
        second = sync(cfg, "2024-02-03")
        s = second["collection_stats"]
        # January's days are compared with the listing (same size, ETag and LastModified): skipped, no request
        assert (s["successful_tasks"], s["skipped_tasks"], s["failed_tasks"]) == (2, 7, 0)
        assert collected(out) == {*january, DAY.format("02-01"), DAY.format("02-02")}

        publish(archive, source, [JANUARY], tmp_path)  # the monthly file appears
        third = sync(cfg, "2024-02-04")
        s = third["collection_stats"]
        assert (s["successful_tasks"], s["skipped_tasks"]) == (1, 2) and (out / JANUARY).exists()
        # 2024-02-03 is not published on the mirror: not listed, so counted, never requested nor written as a row
        assert (s["missing_tasks"], third.unlisted) == (0, 1)
        assert third["superseded"] == [(JANUARY, 7)]
        rows = duckdb.sql(f"SELECT count(*) FROM read_parquet('{files_glob(out / '_manifests')}')").fetchall()

        fourth = sync(cfg, "2024-02-04")
        s = fourth["collection_stats"]
        assert (s["successful_tasks"], s["failed_tasks"], s["skipped_tasks"]) == (0, 0, 3)
        assert fourth["exit_code"] == 0
        # a no-op sync (cron, every day until 2024-02-03 is published) adds no row to the manifest
        assert duckdb.sql(f"SELECT count(*) FROM read_parquet('{files_glob(out / '_manifests')}')").fetchall() == rows
    assert not (out / ".raycollect-staging").exists()
